//! mmbench models, runs and explains the performance of multi-modal deep neural networks: networks that encode
//! several modalities in separate branches and fuse them. See `README.md` for the formats and commands and
//! `DESIGN.md` (in the project's shared notes) for the architecture.
//!
//! The library is organised as the data flows: [`graph`] (workloads as operator DAGs) and [`hardware`]
//! (devices, links, runtimes) are independent inputs; [`predict`] joins them into a [`trace::Trace`];
//! [`exec`] runs a workload for real on a GPU adapter (wgpu) into the same kind of trace; [`analysis`] and
//! [`report`] read traces.

pub mod analysis;
pub mod backend;
pub mod calibrate;
pub mod cli;
pub mod error;
pub mod exec;
pub mod graph;
pub mod hardware;
pub mod input;
pub mod predict;
pub mod report;
pub mod sweep;
pub mod trace;
pub mod validate;
pub mod whatif;
pub mod yaml;

pub use error::{Error, Result};
