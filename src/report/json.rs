//! JSON output: the serde form of each report type.

use crate::error::Result;
use serde::Serialize;

pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| crate::error::Error::Unsupported(format!("JSON encoding failed: {e}")))?;
    s.push('\n');
    Ok(s)
}
