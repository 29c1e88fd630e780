//! From microbenchmark measurements to a hardware description.
//!
//! A software Vulkan driver such as lavapipe runs each shader invocation on a CPU core in lock-step, so an
//! op's arithmetic and its memory traffic do not overlap: the device is described with
//! `overlap_compute_memory: false`, and the cost model's time of one op is then
//!
//! ```text
//! t = kernels * overhead + (F + F_half) / (P e_c) + (B + B_half) / (BW e_m)
//! ```
//!
//! a plane `t = a + b F + c B` in the op's FLOPs `F` (divided by the wave utilization for GEMM-like ops) and
//! bytes `B`. Each op kind's microbenchmarks are fitted by that plane ([`super::fit_nonnegative`]); the
//! fastest per-FLOP and per-byte rates among the kinds become the device's peaks `P` and `BW`, and every
//! kind's efficiencies are its rates over those peaks. The intercept less the measured cost of the smallest
//! kernel becomes the kind's half-saturation size. Kinds with no microbenchmark use their class's curve,
//! fitted over all of the class's microbenchmarks.
//!
//! The host CPU (where `host_work` runs) is fitted the same way from timings of the host-work stand-in.

use super::fit::{fit_nonnegative, fit_nonnegative_with};
use crate::graph::{GemmShape, Op, OpClass};
use crate::exec::WORKGROUP_FOLD_FROM;
use crate::hardware::{Device, DeviceKind, Efficiency, EfficiencyTable, FoldPath, GemmPath, Link, RecurrentLayerCalls, Runtime, Streams, FUSED};
use crate::predict::cost_model::{gemm_use, tile_intensity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Kernels of the two dispatch chains whose submission latencies give a submission's fixed and per-kernel
/// costs.
pub const CHAIN_SHORT: usize = 16;
pub const CHAIN_LONG: usize = 128;

/// One microbenchmark's measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub label: String,
    /// The op kind (`linear`, `conv2d`, ...).
    pub kind: String,
    pub class: OpClass,
    pub flops: u64,
    pub bytes: u64,
    pub kernels: u32,
    #[serde(default)]
    pub gemm: Option<GemmShape>,
    /// Elements each output folds (a reduction or normalization; see `OpCost::fold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<u64>,
    /// Whether an element-wise op's operands broadcast (see `OpCost::broadcast`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
    /// Median device time of the op over the timed iterations, seconds.
    pub time_s: f64,
    /// The op's [`crate::graph::Op::launch_key`] (its kind, `+bias` for a biased convolution); set from the
    /// suite when measurements are read, so older files need not carry it.
    #[serde(default, skip_serializing)]
    pub launch_key: String,
    /// The steps and hidden units of a recurrent layer timed whole (its time is shared by its steps); set from
    /// the suite, as `launch_key` is.
    #[serde(default, skip_serializing)]
    pub layer: Option<LayerShape>,
    /// Groups of a convolution (0 or 1: one); set from the suite, as `launch_key` is.
    #[serde(default, skip_serializing)]
    pub groups: usize,
}

/// A recurrent layer timed as one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShape {
    pub steps: usize,
    pub hidden: usize,
}

/// One timing of the host-work stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    pub flops: u64,
    pub bytes: u64,
    pub threads: u32,
    pub time_s: f64,
}

/// Everything `mmbench calibrate` measured (also written as JSON with `--raw`, so that a fit can be redone
/// without the device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub adapter: String,
    pub backend: String,
    /// When the measurements were taken (UTC, ISO 8601).
    pub date: String,
    /// Threads the adapter runs invocations on (a CPU adapter's cores), the width of wave quantization.
    pub compute_units: u32,
    /// Rows and columns of C that one workgroup of the GEMM kernel computes.
    pub gemm_tile: [u32; 2],
    /// Largest buffer the adapter binds, bytes (the memory figure of the description).
    pub max_buffer_bytes: u64,
    pub samples: Vec<Sample>,
    /// Device time of the smallest kernel, seconds.
    pub dispatch_s: f64,
    /// Idle time between two consecutive compute passes, seconds.
    pub gap_s: f64,
    /// Submission and completion latency of a chain of [`CHAIN_SHORT`] kernels: wall time less the passes'
    /// span, seconds.
    pub submit_s: f64,
    /// The same of a chain of [`CHAIN_LONG`] kernels: with `submit_s`, what each kernel adds (absent from
    /// measurements of older versions, which then charge none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_long_s: Option<f64>,
    /// Time to read 4 bytes back to the host (copy, submit, map, wait), seconds.
    pub readback_latency_s: f64,
    /// Bandwidth of large read-backs, bytes per second.
    pub readback_bytes_per_s: f64,
    /// Logical CPU cores of the host.
    pub host_threads: u32,
    /// The adapter's driver, as the adapter (or the PyTorch runner) reported it; empty in older files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// The host CPU's model name; empty in older files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_cpu: String,
    pub host: Vec<HostSample>,
    /// What an eager framework adds (PyTorch backend); absent for wgpu, whose runtime is its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager: Option<EagerProbes>,
}

/// What `mmbench calibrate --backend torch` measures beyond the suite: eager PyTorch's host costs, copies
/// and streams, and the kernels each microbenchmark launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EagerProbes {
    /// The math mode the suite ran in: `fp32` (strict), `default` (PyTorch's: TF32 convolutions) or `tf32`.
    pub math: String,
    /// Host time of one framework call that launches one kernel (`torch.relu` of one element), seconds.
    pub op_call_s: f64,
    /// Host time of a framework call that launches nothing (a view), seconds.
    pub view_call_s: f64,
    /// The driver's launch inside a framework call (the profiler's `cudaLaunchKernel`), seconds.
    pub launch_s: f64,
    /// Host time of the final synchronize after a tiny kernel, seconds.
    pub sync_s: f64,
    /// Host-to-device copies of pageable memory: (bytes, seconds).
    pub copies: Vec<(u64, f64)>,
    /// A chain of small kernels on one stream, and split over two streams, seconds.
    pub one_stream_s: Option<f64>,
    pub two_streams_s: Option<f64>,
    /// Kernels each microbenchmark's op launched, by label (what the profiler counted).
    pub kernels: BTreeMap<String, u32>,
    /// Host time of each microbenchmark's call, by label, seconds (a whole recurrent layer's for a layer).
    #[serde(default)]
    pub host_call_s: BTreeMap<String, f64>,
    /// Host time of each microbenchmark's call issued bare, back to back (no profiler, no wait for the
    /// device), by label, seconds: the call's cost to the issuing thread, measured directly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub issue_call_s: BTreeMap<String, f64>,
    /// Host time of each microbenchmark's call issued among other calls (the suite's calls in turn, each
    /// timed alone), by label, seconds: the call's cost where, as in a model, the calls before it ran other
    /// code. Absent in older files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub among_call_s: BTreeMap<String, f64>,
    /// Device busy time of each microbenchmark's call, by label, seconds: its kernels' durations summed,
    /// without the gaps between them (a whole recurrent layer's for a layer). Absent in older files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub busy_s: BTreeMap<String, f64>,
    /// Versions, device, driver and host CPU, as the runner read them.
    pub environment: serde_json::Value,
}

/// The output tiles a GPU's GEMM and convolution libraries are taken to choose from: every `tm x tn` of 32 to
/// 256 rows and columns with at most 128 x 256 outputs (cuBLAS's and cuDNN's kernels come in these sizes;
/// CUTLASS, their open counterpart, names its kernels by such tiles).
pub fn library_tiles() -> Vec<[u32; 2]> {
    let sides = [32, 64, 128, 256];
    sides.iter().flat_map(|&tm| sides.iter().map(move |&tn| [tm, tn])).filter(|[tm, tn]| tm * tn <= 128 * 256).collect()
}

impl EagerProbes {
    /// Whether the suite ran on a CUDA device (not PyTorch on the CPU).
    pub fn on_gpu(&self) -> bool {
        self.environment.get("device").and_then(|d| d.as_str()) == Some("cuda")
    }

    /// Each call's bare issue time as a model issues it: among other calls where that was measured, else
    /// repeated back to back.
    pub fn issue_times(&self) -> &BTreeMap<String, f64> {
        if self.among_call_s.is_empty() { &self.issue_call_s } else { &self.among_call_s }
    }

    /// The framework's host cost of one call beyond its launch, seconds.
    pub fn op_overhead_s(&self) -> f64 {
        (self.op_call_s - self.launch_s).max(0.0)
    }

    /// Host-to-device latency and bandwidth (bytes per second) of pageable copies: a line through the
    /// fastest timings.
    pub fn copy_line(&self) -> Option<(f64, f64)> {
        let pts: Vec<(f64, f64)> = self.copies.iter().map(|&(b, t)| (b as f64, t)).collect();
        let line = super::fit_line(&pts)?;
        (line.slope > 0.0).then(|| (line.intercept, 1.0 / line.slope))
    }

    /// Folds in another calibration's probes. The host's speed drifts on a shared machine, so the sessions'
    /// hosts are compared by the median ratio of their bare issue times over the calls both timed (on the
    /// lent H100 the second session's calls were 1.5 times slower, while one probe, timed at one moment,
    /// said 1.64). Each call's host time is the faster session's; the single probes keep the fastest of the
    /// two at the faster host's speed; device times keep the fastest, as measured.
    fn merge(&mut self, other: &EagerProbes) {
        let ratios: Vec<f64> = self.issue_call_s.iter().filter_map(|(k, &a)| other.issue_call_s.get(k).filter(|&&b| a > 0.0 && b > 0.0).map(|&b| a / b)).collect();
        // mine / theirs: above 1 when this session's host was the slower.
        let r = if ratios.is_empty() { 1.0 } else { super::median(&ratios) };
        let (mine, theirs) = if r > 1.0 { (1.0 / r, 1.0) } else { (1.0, r) };
        let target = (self.op_call_s * mine).min(other.op_call_s * theirs);
        self.op_call_s = target;
        self.view_call_s = (self.view_call_s * mine).min(other.view_call_s * theirs);
        self.launch_s = (self.launch_s * mine).min(other.launch_s * theirs);
        self.sync_s = self.sync_s.min(other.sync_s);
        for &(b, t) in &other.copies {
            match self.copies.iter_mut().find(|c| c.0 == b) {
                Some(c) => c.1 = c.1.min(t),
                None => self.copies.push((b, t)),
            }
        }
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.one_stream_s = min(self.one_stream_s, other.one_stream_s);
        self.two_streams_s = min(self.two_streams_s, other.two_streams_s);
        for (k, v) in &other.kernels {
            self.kernels.entry(k.clone()).or_insert(*v);
        }
        // Device times keep the faster of the two. A host time is the faster session's own: the other's, once
        // scaled by the median ratio, scatters around it (the ratios' quartiles were 0.59 and 0.85 on the lent
        // H100), and the lower of the two would be biased low by that scatter. The other session's only fills
        // in calls the faster one did not time.
        let (fast, slow, f) = if r > 1.0 { (other, &*self, mine) } else { (&*self, other, theirs) };
        let fill = |fast: &BTreeMap<String, f64>, slow: &BTreeMap<String, f64>| {
            let mut m = fast.clone();
            for (k, v) in slow {
                m.entry(k.clone()).or_insert(v * f);
            }
            m
        };
        let (host_call_s, issue_call_s, among_call_s) =
            (fill(&fast.host_call_s, &slow.host_call_s), fill(&fast.issue_call_s, &slow.issue_call_s), fill(&fast.among_call_s, &slow.among_call_s));
        self.host_call_s = host_call_s;
        self.issue_call_s = issue_call_s;
        self.among_call_s = among_call_s;
        for (k, v) in &other.busy_s {
            let t = self.busy_s.entry(k.clone()).or_insert(*v);
            *t = t.min(*v);
        }
    }
}

impl Sample {
    /// A timing of microbenchmark `mb`, with its op's cost as the cost model counts it.
    pub fn of(mb: &super::suite::Microbench, time_s: f64) -> Sample {
        let n = mb.workload.node(mb.op());
        let c = &n.cost;
        let variant = crate::graph::layout::variants(&mb.workload)[mb.op().index()];
        Sample {
            label: mb.label.clone(),
            kind: mb.kind(),
            class: c.class,
            flops: c.flops,
            bytes: c.bytes(),
            kernels: c.kernels,
            gemm: c.gemm,
            fold: c.fold,
            broadcast: c.broadcast,
            time_s,
            launch_key: n.op.launch_key_as(variant),
            layer: match &n.op {
                Op::GruCell(c) if mb.steps > 1 => Some(LayerShape { steps: mb.steps, hidden: c.hidden }),
                Op::LstmCell(c) if mb.steps > 1 => Some(LayerShape { steps: mb.steps, hidden: c.hidden }),
                _ => None,
            },
            groups: n.op.groups(),
        }
    }
}

/// The microbenchmark whose time is a wgpu calibration's quick-probe GEMM (in both the quick and the full
/// suite).
pub const PROBE_GEMM: &str = "linear 64x1024x256";
/// The host-work stand-in's (FLOPs, bytes) timed as the quick probe's host figure.
pub const PROBE_HOST: (u64, u64) = (10_000_000, 4 << 20);

impl Measurements {
    /// The machine these were measured on, with its quick-probe figures taken from the measurements
    /// themselves (so a calibration costs no extra probe): on wgpu the smallest kernel, the submission
    /// latency, [`PROBE_GEMM`] and the host-work stand-in at [`PROBE_HOST`]
    /// ([`super::measure::quick_probe`] times the same at run time); in PyTorch the chain probe's call and
    /// launch costs (the runner times them before every run).
    pub fn machine(&self) -> crate::hardware::machine::MachineRecord {
        let mut probe = BTreeMap::new();
        match &self.eager {
            Some(e) => {
                probe.insert("op_call_s".to_string(), e.op_call_s);
                probe.insert("launch_s".to_string(), e.launch_s);
            }
            None => {
                probe.insert("dispatch_s".to_string(), self.dispatch_s);
                probe.insert("submit_s".to_string(), self.submit_s);
                if let Some(s) = self.samples.iter().find(|s| s.label == PROBE_GEMM) {
                    probe.insert("gemm_s".to_string(), s.time_s);
                }
                if let Some(h) = self.host.iter().find(|h| (h.flops, h.bytes) == PROBE_HOST) {
                    probe.insert("host_s".to_string(), h.time_s);
                }
            }
        }
        probe.retain(|_, v| *v > 0.0);
        // Older PyTorch measurements name the driver and host CPU only in the runner's environment record.
        let env = |k: &str| self.eager.as_ref().and_then(|e| e.environment.get(k)).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        crate::hardware::machine::MachineRecord {
            adapter: self.adapter.clone(),
            backend: self.backend.clone(),
            driver: if self.driver.is_empty() { env("driver") } else { self.driver.clone() },
            host_cpu: if self.host_cpu.is_empty() { env("host_cpu") } else { self.host_cpu.clone() },
            host_threads: self.host_threads,
            date: self.date.clone(),
            probe,
        }
    }

    /// Recomputes each sample's op cost (kind, class, FLOPs, bytes, kernels, GEMM shape, fold) from the
    /// microbenchmark of the same label in `suite`, so that measurements saved by an earlier version refit
    /// with what the cost model now knows of each op (the channel packs of a convolution's taps, the rows a
    /// reduction folds). The label names the op and its shape; only the measured times are kept. Returns how
    /// many samples matched.
    pub fn recost(&mut self, suite: &[super::suite::Microbench]) -> usize {
        let by_label: BTreeMap<&str, &super::suite::Microbench> = suite.iter().map(|mb| (mb.label.as_str(), mb)).collect();
        let mut matched = 0;
        for s in &mut self.samples {
            if let Some(mb) = by_label.get(s.label.as_str()) {
                *s = Sample::of(mb, s.time_s);
                matched += 1;
            }
        }
        matched
    }

    /// Folds another calibration of the same adapter into this one, keeping the fastest of each timing: each
    /// microbenchmark (by label), each host-work size, the dispatch, gap, submission and read-back probes.
    /// Calibrations taken at different times of a shared machine then count as passes of one calibration
    /// (as `Effort::rounds` inside one), and can be interleaved with workload runs so that both see the same
    /// spells of the machine. Fails, naming the field, when `other` describes another adapter or kernel build.
    pub fn merge(&mut self, other: &Measurements) -> Result<(), DeriveError> {
        let same = [
            ("adapter", self.adapter == other.adapter),
            ("backend", self.backend == other.backend),
            ("compute_units", self.compute_units == other.compute_units),
            ("gemm_tile", self.gemm_tile == other.gemm_tile),
            ("host_threads", self.host_threads == other.host_threads),
        ];
        if let Some((field, _)) = same.iter().find(|(_, ok)| !ok) {
            return Err(DeriveError(format!("`{field}` differs: the measurements are of different adapters or builds")));
        }
        for s in &other.samples {
            match self.samples.iter_mut().find(|t| t.label == s.label) {
                Some(t) => t.time_s = t.time_s.min(s.time_s),
                None => self.samples.push(s.clone()),
            }
        }
        for h in &other.host {
            match self.host.iter_mut().find(|g| (g.flops, g.bytes, g.threads) == (h.flops, h.bytes, h.threads)) {
                Some(g) => g.time_s = g.time_s.min(h.time_s),
                None => self.host.push(*h),
            }
        }
        self.dispatch_s = self.dispatch_s.min(other.dispatch_s);
        self.gap_s = self.gap_s.min(other.gap_s);
        self.submit_s = self.submit_s.min(other.submit_s);
        self.submit_long_s = match (self.submit_long_s, other.submit_long_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.readback_latency_s = self.readback_latency_s.min(other.readback_latency_s);
        self.readback_bytes_per_s = self.readback_bytes_per_s.max(other.readback_bytes_per_s);
        self.max_buffer_bytes = self.max_buffer_bytes.min(other.max_buffer_bytes);
        self.date = self.date.clone().max(other.date.clone());
        match (&mut self.eager, &other.eager) {
            (Some(a), Some(b)) if a.math == b.math => a.merge(b),
            (None, None) => {}
            _ => return Err(DeriveError("`eager` differs: the measurements are of different backends or math modes".into())),
        }
        Ok(())
    }
}

/// The plane fitted to one group of samples, with how well it reproduces them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindFit {
    pub kind: String,
    pub samples: usize,
    /// Seconds, seconds per (wave-adjusted) FLOP, seconds per byte, seconds per inverse wave utilization,
    /// seconds per (wave-adjusted) FLOP over k (the per-output cost), seconds per (wave-adjusted) FLOP over
    /// the tile's columns (the gather cost).
    pub coefficients: [f64; 6],
    /// Seconds per element of one folded row (`Efficiency::row_ns_per_element`): fitted for reductions and
    /// normalizations of eager GPU calibrations only, 0 elsewhere.
    pub row_s: f64,
    /// The tile intensity from which a library tile runs at the kind's full rate (`Efficiency::tile_knee`):
    /// chosen by the fit for GEMM-like kinds of devices with `library_tiles`, 0 elsewhere.
    pub tile_knee: f64,
    /// Mean absolute relative error of the plane on its own samples.
    pub fit_error: f64,
    /// Worst relative error of the plane on its own samples.
    pub worst_error: f64,
}

/// The fitted description and the fits behind it.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub gpu: Device,
    pub cpu: Device,
    pub link: Link,
    pub runtime: Runtime,
    pub kinds: Vec<KindFit>,
    pub classes: Vec<KindFit>,
    pub host: KindFit,
}

/// Why a calibration cannot be derived.
#[derive(Debug, Clone, PartialEq)]
pub struct DeriveError(pub String);

impl std::fmt::Display for DeriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device with these peaks and the measured shape, for wave quantization while fitting.
fn template(m: &Measurements) -> Device {
    let flat = Efficiency::flat(1.0, 1.0);
    // A framework's libraries (cuBLAS, cuDNN) pick their kernels and tiles per shape and say nothing of them:
    // no kernel paths, one curve per op kind; and a real GPU runs many kernels at once. On a GPU the fit
    // takes the libraries' choice of tile as the cost model does (`library_tiles`).
    let eager = m.eager.is_some();
    let library = m.eager.as_ref().is_some_and(EagerProbes::on_gpu);
    Device {
        name: "gpu".into(),
        kind: DeviceKind::Gpu,
        description: format!("{} ({}), calibrated by mmbench on {}", m.adapter, m.backend, m.date),
        peak_tflops: BTreeMap::new(),
        mem_bw_gbs: 0.0,
        mem_gb: m.max_buffer_bytes as f64 / 1e9,
        cache_mb: 0.0,
        compute_units: m.compute_units.max(1),
        max_concurrent_kernels: if eager { 128 } else { 1 },
        kernel_overhead_us: 0.0,
        gemm_tile: m.gemm_tile,
        efficiency: EfficiencyTable { matmul: flat, conv: flat, elementwise: flat, reduction: flat, movement: flat },
        kernel_efficiency: BTreeMap::new(),
        broadcast_efficiency: BTreeMap::new(),
        overlap_compute_memory: false,
        tile_quantization: !eager,
        library_tiles: if library { library_tiles() } else { vec![] },
        // cuDNN runs a recurrent layer's steps in persistent kernels, not as tiled GEMMs.
        untiled_kinds: if library { RECURRENT_CELLS.map(String::from).to_vec() } else { vec![] },
        gemm_paths: if eager { vec![] } else { wgpu_gemm_paths(m.gemm_tile) },
        fold_paths: if eager { vec![] } else { wgpu_fold_paths() },
        tdp_w: None,
        die_mm2: None,
        sources: vec![],
    }
}

/// The efficiency of a term a fit found no cost for: a thousand times the peak, a negligible time.
const NO_COST: f64 = 1e3;

/// Least share of a sample's time beyond its kernels' dispatch cost for the sample to be fitted.
const MIN_BEYOND_DISPATCH: f64 = 0.2;

/// Op kinds that run on mmbench's GEMM kernel (`kernels/matmul.wgsl`; a recurrent cell's hidden GEMM).
const GEMM_KINDS: [&str; 4] = ["linear", "matmul", RECURRENT_CELLS[0], RECURRENT_CELLS[1]];
/// Recurrent cells: GEMM-like steps whose GEMM is `linear`'s, run by a framework's library in persistent kernels.
const RECURRENT_CELLS: [&str; 2] = ["gru_cell", "lstm_cell"];
/// Op kinds that run on its convolution kernel (`kernels/conv.wgsl`), whose tile narrows to the channels.
const CONV_KINDS: [&str; 3] = ["conv1d", "conv2d", "conv3d"];
/// Paths whose speed differs from their kinds' usual kernel: fitted to curves of their own.
const SCALAR_PATHS: [&str; 2] = ["scalar", "conv_scalar"];

/// The fit key's suffix of element-wise ops whose operands broadcast (their curves go to
/// `Device::broadcast_efficiency`).
const BROADCAST: &str = "broadcast";

/// Op kinds whose kernels fold long rows in a workgroup and short ones in an invocation.
const FOLD_KINDS: [&str; 6] = ["reduce_mean", "reduce_sum", "reduce_max", "softmax", "layer_norm", "instance_norm"];

/// The workgroup-per-row kernels of mmbench's wgpu executor: reductions, softmax and layer and instance
/// norms whose outputs fold [`WORKGROUP_FOLD_FROM`] elements or more. Fitted apart from the short-row kernels
/// of the same kinds: the tree and its barriers cost a CPU adapter tens of microseconds per row.
pub fn wgpu_fold_paths() -> Vec<FoldPath> {
    vec![FoldPath {
        name: "workgroup".into(),
        kinds: FOLD_KINDS.iter().map(|k| k.to_string()).collect(),
        min_fold: WORKGROUP_FOLD_FROM as u64,
        efficiency: BTreeMap::new(),
    }]
}

/// The GEMM kernels of mmbench's wgpu executor and the shapes each takes, as `kernels/matmul.rs` and
/// `kernels/conv.rs` choose them: the vec4 GEMM (on `vec4_tile`, 32 x 64 with subgroups) when k and n are
/// multiples of 4, else the scalar one on 64 x 64 tiles; convolutions on 64 output pixels x 4 to 32 output
/// channels, loading vec4s when the output channels are a multiple of 4, and reading the input channels of
/// each tap four at a time (`conv.wgsl`).
pub fn wgpu_gemm_paths(vec4_tile: [u32; 2]) -> Vec<GemmPath> {
    let path = |name: &str, kinds: &[&str], multiple: u32, k: bool, tile: [u32; 2], conv: bool| GemmPath {
        name: name.into(),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        k_multiple: if k { multiple } else { 1 },
        n_multiple: multiple,
        tile,
        min_tile_n: conv.then_some(4),
        k_pack: conv.then_some(4),
        efficiency: BTreeMap::new(),
    };
    vec![
        path("vec4", &GEMM_KINDS, 4, true, vec4_tile, false),
        path("scalar", &GEMM_KINDS, 1, true, [64, 64], false),
        path("conv_vec4", &CONV_KINDS, 4, false, [64, 32], true),
        path("conv_scalar", &CONV_KINDS, 1, false, [64, 32], true),
    ]
}

/// The curve a sample is fitted into: its kind's, or `kind@path` for a kind on a path of its own speed
/// (`kind@broadcast` for an element-wise op whose operands broadcast).
fn fit_key(s: &Sample, dev: &Device, fused: &BTreeMap<String, usize>) -> String {
    if s.broadcast {
        return format!("{}@{BROADCAST}", s.kind);
    }
    // A grouped convolution, and a recurrent layer that runs fused, take kernels of their own.
    if let Some((_, v)) = s.launch_key.split_once('@') {
        return format!("{}@{v}", s.kind);
    }
    if let Some(l) = s.layer
        && fused.get(&s.kind).is_some_and(|&h| l.hidden <= h)
    {
        return format!("{}@{FUSED}", s.kind);
    }
    match s.gemm.as_ref().and_then(|g| dev.gemm_path(&s.kind, g)) {
        Some(p) if SCALAR_PATHS.contains(&p.name.as_str()) => format!("{}@{}", s.kind, p.name),
        Some(_) => s.kind.clone(),
        None => match s.fold.and_then(|f| dev.fold_path(&s.kind, f)) {
            Some(p) => format!("{}@{}", s.kind, p.name),
            None => s.kind.clone(),
        },
    }
}

/// The knees a fit tries for GEMM-like kinds: none (every tile at full rate), then each library tile's
/// intensity; on a device without library tiles, none only. (A knee past the largest tile's intensity would
/// only rescale every tile's rate, and so the per-FLOP cost the peak is read from.)
fn tile_knees(dev: &Device) -> Vec<f64> {
    let mut knees: Vec<f64> = dev.library_tiles.iter().map(|&t| tile_intensity(t)).collect();
    knees.sort_by(f64::total_cmp);
    knees.dedup();
    knees.insert(0, 0.0);
    knees
}

/// `[1, F / (tile · wave), B, 1 / wave, F / (tile · wave · k), F / (tile · wave · tile columns)]` of a
/// sample on `dev`, as the cost model charges it: a GEMM pays for whole tiles (and whole packs of input
/// channels), its half-saturation cost for idle units, and every (padded) output element a `k_overhead`
/// (the fifth column, twice the padded outputs per wave); a reduction's outputs (its FLOPs over its fold)
/// pay the same. The last column is a convolution's gathered input values, per tile of output columns
/// (`gather_overhead`): zero for kernels that do not gather.
///
/// On a device with `library_tiles`, the tile and its rate are those the cost model takes for a kind whose
/// tiles reach full rate at intensity `tile_knee`.
fn features(s: &Sample, dev: &Device, tile_knee: f64) -> [f64; 6] {
    let (wave, tiles, k, tile_n) = s.gemm.as_ref().map_or((1.0, 1.0, s.fold.unwrap_or(0) as f64, 0.0), |g| {
        let path = dev.gemm_path(&s.kind, g);
        let u = gemm_use(g, dev, Some(&s.kind), path, tile_knee);
        let gathers = path.is_some() && CONV_KINDS.contains(&s.kind.as_str());
        (u.wave, u.used, g.k as f64, if gathers { f64::from(u.tile[1]) } else { 0.0 })
    });
    let padded = s.flops as f64 / (wave * tiles);
    [1.0, padded, s.bytes as f64, 1.0 / wave, if k > 0.0 { padded / k } else { 0.0 }, if tile_n > 0.0 { padded / tile_n } else { 0.0 }]
}

/// What a fit takes as known: FLOPs (and padded outputs) charged at a known cost, and only the fixed and
/// per-byte costs fitted.
#[derive(Clone, Copy)]
struct FlopCost {
    /// Seconds per (padded) FLOP.
    per_flop: f64,
    /// Seconds per padded FLOP over k (the per-output cost).
    per_output: f64,
}

/// Fits a group's plane; with `known` given, FLOPs are charged at that cost and only the fixed and per-byte
/// costs are fitted. A free fit of a GEMM-like kind keeps a cost per FLOP.
fn fit_group(kind: &str, rows: &[([f64; 6], f64)], known: Option<FlopCost>) -> Option<KindFit> {
    let free = || if compute_heavy(kind) { fit_nonnegative_with(rows, &[1]).or_else(|| fit_nonnegative(rows)) } else { fit_nonnegative(rows) };
    let c = match known {
        None => match free()? {
            // A GEMM's per-output and gather costs are overheads only on top of a per-FLOP cost: without one,
            // fit without them. (A reduction's per-output cost stands alone: its curve charges it through a
            // compute term that costs nothing per FLOP.)
            c if compute_heavy(kind) && c[1] == 0.0 && (c[4] > 0.0 || c[5] > 0.0) => {
                let four: Vec<([f64; 4], f64)> = rows.iter().map(|(f, t)| ([f[0], f[1], f[2], f[3]], *t)).collect();
                let [a, b, c, d] = fit_nonnegative(&four)?;
                [a, b, c, d, 0.0, 0.0]
            }
            c => c,
        },
        // A reduction's per-output cost (outputs are its FLOPs over what each folds) is fitted with the rest.
        Some(k) if k.per_output == 0.0 && rows.iter().any(|(f, _)| f[4] > 0.0) => {
            let rest: Vec<([f64; 4], f64)> = rows.iter().map(|(f, t)| ([f[0], f[2], f[3], f[4]], (t - f[1] * k.per_flop).max(1e-9))).collect();
            let [a, c, d, e] = fit_nonnegative(&rest)?;
            [a, k.per_flop, c, d, e, 0.0]
        }
        Some(k) => {
            // What is left after the FLOPs, kept positive (a time at least a nanosecond).
            // (The wave-scaled constant is the constant itself for ops that are no GEMM.)
            let rest: Vec<([f64; 3], f64)> = rows.iter().map(|(f, t)| ([f[0], f[2], f[3]], (t - f[1] * k.per_flop - f[4] * k.per_output).max(1e-9))).collect();
            let [a, c, d] = fit_nonnegative(&rest)?;
            [a, k.per_flop, c, d, k.per_output, 0.0]
        }
    };
    let errs: Vec<f64> = rows.iter().map(|(f, t)| (f.iter().zip(&c).map(|(x, k)| x * k).sum::<f64>() / t - 1.0).abs()).collect();
    Some(KindFit {
        kind: kind.to_string(),
        samples: rows.len(),
        coefficients: c,
        row_s: 0.0,
        tile_knee: 0.0,
        fit_error: errs.iter().sum::<f64>() / errs.len() as f64,
        worst_error: errs.iter().copied().fold(0.0, f64::max),
    })
}

/// A reduction or normalization of an eager GPU calibration: FLOPs at the known cost, then a fixed cost, a
/// cost per byte and a cost per element of one row (the library folds each row in one block, so few long rows
/// run at one block's speed), fitted together on the times beyond the kernels' dispatch.
fn fit_rows(kind: &str, samples: &[&Sample], dispatch: f64, known: FlopCost) -> Option<KindFit> {
    let rows: Vec<([f64; 3], f64)> = samples
        .iter()
        .map(|s| ([1.0, s.bytes as f64, s.fold.unwrap_or(0) as f64], (s.time_s - f64::from(s.kernels) * dispatch - s.flops as f64 * known.per_flop).max(1e-9)))
        .collect();
    if rows.len() < 4 {
        return None;
    }
    let [a, c, r] = fit_nonnegative(&rows)?;
    let errs: Vec<f64> = rows.iter().map(|(f, t)| ((a + c * f[1] + r * f[2]) / t - 1.0).abs()).collect();
    Some(KindFit {
        kind: kind.to_string(),
        samples: rows.len(),
        coefficients: [a, known.per_flop, c, 0.0, 0.0, 0.0],
        row_s: r,
        tile_knee: 0.0,
        fit_error: errs.iter().sum::<f64>() / errs.len() as f64,
        worst_error: errs.iter().copied().fold(0.0, f64::max),
    })
}

/// The GEMM fit whose FLOP cost a recurrent cell's fit key takes (`gru_cell@scalar` → `linear@scalar`).
fn gemm_of_cell(key: &str) -> Option<String> {
    RECURRENT_CELLS.iter().find(|c| key.split('@').next() == Some(**c)).map(|c| key.replacen(c, "linear", 1))
}

/// GEMM-like kinds (and classes), whose FLOPs and bytes vary independently across shapes.
fn compute_heavy(key: &str) -> bool {
    let kind = key.split('@').next().unwrap_or(key);
    GEMM_KINDS.contains(&kind) || kind.starts_with("conv")
}

/// The efficiency curve that reproduces a fitted plane (of times beyond the kernels' dispatch cost) on a device
/// with peaks `peak` (FLOP/s) and `bw` (bytes/s).
///
/// A kind's curve reproduces its own rates even where they beat the peaks (which come only from kinds whose
/// FLOPs or bytes carry their time): its efficiency then exceeds 1. A term its fit found no cost for (a GEMV
/// whose weight streams within its FLOP time) gets [`NO_COST`]. A class curve, a fallback for kinds never
/// measured, stays within the peaks.
fn curve(fit: &KindFit, peak: f64, bw: f64, capped: bool) -> Efficiency {
    let [a, b, c, d, e, g] = fit.coefficients;
    let cap = |x: f64| if capped { x.min(1.0) } else { x };
    // (A cost so small that its rate beats the peak a thousand times over is no cost: the same NO_COST, so
    // that the curve stays within what a hardware description accepts.)
    let compute = cap(if b > 0.0 { (1.0 / (b * peak)).min(NO_COST) } else { NO_COST });
    let memory = cap(if c > 0.0 { (1.0 / (c * bw)).min(NO_COST) } else { NO_COST });
    // The wave-scaled constant is the compute term's half-saturation; the fixed rest goes to the memory term,
    // even where its fit found no cost per byte (the compute term's half-saturation is charged per inverse wave,
    // which a fixed cost is not: a GEMM of one tile on 132 units would pay it 132 times).
    let compute_half_mflop = d * peak * compute / 1e6;
    let memory_half_kb = a * bw * memory / 1024.0;
    // The per-output cost in multiply-adds at the per-FLOP cost the curve charges (the fitted one, or the
    // peak's where that is slower).
    let k_overhead = e * peak * compute;
    let gather_overhead = g * peak * compute;
    Efficiency { compute, compute_half_mflop, memory, memory_half_kb, k_overhead, gather_overhead, row_ns_per_element: fit.row_s * 1e9, tile_knee: fit.tile_knee }
}

/// Derives the hardware description from measurements.
pub fn derive(m: &Measurements) -> Result<Calibration, DeriveError> {
    if !(m.dispatch_s.is_finite() && m.dispatch_s > 0.0) {
        return Err(DeriveError(format!("the smallest kernel's time must be positive, got {} s", m.dispatch_s)));
    }
    let mut gpu = template(m);
    // An eager runtime's overheads come from the probes, not from the fit; its recurrent layers say which
    // layers' steps the fit takes as fused.
    let eager = m.eager.as_ref().map(|e| eager_runtime(e, &m.samples));
    let fused: BTreeMap<String, usize> = eager.iter().flat_map(|rt| &rt.recurrent_layers).map(|(k, l)| (k.clone(), l.fused_max_hidden)).collect();
    let samples = device_samples(m, &fused);
    // Kernels per sample, the same for every sample of a kind in practice; the median keeps it robust.
    let mut by_kind: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    let mut by_class: BTreeMap<OpClass, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        if !(s.time_s.is_finite() && s.time_s > 0.0) {
            return Err(DeriveError(format!("microbenchmark `{}` has no valid time ({} s)", s.label, s.time_s)));
        }
        by_kind.entry(fit_key(s, &gpu, &fused)).or_default().push(s);
        // (A class curve is the fallback of kinds never measured, with operands of the output's shape: the
        // strided kernel of broadcast operands would drag it down.)
        if !s.broadcast {
            by_class.entry(s.class).or_default().push(s);
        }
    }
    // Each sample less its kernels' dispatch cost (kinds launch one or more kernels depending on shape), so the
    // fitted constant is what a kind costs beyond its dispatches. A sample that costs hardly more than its
    // dispatches (less than a fifth of its time beyond them) says nothing about the rest but the jitter of
    // the dispatch: a fit of relative errors would chase it, so it is left out.
    let dispatch = m.dispatch_s;
    let rows_at = |v: &[&Sample], knee: f64| -> Vec<([f64; 6], f64)> {
        v.iter()
            .map(|s| (features(s, &gpu, knee), s.time_s - f64::from(s.kernels) * dispatch, s.time_s))
            .filter(|(_, beyond, t)| *beyond >= MIN_BEYOND_DISPATCH * t)
            .map(|(f, beyond, _)| (f, beyond))
            .collect()
    };
    let rows = |v: &[&Sample]| rows_at(v, 0.0);
    // On a GEMM library, each GEMM-like kind's tiles reach full rate at their own intensity: the fit tries
    // each tile's intensity (and none) and keeps the knee whose plane fits the kind best.
    let knees = tile_knees(&gpu);
    let fit_knee = |kind: &str, v: &[&Sample], known: Option<FlopCost>, knees: &[f64]| -> Option<KindFit> {
        knees
            .iter()
            .filter_map(|&knee| {
                let r = rows_at(v, knee);
                (r.len() >= 3).then(|| fit_group(kind, &r, known)).flatten().map(|f| KindFit { tile_knee: knee, ..f })
            })
            .min_by(|a, b| a.fit_error.total_cmp(&b.fit_error))
    };
    // Pass 1: GEMM-like kinds fix the compute peak (the fastest per-FLOP rate among them).
    let mut kinds = Vec::new();
    for (kind, v) in &by_kind {
        // Two points fix no plane; a kind needs three sizes of its own.
        if compute_heavy(kind)
            && gemm_of_cell(kind).is_none()
            && let Some(f) = fit_knee(kind, v, None, &knees)
        {
            kinds.push(f);
        }
    }
    // A recurrent cell's FLOPs are its hidden GEMM's, on the GEMM kernel. Measured at enough sizes, a cell is
    // fitted on its own: it is timed with its weights in the caches (as a step that follows the previous one
    // of its layer), where `linear` is timed cold, so the GEMM streams faster than `linear`'s cost says. With a
    // few sizes only, its FLOPs cost what `linear`'s do on the same path and the fit finds only the gate
    // kernel's fixed and per-byte costs. Either way cells do not set the peak.
    let mut cells = Vec::new();
    for (kind, v) in &by_kind {
        let r = rows(v);
        let Some(gemm) = gemm_of_cell(kind) else { continue };
        let fit = if r.len() >= 5 {
            fit_knee(kind, v, None, &knees)
        } else if let Some(g) = kinds.iter().find(|f| f.kind == gemm) {
            fit_knee(kind, v, Some(FlopCost { per_flop: g.coefficients[1], per_output: g.coefficients[4] }), &[g.tile_knee])
        } else {
            None
        };
        cells.extend(fit);
    }
    // Only kinds whose FLOP term carries most of their largest sample's time say anything about the peak (a
    // kind fitted with a tiny per-FLOP cost on a few points would claim an absurd one).
    let carries = |f: &KindFit, col: usize, v: &[&Sample]| -> bool {
        let r = rows_at(v, f.tile_knee);
        let Some((x, _)) = r.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else { return false };
        let total: f64 = x.iter().zip(&f.coefficients).map(|(a, c)| a * c).sum();
        f.coefficients[col] > 0.0 && x[col] * f.coefficients[col] >= 0.5 * total
    };
    // Kinds measured at four sizes or more are trusted first: three points may still fit a fast rate.
    // (A kind that pays for gathering its inputs apart from its FLOPs has a per-FLOP rate of the
    // multiply-adds alone, which no op reaches: it is not the peak.)
    let fastest = |kinds: &[KindFit], col: usize, min_samples: usize| {
        kinds
            .iter()
            .filter(|f| f.samples >= min_samples && f.coefficients[5] == 0.0 && carries(f, col, &by_kind[&f.kind]))
            .map(|f| 1.0 / f.coefficients[col])
            .fold(0.0, f64::max)
    };
    let trusted = |kinds: &[KindFit], col: usize| Some(fastest(kinds, col, 4)).filter(|&x| x > 0.0).unwrap_or_else(|| fastest(kinds, col, 3));
    let peak = trusted(&kinds, 1);
    if peak <= 0.0 {
        return Err(DeriveError("no GEMM or convolution microbenchmark fixes the compute peak: run the full suite".into()));
    }
    kinds.extend(cells);
    // Pass 2: in the other kinds FLOPs grow with bytes (an element-wise op does a few FLOPs per element), so
    // a fit cannot tell the two costs apart; their FLOPs are charged at the peak and the rest fitted per byte.
    for (kind, v) in &by_kind {
        let r = rows(v);
        let known = FlopCost { per_flop: 1.0 / peak, per_output: 0.0 };
        let fit = if m.eager.is_some() && FOLD_KINDS.contains(&kind.as_str()) { fit_rows(kind, v, dispatch, known) } else { None };
        if r.len() >= 3
            && !compute_heavy(kind)
            && let Some(f) = fit.or_else(|| fit_group(kind, &r, Some(known)))
        {
            kinds.push(f);
        }
    }
    kinds.sort_by(|a, b| a.kind.cmp(&b.kind));
    let mut classes = Vec::new();
    for (class, v) in &by_class {
        let name = class_name(*class);
        let fit = if compute_heavy(name) { fit_knee(name, v, None, &knees) } else { fit_group(name, &rows(v), Some(FlopCost { per_flop: 1.0 / peak, per_output: 0.0 })) };
        if let Some(f) = fit {
            classes.push((*class, f));
        }
    }
    let bw = trusted(&kinds, 2);
    if bw <= 0.0 {
        return Err(DeriveError("no microbenchmark fixes the memory bandwidth: run the full suite".into()));
    }
    let overhead_s = m.dispatch_s + m.gap_s.max(0.0);
    gpu.peak_tflops.insert("fp32".into(), peak / 1e12);
    gpu.mem_bw_gbs = bw / 1e9;
    gpu.kernel_overhead_us = overhead_s * 1e6;
    let default_curve = Efficiency::flat(0.5, 0.5);
    let class_curve = |c: OpClass| {
        classes.iter().find(|(k, _)| *k == c).map_or(default_curve, |(_, f)| curve(f, peak, bw, true))
    };
    gpu.efficiency = EfficiencyTable {
        matmul: class_curve(OpClass::Matmul),
        conv: class_curve(OpClass::Conv),
        elementwise: class_curve(OpClass::Elementwise),
        reduction: class_curve(OpClass::Reduction),
        movement: class_curve(OpClass::Movement),
    };
    for f in &kinds {
        let c = curve(f, peak, bw, false);
        match f.kind.split_once('@') {
            Some((kind, BROADCAST)) => {
                gpu.broadcast_efficiency.insert(kind.to_string(), c);
            }
            Some((kind, path)) => {
                if let Some(p) = gpu.gemm_paths.iter_mut().find(|p| p.name == path) {
                    p.efficiency.insert(kind.to_string(), c);
                } else if let Some(p) = gpu.fold_paths.iter_mut().find(|p| p.name == path) {
                    p.efficiency.insert(kind.to_string(), c);
                }
            }
            None => {
                gpu.kernel_efficiency.insert(f.kind.clone(), c);
            }
        }
    }
    gpu.sources = vec![format!(
        "mmbench calibrate on {} ({}), {}: {} microbenchmarks of {} op kinds",
        m.adapter,
        m.backend,
        m.date,
        m.samples.len(),
        kinds.len()
    )];

    let (cpu, host) = derive_host(m)?;
    let link = match m.eager.as_ref().and_then(|e| e.copy_line()) {
        Some((latency_s, bytes_per_s)) => Link {
            between: ["cpu".into(), "gpu".into()],
            bw_gbs: bytes_per_s / 1e9,
            latency_us: latency_s * 1e6,
            description: "host-to-device copies of pageable tensors, `.to(device)` (measured)".into(),
        },
        None => Link {
            between: ["cpu".into(), "gpu".into()],
            bw_gbs: m.readback_bytes_per_s / 1e9,
            latency_us: m.readback_latency_s * 1e6,
            description: "read-back to the host: copy, submit, map and wait (measured)".into(),
        },
    };
    if !(link.bw_gbs > 0.0 && link.latency_us >= 0.0) {
        return Err(DeriveError(format!("read-back bandwidth must be positive, got {} GB/s", link.bw_gbs)));
    }
    // A submission's latency grows with its kernels: the two chains give the slope and the fixed rest.
    let submit_per_kernel_s = m.submit_long_s.map_or(0.0, |long| ((long - m.submit_s) / (CHAIN_LONG - CHAIN_SHORT) as f64).max(0.0));
    let submit_fixed_s = (m.submit_s - CHAIN_SHORT as f64 * submit_per_kernel_s).max(0.0);
    let runtime = match eager {
        Some(rt) => rt,
        None => Runtime {
        name: "wgpu".into(),
        description: "wgpu: one in-order queue, every op a compute pass, the whole inference one submission".into(),
        streams: Streams::Single,
        op_overhead_us: 0.0,
        launch_overhead_us: 0.0,
        sync_overhead_us: submit_fixed_s * 1e6,
        submit_per_kernel_us: submit_per_kernel_s * 1e6,
        call_overhead_us: BTreeMap::new(),
        kernels_per_op: BTreeMap::new(),
        kernels_per_group: BTreeMap::new(),
        recurrent_layers: BTreeMap::new(),
        input_copy: false,
        conv_math: "fp32".into(),
        matmul_math: "fp32".into(),
        },
    };
    Ok(Calibration {
        gpu,
        cpu,
        link,
        runtime,
        kinds,
        classes: classes.into_iter().map(|(_, f)| f).collect(),
        host,
    })
}

/// The math mode of convolutions and of matmuls under a PyTorch math setting.
pub fn torch_math(math: &str) -> (&'static str, &'static str) {
    match math {
        "default" => ("tf32", "fp32"),
        "tf32" => ("tf32", "tf32"),
        _ => ("fp32", "fp32"),
    }
}

/// The op kind whose call the chain probe times bare (`torch.relu`): its calls in the suite, timed under the
/// profiler, tell what the profiler adds to every call.
const PROFILER_PROBE_KIND: &str = "relu";

/// PyTorch eager as measured: the host cost of a framework call and of its launch, the final synchronize,
/// inputs copied each inference, and the math mode the suite ran in (whose speed the curves carry). Each op
/// kind's call costs the host the median of its microbenchmarks' calls (a recurrent layer's steps are issued
/// by its first op's call, whose measured cost is the input projection's `linear`).
fn eager_runtime(e: &EagerProbes, samples: &[Sample]) -> Runtime {
    let (conv_math, matmul_math) = torch_math(&e.math);
    // On a CPU the op runs inside its call: the call's time is the op's, which the curves already carry.
    let on_gpu = e.on_gpu();
    // Calls issued bare measure the cost directly. Older calibrations timed them under the profiler only,
    // which adds its own cost to each (its callbacks around every launch and range): a `relu`'s call there,
    // less the same call timed bare in the chain, is that cost.
    let bare = !e.issue_call_s.is_empty();
    let calls = if bare { e.issue_times() } else { &e.host_call_s };
    // By kind, and by kind and variant (`conv2d@channels_last`: its layout kernels cost cuDNN's host more
    // than a plain launch each).
    let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut launches: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in samples.iter().filter(|_| on_gpu) {
        if let Some(&t) = calls.get(&s.label)
            && s.layer.is_none()
        {
            let n = e.kernels.get(&s.label).map_or(1.0, |&k| f64::from(k));
            let variant = s.launch_key.split_once('@').map(|(_, v)| format!("{}@{v}", s.kind));
            for key in std::iter::once(s.kind.clone()).chain(variant) {
                by_kind.entry(key.clone()).or_default().push(t);
                launches.entry(key).or_default().push(n);
            }
        }
    }
    let profiler_s = if bare { 0.0 } else { by_kind.get(PROFILER_PROBE_KIND).map_or(0.0, |v| (super::median(v) - e.op_call_s).max(0.0)) };
    // A call's cost besides its launches: a call that launches more kernels (a grouped convolution's one
    // per group, a channels-last one's layout kernels) costs the host a launch more for each.
    let call_overhead_us: BTreeMap<String, f64> = by_kind
        .into_iter()
        .map(|(k, v)| {
            let n = &launches[&k];
            let beyond: Vec<f64> = v.iter().zip(n).map(|(t, n)| t - profiler_s - n * e.launch_s).collect();
            (k, super::median(&beyond).max(0.0) * 1e6)
        })
        .collect();
    let projection_us = call_overhead_us.get("linear").copied().unwrap_or(e.op_call_s * 1e6);
    let recurrent_layers = if bare { recurrent_layers(e, samples, projection_us) } else { BTreeMap::new() };
    // The kernels each op kind's call launched, where they differ from mmbench's count: the median over its
    // microbenchmarks (a recurrent layer launches its kernels for all its steps, which a step's count cannot
    // say, so its cells keep the model's count).
    let mut launched: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in samples.iter().filter(|_| on_gpu).filter(|s| s.layer.is_none() && !s.launch_key.is_empty()) {
        if let Some(&k) = e.kernels.get(&s.label) {
            launched.entry(s.launch_key.as_str()).or_default().push(f64::from(k));
        }
    }
    let modeled: BTreeMap<&str, u32> = samples.iter().map(|s| (s.launch_key.as_str(), s.kernels)).collect();
    let kernels_per_group = kernels_per_group(e, samples);
    let kernels_per_op = launched
        .into_iter()
        .map(|(k, v)| (k.to_string(), super::median(&v).round() as u32))
        .filter(|(k, n)| modeled.get(k.as_str()) != Some(n) && !kernels_per_group.contains_key(k))
        .collect();
    Runtime {
        name: "eager".into(),
        description: format!("PyTorch eager, one process, default stream (how MMBench measured), math `{}`: overheads measured", e.math),
        streams: Streams::Single,
        op_overhead_us: e.op_overhead_s() * 1e6,
        launch_overhead_us: e.launch_s * 1e6,
        sync_overhead_us: e.sync_s * 1e6,
        submit_per_kernel_us: 0.0,
        call_overhead_us,
        kernels_per_op,
        kernels_per_group,
        recurrent_layers,
        // A CPU run's inputs already live where they are used.
        input_copy: on_gpu,
        conv_math: conv_math.into(),
        matmul_math: matmul_math.into(),
    }
}

/// Kernels per group of each grouped launch key whose count grows with the groups: where a count per group
/// (`k = p groups + bias`, `p` the median over the samples) matches the samples' counts better (in median
/// relative error) than one count for every size does. cuDNN runs strict-fp32 grouped convolutions so, one kernel per group; with TF32 it
/// runs them in a few kernels whatever the groups.
fn kernels_per_group(e: &EagerProbes, samples: &[Sample]) -> BTreeMap<String, u32> {
    let mut by_key: BTreeMap<&str, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| e.on_gpu() && s.groups > 1 && s.launch_key.contains('@')) {
        if let Some(&k) = e.kernels.get(&s.label) {
            let bias = if s.launch_key.contains("+bias") { 1.0 } else { 0.0 };
            by_key.entry(s.launch_key.as_str()).or_default().push((f64::from(k), s.groups as f64, bias));
        }
    }
    let mut out = BTreeMap::new();
    for (key, v) in by_key.into_iter().filter(|(_, v)| v.len() >= 3) {
        let per = super::median(&v.iter().map(|&(k, g, b)| (k - b) / g).collect::<Vec<_>>()).round().max(1.0);
        let constant = super::median(&v.iter().map(|&(k, _, _)| k).collect::<Vec<_>>()).round();
        // The median relative error: a shape the library runs otherwise (one grouped kernel for 64 groups)
        // should not decide the rule for the others.
        let error = |f: &dyn Fn(f64, f64) -> f64| super::median(&v.iter().map(|&(k, g, b)| (f(g, b) - k).abs() / k).collect::<Vec<_>>());
        if error(&|g, b| per * g + b) < error(&|_, _| constant) {
            out.insert(key.to_string(), per as u32);
        }
    }
    out
}

/// A recurrent layer of the suite as the runner timed it.
struct TimedLayer {
    hidden: usize,
    steps: usize,
    kernels: u32,
    issue_us: f64,
    /// Its kernels' busy time, or (older files) their span.
    device_us: f64,
}

impl TimedLayer {
    /// cuDNN ran it fused: fewer kernels than steps.
    fn fused(&self) -> bool {
        (self.kernels as usize) < self.steps
    }
}

/// The layers of cell kind `kind` timed whole and issued bare.
fn timed_layers(e: &EagerProbes, samples: &[Sample], kind: &str) -> Vec<TimedLayer> {
    samples
        .iter()
        .filter(|s| s.kind == kind)
        .filter_map(|s| {
            let l = s.layer?;
            let device_s = e.busy_s.get(&s.label).copied().unwrap_or(s.time_s * l.steps as f64);
            Some(TimedLayer { hidden: l.hidden, steps: l.steps, kernels: *e.kernels.get(&s.label)?, issue_us: *e.issue_times().get(&s.label)? * 1e6, device_us: device_s * 1e6 })
        })
        .collect()
}

/// The largest hidden size of a fused layer below every per-step layer's (0: none ran fused).
fn fused_max_hidden(layers: &[TimedLayer]) -> usize {
    let smallest_stepped = layers.iter().filter(|l| !l.fused()).map(|l| l.hidden).min().unwrap_or(usize::MAX);
    layers.iter().filter(|l| l.fused() && l.hidden < smallest_stepped).map(|l| l.hidden).max().unwrap_or(0)
}

/// How the library runs each kind of recurrent layer (see [`RecurrentLayerCalls`]), from the layers timed
/// whole and issued bare:
/// - a layer that launched fewer kernels than it has steps ran fused ([`fused_max_hidden`]), and the fused
///   layers' median kernel count is theirs;
/// - a layer's own cost is the fused layers' median issue time less the input projection's call
///   (`projection_us`, a `linear`'s);
/// - a step's cost is what a per-step layer adds to that, per step, the median over the layers whose
///   kernels ran well within their issue time. A layer whose device work takes longer fills the launch queue
///   and blocks its issue, which then times the device: when every layer did, the smallest per-step cost
///   (a bound from above) is taken.
fn recurrent_layers(e: &EagerProbes, samples: &[Sample], projection_us: f64) -> BTreeMap<String, RecurrentLayerCalls> {
    /// A layer's kernels within this share of its issue time left the host waiting.
    const HOST_BOUND: f64 = 0.8;
    let mut out = BTreeMap::new();
    for kind in RECURRENT_CELLS {
        let layers = timed_layers(e, samples, kind);
        let limit = fused_max_hidden(&layers);
        let fused_layers: Vec<&TimedLayer> = layers.iter().filter(|l| l.fused() && l.hidden <= limit).collect();
        let stepped: Vec<&TimedLayer> = layers.iter().filter(|l| !l.fused()).collect();
        if fused_layers.is_empty() && stepped.is_empty() {
            continue;
        }
        let median_of = |v: &[&TimedLayer], f: &dyn Fn(&TimedLayer) -> f64| super::median(&v.iter().map(|l| f(l)).collect::<Vec<_>>());
        let layer_us = if fused_layers.is_empty() { 0.0 } else { (median_of(&fused_layers, &|l| l.issue_us) - projection_us).max(0.0) };
        let per_step = |l: &TimedLayer| ((l.issue_us - projection_us - layer_us) / l.steps as f64).max(0.0);
        let host_bound: Vec<&TimedLayer> = stepped.iter().copied().filter(|l| l.device_us < HOST_BOUND * l.issue_us).collect();
        let step_us = if !host_bound.is_empty() {
            median_of(&host_bound, &per_step)
        } else {
            stepped.iter().map(|l| per_step(l)).fold(f64::INFINITY, f64::min)
        };
        out.insert(
            kind.to_string(),
            RecurrentLayerCalls {
                layer_us,
                step_us: if step_us.is_finite() { step_us } else { 0.0 },
                fused_max_hidden: limit,
                fused_kernels: if fused_layers.is_empty() { 0 } else { median_of(&fused_layers, &|l| f64::from(l.kernels)).round() as u32 },
            },
        );
    }
    out
}

/// The samples as the fit sees them: a recurrent layer's steps at their kernels' busy time where the
/// runner measured it (the span from a layer's first kernel to its last also holds the gaps in which the
/// host launched the next step's kernels, so on a slow host it times the host), and a fused layer's steps
/// without kernels of their own (the layer's few kernels run them all).
fn device_samples(m: &Measurements, fused: &BTreeMap<String, usize>) -> Vec<Sample> {
    m.samples
        .iter()
        .map(|s| {
            let Some(l) = s.layer else { return s.clone() };
            let busy = m.eager.as_ref().and_then(|e| e.busy_s.get(&s.label)).copied().filter(|&b| b > 0.0);
            let kernels = if fused.get(&s.kind).is_some_and(|&h| l.hidden <= h) { 0 } else { s.kernels };
            Sample { time_s: busy.map_or(s.time_s, |b| b / l.steps.max(1) as f64), kernels, ..s.clone() }
        })
        .collect()
}

fn class_name(c: OpClass) -> &'static str {
    match c {
        OpClass::Matmul => "matmul",
        OpClass::Conv => "conv",
        OpClass::Reduction => "reduction",
        OpClass::Movement => "movement",
        _ => "elementwise",
    }
}

/// The host CPU from the host-work timings: single-threaded samples give one core's rates.
fn derive_host(m: &Measurements) -> Result<(Device, KindFit), DeriveError> {
    let units = m.host_threads.max(1);
    let rows: Vec<([f64; 6], f64)> = m
        .host
        .iter()
        .filter(|h| h.threads == 1)
        .map(|h| ([1.0, h.flops as f64, h.bytes as f64, 0.0, 0.0, 0.0], h.time_s))
        .collect();
    let fit = fit_group("host_work", &rows, None).ok_or_else(|| DeriveError("no single-threaded host-work timings to fit the host CPU".into()))?;
    let [a, b, c, _, _, _] = fit.coefficients;
    // One thread gets 1/units of the compute peak and min(1, 8/units) of the bandwidth in the cost model.
    let bw_share = (crate::predict::cost_model::SINGLE_CORE_BANDWIDTH_CORES / f64::from(units)).min(1.0);
    let per_core = if b > 0.0 { 1.0 / b } else { 1e12 };
    let bw = if c > 0.0 { 1.0 / (c * bw_share) } else { 1e12 };
    let flat = Efficiency::flat(1.0, 1.0);
    let cpu = Device {
        name: "cpu".into(),
        kind: DeviceKind::Cpu,
        description: format!("the host CPU ({units} threads), fitted on timings of the host-work stand-in"),
        peak_tflops: [("fp32".to_string(), per_core * f64::from(units) / 1e12)].into_iter().collect(),
        mem_bw_gbs: bw / 1e9,
        // The host's memory as the PyTorch runner read it; a CPU adapter and the host share one memory.
        mem_gb: m.eager.as_ref().and_then(|e| e.environment.get("host_memory_bytes")).and_then(serde_json::Value::as_u64).unwrap_or(m.max_buffer_bytes) as f64 / 1e9,
        cache_mb: 0.0,
        compute_units: units,
        max_concurrent_kernels: 1,
        kernel_overhead_us: a * 1e6,
        gemm_tile: [128, 128],
        efficiency: EfficiencyTable { matmul: flat, conv: flat, elementwise: flat, reduction: flat, movement: flat },
        kernel_efficiency: BTreeMap::new(),
        broadcast_efficiency: BTreeMap::new(),
        overlap_compute_memory: false,
        tile_quantization: false,
        library_tiles: vec![],
        untiled_kinds: vec![],
        gemm_paths: vec![],
        fold_paths: vec![],
        tdp_w: None,
        die_mm2: None,
        sources: vec![format!("mmbench calibrate, {}: {} host-work timings", m.date, rows.len())],
    };
    Ok((cpu, fit))
}

/// The file layout of a hardware description.
#[derive(Serialize)]
struct HardwareYaml<'a> {
    name: String,
    description: String,
    host: &'static str,
    default_device: &'static str,
    devices: BTreeMap<&'static str, &'a Device>,
    links: Vec<&'a Link>,
    runtimes: BTreeMap<&'static str, &'a Runtime>,
    default_runtime: &'static str,
    /// Where it was calibrated, and the quick probe's figures there.
    machine: crate::hardware::machine::MachineRecord,
}

/// The calibrated description as YAML, with a header saying where it comes from.
pub fn to_yaml(c: &Calibration, m: &Measurements, command: &str) -> String {
    let slug: String = m.adapter.to_lowercase().chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
    let slug = slug.split('-').filter(|s| !s.is_empty()).take(3).collect::<Vec<_>>().join("-");
    let file = HardwareYaml {
        name: format!("calibrated-{slug}"),
        description: format!("{} ({}) calibrated by mmbench on {}", m.adapter, m.backend, m.date),
        host: "cpu",
        default_device: "gpu",
        devices: [("gpu", &c.gpu), ("cpu", &c.cpu)].into_iter().collect(),
        links: vec![&c.link],
        runtimes: [(if m.eager.is_some() { "eager" } else { "wgpu" }, &c.runtime)].into_iter().collect(),
        default_runtime: if m.eager.is_some() { "eager" } else { "wgpu" },
        machine: m.machine(),
    };
    let body = serde_yaml::to_string(&file).expect("a hardware description serializes");
    let machine = m.eager.as_ref().map_or(String::new(), |e| {
        let env = &e.environment;
        let field = |k: &str| env.get(k).map_or("?".to_string(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        format!(
            "# Machine: {} ({} SMs), driver {}, torch {}, CUDA {}, cuDNN {}, host {} ({} threads), math `{}`.\n",
            field("device_name"),
            field("sm_count"),
            field("driver"),
            field("torch"),
            field("cuda"),
            field("cudnn"),
            field("host_cpu"),
            field("host_threads"),
            e.math
        )
    });
    format!(
        "{machine}# Calibrated by `{command}` on {} ({}), {}.\n\
         # Every figure below is FITTED to microbenchmarks (never to the workloads), not taken from a datasheet:\n\
         # {} measurements of {} op kinds; fit error per kind in the calibration report.\n{body}",
        m.adapter,
        m.backend,
        m.date,
        m.samples.len(),
        c.kinds.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::suite::{suite, Depth, Microbench};
    use crate::predict::cost_model::{op_time_with, DeviceRates};

    fn eff(compute: f64, compute_half_mflop: f64, memory: f64, memory_half_kb: f64) -> Efficiency {
        Efficiency { compute, compute_half_mflop, memory, memory_half_kb, ..Default::default() }
    }

    /// A lock-step device with known figures: 20 GFLOP/s, 10 GB/s, 50 us per kernel plus a 5 us gap.
    fn truth() -> (Device, Runtime) {
        let mut d = template(&measurements(vec![], vec![]));
        d.peak_tflops.insert("fp32".into(), 0.02);
        d.mem_bw_gbs = 10.0;
        d.kernel_overhead_us = 55.0;
        d.efficiency = EfficiencyTable {
            matmul: eff(0.8, 1.0, 0.9, 0.0),
            conv: eff(0.5, 4.0, 0.6, 0.0),
            elementwise: eff(1.0, 0.0, 0.7, 16.0),
            reduction: eff(1.0, 0.0, 0.5, 32.0),
            movement: eff(1.0, 0.0, 0.9, 8.0),
        };
        d.kernel_efficiency.insert("linear".into(), eff(1.0, 2.0, 0.8, 0.0));
        d.kernel_efficiency.insert("relu".into(), eff(1.0, 0.0, 1.0, 64.0));
        // A broadcast add streams at 15 % of the bandwidth, a same-shape one at the class's 70 %.
        d.broadcast_efficiency.insert("add".into(), eff(1.0, 0.0, 0.15, 16.0));
        // The scalar GEMM (odd k or n) runs at 30 % of the peak.
        d.gemm_paths.iter_mut().find(|p| p.name == "scalar").unwrap().efficiency.insert("linear".into(), eff(0.3, 0.0, 0.8, 0.0));
        // Recurrent cells run their GEMM on the linear kernel: its compute curve, their own memory one.
        d.kernel_efficiency.insert("gru_cell".into(), eff(1.0, 2.0, 0.6, 0.0));
        d.kernel_efficiency.insert("lstm_cell".into(), eff(1.0, 2.0, 0.5, 0.0));
        // Each output element of a convolution costs 16 more multiply-adds, and each input value it gathers
        // for a tile 24.
        d.kernel_efficiency.insert("conv2d".into(), Efficiency { k_overhead: 16.0, gather_overhead: 24.0, ..eff(0.6, 5.0, 0.5, 0.0) });
        // Each output of a mean costs 2 us (40,000 FLOPs at 20 GFLOP/s) beyond what it folds: a workgroup
        // and its tree per output row.
        d.kernel_efficiency.insert("reduce_mean".into(), Efficiency { k_overhead: 40_000.0, ..eff(1.0, 0.0, 0.5, 0.0) });
        let rt = Runtime {
            name: "wgpu".into(),
            description: String::new(),
            streams: Streams::Single,
            op_overhead_us: 0.0,
            launch_overhead_us: 0.0,
            sync_overhead_us: 0.0,
            submit_per_kernel_us: 0.0,
            call_overhead_us: Default::default(),
            kernels_per_op: Default::default(),
            kernels_per_group: Default::default(),
            recurrent_layers: Default::default(),
            input_copy: false,
            conv_math: "fp32".into(),
            matmul_math: "fp32".into(),
        };
        (d, rt)
    }

    fn measurements(samples: Vec<Sample>, host: Vec<HostSample>) -> Measurements {
        Measurements {
            adapter: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            backend: "vulkan".into(),
            date: "2026-11-28".into(),
            compute_units: 2,
            gemm_tile: [64, 64],
            max_buffer_bytes: 1 << 31,
            samples,
            dispatch_s: 50e-6,
            gap_s: 5e-6,
            submit_s: 120e-6,
            submit_long_s: None,
            readback_latency_s: 200e-6,
            readback_bytes_per_s: 4e9,
            host_threads: 2,
            driver: String::new(),
            host_cpu: String::new(),
            host,
            eager: None,
        }
    }

    /// Host timings of a core doing 3 GFLOP/s and streaming 6 GB/s, 2 us per call.
    fn host_samples() -> Vec<HostSample> {
        let mut v = Vec::new();
        for flops in [1e5, 1e6, 1e7, 5e7] {
            for bytes in [0.0, 65536.0, 1e6, 16e6] {
                v.push(HostSample { flops: flops as u64, bytes: bytes as u64, threads: 1, time_s: 2e-6 + flops / 3e9 + bytes / 6e9 });
            }
        }
        v
    }

    /// Samples timed by the cost model on the truth device, as the device would show them: without the gap.
    fn synthetic() -> (Device, Runtime, Measurements) {
        let (d, rt) = truth();
        let rates = DeviceRates::new(&d, &rt);
        let samples = suite(Depth::Full)
            .unwrap()
            .iter()
            .map(|mb| {
                let n = mb.workload.node(mb.op());
                let t = op_time_with(&n.cost, &rates, Some(&mb.kind())).total_s - f64::from(n.cost.kernels) * 5e-6;
                Sample::of(mb, t)
            })
            .collect();
        (d, rt, measurements(samples, host_samples()))
    }

    #[test]
    fn saved_measurements_take_the_current_op_costs_by_label() {
        // A raw file of an earlier version: a convolution without its taps, a mean without its fold.
        let benches = suite(Depth::Full).unwrap();
        let conv = benches.iter().find(|mb| mb.label == "conv2d 4x1x64x64 -> 6 k5 s1 g1").unwrap();
        let mean = benches.iter().find(|mb| mb.label == "mean 4096x64 over rows").unwrap();
        let old = |mb: &Microbench, t: f64| {
            let s = Sample::of(mb, t);
            Sample { gemm: s.gemm.map(|g| GemmShape { taps: 1, ..g }), fold: None, ..s }
        };
        let unknown = Sample { label: "a microbenchmark since removed".into(), ..old(mean, 3e-3) };
        let mut m = measurements(vec![old(conv, 8e-3), old(mean, 15e-3), unknown.clone()], vec![]);
        assert_eq!(m.recost(&benches), 2);
        assert_eq!(m.samples[0].gemm.unwrap().taps, 25);
        assert_eq!((m.samples[1].fold, m.samples[1].time_s), (Some(64), 15e-3));
        assert_eq!(m.samples[2], unknown);
    }

    /// Eager probes of a GPU whose framework call costs 9 us (4 of them the launch), whose final synchronize
    /// costs 8 us, whose pageable copies take 20 us + bytes at 12 GB/s, and whose convolution calls cost the
    /// host 30 us; the profiler adds 20 us to every call it times.
    fn eager_probes(math: &str, samples: &[Sample]) -> EagerProbes {
        let copies = [4u64, 65536, 1 << 20, 16 << 20].iter().map(|&b| (b, 20e-6 + b as f64 / 12e9)).collect();
        let host_call_s = samples.iter().map(|s| (s.label.clone(), 20e-6 + if s.kind.starts_with("conv") { 30e-6 } else { 9e-6 })).collect();
        EagerProbes {
            math: math.into(),
            op_call_s: 9e-6,
            view_call_s: 1e-6,
            launch_s: 4e-6,
            sync_s: 8e-6,
            copies,
            one_stream_s: Some(2e-3),
            two_streams_s: Some(1.2e-3),
            kernels: BTreeMap::new(),
            host_call_s,
            issue_call_s: BTreeMap::new(),
            among_call_s: BTreeMap::new(),
            busy_s: BTreeMap::new(),
            environment: serde_json::json!({"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "sm_count": 132, "host_memory_bytes": 1u64 << 37}),
        }
    }

    #[test]
    fn an_eager_calibration_recovers_the_framework_overheads_and_the_copy_link() {
        let (_, _, mut m) = synthetic();
        m.eager = Some(eager_probes("default", &m.samples));
        let c = derive(&m).unwrap();
        let rt = &c.runtime;
        assert_eq!(rt.name, "eager");
        assert!((rt.op_overhead_us - 5.0).abs() < 1e-9 && (rt.launch_overhead_us - 4.0).abs() < 1e-9 && (rt.sync_overhead_us - 8.0).abs() < 1e-9, "{rt:?}");
        assert!(rt.input_copy);
        // PyTorch's default math: TF32 convolutions, fp32 matmuls.
        assert_eq!((rt.conv_math.as_str(), rt.matmul_math.as_str()), ("tf32", "fp32"));
        // Calls besides their one launch of 4 us.
        assert!((rt.call_overhead_us["conv2d"] - 26.0).abs() < 1e-9 && (rt.call_overhead_us["relu"] - 5.0).abs() < 1e-9, "{:?}", rt.call_overhead_us);
        assert!((c.link.latency_us - 20.0).abs() < 1e-6 && (c.link.bw_gbs - 12.0).abs() < 1e-6, "{:?}", c.link);
        // cuBLAS and cuDNN choose their own kernels: no kernel paths, no tile quantization.
        assert!(c.gpu.gemm_paths.is_empty() && c.gpu.fold_paths.is_empty() && !c.gpu.tile_quantization);
        let yaml = to_yaml(&c, &m, "mmbench calibrate --backend torch");
        assert!(yaml.starts_with("# Machine: NVIDIA H100 80GB HBM3 (132 SMs)"), "{yaml}");
        // A PyTorch calibration's quick probe is its chain probe: a call's and a launch's host cost.
        let probe = &m.machine().probe;
        assert_eq!(probe.keys().map(String::as_str).collect::<Vec<_>>(), ["launch_s", "op_call_s"]);
        assert!(yaml.contains("default_runtime: eager"));
    }

    #[test]
    fn an_eager_runtime_keeps_the_kernel_counts_the_profiler_measured() {
        // The profiler saw every biased 2-D convolution launch 2 kernels and every permute none; relus launch
        // the one the model counts, so they need no entry.
        let (_, _, mut m) = synthetic();
        let mut e = eager_probes("fp32", &m.samples);
        for s in &m.samples {
            let k = match s.kind.as_str() {
                "conv2d" => 2,
                "permute" => 0,
                _ => s.kernels,
            };
            e.kernels.insert(s.label.clone(), k);
        }
        m.eager = Some(e);
        let rt = derive(&m).unwrap().runtime;
        assert_eq!(rt.kernels_per_op.get("conv2d+bias"), Some(&2), "{:?}", rt.kernels_per_op);
        assert_eq!(rt.kernels_per_op.get("permute"), Some(&0));
        assert!(!rt.kernels_per_op.contains_key("relu"));
        assert_eq!((rt.kernels_of("conv2d+bias", 1, 1), rt.kernels_of("conv2d", 1, 1), rt.kernels_of("relu", 1, 1)), (2, 1, 1));
    }

    #[test]
    fn calls_issued_bare_are_taken_as_measured() {
        // Under the profiler a relu's call costs 29 us against 9 us in the bare chain, so profiled calls lose
        // 20 us each; calls issued bare (here 7 us for convolutions, 3 us for the rest) are taken as they are.
        // Either way a call's cost is kept besides its launches (4 us each; one kernel per call here).
        let (_, _, mut m) = synthetic();
        let mut e = eager_probes("fp32", &m.samples);
        let profiled = derive(&Measurements { eager: Some(e.clone()), ..m.clone() }).unwrap().runtime.call_overhead_us;
        assert!((profiled["conv2d"] - 26.0).abs() < 1e-9, "{profiled:?}");
        e.issue_call_s = m.samples.iter().map(|s| (s.label.clone(), if s.kind.starts_with("conv") { 7e-6 } else { 3e-6 })).collect();
        m.eager = Some(e);
        let bare = derive(&m).unwrap().runtime.call_overhead_us;
        // (No less than nothing: a relu issued in 3 us costs its launch only.)
        assert!((bare["conv2d"] - 3.0).abs() < 1e-9 && bare["relu"].abs() < 1e-9, "{bare:?}");
        // Calls issued among other calls (here 11 us for convolutions) are how a model issues them: they
        // replace the calls repeated back to back.
        let mut e = m.eager.clone().unwrap();
        e.among_call_s = m.samples.iter().map(|s| (s.label.clone(), if s.kind.starts_with("conv") { 11e-6 } else { 6e-6 })).collect();
        m.eager = Some(e);
        let among = derive(&m).unwrap().runtime.call_overhead_us;
        assert!((among["conv2d"] - 7.0).abs() < 1e-9 && (among["relu"] - 2.0).abs() < 1e-9, "{among:?}");
    }

    #[test]
    fn a_call_that_launches_more_kernels_costs_a_launch_more_for_each() {
        // Convolutions of 2 kernels issue in 12 us, those of 6 (a channels-last one's layout kernels) in 28 us:
        // 4 us per launch, and the same 4 us besides.
        let (_, _, mut m) = synthetic();
        let mut e = eager_probes("fp32", &m.samples);
        for (i, s) in m.samples.iter().filter(|s| s.kind == "conv2d").enumerate() {
            let k = if i % 2 == 0 { 2 } else { 6 };
            e.kernels.insert(s.label.clone(), k);
            e.issue_call_s.insert(s.label.clone(), (4.0 + 4.0 * f64::from(k)) * 1e-6);
        }
        m.eager = Some(e);
        let rt = derive(&m).unwrap().runtime;
        assert!((rt.call_overhead_us["conv2d"] - 4.0).abs() < 1e-9, "{:?}", rt.call_overhead_us);
    }

    /// A GRU layer of the suite, `steps` x `hidden`, that launched `kernels` and issued in `issue_us`.
    fn layer_sample(e: &mut EagerProbes, steps: usize, hidden: usize, kernels: u32, issue_us: f64, busy_us: f64) -> Sample {
        let label = format!("gru layer 1x{steps}x32 h{hidden}");
        e.kernels.insert(label.clone(), kernels);
        e.issue_call_s.insert(label.clone(), issue_us * 1e-6);
        e.busy_s.insert(label.clone(), busy_us * 1e-6);
        let g = GemmShape { batch: 1, m: 1, n: 3 * hidden as u64, k: hidden as u64, taps: 1 };
        Sample {
            label,
            kind: "gru_cell".into(),
            class: OpClass::Matmul,
            flops: 2 * g.m * g.n * g.k,
            bytes: 4 * (g.k * g.n + 4 * hidden as u64),
            kernels: 2,
            gemm: Some(g),
            fold: None,
            broadcast: false,
            time_s: busy_us * 1e-6 / steps as f64,
            launch_key: "gru_cell".into(),
            layer: Some(LayerShape { steps, hidden }),
            groups: 1,
        }
    }

    #[test]
    fn recurrent_layers_are_fitted_as_cudnn_runs_them() {
        // Layers of up to 128 units run fused in 5 kernels and issue in 20 (projection) + 100 us; larger ones
        // launch 2 kernels per step and cost the host 12 us more per step. One of them keeps the device busy
        // longer than its issue (it blocks in the launch queue) and says nothing about the host.
        let (_, _, mut m) = synthetic();
        let mut e = eager_probes("fp32", &m.samples);
        for s in &m.samples {
            e.issue_call_s.insert(s.label.clone(), if s.kind == "linear" { 24e-6 } else { 8e-6 });
            e.kernels.insert(s.label.clone(), 1);
        }
        let layers = [(20, 64, 5, 120.0, 30.0), (50, 128, 5, 120.0, 90.0), (30, 96, 5, 120.0, 50.0), (20, 256, 42, 360.0, 90.0), (40, 512, 82, 600.0, 200.0), (10, 1024, 22, 900.0, 880.0)];
        for (steps, hidden, k, issue, busy) in layers {
            let s = layer_sample(&mut e, steps, hidden, k, issue, busy);
            m.samples.push(s);
        }
        m.eager = Some(e);
        let rt = derive(&m).unwrap().runtime;
        let gru = &rt.recurrent_layers["gru_cell"];
        assert_eq!((gru.fused_max_hidden, gru.fused_kernels), (128, 5), "{gru:?}");
        assert!((gru.layer_us - 100.0).abs() < 1e-6, "{gru:?}");
        assert!((gru.step_us - 12.0).abs() < 1e-6, "{gru:?}");
        assert!(!rt.recurrent_layers.contains_key("lstm_cell"));
    }

    #[test]
    fn grouped_convolutions_launch_a_kernel_per_group_where_the_samples_say_so() {
        let (_, _, m) = synthetic();
        let mut e = eager_probes("fp32", &m.samples);
        let grouped = |g: usize, label: &str| Sample { label: label.into(), launch_key: "conv2d+bias@grouped".into(), groups: g, kind: "conv2d".into(), ..m.samples[0].clone() };
        // One kernel per group and the bias's, but for one shape the library runs in 2 kernels.
        let samples: Vec<Sample> = [(4, 5), (8, 9), (16, 17), (32, 33), (64, 2)].iter().map(|&(g, k)| {
            let label = format!("g{g}");
            e.kernels.insert(label.clone(), k);
            grouped(g, &label)
        }).collect();
        assert_eq!(kernels_per_group(&e, &samples).get("conv2d+bias@grouped"), Some(&1));
        // With TF32 the same library runs them in 5 kernels whatever the groups: one count for all.
        for s in &samples {
            e.kernels.insert(s.label.clone(), 5);
        }
        assert!(kernels_per_group(&e, &samples).is_empty());
        let rt = Runtime { kernels_per_group: [("conv2d+bias@grouped".to_string(), 1)].into_iter().collect(), ..eager_runtime(&e, &[]) };
        assert_eq!(rt.kernels_of("conv2d+bias@grouped", 1, 24), 25);
        assert_eq!(rt.kernels_of("conv2d@grouped", 1, 24), 24);
    }

    #[test]
    fn merged_sessions_meet_at_the_faster_hosts_speed() {
        // The second session's host ran most calls 1.5 times slower: the first session's host times are
        // kept, even `v`, which the second's scaled time would undercut; the second's only new timing is
        // scaled to the first's speed. Device times keep the faster of the two, unscaled.
        let (_, _, m) = synthetic();
        let mut a = eager_probes("fp32", &m.samples);
        a.issue_call_s = [("x", 10e-6), ("y", 20e-6), ("v", 10e-6)].iter().map(|&(k, v)| (k.to_string(), v)).collect();
        a.busy_s.insert("y".into(), 5e-6);
        let mut b = a.clone();
        b.issue_call_s = [("x", 15e-6), ("y", 30e-6), ("v", 12e-6), ("z", 45e-6)].iter().map(|&(k, v)| (k.to_string(), v)).collect();
        b.among_call_s = [("x", 18e-6)].iter().map(|&(k, v)| (k.to_string(), v)).collect();
        b.busy_s.insert("y".into(), 4e-6);
        b.op_call_s = a.op_call_s * 1.5;
        // Merged either way round, the result is the same.
        let mut a2 = b.clone();
        a2.merge(&a);
        a.merge(&b);
        for m in [&a, &a2] {
            for (k, want) in [("x", 10e-6), ("y", 20e-6), ("v", 10e-6), ("z", 30e-6)] {
                assert!((m.issue_call_s[k] - want).abs() < 1e-12, "{k}: {:?}", m.issue_call_s);
            }
            assert!((m.among_call_s["x"] - 12e-6).abs() < 1e-12, "{:?}", m.among_call_s);
        }
        assert_eq!(a.busy_s["y"], 4e-6);
        assert_eq!(a2.busy_s["y"], 4e-6);
    }

    #[test]
    fn an_eager_fit_recovers_the_cost_of_a_long_row() {
        // Instance norms on a GPU library that folds each row in one block: 3 us, 2 TB/s, and 1.2 ns per
        // element of one row.
        let (_, _, mut m) = synthetic();
        m.eager = Some(eager_probes("fp32", &m.samples));
        // Their FLOPs cost what the fit charges them: the compute peak's rate.
        let per_flop = 1.0 / derive(&m).unwrap().gpu.peak_flops("fp32");
        let norms: Vec<Sample> = crate::calibrate::suite::gpu_suite(Depth::Full)
            .unwrap()
            .iter()
            .filter(|mb| mb.kind() == "instance_norm")
            .map(|mb| {
                let c = &mb.workload.node(mb.op()).cost;
                let t = f64::from(c.kernels) * m.dispatch_s + 3e-6 + c.bytes() as f64 / 2e12 + c.fold.unwrap() as f64 * 1.2e-9 + c.flops as f64 * per_flop;
                Sample::of(mb, t)
            })
            .collect();
        assert!(norms.len() >= 6);
        m.samples.retain(|s| s.kind != "instance_norm");
        m.samples.extend(norms);
        m.eager = Some(eager_probes("fp32", &m.samples));
        let c = derive(&m).unwrap();
        let fit = c.kinds.iter().find(|f| f.kind == "instance_norm").unwrap();
        assert!((fit.row_s - 1.2e-9).abs() < 0.05e-9, "{fit:?}");
        assert!((c.gpu.kernel_efficiency["instance_norm"].row_ns_per_element - 1.2).abs() < 0.05);
        // wgpu calibrations keep their plane: no row term.
        let (_, _, plain) = synthetic();
        assert!(derive(&plain).unwrap().kinds.iter().all(|f| f.row_s == 0.0));
    }

    #[test]
    fn an_eager_fit_recovers_each_math_modes_curves() {
        // The same suite timed twice: convolutions twice as fast in TF32. Each calibration keeps its own math
        // mode and the speed it measured.
        let (_, _, fp32) = synthetic();
        let mut tf32 = fp32.clone();
        for s in tf32.samples.iter_mut().filter(|s| s.kind.starts_with("conv")) {
            s.time_s = f64::from(s.kernels) * tf32.dispatch_s + (s.time_s - f64::from(s.kernels) * tf32.dispatch_s) / 2.0;
        }
        let (mut a, mut b) = (fp32, tf32);
        a.eager = Some(eager_probes("fp32", &a.samples));
        b.eager = Some(eager_probes("default", &b.samples));
        let (ca, cb) = (derive(&a).unwrap(), derive(&b).unwrap());
        let time = |c: &Calibration, label: &str| {
            let mb = suite(Depth::Full).unwrap().into_iter().find(|mb| mb.label == label).unwrap();
            let rates = DeviceRates::new(&c.gpu, &c.runtime);
            op_time_with(&mb.workload.node(mb.op()).cost, &rates, Some(&mb.kind())).total_s
        };
        let conv = "conv2d 8x32x28x28 -> 64 k3 s1 g1";
        let ratio = time(&ca, conv) / time(&cb, conv);
        assert!((ratio - 2.0).abs() < 0.3, "TF32 convolutions predicted {ratio:.2}x faster, measured 2x");
        let gemm = "linear 256x1024x1024";
        assert!((time(&ca, gemm) / time(&cb, gemm) - 1.0).abs() < 0.05, "matmuls are fp32 in both");
        // Calibrations of two math modes do not merge.
        assert!(a.clone().merge(&b).is_err());
    }

    #[test]
    fn an_eager_gpu_fit_finds_where_the_library_tiles_reach_full_rate() {
        // A GPU whose libraries choose among `library_tiles`, with convolutions at full rate from the 64 x 128
        // tile (intensity 42.7) on: the fit tries each tile's intensity and keeps that one.
        let knee = tile_intensity([64, 128]);
        let (mut d, rt) = truth();
        d.compute_units = 132;
        d.library_tiles = library_tiles();
        d.gemm_paths.clear();
        d.fold_paths.clear();
        d.kernel_efficiency.insert("conv2d".into(), Efficiency { tile_knee: knee, ..eff(0.6, 0.0, 0.5, 0.0) });
        let rates = DeviceRates::new(&d, &rt);
        let samples = suite(Depth::Full)
            .unwrap()
            .iter()
            .map(|mb| Sample::of(mb, op_time_with(&mb.workload.node(mb.op()).cost, &rates, Some(&mb.kind())).total_s - f64::from(mb.workload.node(mb.op()).cost.kernels) * 5e-6))
            .collect::<Vec<_>>();
        let mut m = measurements(samples, host_samples());
        m.compute_units = 132;
        m.eager = Some(eager_probes("fp32", &m.samples));
        let c = derive(&m).unwrap();
        assert_eq!(c.gpu.library_tiles, library_tiles());
        let conv = c.kinds.iter().find(|f| f.kind == "conv2d").unwrap();
        assert!((conv.tile_knee - knee).abs() < 1e-9 && conv.fit_error < 0.01, "knee {} fit error {}", conv.tile_knee, conv.fit_error);
        assert_eq!(c.gpu.kernel_efficiency["conv2d"].tile_knee, conv.tile_knee);
    }

    #[test]
    fn submission_latency_splits_into_fixed_and_per_kernel_costs() {
        // 120 us for 16 kernels, 680 us for 128: 5 us per kernel and 40 us fixed.
        let (_, _, mut m) = synthetic();
        m.submit_long_s = Some(680e-6);
        let rt = derive(&m).unwrap().runtime;
        assert!((rt.submit_per_kernel_us - 5.0).abs() < 1e-9 && (rt.sync_overhead_us - 40.0).abs() < 1e-9, "{rt:?}");
        // Measurements of an older version, with one chain only, charge the whole latency once.
        m.submit_long_s = None;
        let rt = derive(&m).unwrap().runtime;
        assert!(rt.submit_per_kernel_us == 0.0 && (rt.sync_overhead_us - 120.0).abs() < 1e-9, "{rt:?}");
    }

    #[test]
    fn merged_calibrations_keep_the_fastest_of_each_timing() {
        let benches = suite(Depth::Full).unwrap();
        let (a, b, c) = (&benches[0], &benches[1], &benches[2]);
        let host = |t: f64| HostSample { flops: 1_000_000, bytes: 0, threads: 1, time_s: t };
        let mut first = measurements(vec![Sample::of(a, 2e-3), Sample::of(b, 5e-3)], vec![host(4e-4)]);
        let mut second = measurements(vec![Sample::of(b, 3e-3), Sample::of(c, 7e-3)], vec![host(5e-4), HostSample { bytes: 4096, ..host(6e-4) }]);
        second.dispatch_s = 40e-6;
        second.submit_long_s = Some(700e-6);
        second.readback_latency_s = 300e-6;
        second.readback_bytes_per_s = 5e9;
        second.date = "2026-11-29".into();
        first.merge(&second).unwrap();
        let times: Vec<(&str, f64)> = first.samples.iter().map(|s| (s.label.as_str(), s.time_s)).collect();
        assert_eq!(times, [(a.label.as_str(), 2e-3), (b.label.as_str(), 3e-3), (c.label.as_str(), 7e-3)]);
        assert_eq!(first.host.iter().map(|h| h.time_s).collect::<Vec<_>>(), [4e-4, 6e-4]);
        assert_eq!((first.dispatch_s, first.gap_s, first.readback_latency_s, first.readback_bytes_per_s), (40e-6, 5e-6, 200e-6, 5e9));
        assert_eq!(first.date, "2026-11-29");
        // (A chain only one of them timed is taken from that one.)
        assert_eq!(first.submit_long_s, Some(700e-6));
        // Another adapter's measurements do not merge.
        let other = Measurements { compute_units: 16, ..measurements(vec![], vec![]) };
        let e = first.merge(&other).unwrap_err();
        assert!(e.0.contains("compute_units"), "{e}");
    }

    #[test]
    fn a_negligible_fitted_cost_gives_a_curve_the_hardware_file_accepts() {
        // A per-byte cost of 1e-19 s/B on a 1.5 GB/s device is a rate 6.7 million times the bandwidth.
        let fit = KindFit { kind: "gru_cell".into(), samples: 7, coefficients: [0.0, 1.0 / 30e9, 1e-19, 0.0, 3e-9, 0.0], row_s: 0.0, tile_knee: 0.0, fit_error: 0.0, worst_error: 0.0 };
        let c = curve(&fit, 30e9, 1.5e9, false);
        assert_eq!(c.memory, NO_COST);
        assert!((c.compute - 1.0).abs() < 1e-12 && (c.k_overhead - 90.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn fitting_recovers_a_known_device_from_synthetic_measurements() {
        let (d, rt, m) = synthetic();
        let c = derive(&m).unwrap();
        // The fastest kinds run at the peaks: linear at 100 % of 20 GFLOP/s, relu at 100 % of 10 GB/s.
        assert!((c.gpu.peak_flops("fp32") / 20e9 - 1.0).abs() < 1e-6, "{:?}", c.gpu.peak_tflops);
        assert!((c.gpu.mem_bw() / 10e9 - 1.0).abs() < 1e-6, "{}", c.gpu.mem_bw_gbs);
        assert!((c.gpu.kernel_overhead_us - 55.0).abs() < 1e-9);
        let lin = &c.gpu.kernel_efficiency["linear"];
        // (Its fixed cost may land in either half-saturation size when no shape fills more than one wave: the
        // two are the same constant then.)
        assert!((lin.compute - 1.0).abs() < 1e-6 && (lin.memory - 0.8).abs() < 1e-6, "{lin:?}");
        // Wave quantization scales a GEMM's half-saturation cost too, which a plane's constant cannot follow
        // exactly: convolutions with a large half-saturation size come out within a few percent.
        let conv = &c.gpu.kernel_efficiency["conv2d"];
        assert!((conv.compute / 0.6 - 1.0).abs() < 0.03 && (conv.memory / 0.5 - 1.0).abs() < 0.12, "{conv:?}");
        assert!((conv.k_overhead / 16.0 - 1.0).abs() < 0.1 && (conv.gather_overhead / 24.0 - 1.0).abs() < 0.1, "{conv:?}");
        // Broadcast adds get their own curve, same-shape ones keep the kind's.
        let (add, broadcast_add) = (&c.gpu.kernel_efficiency["add"], &c.gpu.broadcast_efficiency["add"]);
        assert!((add.memory / 0.7 - 1.0).abs() < 0.05 && (broadcast_add.memory / 0.15 - 1.0).abs() < 0.05, "{add:?} {broadcast_add:?}");
        // The scalar GEMM's own curve lands in its path.
        let scalar = &c.gpu.gemm_paths.iter().find(|p| p.name == "scalar").unwrap().efficiency["linear"];
        assert!((scalar.compute / 0.3 - 1.0).abs() < 0.03, "{scalar:?}");
        // Every microbenchmark is predicted as the truth predicts it (gap included).
        let (fitted, truth_rates) = (DeviceRates::new(&c.gpu, &c.runtime), DeviceRates::new(&d, &rt));
        for mb in suite(Depth::Full).unwrap() {
            let n = mb.workload.node(mb.op());
            let want = op_time_with(&n.cost, &truth_rates, Some(&mb.kind())).total_s;
            let got = op_time_with(&n.cost, &fitted, Some(&mb.kind())).total_s;
            // (A kind with three sizes does not fix all five coefficients, and a kind fitted with no cost per
            // byte is charged its bytes at the peak: a few percent.)
            assert!((got / want - 1.0).abs() < 0.05, "{}: {got} vs {want} (peak {}, bw {})", mb.label, c.gpu.peak_flops("fp32"), c.gpu.mem_bw());
        }
        for k in &c.kinds {
            assert!(k.worst_error < 0.02, "{k:?}");
        }
        // The per-output cost of a mean carries over to shapes never measured: many short rows, few long ones.
        for (shape, axes) in [(vec![4096, 8], vec![-1]), (vec![2, 3, 300, 300], vec![2, 3])] {
            let mb = crate::calibrate::suite::bench("mean".into(), &[&shape], |b, x| b.reduce("op", crate::graph::ops::ReduceKind::Mean, x[0], &axes, false)).unwrap();
            let n = mb.workload.node(mb.op());
            let want = op_time_with(&n.cost, &truth_rates, Some("reduce_mean")).total_s;
            let got = op_time_with(&n.cost, &fitted, Some("reduce_mean")).total_s;
            assert!((got / want - 1.0).abs() < 0.05, "{shape:?}: {got} vs {want}");
        }
        // The host: 3 GFLOP/s per core (6 on two), 6 GB/s, 2 us.
        assert!((c.cpu.peak_flops("fp32") / 6e9 - 1.0).abs() < 1e-6);
        assert!((c.cpu.mem_bw() / 6e9 - 1.0).abs() < 1e-6);
        assert!((c.cpu.kernel_overhead_us - 2.0).abs() < 1e-6);
        assert_eq!((c.runtime.sync_overhead_us, c.link.latency_us), (120.0, 200.0));
    }

    #[test]
    fn the_description_loads_as_hardware_and_says_where_it_comes_from() {
        let (_, _, m) = synthetic();
        let c = derive(&m).unwrap();
        let text = to_yaml(&c, &m, "mmbench calibrate");
        assert!(text.starts_with("# Calibrated by `mmbench calibrate` on llvmpipe"));
        let dir = std::env::temp_dir().join(format!("mmbench-derive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("calibrated.yaml");
        std::fs::write(&path, &text).unwrap();
        let hw = crate::hardware::load_hardware(path.to_str().unwrap(), &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(hw.name, "calibrated-llvmpipe-llvm-15");
        assert_eq!(hw.runtimes[hw.default_runtime].name, "wgpu");
        let gpu = &hw.devices[hw.default_device];
        assert_eq!(gpu, &c.gpu);
        assert!(!gpu.overlap_compute_memory);
        // It records its machine, with the quick probe's figures taken from the measurements: the smallest
        // kernel, the submission latency and the probe's GEMM (these host samples miss the probe's size).
        let machine = hw.machine.expect("a calibrated description records its machine");
        assert_eq!(machine, m.machine());
        assert_eq!((machine.adapter.as_str(), machine.host_threads), ("llvmpipe (LLVM 15.0.6, 256 bits)", 2));
        let gemm = m.samples.iter().find(|s| s.label == PROBE_GEMM).unwrap().time_s;
        assert_eq!(machine.probe.keys().map(String::as_str).collect::<Vec<_>>(), ["dispatch_s", "gemm_s", "submit_s"]);
        assert_eq!((machine.probe["dispatch_s"], machine.probe["submit_s"], machine.probe["gemm_s"]), (50e-6, 120e-6, gemm));
    }

    #[test]
    fn unusable_measurements_are_refused_with_a_reason() {
        let (_, _, mut m) = synthetic();
        m.samples[3].time_s = f64::NAN;
        assert!(derive(&m).unwrap_err().0.contains(&m.samples[3].label));
        let (_, _, mut m) = synthetic();
        m.host.clear();
        assert!(derive(&m).unwrap_err().0.contains("host"));
        let (_, _, mut m) = synthetic();
        m.samples.retain(|s| s.kind == "relu");
        assert!(derive(&m).is_err());
    }
}
