//! Calibration: fitting a hardware description's efficiency curves and overheads to microbenchmarks run on the
//! device (never to the workloads it is later validated on).

pub mod derive;
pub mod fit;
#[cfg(feature = "gpu")]
pub mod measure;
pub mod suite;

pub use fit::{efficiency_from_line, fit_line, fit_nonnegative, median, Line};
