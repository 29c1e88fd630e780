//! CSV output: one row per stage of a prediction, then a `total` row.

use super::PredictReport;
use crate::error::{Error, Result};

pub fn predict_csv(r: &PredictReport) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::Unsupported(format!("CSV encoding failed: {e}"));
    w.write_record(["workload", "hardware", "runtime", "batch", "stage", "modality", "ms", "share", "ops", "kernels"]).map_err(err)?;
    for s in &r.stages {
        w.write_record([
            r.workload.as_str(),
            &r.hardware,
            &r.runtime,
            &r.batch.to_string(),
            s.stage.name(),
            s.modality.as_deref().unwrap_or(""),
            &format!("{:.6}", s.ms),
            &format!("{:.6}", s.share),
            &s.ops.to_string(),
            &s.kernels.to_string(),
        ])
        .map_err(err)?;
    }
    w.write_record([
        r.workload.as_str(),
        &r.hardware,
        &r.runtime,
        &r.batch.to_string(),
        "total",
        "",
        &format!("{:.6}", r.latency_ms),
        "1",
        &r.ops.to_string(),
        &r.kernels.to_string(),
    ])
    .map_err(err)?;
    let bytes = w.into_inner().map_err(|e| Error::Unsupported(format!("CSV encoding failed: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}
