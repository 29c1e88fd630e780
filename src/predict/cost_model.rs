//! The analytical cost model: the time of one op on one device.
//!
//! ```text
//! t = kernels * kernel_overhead + max(t_compute, t_memory)
//! t_compute = flops / (peak[math] * eff_c(flops) * u_wave)
//! t_memory  = bytes / (mem_bw * eff_m(bytes))
//! eff(x)    = eff_max * x / (x + x_half)                (per op class, from the hardware description)
//! flops     = flops * (1 + k_overhead / k)               for ops whose curve has a k overhead: k is a GEMM's
//!                                                       k, or what a reduction's output folds
//! u_wave    = tiles / (ceil(tiles / units) * units)    for GEMM-like ops with at least one full wave
//!           * m n / (ceil(m / tm) tm ceil(n / tn) tn)   on devices whose kernels pay for whole tiles
//!           * min(1, tm tn / (tm + tn) / knee)           on a GEMM library (`library_tiles`): the tile is
//!                                                       the one whose whole waves finish first
//! ```
//!
//! A device with `overlap_compute_memory: false` (a software Vulkan driver) adds the two terms instead of
//! taking the larger.
//!
//! `math` is the runtime's math mode for the op class (PyTorch lets cuDNN run convolutions in TF32 on Ampere
//! and later). A GEMM whose tiles do not fill one wave is left to the size curve, because libraries pick
//! smaller tiles or split K for small problems.

use crate::graph::{GemmShape, OpClass, OpCost};
use crate::hardware::{Device, GemmPath, Runtime};
use serde::Serialize;

/// What limits an op's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Compute,
    Memory,
    /// The fixed per-kernel cost exceeds the work itself.
    Overhead,
    /// No work (views, inputs).
    None,
}

/// The predicted time of one op and its parts, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpTime {
    pub total_s: f64,
    pub compute_s: f64,
    pub memory_s: f64,
    pub overhead_s: f64,
    pub bound: Bound,
    /// Fraction of the device one instance of the op occupies (for overlap between streams).
    pub occupancy: f64,
}

impl OpTime {
    pub const ZERO: OpTime = OpTime { total_s: 0.0, compute_s: 0.0, memory_s: 0.0, overhead_s: 0.0, bound: Bound::None, occupancy: 0.0 };
}

/// The tile of the kernel that computes `g` on `dev`: its GEMM path's (`path`, from
/// [`Device::gemm_path`]), else the device's `gemm_tile`.
pub fn gemm_tile_of(g: &GemmShape, dev: &Device, path: Option<&GemmPath>) -> [u32; 2] {
    path.map_or(dev.gemm_tile, |p| p.tile_for(g.n))
}

/// How a GEMM-like op uses the device: its tile, the share of the units its waves keep busy, and the share of
/// the work it pays for that is useful (the tiles' area it uses, its packs', and on a library the rate of its
/// tile). The cost model charges `flops / (wave * used)`, and the calibration's fit takes the same terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmUse {
    pub tile: [u32; 2],
    pub wave: f64,
    pub used: f64,
}

/// [`GemmUse`] of `g`, an op of kind `kind`, on `dev`, through its kernel path `path` if any. On a device whose
/// libraries choose among `library_tiles` (cuBLAS and cuDNN), the tile is the one that finishes soonest
/// ([`library_tile`]) for a kind whose tiles reach full rate at intensity `tile_knee`, unless the kind runs
/// in kernels of its own (`untiled_kinds`).
pub fn gemm_use(g: &GemmShape, dev: &Device, kind: Option<&str>, path: Option<&GemmPath>, tile_knee: f64) -> GemmUse {
    let library = path.is_none() && !dev.library_tiles.is_empty();
    // A kind with kernels of its own, and on a library a product with one row or one column per batch (a GEMV,
    // a depthwise convolution's one channel per group), runs in a direct kernel, not in tiles: nothing padded,
    // no partial wave.
    let untiled = path.is_none() && kind.is_some_and(|k| dev.untiled_kinds.iter().any(|u| u == k));
    if untiled || (library && g.m.min(g.n) <= 1) {
        return GemmUse { tile: dev.gemm_tile, wave: 1.0, used: 1.0 };
    }
    if library {
        // A library's kernels pay for whole tiles and leave units idle in a partial wave, whatever its size.
        let (tile, rate) = library_tile(g, dev, tile_knee);
        let [tm, tn] = tile.map(u64::from);
        let (tiles, units) = (gemm_tiles(g, tile), u64::from(dev.compute_units.max(1)));
        let wave = tiles as f64 / (tiles.div_ceil(units) * units) as f64;
        let area = (g.m * g.n) as f64 / (g.m.div_ceil(tm) * tm * g.n.div_ceil(tn) * tn).max(1) as f64;
        return GemmUse { tile, wave, used: area * rate };
    }
    let tile = gemm_tile_of(g, dev, path);
    GemmUse { tile, wave: wave_utilization(g, dev, tile), used: tile_utilization(g, dev, tile) * path.map_or(1.0, |p| p.pack_utilization(g)) }
}

/// A tile's intensity: output elements per element it loads at each step of k, `tm tn / (tm + tn)`.
pub fn tile_intensity([tm, tn]: [u32; 2]) -> f64 {
    f64::from(tm) * f64::from(tn) / f64::from(tm + tn)
}

/// The tile a GEMM library picks for `g`, and its rate as a share of the kind's full rate: a tile of
/// intensity below `knee` runs at intensity / knee of it (it loads more per multiply-add). The pick is the
/// tile whose whole waves of whole tiles finish first (ties to the larger tile): small GEMMs take small
/// tiles, so that more units work, and large ones the efficient tiles.
pub fn library_tile(g: &GemmShape, dev: &Device, knee: f64) -> ([u32; 2], f64) {
    let units = u64::from(dev.compute_units.max(1));
    let rate = |t: [u32; 2]| if knee > 0.0 { (tile_intensity(t) / knee).min(1.0) } else { 1.0 };
    let time = |t: [u32; 2]| (gemm_tiles(g, t).div_ceil(units) * u64::from(t[0]) * u64::from(t[1])) as f64 / rate(t);
    let mut best = dev.library_tiles[0];
    for &t in &dev.library_tiles[1..] {
        let (a, b) = (time(t), time(best));
        if a < b || (a == b && t[0] * t[1] > best[0] * best[1]) {
            best = t;
        }
    }
    (best, rate(best))
}

/// Wave-quantization utilisation of a GEMM computed in `tile`s on a device. A GEMM whose tiles do not fill
/// one wave is left to the size curve (libraries pick smaller tiles or split K for small problems), except
/// on devices whose kernels have one fixed tile (`tile_quantization`): there the other units idle.
pub fn wave_utilization(g: &GemmShape, dev: &Device, tile: [u32; 2]) -> f64 {
    let tiles = gemm_tiles(g, tile);
    let units = dev.compute_units as u64;
    if tiles < units && !dev.tile_quantization {
        return 1.0;
    }
    let waves = tiles.div_ceil(units);
    tiles as f64 / (waves * units) as f64
}

/// Fraction of the computed tiles' area a GEMM uses: `m n / (ceil(m / tm) tm ceil(n / tn) tn)`, on devices
/// whose kernels pay for whole tiles (`tile_quantization`); 1 elsewhere.
pub fn tile_utilization(g: &GemmShape, dev: &Device, tile: [u32; 2]) -> f64 {
    if !dev.tile_quantization {
        return 1.0;
    }
    let [tm, tn] = tile.map(u64::from);
    (g.m * g.n) as f64 / (g.m.div_ceil(tm) * tm * g.n.div_ceil(tn) * tn).max(1) as f64
}

/// Output tiles of a GEMM.
pub fn gemm_tiles(g: &GemmShape, [tm, tn]: [u32; 2]) -> u64 {
    g.batch * g.m.div_ceil(tm as u64) * g.n.div_ceil(tn as u64)
}

/// The math mode a runtime uses for an op class.
pub fn math_mode(class: OpClass, rt: &Runtime) -> &str {
    match class {
        OpClass::Conv => &rt.conv_math,
        OpClass::Matmul => &rt.matmul_math,
        _ => "fp32",
    }
}

/// How many cores' share of the memory bandwidth one core draws (assumed: a core reaches roughly a tenth of
/// an 8-channel socket's bandwidth, e.g. 15-20 of 200 GB/s, about 8 of 64 cores' share).
pub const SINGLE_CORE_BANDWIDTH_CORES: f64 = 8.0;

/// A device's peaks resolved for one runtime's math modes, so that timing an op needs no lookups (the
/// predictor times every op of every configuration of a sweep).
#[derive(Debug, Clone)]
pub struct DeviceRates<'a> {
    pub device: &'a Device,
    peak_conv: f64,
    peak_matmul: f64,
    peak_fp32: f64,
    mem_bw: f64,
    kernel_overhead_s: f64,
}

impl<'a> DeviceRates<'a> {
    pub fn new(device: &'a Device, rt: &Runtime) -> Self {
        DeviceRates {
            device,
            peak_conv: device.peak_flops(&rt.conv_math),
            peak_matmul: device.peak_flops(&rt.matmul_math),
            peak_fp32: device.peak_flops("fp32"),
            mem_bw: device.mem_bw(),
            kernel_overhead_s: device.kernel_overhead_us * 1e-6,
        }
    }

    fn peak(&self, class: OpClass) -> f64 {
        match class {
            OpClass::Conv => self.peak_conv,
            OpClass::Matmul => self.peak_matmul,
            _ => self.peak_fp32,
        }
    }
}

/// The time of an op with this cost on `dev` under runtime `rt`.
pub fn op_time(cost: &OpCost, dev: &Device, rt: &Runtime) -> OpTime {
    op_time_at(cost, &DeviceRates::new(dev, rt))
}

/// [`op_time`] with the device's rates already resolved.
pub fn op_time_at(cost: &OpCost, rates: &DeviceRates) -> OpTime {
    op_time_with(cost, rates, None)
}

/// [`op_time_at`] for an op of kind `kind` (`conv2d`, `linear`, ...): the device's curve for that kind
/// (`kernel_efficiency`) replaces its class's, and a GEMM takes the device's kernel for its shape
/// (`gemm_paths`): that kernel's tile and, where it has one, its curve.
pub fn op_time_with(cost: &OpCost, rates: &DeviceRates, kind: Option<&str>) -> OpTime {
    if !cost.class.launches_kernel() || cost.kernels == 0 {
        return OpTime::ZERO;
    }
    let dev = rates.device;
    let path = match (kind, &cost.gemm) {
        (Some(k), Some(g)) if !dev.gemm_paths.is_empty() => dev.gemm_path(k, g),
        _ => None,
    };
    // A reduction or normalization may take another kernel by its row length (`fold_paths`).
    let fold_path = match (kind, cost.fold) {
        (Some(k), Some(f)) if cost.gemm.is_none() && !dev.fold_paths.is_empty() => dev.fold_path(k, f),
        _ => None,
    };
    let eff = kind
        .and_then(|k| {
            path.and_then(|p| p.efficiency.get(k))
                .or_else(|| fold_path.and_then(|p| p.efficiency.get(k)))
                .or_else(|| if cost.broadcast { dev.broadcast_efficiency.get(k) } else { None })
                .or_else(|| dev.kernel_efficiency.get(k))
        })
        .unwrap_or_else(|| dev.efficiency.of(cost.class));
    // (A kernel that reads channels in packs does a whole pack's work for a partial one: padded work too.)
    let gemm = cost.gemm.as_ref().map(|g| gemm_use(g, dev, kind, path, eff.tile_knee));
    let (wave, tiles, tile_n) = gemm.map_or((1.0, 1.0, 0), |u| (u.wave, u.used, u.tile[1]));
    // A GEMM's output elements, or a reduction's outputs, cost `k_overhead` more FLOPs each (short
    // reductions run slower); a GEMM that gathers its inputs pays `gather_overhead` per value gathered for
    // each tile, spread over the tile's columns (narrow convolutions run slower).
    let mut per_flop = 1.0;
    if let Some(k) = cost.reduction_length().filter(|_| eff.k_overhead > 0.0) {
        per_flop += eff.k_overhead / k as f64;
    }
    if tile_n > 0 && eff.gather_overhead > 0.0 {
        per_flop += eff.gather_overhead / f64::from(tile_n);
    }
    let flops = cost.flops as f64 * per_flop;
    let bytes = cost.bytes() as f64;
    // An op limited to fewer units than the device has (single-threaded host code) gets that share of the
    // compute peak. Memory bandwidth does not divide as evenly: one core keeps enough misses in flight to
    // draw several cores' share of a socket's bandwidth, which we take as eight.
    let share = cost.max_units.map_or(1.0, |u| (f64::from(u) / f64::from(dev.compute_units)).min(1.0));
    let bw_share = (share * SINGLE_CORE_BANDWIDTH_CORES).min(1.0);
    // The size curve sees the work the kernel does: whole tiles where it pays for them.
    let compute_s = if flops > 0.0 { flops / (rates.peak(cost.class) * share * eff.compute_at(flops / tiles) * wave * tiles) } else { 0.0 };
    let memory_s = if bytes > 0.0 { bytes / (rates.mem_bw * bw_share * eff.memory_at(bytes)) } else { 0.0 };
    let overhead_s = f64::from(cost.kernels) * rates.kernel_overhead_s;
    // A row folded by one block streams at its own rate (`row_ns_per_element`): few long rows take as long as one.
    let row_s = match cost.fold {
        Some(fold) if eff.row_ns_per_element > 0.0 && cost.gemm.is_none() => fold as f64 * eff.row_ns_per_element * 1e-9,
        _ => 0.0,
    };
    let work = row_s + if dev.overlap_compute_memory { compute_s.max(memory_s) } else { compute_s + memory_s };
    let bound = if overhead_s >= work {
        Bound::Overhead
    } else if compute_s >= memory_s {
        Bound::Compute
    } else {
        Bound::Memory
    };
    OpTime { total_s: overhead_s + work, compute_s, memory_s, overhead_s, bound, occupancy: occupancy(cost, dev, gemm.map(|u| u.tile)) }
}

/// Fraction of the device's compute units an op keeps busy: GEMM tiles (of the op's `tile`), or blocks of
/// 1024 output elements for other ops, over the number of units (at most 1).
pub fn occupancy(cost: &OpCost, dev: &Device, tile: Option<[u32; 2]>) -> f64 {
    let units = dev.compute_units as f64;
    let work_units = match (&cost.gemm, tile) {
        (Some(g), Some(t)) => gemm_tiles(g, t) as f64,
        _ => (cost.bytes_written as f64 / 4.0 / 1024.0).ceil().max(1.0),
    };
    (work_units / units).min(1.0)
}

/// Time to move `bytes` over a link of `bw_gbs` GB/s with `latency_us`.
pub fn transfer_time(bytes: u64, bw_gbs: f64, latency_us: f64) -> f64 {
    latency_us * 1e-6 + bytes as f64 / (bw_gbs * 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{DeviceKind, Efficiency, EfficiencyTable, Streams};

    fn flat(compute: f64, memory: f64) -> Efficiency {
        Efficiency::flat(compute, memory)
    }

    /// A device with round numbers: 10 TFLOP/s fp32, 20 TFLOP/s tf32, 1000 GB/s, 100 units, 2 us per kernel.
    fn device() -> Device {
        Device {
            name: "toy".into(),
            kind: DeviceKind::Gpu,
            description: String::new(),
            peak_tflops: [("fp32".to_string(), 10.0), ("tf32".to_string(), 20.0)].into_iter().collect(),
            mem_bw_gbs: 1000.0,
            mem_gb: 16.0,
            cache_mb: 0.0,
            compute_units: 100,
            max_concurrent_kernels: 8,
            kernel_overhead_us: 2.0,
            gemm_tile: [128, 128],
            efficiency: EfficiencyTable {
                matmul: flat(0.5, 1.0),
                conv: flat(0.5, 1.0),
                elementwise: flat(1.0, 0.5),
                reduction: flat(1.0, 0.5),
                movement: flat(1.0, 0.5),
            },
            kernel_efficiency: Default::default(),
            broadcast_efficiency: Default::default(),
            overlap_compute_memory: true,
            tile_quantization: false,
            library_tiles: Vec::new(),
            untiled_kinds: Vec::new(),
            gemm_paths: vec![],
            fold_paths: vec![],
            tdp_w: None,
            die_mm2: None,
            sources: vec![],
        }
    }

    fn runtime() -> Runtime {
        Runtime {
            name: "rt".into(),
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
            input_copy: true,
            conv_math: "tf32".into(),
            matmul_math: "fp32".into(),
        }
    }

    fn cost(class: OpClass, flops: u64, bytes: u64, gemm: Option<GemmShape>) -> OpCost {
        OpCost { flops, bytes_read: bytes, bytes_written: 0, gemm, ..OpCost::of(class) }
    }

    #[test]
    fn fixed_tile_kernels_pay_for_whole_tiles() {
        // A GEMV, m = 1, n = 64, k = 1024, on 32 x 64 tiles: 1/32 of the tile is used (on one unit, so that
        // the single tile fills the device).
        let mut d = device();
        d.gemm_tile = [32, 64];
        d.compute_units = 1;
        let g = GemmShape { batch: 1, m: 1, n: 64, k: 1024, taps: 1 };
        let t = d.gemm_tile;
        assert_eq!(tile_utilization(&g, &d, t), 1.0);
        d.tile_quantization = true;
        assert!((tile_utilization(&g, &d, t) - 1.0 / 32.0).abs() < 1e-12);
        // 40 x 100 on 32 x 64: 4,000 of 64 x 128 = 8,192.
        let g2 = GemmShape { batch: 3, m: 40, n: 100, k: 8, taps: 1 };
        assert!((tile_utilization(&g2, &d, t) - 4000.0 / 8192.0).abs() < 1e-12);
        // The compute term grows by the same factor.
        let cost = OpCost { flops: 2 * 64 * 1024, bytes_read: 4, gemm: Some(g), ..OpCost::of(OpClass::Matmul) };
        let rt = runtime();
        let with = op_time(&cost, &d, &rt).compute_s;
        d.tile_quantization = false;
        let without = op_time(&cost, &d, &rt).compute_s;
        assert!((with / without - 32.0).abs() < 1e-9, "{with} {without}");
    }

    #[test]
    fn a_gemm_library_picks_the_tile_that_finishes_first() {
        // Four units; tiles 32², 64² and 128², full rate from intensity 64 (128²: 64/64; 64²: 32/64; 32²: 16/64).
        let mut d = device();
        d.compute_units = 4;
        d.library_tiles = vec![[32, 32], [64, 64], [128, 128]];
        let g = |m, n| GemmShape { batch: 1, m, n, k: 256, taps: 1 };
        // 128 x 128: one 128² tile (16,384 outputs at full rate), four 64² tiles in one wave (4,096 at half
        // rate: 8,192), or sixteen 32² tiles in four waves (4 x 1,024 at a quarter: 16,384): the 64² tiles win.
        assert_eq!(library_tile(&g(128, 128), &d, 64.0), ([64, 64], 0.5));
        // 512 x 512: sixteen 128² tiles in four waves (65,536) against 64 64² tiles in sixteen (131,072).
        assert_eq!(library_tile(&g(512, 512), &d, 64.0), ([128, 128], 1.0));
        // Without a knee every tile runs at full rate: the smallest padding wins (ties to the larger tile).
        assert_eq!(library_tile(&g(128, 128), &d, 0.0), ([64, 64], 1.0));
        // 100 x 100 on 64² tiles: 4 tiles, one wave, 10,000 of 16,384 outputs used, at half rate.
        let u = gemm_use(&g(100, 100), &d, None, None, 64.0);
        assert_eq!((u.tile, u.wave), ([64, 64], 1.0));
        assert!((u.used - 10_000.0 / 16_384.0 * 0.5).abs() < 1e-12);
        // A GEMV runs in a direct kernel: nothing padded.
        let v = gemm_use(&g(1, 4096), &d, None, None, 64.0);
        assert_eq!((v.wave, v.used), (1.0, 1.0));
        // So does a kind the libraries run in kernels of their own.
        d.untiled_kinds = vec!["lstm_cell".into()];
        assert_eq!(gemm_use(&g(100, 100), &d, Some("lstm_cell"), None, 64.0), GemmUse { tile: d.gemm_tile, wave: 1.0, used: 1.0 });
        assert_eq!(gemm_use(&g(100, 100), &d, Some("linear"), None, 64.0), u);
        // The compute term pays for it: 2 x 100² x 256 FLOPs at 10 TFLOP/s (fp32, flat curve 1) over 0.305.
        d.efficiency.matmul = Efficiency { tile_knee: 64.0, ..flat(1.0, 1.0) };
        let c = cost(OpClass::Matmul, 2 * 100 * 100 * 256, 4, Some(g(100, 100)));
        let t = op_time(&c, &d, &runtime()).compute_s;
        let want = (2 * 100 * 100 * 256) as f64 / (d.peak_flops("fp32") * u.used);
        assert!((t / want - 1.0).abs() < 1e-9, "{t} {want}");
    }

    /// A device with mmbench's wgpu kernels: vec4 GEMM on 32 x 64 tiles for k, n multiples of 4, a scalar
    /// one on 64 x 64 tiles with its own curve, and a convolution whose tile narrows to 4 channels.
    fn with_paths() -> Device {
        let mut d = device();
        d.tile_quantization = true;
        d.compute_units = 2;
        let gemm = vec!["linear".to_string()];
        d.gemm_paths = vec![
            GemmPath { name: "vec4".into(), kinds: gemm.clone(), k_multiple: 4, n_multiple: 4, tile: [32, 64], min_tile_n: None, k_pack: None, efficiency: Default::default() },
            GemmPath {
                name: "scalar".into(),
                kinds: gemm,
                k_multiple: 1,
                n_multiple: 1,
                tile: [64, 64],
                min_tile_n: None,
                k_pack: None,
                efficiency: [("linear".to_string(), flat(0.125, 1.0))].into_iter().collect(),
            },
            GemmPath {
                name: "conv".into(),
                kinds: vec!["conv2d".into()],
                k_multiple: 1,
                n_multiple: 1,
                tile: [64, 32],
                min_tile_n: Some(4),
                k_pack: Some(4),
                efficiency: Default::default(),
            },
        ];
        d
    }

    #[test]
    fn gemm_paths_pick_the_kernel_by_shape() {
        let d = with_paths();
        let aligned = GemmShape { batch: 1, m: 64, n: 64, k: 64, taps: 1 };
        let odd = GemmShape { k: 63, ..aligned };
        assert_eq!(d.gemm_path("linear", &aligned).unwrap().name, "vec4");
        assert_eq!(d.gemm_path("linear", &odd).unwrap().name, "scalar");
        assert_eq!(d.gemm_path("matmul", &aligned), None);
        // The convolution tile halves while it covers n: 6 channels take 8, 12 take 16, 20 take 32.
        let conv = &d.gemm_paths[2];
        assert_eq!([6, 12, 20, 500].map(|n| conv.tile_for(n)), [[64, 8], [64, 16], [64, 32], [64, 32]]);
        // Hand count: 64 x 64 x 64 at 10 TFLOP/s x 0.5 (matmul class) on the vec4 path: 2 tiles on 2
        // units, full tiles: 2·64³ / 5e12 s. On the scalar path, 1 tile of 64 x 64 on 2 units (half the
        // device), at 0.125 instead of 0.5: 2·64²·63 / (10e12 · 0.125 · 0.5).
        let rates = DeviceRates::new(&d, &runtime());
        let t = |g: GemmShape| op_time_with(&cost(OpClass::Matmul, 2 * g.m * g.n * g.k, 0, Some(g)), &rates, Some("linear")).compute_s;
        assert!((t(aligned) - 2.0 * 64f64.powi(3) / 5e12).abs() < 1e-18, "{}", t(aligned));
        let want = 2.0 * 64.0 * 64.0 * 63.0 / (10e12 * 0.125 * 0.5);
        assert!((t(odd) - want).abs() < 1e-15 * want.max(1.0), "{} {want}", t(odd));
    }

    #[test]
    fn a_kernel_reading_channels_in_packs_pays_for_whole_packs() {
        // A 5 x 5 convolution over 1 input channel (k = 25, 25 taps) reads 4 channels per tap: 100 of work
        // for 25; over 3 channels 3 x 3 (k = 27, 9 taps): 36 for 27; over 8 channels nothing is wasted.
        let d = with_paths();
        let conv = &d.gemm_paths[2];
        let g = |k: u64, taps: u64| GemmShape { batch: 1, m: 128, n: 32, k, taps };
        assert_eq!([g(25, 25), g(27, 9), g(72, 9)].map(|g| conv.pack_utilization(&g)), [0.25, 0.75, 1.0]);
        assert_eq!(d.gemm_paths[0].pack_utilization(&g(25, 25)), 1.0);
        // The cost model charges the padded work: 128 x 32 outputs (2 tiles on 2 units, whole), 1 input
        // channel, 25 taps: 4 times the FLOPs at 10 TFLOP/s x 0.5 (the conv class).
        let rates = DeviceRates::new(&d, &runtime());
        let one = g(25, 25);
        let flops = 2 * 128 * 32 * 25;
        let t = op_time_with(&cost(OpClass::Conv, flops, 0, Some(one)), &rates, Some("conv2d")).compute_s;
        assert!((t - 4.0 * flops as f64 / 10e12).abs() < 1e-18, "{t}");
    }

    #[test]
    fn broadcast_operands_take_their_own_curve() {
        // 1 MB at 1000 GB/s: a same-shape mul at the elementwise class's 50 %, a broadcast one at the
        // device's broadcast curve for `mul` (20 %), 2.5 times slower; a broadcast `add` without a curve of
        // its own takes the class's.
        let mut d = device();
        d.broadcast_efficiency.insert("mul".into(), flat(1.0, 0.2));
        let rates = DeviceRates::new(&d, &runtime());
        let same = OpCost { bytes_read: 1_000_000, ..OpCost::of(OpClass::Elementwise) };
        let broadcast = OpCost { broadcast: true, ..same.clone() };
        let t = |c: &OpCost, k: &str| op_time_with(c, &rates, Some(k)).memory_s;
        assert!((t(&same, "mul") - 2e-6).abs() < 1e-15);
        assert!((t(&broadcast, "mul") - 5e-6).abs() < 1e-15);
        assert!((t(&broadcast, "add") - 2e-6).abs() < 1e-15);
    }

    #[test]
    fn a_gather_overhead_charges_narrow_convolutions_more_per_flop() {
        // A gather cost of 24 multiply-adds per gathered value: a convolution to 8 channels (an 8-column
        // tile) counts its FLOPs 1 + 24/8 = 4 times, one to 32 channels (a 32-column tile) 1 + 24/32 times,
        // one to 64 channels (two 32-column tiles, each gathering the same inputs) also 1 + 24/32 times.
        // 128 pixels (2 tiles, whole, on 2 units), k = 72 over 8 channels (whole packs), at 20 TFLOP/s (the
        // runtime's tf32 for convolutions) x 0.5.
        let mut d = with_paths();
        d.efficiency.conv.gather_overhead = 24.0;
        let rates = DeviceRates::new(&d, &runtime());
        let t = |n: u64| {
            let g = GemmShape { batch: 1, m: 128, n, k: 72, taps: 9 };
            op_time_with(&cost(OpClass::Conv, 2 * 128 * n * 72, 0, Some(g)), &rates, Some("conv2d")).compute_s
        };
        let flops = |n: f64| 2.0 * 128.0 * n * 72.0;
        for (n, factor) in [(8, 4.0), (32, 1.75), (64, 1.75)] {
            let want = flops(n as f64) * factor / 10e12;
            assert!((t(n) - want).abs() < 1e-12 * want, "n = {n}: {} vs {want}", t(n));
        }
        // A GEMM without a gather cost is unchanged.
        let g = GemmShape { batch: 1, m: 64, n: 64, k: 64, taps: 1 };
        let linear = op_time_with(&cost(OpClass::Matmul, 2 * 64 * 64 * 64, 0, Some(g)), &rates, Some("linear")).compute_s;
        assert!((linear - 2.0 * 64f64.powi(3) / 5e12).abs() < 1e-18);
    }

    #[test]
    fn a_k_overhead_charges_short_reductions_more_per_flop() {
        // 1024 x 1024 x k at 10 TFLOP/s x 0.5: k = 8 with an overhead of 8 costs as k = 16; k = 1024 only
        // 1/128 more.
        let mut d = device();
        d.efficiency.matmul.k_overhead = 8.0;
        let t = |k: u64| {
            let g = GemmShape { batch: 1, m: 1024, n: 1024, k, taps: 1 };
            op_time(&cost(OpClass::Matmul, 2 * 1024 * 1024 * k, 0, Some(g)), &d, &runtime()).compute_s
        };
        assert!((t(8) - 2.0 * 1024.0 * 1024.0 * 16.0 / 5e12).abs() < 1e-15);
        assert!((t(1024) - 2.0 * 1024.0 * 1024.0 * 1032.0 / 5e12).abs() < 1e-15);
    }

    #[test]
    fn a_k_overhead_charges_each_output_of_a_reduction() {
        // 2^20 elements folded into outputs of `fold` each, one FLOP per element, at 10 TFLOP/s (the
        // reduction curve is at 100 %): an overhead of 1000 FLOPs per output adds 1000 x outputs FLOPs.
        let mut d = device();
        d.efficiency.reduction.k_overhead = 1000.0;
        let t = |fold: u64| {
            let c = OpCost { fold: Some(fold), ..cost(OpClass::Reduction, 1 << 20, 0, None) };
            op_time(&c, &d, &runtime()).compute_s
        };
        assert!((t(64) - (f64::from(1 << 20) + 1000.0 * 16384.0) / 10e12).abs() < 1e-18);
        assert!((t(1 << 20) - (f64::from(1 << 20) + 1000.0) / 10e12).abs() < 1e-18);
        // A device whose long rows take a workgroup kernel of their own: rows from 64 elements on take its
        // curve (here 10 % of the peak), shorter ones the kind's (100 %, no overhead).
        d.efficiency.reduction.k_overhead = 0.0;
        d.kernel_efficiency.insert("reduce_mean".into(), flat(1.0, 1.0));
        d.fold_paths = vec![crate::hardware::FoldPath {
            name: "workgroup".into(),
            kinds: vec!["reduce_mean".into()],
            min_fold: 64,
            efficiency: [("reduce_mean".to_string(), flat(0.1, 1.0))].into_iter().collect(),
        }];
        let mean = |fold: u64| {
            let c = OpCost { fold: Some(fold), ..cost(OpClass::Reduction, 1 << 20, 0, None) };
            op_time_with(&c, &DeviceRates::new(&d, &runtime()), Some("reduce_mean")).compute_s
        };
        assert!((mean(63) - f64::from(1 << 20) / 10e12).abs() < 1e-18);
        assert!((mean(64) - f64::from(1 << 20) / 1e12).abs() < 1e-18);
        // Without a fold there is nothing to divide: the FLOPs alone.
        assert!((op_time(&cost(OpClass::Reduction, 1 << 20, 0, None), &d, &runtime()).compute_s - f64::from(1 << 20) / 10e12).abs() < 1e-18);
    }

    #[test]
    fn fixed_tile_kernels_charge_the_size_curve_for_whole_tiles() {
        // A GEMV of 2·64·1024 FLOPs computes a whole 32 x 64 tile: 32 times its FLOPs. With a half-
        // saturation of 2·64·1024·32 FLOPs the curve is at half its height for the padded work (not at
        // 1/33 for the useful work), and the single tile keeps 1 of 100 units busy.
        let mut d = device();
        d.gemm_tile = [32, 64];
        d.tile_quantization = true;
        let padded = 2.0 * 64.0 * 1024.0 * 32.0;
        d.efficiency.matmul = Efficiency { compute: 0.5, compute_half_mflop: padded / 1e6, memory: 1.0, memory_half_kb: 0.0, ..Default::default() };
        let g = GemmShape { batch: 1, m: 1, n: 64, k: 1024, taps: 1 };
        let c = cost(OpClass::Matmul, 2 * 64 * 1024, 0, Some(g));
        let t = op_time(&c, &d, &runtime()).compute_s;
        let want = padded / (10e12 * 0.25 * 0.01);
        assert!((t / want - 1.0).abs() < 1e-9, "{t} {want}");
    }

    #[test]
    fn compute_bound_gemm_hand_computed() {
        // 1e10 FLOPs at 10 TFLOP/s x 0.5 = 2 ms; 1 MB at 1000 GB/s = 1 us; plus 2 us overhead.
        // 1024 x 1024 output = 64 tiles < 100 units: no wave penalty.
        let g = GemmShape { batch: 1, m: 1024, n: 1024, k: 4768, taps: 1 };
        let t = op_time(&cost(OpClass::Matmul, 10_000_000_000, 1_000_000, Some(g)), &device(), &runtime());
        assert!((t.compute_s - 2e-3).abs() < 1e-12);
        assert!((t.memory_s - 1e-6).abs() < 1e-15);
        assert!((t.total_s - (2e-3 + 2e-6)).abs() < 1e-12);
        assert_eq!(t.bound, Bound::Compute);
    }

    #[test]
    fn conv_uses_the_runtime_math_mode() {
        let t = op_time(&cost(OpClass::Conv, 10_000_000_000, 0, None), &device(), &runtime());
        // tf32: 20 TFLOP/s x 0.5 = 1 ms.
        assert!((t.compute_s - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn memory_bound_elementwise_hand_computed() {
        // 4 MB at 1000 GB/s x 0.5 = 8 us; 1e6 FLOPs at 10 TFLOP/s = 0.1 us.
        let t = op_time(&cost(OpClass::Elementwise, 1_000_000, 4_000_000, None), &device(), &runtime());
        assert!((t.memory_s - 8e-6).abs() < 1e-15);
        assert!((t.total_s - 10e-6).abs() < 1e-12);
        assert_eq!(t.bound, Bound::Memory);
    }

    #[test]
    fn tiny_kernels_are_overhead_bound() {
        let t = op_time(&cost(OpClass::Elementwise, 100, 800, None), &device(), &runtime());
        assert_eq!(t.bound, Bound::Overhead);
        assert!((t.overhead_s - 2e-6).abs() < 1e-15);
    }

    #[test]
    fn wave_quantization_penalizes_partial_last_wave() {
        let mut d = device();
        let t = d.gemm_tile;
        // 150 tiles on 100 units: 2 waves, utilisation 150 / 200.
        let g = GemmShape { batch: 150, m: 128, n: 128, k: 64, taps: 1 };
        assert!((wave_utilization(&g, &d, t) - 0.75).abs() < 1e-12);
        // Exactly 2 full waves: no penalty. Under one wave: left to the size curve, except for fixed tiles.
        assert_eq!(wave_utilization(&GemmShape { batch: 200, ..g }, &d, t), 1.0);
        assert_eq!(wave_utilization(&GemmShape { batch: 10, ..g }, &d, t), 1.0);
        d.tile_quantization = true;
        assert!((wave_utilization(&GemmShape { batch: 10, ..g }, &d, t) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn efficiency_curve_saturates() {
        let e = Efficiency { compute: 0.8, compute_half_mflop: 10.0, memory: 0.8, memory_half_kb: 0.0, ..Default::default() };
        assert!((e.compute_at(10e6) - 0.4).abs() < 1e-12);
        assert!(e.compute_at(1e12) > 0.799);
        assert_eq!(e.memory_at(1.0), 0.8);
    }

    #[test]
    fn single_threaded_work_gets_one_units_share() {
        // 1e9 FLOPs on 1 of 100 units at 10 TFLOP/s x 1.0 (elementwise compute efficiency) = 10 ms.
        let c = OpCost { max_units: Some(1), ..cost(OpClass::Elementwise, 1_000_000_000, 0, None) };
        let t = op_time(&c, &device(), &runtime());
        assert!((t.compute_s - 1e-2).abs() < 1e-12, "{}", t.compute_s);
    }

    #[test]
    fn kernel_curves_override_the_class_and_lockstep_devices_add_the_terms() {
        let c = cost(OpClass::Elementwise, 1_000_000, 4_000_000, None);
        let special = Efficiency { compute: 0.1, compute_half_mflop: 0.0, memory: 0.25, memory_half_kb: 0.0, ..Default::default() };
        let mut d = device();
        // 4 MB at 1000 GB/s x 0.25 = 16 us (instead of 8 us with the class curve).
        d.kernel_efficiency.insert("relu".into(), special);
        let rates = DeviceRates::new(&d, &runtime());
        let t = op_time_with(&c, &rates, Some("relu"));
        assert!((t.memory_s - 16e-6).abs() < 1e-15);
        assert!((t.compute_s - 1e-6).abs() < 1e-15);
        assert!((t.total_s - 18e-6).abs() < 1e-12);
        d.overlap_compute_memory = false;
        let rates = DeviceRates::new(&d, &runtime());
        // Summed: 2 us overhead + 16 us + 1 us.
        assert!((op_time_with(&c, &rates, Some("relu")).total_s - 19e-6).abs() < 1e-12);
        // Another kind keeps the class curve.
        assert!((op_time_with(&c, &rates, Some("gelu")).memory_s - 8e-6).abs() < 1e-15);
    }

    #[test]
    fn views_cost_nothing() {
        let t = op_time(&OpCost::of(OpClass::View), &device(), &runtime());
        assert_eq!(t.total_s, 0.0);
        assert_eq!(t.bound, Bound::None);
    }

    #[test]
    fn transfer_is_latency_plus_size_over_bandwidth() {
        assert!((transfer_time(25_000_000, 25.0, 10.0) - (10e-6 + 1e-3)).abs() < 1e-12);
    }

    #[test]
    fn a_long_row_costs_its_elements_at_the_row_rate() {
        let mut d = device();
        let rt = runtime();
        let cost = OpCost { fold: Some(1 << 20), bytes_read: 16 << 20, bytes_written: 16 << 20, kernels: 1, ..OpCost::of(OpClass::Reduction) };
        let base = op_time(&cost, &d, &rt).total_s;
        d.efficiency.reduction.row_ns_per_element = 2.0;
        let slow = op_time(&cost, &d, &rt).total_s;
        assert!((slow - base - (1u64 << 20) as f64 * 2e-9).abs() < 1e-12, "{base} {slow}");
    }
}
