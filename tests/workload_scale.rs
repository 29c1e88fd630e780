//! `--scale` on every built-in workload (the `scalable:` parameters of `graphs/*.yaml`): reduced sizes for quick
//! real runs on a slow device. Every workload and every variant builds at scales 1, 0.5, 0.25 and 0.125; its
//! outputs keep their non-spatial structure; its FLOPs never grow as the scale shrinks, and at 0.25 they are at
//! most a stated fraction of the full size; the scaled graphs predict on the `a100` preset.

mod common;

use common::mmbench;
use mmbench::graph::builtin::{workload_names, workload_text};
use mmbench::graph::{load_workload, Workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::{predict_latency, PredictOptions};

const SCALES: [f64; 4] = [1.0, 0.5, 0.25, 0.125];

/// (workload, variant or "" for the default, the most FLOPs at --scale 0.25 as a fraction of the full size).
/// Image and volume models shrink with the area or volume, sequence models with the length; what does not
/// scale is said beside it (and in the workload's header).
const QUARTER_SCALE_FLOPS: &[(&str, &str, f64)] = &[
    ("av-mnist", "", 0.35), // LeNet needs 16x16 and 64x64 to end at 1x1
    ("av-mnist", "tensor_matrix", 0.4),
    ("av-mnist", "multi_interac_matrix", 0.5), // the multiplicative fusion does not scale
    ("av-mnist", "cca", 0.35),
    ("mm-imdb", "", 0.2), // ALBERT is linear in the tokens
    ("mm-imdb", "simple_late_fusion", 0.2),
    ("mm-imdb", "simple_early_fusion", 0.2),
    ("mm-imdb", "low_rank_tensor", 0.2),
    ("mm-imdb", "multi_interac_matrix", 0.2),
    ("cmu-mosei", "", 0.3), // GRUs: linear in the steps
    ("sarcasm", "", 0.025),
    ("medical-vqa", "", 0.1),
    ("medical-seg", "", 0.02),
    ("mujoco-push", "", 0.12), // 16 steps are hard-coded: the LSTMs stay
    ("mujoco-push", "ef", 0.2),
    ("mujoco-push", "tf", 0.55), // the tensor fusion of 89,505 features per step stays
    ("mujoco-push", "mult", 0.45), // the multimodal transformer over 16 steps stays
    ("vision-touch", "", 0.6), // only RGB scales: depth (5.3 of 11.6 GFLOP) and the low-rank fusion (1.1) stay
    ("transfuser", "", 0.06),
];

/// The variants a built-in workload declares (`variants:`), after "" for its default.
fn variants(name: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(workload_text(name).expect("built-in")).unwrap();
    let declared: Vec<String> =
        doc.get("variants").and_then(|v| v.as_mapping()).map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect()).unwrap_or_default();
    std::iter::once(String::new()).chain(declared).collect()
}

fn build(name: &str, variant: &str, scale: f64) -> Workload {
    let sets = if variant.is_empty() { vec![] } else { vec![mmbench::yaml::parse_set(&format!("variant={variant}")).unwrap()] };
    let scale = (scale != 1.0).then_some(scale);
    load_workload(name, &WorkloadOptions { batch: None, sets, scale }).unwrap_or_else(|e| panic!("{name} {variant} at --scale {scale:?}: {e}"))
}

/// The axes of an output that follow the input sizes: a segmentation's volume, a decoded map's height and width.
fn spatial_axes(workload: &str, output: &str, rank: usize) -> std::ops::Range<usize> {
    let first = match (workload, output.split('/').next().unwrap_or_default()) {
        ("medical-seg", _) => 2,
        ("transfuser", "waypoints") => rank,
        ("transfuser", "depth") => 1,
        ("transfuser", _) => 2,
        _ => rank,
    };
    first..rank
}

/// Every output keeps its rank and its non-spatial axes; its spatial axes do not grow.
fn assert_same_structure(name: &str, variant: &str, scale: f64, full: &Workload, scaled: &Workload) {
    assert_eq!(full.outputs.len(), scaled.outputs.len(), "{name} {variant} at {scale}");
    for (&f, &s) in full.outputs.iter().zip(&scaled.outputs) {
        let (f, s) = (&full.graph[f], &scaled.graph[s]);
        let (fs, ss) = (&f.output.shape, &s.output.shape);
        let at = format!("{name} {variant} at {scale}: output {} {fs:?} -> {ss:?}", f.name);
        assert_eq!(f.name, s.name, "{at}");
        assert_eq!(fs.len(), ss.len(), "{at}");
        let spatial = spatial_axes(name, &f.name, fs.len());
        for axis in 0..fs.len() {
            if spatial.contains(&axis) {
                assert!(ss[axis] >= 1 && ss[axis] <= fs[axis], "{at}");
            } else {
                assert_eq!(fs[axis], ss[axis], "{at}: axis {axis} is not spatial");
            }
        }
    }
}

#[test]
fn every_builtin_workload_declares_scalable_sizes_and_a_quarter_scale_bound() {
    for name in workload_names() {
        for variant in variants(name) {
            assert!(
                QUARTER_SCALE_FLOPS.iter().any(|(w, v, _)| *w == name && *v == variant),
                "{name} {variant}: state its FLOPs bound at --scale 0.25 in QUARTER_SCALE_FLOPS"
            );
        }
    }
}

#[test]
fn every_workload_and_variant_scales_down() {
    let hw = load_hardware("a100", &[]).unwrap();
    for name in workload_names() {
        for variant in variants(name) {
            let full = build(name, &variant, 1.0);
            let mut previous = full.flops();
            let mut latency_full = 0.0;
            for scale in SCALES {
                let w = build(name, &variant, scale);
                assert_same_structure(name, &variant, scale, &full, &w);
                assert!(w.flops() <= previous, "{name} {variant}: FLOPs grew from {previous} to {} at --scale {scale}", w.flops());
                previous = w.flops();
                let latency = predict_latency(&w, &hw, &PredictOptions::default()).unwrap_or_else(|e| panic!("{name} {variant} at {scale}: {e}"));
                assert!(latency.is_finite() && latency > 0.0, "{name} {variant} at {scale}: {latency}");
                if scale == 1.0 {
                    latency_full = latency;
                }
                if scale == 0.25 {
                    let bound = QUARTER_SCALE_FLOPS.iter().find(|(w, v, _)| *w == name && *v == variant).map(|t| t.2).unwrap_or(1.0);
                    let fraction = w.flops() as f64 / full.flops() as f64;
                    assert!(fraction <= bound, "{name} {variant}: {fraction:.3} of the full FLOPs at --scale 0.25, stated {bound}");
                    assert!(latency <= latency_full, "{name} {variant}: {latency} s at 0.25, {latency_full} s at full size");
                }
            }
        }
    }
}

/// The shape of the value a YAML item produced: a block's output is the last op it added, an op item is its own
/// node.
fn shape_of<'a>(w: &'a Workload, name: &str) -> &'a [usize] {
    let under = |n: &str| n == name || n.starts_with(&format!("{name}/"));
    &w.nodes().map(|(_, n)| n).filter(|n| under(&n.name)).last().unwrap_or_else(|| panic!("no item {name}")).output.shape
}

#[test]
fn medical_seg_tokens_and_positional_tables_follow_the_volume() {
    // 128 x 0.25 = 32: x5 is 2^3, 8 tokens per modality, 32 in the inter-modal transformer; each positional
    // table is 8 x 512 instead of 512 x 512, the only weights that change.
    let w = build("medical-seg", "", 0.25);
    assert_eq!(shape_of(&w, "flair/input"), [1, 1, 32, 32, 32]);
    assert_eq!(shape_of(&w, "flair_x5"), [1, 128, 2, 2, 2]);
    assert_eq!(shape_of(&w, "flair_intra_x5"), [1, 512, 2, 2, 2]);
    assert_eq!(shape_of(&w, "inter_x5"), [1, 2048, 2, 2, 2]);
    assert_eq!(w.params(), 35_798_404 - 4 * (512 - 8) * 512);
    assert_eq!(w.graph[w.outputs[0]].output.shape, [1, 4, 32, 32, 32]);
    // 16^3 would leave a 1^3 deepest level, which reflect padding cannot pad: the minimum is 32.
    assert_eq!(build("medical-seg", "", 0.125).flops(), w.flops());
}

#[test]
fn transfuser_anchors_decoders_and_targets_follow_the_image_and_lidar_sizes() {
    // 160 x 0.25 = 40 -> 32, 704 x 0.25 = 176 -> 192, 256 x 0.25 = 64 (multiples of 32).
    let w = build("transfuser", "", 0.25);
    assert_eq!(shape_of(&w, "image/input"), [10, 3, 32, 192]);
    assert_eq!(shape_of(&w, "lidar/input"), [10, 3, 64, 64]);
    // Anchor grids 1 x 6 and 2 x 2: 10 tokens in every GPT, with positional tables to match.
    assert_eq!(shape_of(&w, "fusion1/gpt/pos_emb"), [1, 10, 72]);
    assert_eq!(shape_of(&w, "fusion4/gpt"), [10, 10, 1512]);
    assert_eq!(w.params(), 168_018_327 - (174 - 10) * (72 + 216 + 576 + 1512) as u64);
    // The decoders return to the input sizes; the BEV is lidar x 5/8; the losses read targets of those shapes.
    assert_eq!(shape_of(&w, "semantic"), [10, 7, 32, 192]);
    assert_eq!(shape_of(&w, "depth"), [10, 32, 192]);
    assert_eq!(shape_of(&w, "bev"), [10, 3, 40, 40]);
    assert_eq!(shape_of(&w, "bev_target"), [10, 40, 40]);
    assert_eq!(shape_of(&w, "detection/heatmap"), [10, 1, 16, 16]);
}

#[test]
fn sarcasm_keeps_three_chunks_of_fewer_smaller_frames() {
    // 32 x 0.25 = 8 frames per chunk at 224 x 0.25 = 56 -> 64; 15 x 0.25 = 3.75 -> 4 WordPiece ids.
    let w = build("sarcasm", "", 0.25);
    assert_eq!(shape_of(&w, "video/input"), [1, 24, 3, 64, 64]);
    assert_eq!(shape_of(&w, "video/chunk2"), [8, 3, 64, 64]);
    assert_eq!(shape_of(&w, "video/features"), [24, 2048]);
    assert_eq!(shape_of(&w, "text/input"), [1, 4]);
    assert_eq!(w.params(), 167_657_070, "no weight depends on the sizes");
}

#[test]
fn predict_takes_scale_on_the_command_line() {
    let flops = |args: &[&str]| -> f64 {
        let (code, out, err) = mmbench(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
        v["flops"].as_f64().unwrap()
    };
    let full = flops(&["predict", "medical-seg", "--format", "json"]);
    let quarter = flops(&["predict", "medical-seg", "--scale", "0.25", "--format", "json"]);
    assert!(quarter < 0.02 * full, "{quarter} vs {full}");
}
