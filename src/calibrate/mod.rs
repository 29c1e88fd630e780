//! Calibration: fitting a hardware description's efficiency curves and overheads to microbenchmarks run on the
//! device (never to the workloads it is later validated on).

pub mod derive;
pub mod fit;
#[cfg(feature = "gpu")]
pub mod measure;
pub mod suite;

/// A microbenchmark that could not run (an op kind without a kernel on this build, or without a mapping):
/// skipped, and said.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Skipped {
    pub label: String,
    pub reason: String,
}

pub use fit::{efficiency_from_line, fit_line, fit_nonnegative, median, Line};

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil from days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
