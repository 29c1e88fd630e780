//! Every built-in workload loads as WORKLOADS.md describes it: modalities, stages, output shape and the
//! parameter count derived there (or published by the reference implementation).

use mmbench::graph::{load_workload, Stage, Workload, WorkloadOptions};
use mmbench::hardware::{load_hardware, preset_names};
use mmbench::predict::{predict, PredictOptions};

fn load(name: &str) -> Workload {
    load_workload(name, &WorkloadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn stages(w: &Workload) -> Vec<Stage> {
    let mut s: Vec<Stage> = w.nodes().map(|(_, n)| n.stage).collect();
    s.sort();
    s.dedup();
    s
}

fn output_shape(w: &Workload) -> Vec<usize> {
    w.graph[w.outputs[0]].output.shape.clone()
}

#[test]
fn av_mnist_matches_workloads_md() {
    // WORKLOADS.md §3.1: avmnist_simple_late_fusion, 260,922 parameters, batch 40.
    let w = load("av-mnist");
    assert_eq!(w.modalities, ["image", "audio"]);
    assert_eq!(w.batch, 40);
    assert_eq!(w.params(), 260_922);
    assert_eq!(stages(&w), [Stage::Encoder, Stage::Fusion, Stage::Head]);
    assert_eq!(output_shape(&w), [40, 10]);
    let joins = w.joins();
    assert_eq!(joins.len(), 1);
    assert_eq!(w.graph[joins[0]].output.shape, [40, 240]);
}

#[test]
fn cmu_mosei_matches_workloads_md() {
    // WORKLOADS.md §5.4: 2,712,691 parameters, three GRUs over 50 steps, batch 32.
    let w = load("cmu-mosei");
    assert_eq!(w.modalities, ["vision", "audio", "text"]);
    assert_eq!(w.batch, 32);
    assert_eq!(w.params(), 2_712_691);
    assert_eq!(stages(&w), [Stage::Encoder, Stage::Fusion, Stage::Head]);
    assert_eq!(output_shape(&w), [32, 1]);
    assert_eq!(w.graph[w.joins()[0]].output.shape, [32, 870]);
    // 3 x (1 projection + 2 kernels per step x 50, less the first step's GEMM: no state yet) + concat + 3
    // head ops.
    assert_eq!(w.kernels(), 3 * 100 + 1 + 3);
}

#[test]
fn batch_and_params_can_be_overridden() {
    let w = load_workload("cmu-mosei", &WorkloadOptions { batch: Some(8), sets: vec![mmbench::yaml::parse_set("params.steps=20").unwrap()], scale: None }).unwrap();
    assert_eq!(w.batch, 8);
    assert_eq!(w.kernels(), 3 * 40 + 4);
    assert_eq!(w.params(), 2_712_691);
}

#[test]
fn every_workload_predicts_on_every_preset() {
    for name in mmbench::graph::builtin::workload_names() {
        let w = load(name);
        for hw_name in preset_names() {
            let hw = load_hardware(hw_name, &[]).unwrap();
            for rt in &hw.runtimes {
                let t = predict(&w, &hw, &PredictOptions { runtime: Some(rt.name.clone()), ..Default::default() })
                    .unwrap_or_else(|e| panic!("{name} on {hw_name}/{}: {e}", rt.name));
                t.validate().unwrap_or_else(|e| panic!("{name} on {hw_name}/{}: {e}", rt.name));
                assert!(t.latency_s > 0.0);
            }
        }
    }
}

#[test]
fn av_mnist_variants_match_workloads_md() {
    // WORKLOADS.md §3.1 parameter totals per variant.
    for (variant, params, fused) in [("tensor_matrix", 302_772, 96), ("multi_interac_matrix", 2_530_602, 240), ("cca", 246_046, 96)] {
        let w = load_workload("av-mnist", &WorkloadOptions { batch: None, sets: vec![mmbench::yaml::parse_set(&format!("variant={variant}")).unwrap()], scale: None }).unwrap();
        assert_eq!(w.params(), params, "{variant}");
        assert_eq!(output_shape(&w), [40, 10], "{variant}");
        let join = w.joins()[0];
        assert_eq!(w.graph[join].stage, Stage::Fusion, "{variant}");
        let fusion_out = w.nodes().filter(|(_, n)| n.stage == Stage::Fusion).last().unwrap().1;
        assert_eq!(fusion_out.output.shape, [40, fused], "{variant}");
    }
}

#[test]
fn fusion_can_be_swapped_for_any_fusion_block() {
    // `--set fusion=tensor_fusion`: outer product of [40, 48] and [40, 192] -> 49 * 193 features.
    let w = load_workload("av-mnist", &WorkloadOptions { batch: None, sets: vec![mmbench::yaml::parse_set("fusion=tensor_fusion").unwrap()], scale: None }).unwrap();
    let fused = w.nodes().filter(|(_, n)| n.stage == Stage::Fusion).last().unwrap().1;
    assert_eq!(fused.output.shape, [40, 49 * 193]);
    assert_eq!(output_shape(&w), [40, 10]);
}

fn variant(name: &str, v: &str) -> Workload {
    load_workload(name, &WorkloadOptions { batch: None, sets: vec![mmbench::yaml::parse_set(&format!("variant={v}")).unwrap()], scale: None }).unwrap_or_else(|e| panic!("{name}/{v}: {e}"))
}

#[test]
fn mujoco_push_matches_workloads_md() {
    // WORKLOADS.md §9.1: lf 1,904,986 (default), ef 3,918,426, tf 23,472,890, mult 14,582,106; output [1, 16, 2].
    let w = load("mujoco-push");
    assert_eq!(w.modalities, ["pos", "sensors", "image", "control"]);
    assert_eq!(w.batch, 1);
    assert_eq!(w.params(), 1_904_986);
    // The default head is the identity: the concat + Linear is the fusion stage.
    assert_eq!(stages(&w), [Stage::Encoder, Stage::Fusion]);
    assert_eq!(output_shape(&w), [1, 16, 2]);
    assert_eq!(w.joins().len(), 1);
    for (v, params) in [("ef", 3_918_426), ("tf", 23_472_890), ("mult", 14_582_106)] {
        let w = variant("mujoco-push", v);
        assert_eq!(w.params(), params, "{v}");
        assert_eq!(output_shape(&w), [1, 16, 2], "{v}");
    }
    // tf: tensor fusion per step gives 9 x 9 x 65 x 17 features (§9.5).
    let tf = variant("mujoco-push", "tf");
    let fused = tf.nodes().filter(|(_, n)| n.stage == Stage::Fusion).last().unwrap().1;
    assert_eq!(fused.output.shape, [1, 16, 89_505]);
    // mult: every cross-modal pair (i from j, j != i) is a join.
    assert!(variant("mujoco-push", "mult").joins().len() >= 12);
}

#[test]
fn vision_touch_matches_workloads_md() {
    // WORKLOADS.md §10.4: 1,088,946 registered parameters + 8,488,240 fusion factors; logits [64, 2].
    let w = load("vision-touch");
    assert_eq!(w.modalities, ["rgb", "force", "proprio", "depth", "action"]);
    assert_eq!(w.batch, 64);
    assert_eq!(w.params(), 1_088_946);
    assert_eq!(w.unregistered_params(), 8_488_240);
    assert_eq!(stages(&w), [Stage::Encoder, Stage::Fusion, Stage::Head]);
    assert_eq!(output_shape(&w), [64, 2]);
    let per_modality: Vec<(Option<String>, u64)> = w.stage_totals().into_iter().filter(|t| t.stage == Some(Stage::Encoder)).map(|t| (t.modality, t.params)).collect();
    assert_eq!(
        per_modality,
        [
            (Some("rgb".to_string()), 456_160),
            (Some("force".to_string()), 87_728),
            (Some("proprio".to_string()), 43_744),
            (Some("depth".to_string()), 474_112),
            (Some("action".to_string()), 1_216)
        ]
    );
    // Every join sits in the fusion stage (the low-rank fusion's products).
    assert!(w.joins().iter().all(|&j| w.graph[j].stage == Stage::Fusion));
}

#[test]
fn medical_seg_is_built_in() {
    let w = load("medical-seg");
    assert_eq!(w.params(), 35_798_404);
    assert_eq!(output_shape(&w), [1, 4, 128, 128, 128]);
}

#[test]
fn scale_multiplies_the_scalable_parameters() {
    let text = "\
name: s
batch: 2
params: {size: 64, steps: 10}
scalable:
  size: {multiple_of: 8, min: 16}
modalities:
  a:
    input: [3, \"${size}\", \"${size}\"]
    encoder: [{conv2d: {out: 4, kernel: 3, padding: 1}}, global_avg_pool]
  b:
    input: [\"${steps}\", 4]
    encoder: [{gru: {hidden: 4}}]
fusion: [concat]
";
    let opts = |scale| WorkloadOptions { batch: None, sets: vec![], scale };
    let w = mmbench::graph::parse_workload("s.yaml", text, &opts(Some(0.3))).unwrap();
    // 64 x 0.3 = 19.2 -> 16 (a multiple of 8); steps are not scalable.
    assert_eq!(w.graph[petgraph::graph::NodeIndex::new(0)].output.shape, [2, 3, 16, 16]);
    let w = mmbench::graph::parse_workload("s.yaml", text, &opts(Some(0.01))).unwrap();
    assert_eq!(w.graph[petgraph::graph::NodeIndex::new(0)].output.shape, [2, 3, 16, 16], "the minimum holds");
    let e = mmbench::graph::parse_workload("s.yaml", text, &opts(Some(0.0))).unwrap_err().to_string();
    assert!(e.contains("scale must be in (0, 16]"), "{e}");
    let e = mmbench::graph::parse_workload("s.yaml", &text.replace("scalable:\n  size: {multiple_of: 8, min: 16}\n", ""), &opts(Some(0.5))).unwrap_err().to_string();
    assert!(e.contains("declares no `scalable:`"), "{e}");
}
