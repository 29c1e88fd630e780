//! Workload graphs: the operator catalogue ([`Op`], one file per family in `ops/`), the [`Workload`] DAG,
//! the [`GraphBuilder`], the block library and the YAML format.

pub mod blocks;
pub mod builder;
pub mod builtin;
pub mod compose;
pub mod cost;
pub mod joins;
pub mod layout;
pub mod op;
pub mod ops;
pub mod spec;
pub mod tensor;
pub mod workload;

pub use builder::{BuildError, BuildResult, GraphBuilder};
pub use cost::{GemmShape, OpClass, OpCost};
pub use op::{Op, OpSpec};
pub use spec::{load_workload, parse_workload, WorkloadOptions, WorkloadSource};
pub use tensor::{DType, TensorInfo};
pub use workload::{Node, Stage, StageTotals, Workload};
