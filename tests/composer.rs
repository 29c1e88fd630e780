//! The composer builds MMBench's Customization models from a menu (WORKLOADS.md §12).

use mmbench::graph::{load_workload, Stage, Workload, WorkloadOptions};
use mmbench::yaml::parse_set;

fn load(path: &str, sets: &[&str]) -> Result<Workload, String> {
    let sets = sets.iter().map(|s| parse_set(s).unwrap()).collect();
    let p = format!("{}/graphs/custom/{path}", env!("CARGO_MANIFEST_DIR"));
    load_workload(&p, &WorkloadOptions { batch: None, sets, scale: None }).map_err(|e| e.to_string())
}

fn fused_width(w: &Workload) -> Vec<usize> {
    w.graph[w.joins()[0]].output.shape.clone()
}

#[test]
fn the_three_example_configurations_match_workloads_md() {
    // §12.6: fusion output [1, 2107] / [1, 1851] / [1, 8197]; totals 110,375,166 / 29,027,838 / 111,154,686.
    for (file, fused, params) in [("type1.yaml", 2107, 110_375_166), ("type2.yaml", 1851, 29_027_838), ("type3.yaml", 8197, 111_154_686)] {
        let w = load(file, &[]).unwrap();
        assert_eq!(w.params(), params, "{file}");
        assert_eq!(fused_width(&w), [1, fused], "{file}");
        assert_eq!(w.modalities, ["image", "text", "audio", "force", "proprio", "depth", "action"], "{file}");
        assert_eq!(w.graph[w.outputs[0]].output.shape, [1, 16], "{file}");
        // Audio features are host work: an op of the encoder stage that runs on the CPU.
        assert!(w.nodes().any(|(_, n)| n.stage == Stage::Encoder && n.op.kind() == "host_work"), "{file}");
    }
}

#[test]
fn heads_and_fusions_come_from_the_menu() {
    // TransformerWithMlp, in 2107, H 512, out 16: 17,111,568 parameters (§12.5) instead of the MLP's 271,888.
    let w = load("type1.yaml", &["compose.head.type=transformer_with_mlp", "compose.head.hidden=512"]).unwrap();
    assert_eq!(w.params(), 110_375_166 - 271_888 + 17_111_568);
    // Low-rank tensor fusion over the seven modalities, rank 4 -> 64: unregistered factors.
    let w = load("type1.yaml", &["compose.fusion.type=low_rank_tensor", "compose.fusion.out=64", "compose.fusion.rank=4"]).unwrap();
    assert_eq!(w.unregistered_params() as usize, 4 * (2107 + 7) * 64 + 4 + 64);
    // A ResNet image encoder: ResNet-152 without FC + Linear 2048 -> 256 = 58,668,352 (§12.3).
    let w = load("type1.yaml", &["compose.image.encoder=resnet"]).unwrap();
    let image: u64 = w.stage_totals().iter().filter(|t| t.modality.as_deref() == Some("image")).map(|t| t.params).sum();
    assert_eq!(image, 58_668_352);
}

#[test]
fn bad_menu_choices_are_explained() {
    let e = load("type1.yaml", &["compose.text.encoder=t5"]).unwrap_err();
    assert!(e.contains("compose.text.encoder") && e.contains("unknown text encoder `t5`"), "{e}");
    let e = load("type1.yaml", &["compose.fusion.type=film", "compose.fusion.hidden=8"]).unwrap_err();
    assert!(e.contains("FiLM fuses 2 or 3 modalities"), "{e}");
    let e = load("type1.yaml", &["compose.fusion.type=attention"]).unwrap_err();
    assert!(e.contains("needs `out`"), "{e}");
    let e = load("type1.yaml", &["compose.image.colour=red"]).unwrap_err();
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = load("type1.yaml", &["modalities.x.input=[1]"]).unwrap_err();
    assert!(e.contains("cannot be combined with `compose:`"), "{e}");
}
