//! The hardware catalogue: every preset loads with the runtimes its kind needs, key datasheet figures are what
//! the vendors publish (so a typo fails here), machines with more than one device can move data between them,
//! `extends:` composes with `--set`, and a strictly better chip is never predicted slower.

use mmbench::graph::{load_workload, WorkloadOptions};
use mmbench::hardware::{load_hardware, preset_names, preset_text, DeviceKind, Hardware, Streams};
use mmbench::predict::{predict_latency, PredictOptions};
use mmbench::yaml::parse_set;

fn load(name: &str) -> Hardware {
    load_hardware(name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn device<'a>(hw: &'a Hardware, name: &str) -> &'a mmbench::hardware::Device {
    &hw.devices[hw.device_index(name).unwrap_or_else(|| panic!("{}: no device `{name}`", hw.name))]
}

fn has_gpu(hw: &Hardware) -> bool {
    hw.devices.iter().any(|d| d.kind == DeviceKind::Gpu)
}

#[test]
fn the_catalogue_holds_the_named_machines() {
    let names: Vec<&str> = preset_names().collect();
    for want in [
        "v100",
        "a100",
        "h100",
        "h100-tf32",
        "h200",
        "h100-datasheet",
        "h200-datasheet",
        "rtx4090",
        "jetson-nano",
        "jetson-agx-orin",
        "jetson-nano-cpu",
        "jetson-agx-orin-cpu",
        "xeon-8380",
        "epyc-9654",
    ] {
        assert!(names.contains(&want), "missing preset {want}");
    }
}

#[test]
fn every_file_under_hardware_is_a_preset_or_a_base() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("base")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    for path in files {
        let name = path.strip_prefix(&root).unwrap().with_extension("").to_string_lossy().replace('\\', "/");
        let embedded = preset_text(&name).unwrap_or_else(|| panic!("hardware/{name}.yaml is not listed in src/hardware/presets.rs"));
        assert_eq!(embedded, std::fs::read_to_string(&path).unwrap(), "{name}");
        if name.starts_with("base/") {
            assert!(!preset_names().any(|n| n == name), "the base {name} must not be listed as a machine");
        } else {
            assert!(preset_names().any(|n| n == name), "{name} is embedded but not listed");
        }
    }
}

#[test]
fn every_preset_loads_with_the_runtimes_of_its_kind() {
    for name in preset_names() {
        let hw = load(name);
        assert_eq!(hw.name, name, "the `name:` field matches the preset name");
        let default = &hw.runtimes[hw.default_runtime];
        assert_eq!(default.name, "eager", "{name}: eager is the default (how MMBench measured)");
        assert_eq!(default.streams, Streams::Single, "{name}: eager is one in-order stream");
        if has_gpu(&hw) {
            let rt = |r: &str| hw.runtime(r).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rt("eager_streams").streams, Streams::PerBranch, "{name}");
            assert_eq!(rt("cuda_graph").streams, Streams::Single, "{name}");
            assert!(rt("eager").input_copy, "{name}: eager copies inputs to the GPU");
        } else {
            assert!(hw.devices.iter().all(|d| d.kind == DeviceKind::Cpu), "{name}");
            assert_eq!(hw.runtimes.len(), 1, "{name}: a CPU-only machine has only `eager`");
            assert!(!default.input_copy, "{name}: inputs already live in host memory");
            assert_eq!(default.launch_overhead_us, 0.0, "{name}: nothing to launch");
        }
    }
}

#[test]
fn runtime_math_modes_exist_on_the_default_device() {
    // A math mode the device lacks would silently fall back to fp32: say fp32 instead (V100, Jetson Nano).
    for name in preset_names() {
        let hw = load(name);
        let dev = &hw.devices[hw.default_device];
        for rt in &hw.runtimes {
            for math in [&rt.conv_math, &rt.matmul_math] {
                assert!(dev.peak_tflops.contains_key(math), "{name}: runtime {} uses {math}, which {} lacks", rt.name, dev.name);
            }
        }
    }
}

/// (preset, device, figure, datasheet value). Tensor figures are dense.
const FIGURES: &[(&str, &str, &str, f64)] = &[
    ("v100", "gpu", "fp32", 15.7),
    ("v100", "gpu", "fp16", 125.0),
    ("v100", "gpu", "mem_bw_gbs", 900.0),
    ("v100", "gpu", "mem_gb", 32.0),
    ("v100", "gpu", "compute_units", 80.0),
    ("a100", "gpu", "fp32", 19.5),
    ("a100", "gpu", "mem_bw_gbs", 1555.0),
    ("h100-datasheet", "gpu", "fp32", 66.9),
    ("h100-datasheet", "gpu", "tf32", 494.5),
    ("h100-datasheet", "gpu", "fp16", 989.5),
    ("h100-datasheet", "gpu", "mem_bw_gbs", 3350.0),
    ("h100-datasheet", "gpu", "mem_gb", 80.0),
    ("h100-datasheet", "gpu", "cache_mb", 50.0),
    ("h100-datasheet", "gpu", "compute_units", 132.0),
    ("h100-datasheet", "cpu", "compute_units", 112.0),
    ("h200-datasheet", "gpu", "fp32", 66.9),
    ("h200-datasheet", "gpu", "mem_bw_gbs", 4800.0),
    ("h200-datasheet", "gpu", "mem_gb", 141.0),
    ("rtx4090", "gpu", "fp32", 82.6),
    ("rtx4090", "gpu", "fp16", 165.2),
    ("rtx4090", "gpu", "mem_bw_gbs", 1008.0),
    ("rtx4090", "gpu", "mem_gb", 24.0),
    ("rtx4090", "gpu", "cache_mb", 72.0),
    ("rtx4090", "gpu", "compute_units", 128.0),
    ("jetson-nano", "gpu", "fp16", 0.472),
    ("jetson-nano", "gpu", "mem_bw_gbs", 25.6),
    ("jetson-nano", "cpu", "compute_units", 4.0),
    ("jetson-nano-cpu", "cpu", "mem_gb", 4.0),
    ("jetson-agx-orin", "gpu", "mem_bw_gbs", 204.8),
    ("jetson-agx-orin-cpu", "cpu", "compute_units", 12.0),
    ("epyc-9654", "cpu", "mem_bw_gbs", 460.8),
    ("epyc-9654", "cpu", "cache_mb", 384.0),
    ("epyc-9654", "cpu", "compute_units", 96.0),
];

fn figure(hw: &Hardware, dev: &str, field: &str) -> f64 {
    let d = device(hw, dev);
    match field {
        "mem_bw_gbs" => d.mem_bw_gbs,
        "mem_gb" => d.mem_gb,
        "cache_mb" => d.cache_mb,
        "compute_units" => f64::from(d.compute_units),
        mode => *d.peak_tflops.get(mode).unwrap_or_else(|| panic!("{}: {dev} has no {mode} figure", hw.name)),
    }
}

#[test]
fn key_datasheet_figures() {
    for &(name, dev, field, want) in FIGURES {
        let got = figure(&load(name), dev, field);
        assert_eq!(got, want, "{name} {dev}.{field}");
    }
}

#[test]
fn derived_peaks_match_their_derivation() {
    // cores x FLOP/cycle x GHz / 1000 = TFLOP/s, within the rounding written in the files.
    let cases: &[(&str, &str, f64)] = &[
        ("v100", "gpu", 5120.0 * 2.0 * 1.53),
        ("h100-datasheet", "gpu", 132.0 * 128.0 * 2.0 * 1.98),
        ("rtx4090", "gpu", 16384.0 * 2.0 * 2.52),
        ("jetson-nano", "gpu", 128.0 * 2.0 * 0.9216),
        ("jetson-nano", "cpu", 4.0 * 8.0 * 1.43),
        ("h100-datasheet", "cpu", 112.0 * 32.0 * 2.0),
        ("v100", "cpu", 40.0 * 32.0 * 2.2),
        ("rtx4090", "cpu", 16.0 * 32.0 * 4.5),
        ("epyc-9654", "cpu", 96.0 * 32.0 * 2.4),
    ];
    for &(name, dev, gflops) in cases {
        let got = figure(&load(name), dev, "fp32");
        let want = gflops / 1000.0;
        assert!((got - want).abs() / want < 0.005, "{name} {dev}.fp32: {got} vs derived {want}");
    }
}

#[test]
fn multi_device_presets_link_host_and_accelerator() {
    let mut multi = 0;
    for name in preset_names() {
        let hw = load(name);
        if hw.devices.len() < 2 {
            continue;
        }
        multi += 1;
        assert_eq!(hw.devices[hw.host].kind, DeviceKind::Cpu, "{name}: the host is a CPU");
        assert_ne!(hw.host, hw.default_device, "{name}: ops run on the accelerator by default");
        for other in (0..hw.devices.len()).filter(|&d| d != hw.host) {
            let link = hw.link(hw.host, other).unwrap_or_else(|| panic!("{name}: no link from the host to {}", hw.devices[other].name));
            assert!(link.bw_gbs > 0.0, "{name}");
        }
    }
    assert!(multi >= 7, "host + GPU presets: v100, a100, h100, h200, rtx4090, jetson-nano, jetson-agx-orin");
}

#[test]
fn a_branch_can_be_placed_on_the_host_cpu() {
    let w = load_workload("av-mnist", &WorkloadOptions::default()).unwrap();
    for name in ["v100", "h100", "rtx4090", "jetson-nano", "jetson-agx-orin"] {
        let hw = load(name);
        let opts = PredictOptions { placement: mmbench::predict::Placement { assignments: vec![("audio".into(), "cpu".into())] }, ..Default::default() };
        let t = predict_latency(&w, &hw, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(t > 0.0 && t.is_finite(), "{name}");
    }
}

#[test]
fn extends_chains_compose_with_set() {
    // h200-datasheet -> h100-datasheet -> base/nvidia-gpu -> base/x86-cpu: each level's fields arrive, and
    // --set wins over all.
    let sets: Vec<_> = ["gpu.mem_bw_gbs=6000", "eager.op_overhead_us=3", "cpu.mem_gb=*2", "gpu.efficiency.matmul.compute=0.9"]
        .into_iter()
        .map(|s| parse_set(s).unwrap())
        .collect();
    let hw = load_hardware("h200-datasheet", &sets).unwrap();
    let gpu = device(&hw, "gpu");
    assert_eq!(gpu.mem_bw_gbs, 6000.0, "--set over h200's own figure");
    assert_eq!(gpu.mem_gb, 141.0, "h200");
    assert_eq!(gpu.cache_mb, 50.0, "inherited from h100");
    assert_eq!(gpu.kernel_overhead_us, 2.5, "inherited from base/nvidia-gpu");
    assert_eq!(gpu.efficiency.matmul.compute, 0.9, "--set inside an inherited curve");
    assert_eq!(gpu.efficiency.matmul.compute_half_mflop, 40.0, "the rest of that curve stays");
    let cpu = device(&hw, "cpu");
    assert_eq!(cpu.mem_gb, 4096.0, "*2 over h100's 2 TB");
    assert_eq!(cpu.kernel_overhead_us, 5.0, "inherited from base/x86-cpu");
    assert_eq!(hw.runtime("eager").unwrap().op_overhead_us, 3.0);
    assert_eq!(hw.runtime("eager_streams").unwrap().op_overhead_us, 6.0, "other runtimes keep the base value");
    assert!(hw.runtime("eager").unwrap().input_copy, "base/nvidia-gpu overrides base/x86-cpu's false");

    // A partial override of an inherited runtime keeps the fields it does not name.
    let v100 = load("v100");
    let eager = v100.runtime("eager").unwrap();
    assert_eq!((eager.conv_math.as_str(), eager.launch_overhead_us), ("fp32", 4.0));

    // The SoC extends its CPU-only preset.
    assert!(load("jetson-agx-orin").runtime("eager").unwrap().input_copy);
    assert!(!load("jetson-agx-orin-cpu").runtime("eager").unwrap().input_copy);
    // The SoC's CPU is the CPU-only preset's, but the module's power is counted once, on the GPU entry.
    let (nano, nano_cpu) = (load("jetson-nano"), load("jetson-nano-cpu"));
    let (soc, alone) = (device(&nano, "cpu"), device(&nano_cpu, "cpu"));
    assert_eq!((soc.tdp_w, alone.tdp_w), (None, Some(10.0)));
    assert_eq!(mmbench::hardware::Device { tdp_w: alone.tdp_w, ..soc.clone() }, alone.clone());
}

#[test]
fn a_base_alone_is_not_a_machine() {
    let err = load_hardware("base/nvidia-gpu", &[]).unwrap_err().to_string();
    assert!(err.contains("hardware/base/nvidia-gpu.yaml"), "{err}");
}

#[test]
fn h200_is_never_slower_than_h100() {
    for (a, b) in [("h100", "h200"), ("h100-datasheet", "h200-datasheet")] {
        h200_is_never_slower(a, b);
    }
}

fn h200_is_never_slower(h100: &str, h200: &str) {
    let (h100, h200) = (load(h100), load(h200));
    // By construction: the same host, link, runtimes and GPU except strictly more memory bandwidth.
    assert_eq!(device(&h100, "cpu").peak_tflops, device(&h200, "cpu").peak_tflops);
    assert_eq!(h100.links, h200.links);
    assert_eq!(h100.runtimes, h200.runtimes);
    let (a, b) = (device(&h100, "gpu"), device(&h200, "gpu"));
    assert_eq!(a.peak_tflops, b.peak_tflops);
    assert_eq!((a.compute_units, a.gemm_tile, a.kernel_overhead_us), (b.compute_units, b.gemm_tile, b.kernel_overhead_us));
    assert_eq!(a.efficiency, b.efficiency);
    assert!(b.mem_bw_gbs > a.mem_bw_gbs);
    // Single-stream runtimes only: there every op keeps its start order, so shorter ops cannot end later.
    for batch in [None, Some(1), Some(512)] {
        let w = load_workload("av-mnist", &WorkloadOptions { batch, ..Default::default() }).unwrap();
        for runtime in ["eager", "cuda_graph"] {
            let opts = PredictOptions { runtime: Some(runtime.into()), ..Default::default() };
            let (t100, t200) = (predict_latency(&w, &h100, &opts).unwrap(), predict_latency(&w, &h200, &opts).unwrap());
            assert!(t200 <= t100, "batch {batch:?}, {runtime}: h200 {t200} s > h100 {t100} s");
        }
    }
}

#[test]
fn datasheet_figure_lines_carry_a_comment() {
    // Every figure names its source or says it is assumed; inherited figures are cited where they are written.
    let keys = ["fp32:", "tf32:", "fp16:", "bf16:", "mem_bw_gbs:", "mem_gb:", "cache_mb:", "compute_units:", "bw_gbs:"];
    for name in preset_names() {
        let text = preset_text(name).unwrap();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if keys.iter().any(|k| t.starts_with(k)) {
                assert!(t.contains('#'), "hardware/{name}.yaml:{}: `{t}` has no source comment", i + 1);
            }
        }
    }
}

#[test]
fn the_calibrated_presets_are_the_committed_calibrations() {
    // `h100` and `h100-tf32` are validation/gpu's fits (scripts/calibrated-preset.py), not edited copies: the
    // devices, the link and the measured runtime are equal.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (preset, file) in [("h100", "validation/gpu/h100-fp32.yaml"), ("h100-tf32", "validation/gpu/h100-default.yaml")] {
        let (p, c) = (load(preset), load_hardware(root.join(file).to_str().unwrap(), &[]).unwrap());
        for d in &c.devices {
            let mut want = d.clone();
            let got = device(&p, &d.name);
            // (A runtime's math mode must exist on the device: the fit's one peak stands for it.)
            for (mode, v) in &got.peak_tflops {
                want.peak_tflops.entry(mode.clone()).or_insert(*v);
            }
            assert_eq!(got, &want, "{preset}: {}", d.name);
        }
        assert_eq!(p.links, c.links, "{preset}");
        assert_eq!(p.runtime("eager").unwrap(), c.runtime("eager").unwrap(), "{preset}");
    }
    // h200 is h100 with the datasheets' bandwidth ratio and the H200's capacity.
    let (h100, h200) = (load("h100"), load("h200"));
    let (a, b) = (device(&h100, "gpu"), device(&h200, "gpu"));
    assert!((b.mem_bw_gbs / a.mem_bw_gbs - 4800.0 / 3350.0).abs() < 1e-9, "{} / {}", b.mem_bw_gbs, a.mem_bw_gbs);
    assert_eq!(b.mem_gb, 141.0);
    assert_eq!(mmbench::hardware::Device { mem_bw_gbs: a.mem_bw_gbs, mem_gb: a.mem_gb, description: a.description.clone(), sources: a.sources.clone(), ..b.clone() }, a.clone());
}
