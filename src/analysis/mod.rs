//! Metrics read from any [`crate::trace::Trace`], predicted or measured: time per stage and modality, the
//! critical path, and synchronization at fusion nodes.

pub mod critical_path;
pub mod stages;
pub mod sync;

pub use critical_path::{critical_path, CriticalPath, PathSegment};
pub use stages::{stage_breakdown, StageTime};
pub use sync::{sync_report, JoinWait, SyncReport};
