//! Hardware descriptions: devices (GPU, CPU, accelerator), the links between them, and the runtimes that
//! drive them (an eager framework, the same with streams, a captured graph, wgpu). Units are in field names
//! (`mem_bw_gbs`, `launch_overhead_us`). Files may `extends:` another description and any field may be
//! overridden with `--set gpu.mem_bw_gbs=6000` (a device name may stand for `devices.<name>`).

pub mod machine;
mod presets;

pub use presets::{preset_names, preset_text, DEFAULT_HARDWARE, PRESETS};

use crate::error::{Error, Location, Result};
use crate::graph::{GemmShape, OpClass};
use crate::yaml::{self, apply_set, deep_merge, Document, SetOp};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// What kind of processor a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Gpu,
    Cpu,
    Accelerator,
}

/// An efficiency curve: the fraction of a peak reached by an op of a given size,
/// `peak * size / (size + half)`. `half = 0` gives a flat `peak`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Efficiency {
    /// Best fraction of peak FLOP/s reached by large ops of this class (at most 1 for a class; a kind's
    /// fitted curve may exceed 1 where it outruns the rate taken as the device's peak).
    pub compute: f64,
    /// FLOPs (in millions) at which half of `compute` is reached.
    #[serde(default)]
    pub compute_half_mflop: f64,
    /// Best fraction of peak memory bandwidth reached by large ops of this class.
    pub memory: f64,
    /// Bytes (in KiB) at which half of `memory` is reached.
    #[serde(default)]
    pub memory_half_kb: f64,
    /// For GEMM-like ops: what each output element costs beyond its k multiply-adds (stores, bias, index
    /// arithmetic, a reduction loop's set-up), as that many more multiply-adds. It makes short reductions
    /// (a 1x1 convolution over few channels) slower per FLOP than long ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub k_overhead: f64,
    /// For GEMM kernels that gather their A operand (mmbench's convolution kernel reads each pixel's input
    /// values tap by tap, with its address and padding checks): what gathering one value for one tile of
    /// output columns costs, as that many multiply-adds. Each gathered value feeds one multiply-add per
    /// column of the tile, so the op's FLOPs count `1 + gather_overhead / tile columns` times: a
    /// convolution to 8 channels (an 8-column tile) pays four times the gathering per FLOP of one to 32.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gather_overhead: f64,
    /// For reductions and normalizations on a GPU library that folds each output row in one block (cuDNN's
    /// instance norm): nanoseconds per element of one row, so an op over few long rows (16 channels of a 128³
    /// volume) is as slow as one row streams, whatever the device's bandwidth. Added to the op's time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub row_ns_per_element: f64,
    /// For GEMM-like ops on a device whose libraries choose their tile (`library_tiles`): the tile intensity
    /// (`tm tn / (tm + tn)`, outputs per element loaded at each step of k) from which a tile runs at this
    /// kind's full rate; a tile of lower intensity runs at intensity / knee of it. 0: every tile at full rate.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tile_knee: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Efficiency {
    /// A flat curve: these fractions of the peaks at every size, no further costs.
    pub fn flat(compute: f64, memory: f64) -> Efficiency {
        Efficiency { compute, memory, ..Default::default() }
    }

    /// Fraction of peak compute for an op of `flops`.
    pub fn compute_at(&self, flops: f64) -> f64 {
        saturate(self.compute, self.compute_half_mflop * 1e6, flops)
    }
    /// Fraction of peak bandwidth for an op moving `bytes`.
    pub fn memory_at(&self, bytes: f64) -> f64 {
        saturate(self.memory, self.memory_half_kb * 1024.0, bytes)
    }
}

fn saturate(peak: f64, half: f64, x: f64) -> f64 {
    if half <= 0.0 {
        peak
    } else {
        // At least a tiny fraction, so that zero-size ops do not divide by zero.
        (peak * x / (x + half)).max(peak * 1e-6)
    }
}

/// Efficiency curves per op class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyTable {
    pub matmul: Efficiency,
    pub conv: Efficiency,
    pub elementwise: Efficiency,
    pub reduction: Efficiency,
    pub movement: Efficiency,
}

impl EfficiencyTable {
    /// The curve for an op class (host work uses the elementwise curve of the CPU it runs on).
    pub fn of(&self, class: OpClass) -> &Efficiency {
        match class {
            OpClass::Matmul => &self.matmul,
            OpClass::Conv => &self.conv,
            OpClass::Reduction => &self.reduction,
            OpClass::Movement => &self.movement,
            _ => &self.elementwise,
        }
    }
}

/// One processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    #[serde(skip)]
    pub name: String,
    pub kind: DeviceKind,
    #[serde(default)]
    pub description: String,
    /// Peak dense throughput per math mode in TFLOP/s: `fp32` is required; `tf32`, `fp16`, `bf16` optional.
    pub peak_tflops: BTreeMap<String, f64>,
    /// Peak memory bandwidth, GB/s.
    pub mem_bw_gbs: f64,
    /// Memory capacity, GB.
    pub mem_gb: f64,
    /// Last-level on-chip cache, MB.
    #[serde(default)]
    pub cache_mb: f64,
    /// Streaming multiprocessors, compute units or cores: the width that wave quantization fills.
    pub compute_units: u32,
    /// Kernels that may run at the same time (1 for an in-order queue or a CPU).
    #[serde(default = "one_u32")]
    pub max_concurrent_kernels: u32,
    /// Fixed device-side time of every kernel (launch latency, ramp-up, tail), microseconds.
    #[serde(default)]
    pub kernel_overhead_us: f64,
    /// Output tile (rows x columns) of one GEMM work unit, for wave quantization.
    #[serde(default = "default_tile")]
    pub gemm_tile: [u32; 2],
    pub efficiency: EfficiencyTable,
    /// Curves for particular op types (`conv3d`, `softmax`, `gru_cell`, ...) that override their class's,
    /// where one kernel performs unlike the rest of its class (fitted by `mmbench calibrate`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel_efficiency: BTreeMap<String, Efficiency>,
    /// Curves of element-wise kinds (`add`, `mul`, ...) for ops whose operands broadcast (`OpCost::broadcast`),
    /// where the kernel's index arithmetic makes them slower than same-shape ones; replacing the kind's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broadcast_efficiency: BTreeMap<String, Efficiency>,
    /// Whether an op's memory traffic overlaps its arithmetic (`true`: time is the larger of the two, as on
    /// GPUs and out-of-order CPUs; `false`: the sum, as for a software Vulkan driver that runs shaders on a
    /// CPU in lockstep).
    #[serde(default = "yes")]
    pub overlap_compute_memory: bool,
    /// Whether GEMM-like ops pay for whole `gemm_tile`s (`true` for a kernel with one fixed tile, as
    /// mmbench's wgpu kernels: a GEMV computes a whole 32 x 64 tile); `false` where libraries pick smaller
    /// tiles for small problems (cuBLAS, cuDNN, oneDNN).
    #[serde(default)]
    pub tile_quantization: bool,
    /// The output tiles (`[tm, tn]`) the device's GEMM and convolution libraries choose from (cuBLAS and
    /// cuDNN pick a kernel per shape): a GEMM-like op without a kernel path takes the one whose whole waves of
    /// whole tiles finish first, at its kind's rate for that tile (`tile_knee`). Empty: `gemm_tile`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub library_tiles: Vec<[u32; 2]>,
    /// GEMM-like op kinds the libraries run in kernels of their own rather than in `library_tiles` (cuDNN runs
    /// a recurrent layer's steps in one persistent kernel): nothing padded, no partial waves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untiled_kinds: Vec<String>,
    /// The GEMM kernels of the device's software stack and which shapes take which (the first that fits):
    /// their tiles replace `gemm_tile`, and their curves, where given, the op kinds' own. Empty: one kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gemm_paths: Vec<GemmPath>,
    /// Kernels that reductions and normalizations switch to by row length (the first that takes an op):
    /// their curves replace the op kinds' own. Empty: one kernel per kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_paths: Vec<FoldPath>,
    /// Thermal design power, watts (for power-aware design-space studies).
    #[serde(default)]
    pub tdp_w: Option<f64>,
    /// Die area, mm^2 (for area-aware design-space studies).
    #[serde(default)]
    pub die_mm2: Option<f64>,
    /// Where the figures come from.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// One GEMM kernel of a device's software stack and the shapes it takes: mmbench's wgpu GEMM loads vec4s
/// only when k and n are multiples of 4 and falls back to a scalar kernel with another tile; cuBLAS picks
/// tensor-core kernels only for aligned sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmPath {
    pub name: String,
    /// Op kinds (`linear`, `conv2d`, ...) this kernel serves.
    pub kinds: Vec<String>,
    /// It takes only GEMMs whose k (and n) are multiples of these.
    #[serde(default = "one_u32")]
    pub k_multiple: u32,
    #[serde(default = "one_u32")]
    pub n_multiple: u32,
    /// Output tile (rows x columns) of one work unit.
    pub tile: [u32; 2],
    /// Whether a GEMM narrower than the tile gets a narrower tile: halved while it still covers n, down to
    /// this many columns (mmbench's convolution kernel: 4 to 32 output channels per workgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tile_n: Option<u32>,
    /// Whether the kernel reads the input channels of each tap in packs of this many, doing a whole pack's
    /// work for a partial one (mmbench's convolution kernel: 4, so a first layer over 1 or 3 channels costs
    /// what 4 do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_pack: Option<u32>,
    /// Curves of this kernel per op kind, where it runs unlike the kind's usual kernel.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub efficiency: BTreeMap<String, Efficiency>,
}

/// A kernel that reductions and normalizations take from some row length on: mmbench's wgpu kernels fold a
/// short row in one invocation and a long one in a workgroup, with a tree in workgroup memory, which costs
/// a CPU adapter tens of microseconds per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoldPath {
    pub name: String,
    /// Op kinds (`reduce_mean`, `softmax`, ...) this kernel serves.
    pub kinds: Vec<String>,
    /// It takes ops whose outputs each fold at least this many elements (`OpCost::fold`).
    pub min_fold: u64,
    /// Curves of this kernel per op kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub efficiency: BTreeMap<String, Efficiency>,
}

impl FoldPath {
    /// Whether this kernel takes an op of kind `kind` whose outputs fold `fold` elements each.
    pub fn takes(&self, kind: &str, fold: u64) -> bool {
        fold >= self.min_fold && self.kinds.iter().any(|k| k == kind)
    }
}

impl GemmPath {
    /// Whether this kernel takes a GEMM of op kind `kind`.
    pub fn takes(&self, kind: &str, g: &GemmShape) -> bool {
        g.k.is_multiple_of(u64::from(self.k_multiple)) && g.n.is_multiple_of(u64::from(self.n_multiple)) && self.kinds.iter().any(|k| k == kind)
    }

    /// Fraction of the reduction this kernel does that is useful: `k / (taps ceil(k / taps / pack) pack)`
    /// with a `k_pack`, else 1.
    pub fn pack_utilization(&self, g: &GemmShape) -> f64 {
        match self.k_pack {
            Some(pack) if g.k > 0 => {
                let taps = g.taps.max(1);
                let per_tap = g.k.div_ceil(taps);
                g.k as f64 / (taps * per_tap.div_ceil(u64::from(pack)) * u64::from(pack)) as f64
            }
            _ => 1.0,
        }
    }

    /// The tile this kernel uses for a GEMM with `n` columns.
    pub fn tile_for(&self, n: u64) -> [u32; 2] {
        let [tm, mut tn] = self.tile;
        if let Some(min) = self.min_tile_n {
            while tn / 2 >= min.max(1) && u64::from(tn / 2) >= n {
                tn /= 2;
            }
        }
        [tm, tn]
    }
}

fn one_u32() -> u32 {
    1
}
fn default_tile() -> [u32; 2] {
    [128, 128]
}

impl Device {
    /// Peak FLOP/s for a math mode, falling back to fp32 when the device has no such mode.
    pub fn peak_flops(&self, math: &str) -> f64 {
        let t = self.peak_tflops.get(math).or_else(|| self.peak_tflops.get("fp32")).copied().unwrap_or(0.0);
        t * 1e12
    }
    pub fn mem_bw(&self) -> f64 {
        self.mem_bw_gbs * 1e9
    }

    /// The GEMM kernel that runs a GEMM of op kind `kind`, if the device describes its kernels.
    pub fn gemm_path(&self, kind: &str, g: &GemmShape) -> Option<&GemmPath> {
        self.gemm_paths.iter().find(|p| p.takes(kind, g))
    }

    /// The row kernel that runs an op of kind `kind` folding `fold` elements per output, if the device
    /// describes one.
    pub fn fold_path(&self, kind: &str, fold: u64) -> Option<&FoldPath> {
        self.fold_paths.iter().find(|p| p.takes(kind, fold))
    }
}

/// A link between two devices (both directions, each at the full bandwidth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub between: [String; 2],
    pub bw_gbs: f64,
    #[serde(default)]
    pub latency_us: f64,
    #[serde(default)]
    pub description: String,
}

/// Which ops may overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Streams {
    /// One in-order stream (queue) per device: the eager default and wgpu's queue.
    Single,
    /// One stream per modality branch, fusion and head on the first; branches may overlap.
    PerBranch,
}

/// How a software stack drives the devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub streams: Streams,
    /// Host time of one framework op call (Python and dispatcher), microseconds.
    pub op_overhead_us: f64,
    /// Host time to launch one kernel (driver call, command encoding), microseconds.
    pub launch_overhead_us: f64,
    /// Cost of one synchronization (an event wait between streams, a blocking copy, the final sync), us.
    pub sync_overhead_us: f64,
    /// What each kernel of an inference adds to its final synchronization, microseconds: a runtime that
    /// submits the whole inference at once pays per kernel between submission and the result being back
    /// (wgpu tracks every pass at submit, and mmbench's timed runs resolve two timestamps per kernel; on
    /// lavapipe about 5 us per kernel, measured by `mmbench calibrate` on chains of two lengths).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub submit_per_kernel_us: f64,
    /// Host time of one framework call of an op kind besides `launch_overhead_us` per kernel it launches,
    /// microseconds, where it was measured (`mmbench calibrate --backend torch`: a cuDNN convolution's call
    /// costs the host several times a `relu`'s). Kinds not listed pay `op_overhead_us` instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub call_overhead_us: BTreeMap<String, f64>,
    /// Kernels one op of a kind launches in this runtime where that differs from mmbench's own kernels
    /// (measured by the profiler: cuDNN runs a biased 3-D convolution, `conv3d+bias`, as 2 kernels, instance
    /// norm as 3, and a view such as `permute` as none). Keys are `Op::launch_key`s: the kind, with `+bias`
    /// for a biased convolution. Kinds not named launch the cost model's count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernels_per_op: BTreeMap<String, u32>,
    /// Kernels per group of a grouped convolution, by launch key (`conv2d+bias@grouped`), where the library
    /// runs each group in kernels of its own (cuDNN in strict fp32): such a convolution launches this many
    /// per group, and one more for its bias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernels_per_group: BTreeMap<String, u32>,
    /// How the runtime's library runs a recurrent layer (one `gru` or `lstm` call), per cell kind, where it
    /// was measured. Kinds not listed run as their cells: each step's kernels launched from the one call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recurrent_layers: BTreeMap<String, RecurrentLayerCalls>,
    /// Whether input tensors are copied from host memory each inference (`.to(device)` per modality).
    #[serde(default = "yes")]
    pub input_copy: bool,
    /// Math mode of convolutions and of matmuls (PyTorch lets cuDNN use TF32 for convolutions by default).
    #[serde(default = "fp32")]
    pub conv_math: String,
    #[serde(default = "fp32")]
    pub matmul_math: String,
}

/// What a recurrent layer's call costs, measured on whole layers (`mmbench calibrate --backend torch`):
/// cuDNN prepares the layer on the host once per call, then either runs all its steps in a few kernels of
/// its own (small hidden sizes: the host's part is done) or launches each step's kernels from the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentLayerCalls {
    /// Host cost of the layer's call besides its input projection's (descriptors, workspace, the weights'
    /// checks), paid by its first step, microseconds.
    pub layer_us: f64,
    /// Host cost of each step of a layer that launches kernels per step, microseconds.
    pub step_us: f64,
    /// Layers of at most this many hidden units run fused: `fused_kernels` kernels in all, their input
    /// projection's included, and no host cost per step.
    pub fused_max_hidden: usize,
    pub fused_kernels: u32,
}

/// The curve suffix of a fused layer's step (`gru_cell@fused` in `kernel_efficiency`): cuDNN's persistent
/// kernels run a step at a speed of their own.
pub const FUSED: &str = "fused";

impl RecurrentLayerCalls {
    /// Whether a layer of `hidden` units runs fused.
    pub fn fused(&self, hidden: usize) -> bool {
        hidden <= self.fused_max_hidden
    }
}

fn yes() -> bool {
    true
}
fn fp32() -> String {
    "fp32".into()
}

impl Runtime {
    /// Kernels an op of launch key `key` and `groups` groups launches in this runtime, of `modeled` in
    /// mmbench's count (an op that launches none, a view or an input, launches none anywhere).
    pub fn kernels_of(&self, key: &str, modeled: u32, groups: usize) -> u32 {
        if modeled == 0 {
            return 0;
        }
        // (A grouped convolution without a bias launches per group what a biased one does, less the bias's.)
        let biased = key.split_once('@').filter(|(k, _)| !k.ends_with("+bias")).map(|(k, v)| format!("{k}+bias@{v}"));
        match self.kernels_per_group.get(key).or_else(|| biased.as_ref().and_then(|b| self.kernels_per_group.get(b))) {
            Some(&per) => per.saturating_mul(groups as u32).saturating_add(u32::from(key.contains("+bias"))),
            None => self.kernels_per_op.get(key).copied().unwrap_or(modeled),
        }
    }

    /// One line saying what this runtime assumes about overlap and launch cost.
    pub fn assumption(&self) -> String {
        let overlap = match self.streams {
            Streams::Single => "one in-order stream per device: branches run one after another",
            Streams::PerBranch => "one stream per branch: branches may overlap",
        };
        let submit = if self.submit_per_kernel_us > 0.0 { format!(" (+{:.1} us per kernel at the final one)", self.submit_per_kernel_us) } else { String::new() };
        format!(
            "{}: {overlap}; {:.1} us per op call + {:.1} us per kernel launch on the host, {:.1} us per sync{submit}",
            self.name, self.op_overhead_us, self.launch_overhead_us, self.sync_overhead_us
        )
    }
}

/// A machine: devices, links, runtimes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardware {
    pub name: String,
    pub description: String,
    pub devices: Vec<Device>,
    pub links: Vec<Link>,
    /// Index of the device that runs the framework and issues launches.
    pub host: usize,
    /// Index of the device ops run on unless placed elsewhere.
    pub default_device: usize,
    pub runtimes: Vec<Runtime>,
    /// Index into `runtimes`.
    pub default_runtime: usize,
    /// The machine a calibrated description was fitted on, with its quick-probe figures; absent from
    /// descriptions written by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<machine::MachineRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HardwareFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    #[allow(dead_code)]
    extends: Option<String>,
    host: String,
    default_device: String,
    devices: serde_yaml::Mapping,
    #[serde(default)]
    links: Vec<Link>,
    runtimes: serde_yaml::Mapping,
    default_runtime: String,
    #[serde(default)]
    #[allow(dead_code)]
    sources: Vec<String>,
    #[serde(default)]
    machine: Option<machine::MachineRecord>,
}

impl Hardware {
    pub fn device_index(&self, name: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.name == name)
    }

    pub fn runtime(&self, name: &str) -> Result<&Runtime> {
        self.runtimes
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::unknown("runtime", name, self.runtimes.iter().map(|r| r.name.as_str())))
    }

    /// The link between two devices, if any.
    pub fn link(&self, a: usize, b: usize) -> Option<&Link> {
        let (na, nb) = (&self.devices[a].name, &self.devices[b].name);
        self.links.iter().find(|l| (&l.between[0] == na && &l.between[1] == nb) || (&l.between[0] == nb && &l.between[1] == na))
    }
}

/// Loads a hardware description from a file path or a preset name, applying `--set` overrides.
pub fn load_hardware(arg: &str, sets: &[(String, SetOp)]) -> Result<Hardware> {
    HardwareSource::open(arg)?.build(sets)
}

/// A hardware description read and merged along its `extends:` chain, ready to be built with different
/// overrides many times (a sweep builds thousands of variants of one file).
#[derive(Debug, Clone)]
pub struct HardwareSource {
    chain: Vec<Document>,
    merged: Value,
    /// The description without overrides, for the typed fast path of numeric overrides.
    base: Hardware,
}

impl HardwareSource {
    /// Reads a preset or a file and everything it extends.
    pub fn open(arg: &str) -> Result<Self> {
        let (chain, merged) = read_chain(arg)?;
        let base = from_value(&merged, &Located { chain: &chain })?;
        Ok(HardwareSource { chain, merged, base })
    }

    /// The description with these `--set` overrides applied.
    pub fn build(&self, sets: &[(String, SetOp)]) -> Result<Hardware> {
        // Numeric fields are set on a copy of the typed description: a sweep builds thousands of variants,
        // and going through the YAML tree costs a hundred times more.
        let mut hw = self.base.clone();
        if sets.iter().all(|(key, op)| set_numeric(&mut hw, &qualify_key(&self.merged, key), op)) {
            validate(&hw, &SetReport)?;
            return Ok(hw);
        }
        self.build_from_yaml(sets)
    }

    fn build_from_yaml(&self, sets: &[(String, SetOp)]) -> Result<Hardware> {
        let mut merged = self.merged.clone();
        for (key, op) in sets {
            let key = qualify_key(&merged, key);
            apply_set(&mut merged, &key, op).map_err(|m| Error::input(Location::default().field(format!("--set {key}")), m))?;
        }
        from_value(&merged, &Located { chain: &self.chain })
    }
}

fn read_chain(arg: &str) -> Result<(Vec<Document>, Value)> {
    let (file, text) = read_source(arg)?;
    let mut chain = vec![Document::parse(&file, &text)?];
    // Follow `extends:` (presets or paths relative to the extending file), at most 8 levels.
    let mut merged = chain[0].value.clone();
    while let Some(parent) = chain.last().unwrap().value.get("extends").and_then(Value::as_str).map(str::to_string) {
        if chain.len() > 8 {
            return Err(chain[0].error("extends", "`extends` chain is longer than 8 (a loop?)"));
        }
        let base_dir = std::path::Path::new(&chain.last().unwrap().file).parent().map(|p| p.to_path_buf());
        let resolved = match (preset_text(&parent), &base_dir) {
            (Some(_), _) => parent.clone(),
            (None, Some(dir)) if !dir.as_os_str().is_empty() => dir.join(&parent).to_string_lossy().into_owned(),
            _ => parent.clone(),
        };
        let (pfile, ptext) = read_source(&resolved).map_err(|e| match e {
            Error::Unknown { .. } | Error::Read { .. } => chain.last().unwrap().error("extends", format!("cannot extend `{parent}`: {e}")),
            other => other,
        })?;
        let pdoc = Document::parse(&pfile, &ptext)?;
        let mut base = pdoc.value.clone();
        deep_merge(&mut base, &merged);
        merged = base;
        if let Some(m) = merged.as_mapping_mut() {
            m.remove("extends");
            if let Some(e) = pdoc.value.get("extends") {
                m.insert("extends".into(), e.clone());
            }
        }
        chain.push(pdoc);
    }
    if let Some(m) = merged.as_mapping_mut() {
        m.remove("extends");
    }
    Ok((chain, merged))
}

/// Reads a preset or a file.
fn read_source(arg: &str) -> Result<(String, String)> {
    if let Some(t) = preset_text(arg) {
        return Ok((format!("hardware/{arg}.yaml"), t.to_string()));
    }
    let path = std::path::Path::new(arg);
    if !path.exists() && !arg.contains('/') && !arg.ends_with(".yaml") && !arg.ends_with(".yml") {
        return Err(Error::unknown("hardware", arg, preset_names()));
    }
    let text = crate::input::read_text(path)?;
    Ok((arg.to_string(), text))
}

/// Applies a numeric override to a field of the typed description; false when the key is not a numeric
/// field this fast path knows (the caller then goes through the YAML tree, which reports unknown fields).
fn set_numeric(hw: &mut Hardware, key: &str, op: &SetOp) -> bool {
    let apply = |x: f64| -> Option<f64> {
        match op {
            SetOp::Assign(v) => v.as_f64(),
            SetOp::Multiply(m) => Some(x * m),
            SetOp::Divide(d) => Some(x / d),
            SetOp::Add(a) => Some(x + a),
        }
    };
    let parts: Vec<&str> = key.split('.').collect();
    let field: Option<&mut f64> = match parts.as_slice() {
        ["devices", d, rest @ ..] => {
            let Some(dev) = hw.devices.iter_mut().find(|x| x.name == *d) else { return false };
            match rest {
                ["mem_bw_gbs"] => Some(&mut dev.mem_bw_gbs),
                ["mem_gb"] => Some(&mut dev.mem_gb),
                ["cache_mb"] => Some(&mut dev.cache_mb),
                ["kernel_overhead_us"] => Some(&mut dev.kernel_overhead_us),
                ["peak_tflops", mode] => dev.peak_tflops.get_mut(*mode),
                ["efficiency", class, f] => {
                    let e = &mut dev.efficiency;
                    let c = match *class {
                        "matmul" => &mut e.matmul,
                        "conv" => &mut e.conv,
                        "elementwise" => &mut e.elementwise,
                        "reduction" => &mut e.reduction,
                        "movement" => &mut e.movement,
                        _ => return false,
                    };
                    match *f {
                        "compute" => Some(&mut c.compute),
                        "compute_half_mflop" => Some(&mut c.compute_half_mflop),
                        "memory" => Some(&mut c.memory),
                        "memory_half_kb" => Some(&mut c.memory_half_kb),
                        _ => None,
                    }
                }
                ["compute_units"] | ["max_concurrent_kernels"] => {
                    let target = if rest[0] == "compute_units" { &mut dev.compute_units } else { &mut dev.max_concurrent_kernels };
                    // Integers stay integers; a non-integral result goes the slow way and is reported there.
                    return match apply(f64::from(*target)) {
                        Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
                            *target = v as u32;
                            true
                        }
                        _ => false,
                    };
                }
                _ => None,
            }
        }
        ["runtimes", r, f] => {
            let Some(rt) = hw.runtimes.iter_mut().find(|x| x.name == *r) else { return false };
            match *f {
                "op_overhead_us" => Some(&mut rt.op_overhead_us),
                "launch_overhead_us" => Some(&mut rt.launch_overhead_us),
                "sync_overhead_us" => Some(&mut rt.sync_overhead_us),
                "submit_per_kernel_us" => Some(&mut rt.submit_per_kernel_us),
                _ => None,
            }
        }
        _ => None,
    };
    match field.and_then(|x| apply(*x).map(|v| (x, v))) {
        Some((x, v)) => {
            *x = v;
            true
        }
        None => false,
    }
}

/// `gpu.mem_bw_gbs` means `devices.gpu.mem_bw_gbs` when `gpu` is a device; `eager.x` likewise for runtimes.
fn qualify_key(v: &Value, key: &str) -> String {
    let first = key.split(['.', '[']).next().unwrap_or("");
    let has = |section: &str| v.get(section).and_then(|d| d.get(first)).is_some();
    if v.get(first).is_none() {
        if has("devices") {
            return format!("devices.{key}");
        }
        if has("runtimes") {
            return format!("runtimes.{key}");
        }
    }
    key.to_string()
}

/// Turns a problem with a field into an error located where the field was written.
trait Report {
    fn error(&self, field: &str, msg: String) -> Error;
}

/// Problems found after typed `--set` overrides: the override is where the bad value comes from.
struct SetReport;

impl Report for SetReport {
    fn error(&self, field: &str, msg: String) -> Error {
        Error::input(Location::default().field(format!("--set {field}")), msg)
    }
}

impl Report for Located<'_> {
    fn error(&self, field: &str, msg: String) -> Error {
        Located::error(self, field, msg)
    }
}

/// Locates fields in the file (or ancestor) that defines them.
struct Located<'a> {
    chain: &'a [Document],
}

impl Located<'_> {
    fn error(&self, field: &str, msg: impl Into<String>) -> Error {
        let doc = self.chain.iter().find(|d| d.index.find(field).is_some_and(|_| field_exists(&d.value, field))).unwrap_or(&self.chain[0]);
        doc.error(field, msg)
    }
    fn decode<T: serde::de::DeserializeOwned>(&self, base: &str, v: &Value) -> Result<T> {
        // Decode against the first document, then re-locate the error in the file that defines the field.
        yaml::decode::<T>(&self.chain[0], base, v).map_err(|e| match e {
            Error::Input { at, message } => {
                let field = at.field.unwrap_or_default();
                self.error(&field, message)
            }
            other => other,
        })
    }
}

fn field_exists(v: &Value, path: &str) -> bool {
    let mut cur = v;
    for part in path.split('.') {
        let (key, idx) = match part.find('[') {
            Some(i) => (&part[..i], part[i + 1..].trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        match cur.get(key) {
            Some(n) => cur = n,
            None => return false,
        }
        if let Some(i) = idx {
            match cur.get(i) {
                Some(n) => cur = n,
                None => return false,
            }
        }
    }
    true
}

fn from_value(v: &Value, loc: &Located) -> Result<Hardware> {
    let hf: HardwareFile = loc.decode("", v)?;
    let mut devices = Vec::new();
    for (k, dv) in &hf.devices {
        let name = k.as_str().unwrap_or_default().to_string();
        let base = format!("devices.{name}");
        let mut d: Device = loc.decode(&base, dv)?;
        d.name = name;
        devices.push(d);
    }
    if devices.is_empty() {
        return Err(loc.error("devices", "at least one device is needed"));
    }
    let find = |field: &str, name: &str| -> Result<usize> {
        devices.iter().position(|d| d.name == name).ok_or_else(|| {
            let known: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
            loc.error(field, format!("unknown device `{name}`; devices: {}", known.join(", ")))
        })
    };
    let host = find("host", &hf.host)?;
    let default_device = find("default_device", &hf.default_device)?;
    for (i, l) in hf.links.iter().enumerate() {
        let base = format!("links[{i}]");
        find(&format!("{base}.between"), &l.between[0])?;
        find(&format!("{base}.between"), &l.between[1])?;
        if l.between[0] == l.between[1] {
            return Err(loc.error(&format!("{base}.between"), "a link joins two different devices"));
        }
    }
    let mut runtimes = Vec::new();
    for (k, rv) in &hf.runtimes {
        let name = k.as_str().unwrap_or_default().to_string();
        let base = format!("runtimes.{name}");
        let mut r: Runtime = loc.decode(&base, rv)?;
        r.name = name;
        runtimes.push(r);
    }
    let default_runtime = runtimes.iter().position(|r| r.name == hf.default_runtime).ok_or_else(|| {
        let known: Vec<&str> = runtimes.iter().map(|r| r.name.as_str()).collect();
        loc.error("default_runtime", format!("unknown runtime `{}`; runtimes: {}", hf.default_runtime, known.join(", ")))
    })?;
    let hw = Hardware { name: hf.name, description: hf.description, devices, links: hf.links, host, default_device, runtimes, default_runtime, machine: hf.machine };
    validate(&hw, loc)?;
    Ok(hw)
}

/// The numeric checks of a description: rates positive, overheads and latencies not negative, efficiencies
/// fractions.
fn validate(hw: &Hardware, rep: &dyn Report) -> Result<()> {
    for d in &hw.devices {
        validate_device(d, &format!("devices.{}", d.name), rep)?;
    }
    for (i, l) in hw.links.iter().enumerate() {
        let base = format!("links[{i}]");
        positive(l.bw_gbs, &format!("{base}.bw_gbs"), rep)?;
        non_negative(l.latency_us, &format!("{base}.latency_us"), rep)?;
    }
    for r in &hw.runtimes {
        let base = format!("runtimes.{}", r.name);
        for (f, x) in [("op_overhead_us", r.op_overhead_us), ("launch_overhead_us", r.launch_overhead_us), ("sync_overhead_us", r.sync_overhead_us), ("submit_per_kernel_us", r.submit_per_kernel_us)] {
            non_negative(x, &format!("{base}.{f}"), rep)?;
        }
        for (kind, &x) in &r.call_overhead_us {
            non_negative(x, &format!("{base}.call_overhead_us.{kind}"), rep)?;
        }
        for (kind, l) in &r.recurrent_layers {
            non_negative(l.layer_us, &format!("{base}.recurrent_layers.{kind}.layer_us"), rep)?;
            non_negative(l.step_us, &format!("{base}.recurrent_layers.{kind}.step_us"), rep)?;
        }
    }
    Ok(())
}

fn positive(x: f64, field: &str, loc: &dyn Report) -> Result<()> {
    if !(x > 0.0 && x.is_finite()) {
        return Err(loc.error(field, format!("must be a positive number, got {x}")));
    }
    Ok(())
}

fn non_negative(x: f64, field: &str, loc: &dyn Report) -> Result<()> {
    if !(x >= 0.0 && x.is_finite()) {
        return Err(loc.error(field, format!("must be zero or positive, got {x}")));
    }
    Ok(())
}

/// An efficiency curve at field path `f`: fractions in (0, `max`], half-saturation sizes zero or positive.
/// Class curves stay within the peaks (`max` 1); a kind's fitted curve may beat them (see `mmbench
/// calibrate`).
/// Most a per-kind efficiency may be: fitted kinds beat the peaks by a little, or cost nothing for a term
/// (calibration writes 1000 then).
const KIND_EFFICIENCY_MAX: f64 = 1e3;

fn validate_curve(c: &Efficiency, f: &str, loc: &dyn Report, max: f64) -> Result<()> {
    for (name, x) in [("compute", c.compute), ("memory", c.memory)] {
        if !(x > 0.0 && x <= max) {
            return Err(loc.error(&format!("{f}.{name}"), format!("an efficiency must be in (0, {max}], got {x}")));
        }
    }
    non_negative(c.compute_half_mflop, &format!("{f}.compute_half_mflop"), loc)?;
    non_negative(c.memory_half_kb, &format!("{f}.memory_half_kb"), loc)?;
    non_negative(c.k_overhead, &format!("{f}.k_overhead"), loc)?;
    non_negative(c.gather_overhead, &format!("{f}.gather_overhead"), loc)
}

fn validate_device(d: &Device, base: &str, loc: &dyn Report) -> Result<()> {
    if !d.peak_tflops.contains_key("fp32") {
        return Err(loc.error(&format!("{base}.peak_tflops"), "needs at least `fp32`".into()));
    }
    for (mode, &t) in &d.peak_tflops {
        positive(t, &format!("{base}.peak_tflops.{mode}"), loc)?;
    }
    positive(d.mem_bw_gbs, &format!("{base}.mem_bw_gbs"), loc)?;
    positive(d.mem_gb, &format!("{base}.mem_gb"), loc)?;
    for (f, v) in [("tdp_w", d.tdp_w), ("die_mm2", d.die_mm2)] {
        if let Some(v) = v {
            positive(v, &format!("{base}.{f}"), loc)?;
        }
    }
    non_negative(d.cache_mb, &format!("{base}.cache_mb"), loc)?;
    non_negative(d.kernel_overhead_us, &format!("{base}.kernel_overhead_us"), loc)?;
    if d.compute_units == 0 {
        return Err(loc.error(&format!("{base}.compute_units"), "must be at least 1".into()));
    }
    if d.max_concurrent_kernels == 0 {
        return Err(loc.error(&format!("{base}.max_concurrent_kernels"), "must be at least 1".into()));
    }
    if d.gemm_tile.contains(&0) {
        return Err(loc.error(&format!("{base}.gemm_tile"), "tile sizes must be positive".into()));
    }
    let e = &d.efficiency;
    for (class, c) in [("matmul", &e.matmul), ("conv", &e.conv), ("elementwise", &e.elementwise), ("reduction", &e.reduction), ("movement", &e.movement)] {
        validate_curve(c, &format!("{base}.efficiency.{class}"), loc, 1.0)?;
    }
    for (kind, c) in &d.kernel_efficiency {
        validate_curve(c, &format!("{base}.kernel_efficiency.{kind}"), loc, KIND_EFFICIENCY_MAX)?;
    }
    for (kind, c) in &d.broadcast_efficiency {
        validate_curve(c, &format!("{base}.broadcast_efficiency.{kind}"), loc, KIND_EFFICIENCY_MAX)?;
    }
    for (i, p) in d.gemm_paths.iter().enumerate() {
        let f = format!("{base}.gemm_paths[{i}]");
        if p.tile.contains(&0) || p.min_tile_n == Some(0) || p.k_pack == Some(0) {
            return Err(loc.error(&format!("{f}.tile"), "tile sizes must be positive".into()));
        }
        if p.k_multiple == 0 || p.n_multiple == 0 {
            return Err(loc.error(&format!("{f}.k_multiple"), "multiples must be at least 1".into()));
        }
        for (kind, c) in &p.efficiency {
            validate_curve(c, &format!("{f}.efficiency.{kind}"), loc, KIND_EFFICIENCY_MAX)?;
        }
    }
    for (i, p) in d.fold_paths.iter().enumerate() {
        let f = format!("{base}.fold_paths[{i}]");
        for (kind, c) in &p.efficiency {
            validate_curve(c, &format!("{f}.efficiency.{kind}"), loc, KIND_EFFICIENCY_MAX)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads() {
        for name in preset_names() {
            let hw = load_hardware(name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!hw.devices.is_empty());
            assert!(hw.runtimes.iter().any(|r| r.name == "eager"), "{name} has no eager runtime");
        }
    }

    #[test]
    fn set_overrides_device_fields_by_short_name() {
        let base = load_hardware("a100", &[]).unwrap();
        let sets = vec![crate::yaml::parse_set("gpu.mem_bw_gbs=*2").unwrap()];
        let hw = load_hardware("a100", &sets).unwrap();
        let g = hw.default_device;
        assert_eq!(hw.devices[g].mem_bw_gbs, 2.0 * base.devices[g].mem_bw_gbs);
    }

    #[test]
    fn typed_overrides_equal_yaml_overrides() {
        let src = HardwareSource::open("a100").unwrap();
        for set in [
            "gpu.mem_bw_gbs=*2",
            "gpu.peak_tflops.tf32=300",
            "gpu.compute_units=/2",
            "gpu.efficiency.conv.compute=0.7",
            "cpu.kernel_overhead_us=+1",
            "eager.op_overhead_us=3",
            "devices.gpu.max_concurrent_kernels=1",
        ] {
            let sets = vec![crate::yaml::parse_set(set).unwrap()];
            assert_eq!(src.build(&sets).unwrap(), src.build_from_yaml(&sets).unwrap(), "{set}");
        }
        // Fields the fast path does not know go through the YAML tree (and its checks).
        let sets = vec![crate::yaml::parse_set("gpu.gemm_tile=[64, 64]").unwrap()];
        assert_eq!(src.build(&sets).unwrap().devices[0].gemm_tile, [64, 64]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let sets = vec![crate::yaml::parse_set("gpu.mem_bw_gbs=0").unwrap()];
        let err = load_hardware("a100", &sets).unwrap_err().to_string();
        assert!(err.contains("--set devices.gpu.mem_bw_gbs") && err.contains("positive"), "{err}");
        let sets = vec![crate::yaml::parse_set("gpu.mem_bw=5").unwrap()];
        let err = load_hardware("a100", &sets).unwrap_err().to_string();
        assert!(err.contains("unknown field `mem_bw`"), "{err}");
        let err = load_hardware("no-such-chip", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown hardware") && err.contains("a100"), "{err}");
    }
}
