//! Calibration: fitting a hardware description's efficiency curves and overheads to microbenchmarks run on the
//! device (never to the workloads it is later validated on).

pub mod fit;
pub mod suite;

pub use fit::{efficiency_from_line, fit_line, fit_nonnegative, median, Line};
