//! The built-in `medical-seg` workload (mmFormer, WORKLOADS.md §8) checked against the reference figures:
//! parameters per part, shapes, stage and modality tags, joins, kernels that eager PyTorch launches, and a
//! prediction on the `a100` preset.

use mmbench::analysis::stages::stage_breakdown;
use mmbench::graph::{load_workload, Op, Stage, StageTotals, Workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::{predict, PredictOptions};
use mmbench::trace::RecordKind;

const MODALITIES: [&str; 4] = ["flair", "t1ce", "t1", "t2"];

fn workload() -> Workload {
    load_workload("medical-seg", &WorkloadOptions::default()).expect("the built-in workload loads")
}

fn totals<'a>(t: &'a [StageTotals], stage: Stage, modality: Option<&str>) -> &'a StageTotals {
    t.iter()
        .find(|s| s.stage == Some(stage) && s.modality.as_deref() == modality)
        .unwrap_or_else(|| panic!("no totals for {stage:?} {modality:?}"))
}

#[test]
fn used_parameters_are_35_798_404() {
    // §8.6: 36,654,416 registered, of which the separate decoder and the back-projection convs (856,012)
    // never run at inference and are not in the graph.
    assert_eq!(workload().params(), 35_798_404);
    assert_eq!(36_654_416 - 593_356 - 262_656, 35_798_404);
}

#[test]
fn parameters_split_into_encoders_fusion_and_head() {
    let w = workload();
    let t = w.stage_totals();
    for m in MODALITIES {
        // §8.3: CNN 1,473,216 + projection 66,048 + positional table 262,144 + transformer 5,250,048.
        assert_eq!(totals(&t, Stage::Encoder, Some(m)).params, 1_473_216 + 66_048 + 262_144 + 5_250_048, "{m}");
    }
    // §8.4: the inter-modal transformer and its output conv; the positional tables are the encoders'.
    assert_eq!(totals(&t, Stage::Fusion, None).params, 5_250_048 + 1_049_088);
    // §8.5: the fused decoder.
    assert_eq!(totals(&t, Stage::Head, None).params, 1_293_444);
    assert_eq!(t.len(), 6, "{t:?}");
}

#[test]
fn four_modalities_in_and_a_full_size_class_map_out() {
    let w = workload();
    assert_eq!(w.modalities, MODALITIES);
    assert_eq!(w.batch, 1);
    for m in MODALITIES {
        let input = w.nodes().find(|(_, n)| n.name == format!("{m}/input")).unwrap().1;
        assert_eq!(input.output.shape, [1, 1, 128, 128, 128], "{m}");
    }
    assert_eq!(w.outputs.len(), 1);
    let out = w.node(w.outputs[0]);
    assert_eq!(out.output.shape, [1, 4, 128, 128, 128]);
    assert_eq!(out.op.kind(), "softmax");
    assert_eq!(out.stage, Stage::Head);
}

#[test]
fn encoder_nodes_belong_to_their_modality_and_the_rest_to_none() {
    let w = workload();
    for (_, n) in w.nodes() {
        let modality = w.modality_name(n);
        match n.stage {
            Stage::Encoder => {
                let m = modality.unwrap_or_else(|| panic!("encoder node {} has no modality", n.name));
                assert!(n.name.starts_with(&format!("{m}_")) || n.name.starts_with(&format!("{m}/")), "{} tagged {m}", n.name);
            }
            Stage::Fusion | Stage::Head => assert_eq!(modality, None, "{}", n.name),
        }
    }
    let stages: Vec<Stage> = w.stage_totals().iter().filter_map(|t| t.stage).collect();
    assert!(stages.contains(&Stage::Fusion) && stages.contains(&Stage::Head));
}

#[test]
fn modalities_join_at_the_five_masked_stacks_in_the_fusion_stage() {
    // §8.8: the masked stacks of x1..x4 and of the intra-modal outputs are where the branches meet.
    let w = workload();
    let joins: Vec<&str> = w.joins().into_iter().map(|i| w.node(i).name.as_str()).collect();
    assert_eq!(joins, ["x1/stack/concat", "x2/stack/concat", "x3/stack/concat", "x4/stack/concat", "x5_intra/stack/concat"]);
    for j in w.joins() {
        assert_eq!(w.node(j).stage, Stage::Fusion);
    }
    // The decoder consumes the masked (multi-modal) skips.
    let x1 = w.nodes().find(|(_, n)| n.name == "x1/view").unwrap().1;
    assert_eq!(x1.output.shape, [1, 32, 128, 128, 128]);
}

#[test]
fn every_3x3x3_conv_has_its_own_reflect_pad_pass() {
    // §8.1: reflect padding is a separate pass before each 3³ convolution; 1³ convolutions have none.
    let w = workload();
    let mut convs = 0;
    for (_, n) in w.nodes() {
        let Op::Conv(c) = &n.op else { continue };
        convs += 1;
        let producer = w.node(n.inputs[0]);
        let padded = matches!(&producer.op, Op::Pad(p) if p.mode == mmbench::graph::ops::PadMode::Reflect);
        assert_eq!(padded, c.kernel == [3], "{}", n.name);
        assert_eq!(c.padding, [0], "{}", n.name);
    }
    // 4 x 15 encoder convs, 4 projections, the inter-modal conv, 4 x 3 decoder convs per level below the
    // deepest, 5 x 3 in the region-fusion blocks, 4 auxiliary and 1 final classifier.
    assert_eq!(convs, 60 + 4 + 1 + 12 + 15 + 5);
    assert_eq!(w.nodes().filter(|(_, n)| matches!(n.op, Op::Pad(_))).count(), 60 + 4 * 2 + 5);
}

#[test]
fn the_intra_and_inter_modal_attention_sizes() {
    let w = workload();
    let scores = |prefix: &str| w.nodes().find(|(_, n)| n.name == format!("{prefix}/attn/scores")).unwrap().1.output.shape.clone();
    for m in MODALITIES {
        assert_eq!(scores(&format!("{m}_intra")), [1, 8, 512, 512], "{m}");
    }
    assert_eq!(scores("inter"), [1, 8, 2048, 2048]);
}

#[test]
fn program_order_follows_mmformers_forward() {
    // All four CNN encoders, then each intra-modal step for all four modalities, then fusion, then the head.
    let w = workload();
    let first = |name: &str| w.nodes().position(|(_, n)| n.name.starts_with(name)).unwrap_or_else(|| panic!("{name}"));
    let order = [
        "flair_x1/", "t1ce_x1/", "t1_x1/", "t2_x5/", "flair_tokens/", "t2_tokens/", "flair_intra/", "t2_intra/",
        "flair_intra_x5/", "t2_intra_x5/", "x1/", "x4/", "x5_intra/", "inter/", "x5_inter", "decoder/",
    ];
    let positions: Vec<usize> = order.iter().map(|n| first(n)).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{:?}", order.iter().zip(&positions).collect::<Vec<_>>());
}

#[test]
fn predicts_on_the_a100_with_every_stage_timed() {
    let w = workload();
    let hw = load_hardware("a100", &[]).unwrap();
    let trace = predict(&w, &hw, &PredictOptions::default()).unwrap();
    assert!(trace.latency_s.is_finite() && trace.latency_s > 0.0);
    assert_eq!(trace.params, 35_798_404);
    let stages = stage_breakdown(&trace);
    for m in MODALITIES {
        let s = stages.iter().find(|s| s.stage == Stage::Encoder && s.modality.as_deref() == Some(m)).unwrap();
        assert!(s.seconds > 0.0, "{m}");
    }
    for stage in [Stage::Fusion, Stage::Head] {
        assert!(stages.iter().any(|s| s.stage == stage && s.seconds > 0.0), "{stage:?}");
    }
    // The four encoders are identical, so their kernels are busy for the same time. (The attributed stage
    // times differ slightly: a modality's input copy overlaps the previous encoder and shares its time.)
    let busy = |m: u16| -> f64 {
        let ops = trace.ops.iter().filter(|r| r.kind == RecordKind::Op && r.stage == Stage::Encoder && r.modality == Some(m));
        ops.map(|r| r.end_s - r.start_s).sum()
    };
    let first = busy(0);
    assert!(first > 0.0);
    for m in 1..4 {
        assert!((busy(m) - first).abs() < 1e-9 * first.max(1.0), "{} vs {}", busy(m), first);
    }
}
