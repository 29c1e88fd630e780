//! The PyTorch backend: the workload exported as JSON ([`export`]), built and run eagerly by the Python
//! runner kept in `python/mmbench_torch` ([`runner`]), its timings turned into a measured run.

pub mod calibrate;
pub mod export;
pub mod runner;
