//! Validation: predicted against measured runs of the same configurations, and how wrong the predictions
//! are.

pub mod compare;
pub mod stats;

pub use stats::{error_stats, relative_error, ErrorStats};
