//! MM-IMDb (`graphs/mm-imdb.yaml`) as WORKLOADS.md §4 describes it: the plot through ALBERT-base-v2 and a
//! MaxOut-MLP, the poster through the complete VGG16, an extra Linear and a MaxOut-MLP, then each variant's
//! fusion and head, with the CPU work of §4.6 in front of each encoder.

mod common;
use common::*;
use mmbench::graph::{DType, Stage};

#[test]
fn late_fusion_default_matches_section_4() {
    let w = workload("mm-imdb", &[]);
    assert_eq!(w.modalities, ["text", "image"]);
    assert_eq!(w.batch, 1, "§4.2: one movie at a time");
    assert_eq!(output_shape(&w), [1, 23], "§4.4: 23 genre logits");
    assert_stage_tags(&w);
    // §4.3: ALBERT 11,683,584 + MaxOut-MLP 1,316,352; VGG16 + Linear 142,457,640 + MaxOut-MLP 9,451,520.
    // §4.4: concat has no parameters, the Linear 1024->23 has 23,575; 164,932,671 in all.
    assert_eq!(
        stage_params(&w),
        [
            (Stage::Encoder, Some("text".into()), 11_683_584 + 1_316_352),
            (Stage::Encoder, Some("image".into()), 142_457_640 + 9_451_520),
            (Stage::Fusion, None, 0),
            (Stage::Head, None, 23_575),
        ]
    );
    assert_eq!(w.params(), 164_932_671);
    assert_eq!(w.unregistered_params(), 0);
}

#[test]
fn every_variant_has_the_parameters_of_section_4_4() {
    // (variant, registered, unregistered, fusion output width, head parameters).
    let table = [
        ("simple_late_fusion", 164_932_671, 0, 1024, 23_575),
        ("simple_early_fusion", 159_671_871, 0, 768 + 4096, 5_530_647),
        ("low_rank_tensor", 164_920_895, 67_240_576, 512, 11_799),
        ("multi_interac_matrix", 434_417_727, 0, 1024, 23_575),
    ];
    for (variant, registered, unregistered, fused, head) in table {
        let w = workload("mm-imdb", &[&format!("variant={variant}")]);
        assert_eq!(w.params(), registered, "{variant}");
        assert_eq!(w.unregistered_params(), unregistered, "{variant}");
        assert_eq!(fusion_output_shape(&w), [1, fused], "{variant}");
        assert_eq!(stage_params(&w).last().unwrap().2, head, "{variant}: head");
        assert_eq!(output_shape(&w), [1, 23], "{variant}");
        assert_stage_tags(&w);
    }
}

#[test]
fn lrtf_factors_are_counted_apart_from_the_registered_parameters() {
    // §4.4 gives LRTF 232,161,471 in all: `Workload::params()` is what `model.parameters()` registers
    // (164,920,895), and the two [128, 513, 512] factors, `w` [1, 128] and the bias [1, 512], which MultiBench
    // creates outside the registry, are `unregistered_params()` (67,240,576).
    let w = workload("mm-imdb", &["variant=low_rank_tensor"]);
    assert_eq!(w.unregistered_params(), 2 * 128 * 513 * 512 + 128 + 512);
    assert_eq!(w.params() + w.unregistered_params(), 232_161_471);
    assert_eq!(stage_params(&w)[2], (Stage::Fusion, None, 0), "the factors are not registered fusion parameters");
}

#[test]
fn the_one_join_is_the_fusion_op_in_every_variant() {
    // §4.6: one join, the fusion op. For LRTF the branches first meet in the product of the two projected
    // factors; for MI2 in the batched GEMV that applies the image vector to the text-generated weights.
    for (variant, join) in [
        ("simple_late_fusion", "fusion/concat"),
        ("simple_early_fusion", "fusion/concat"),
        ("low_rank_tensor", "fusion/low_rank_tensor_fusion/product1"),
        ("multi_interac_matrix", "fusion/multiplicative_interactions/apply"),
    ] {
        let w = workload("mm-imdb", &[&format!("variant={variant}")]);
        assert_eq!(join_names(&w), [join], "{variant}");
        assert_eq!(node(&w, join).stage, Stage::Fusion, "{variant}");
    }
}

#[test]
fn maxout_mlps_are_encoders_except_in_early_fusion_where_one_is_the_head() {
    // §4.5: the `encoder` option runs both MaxOut-MLPs; early fusion drops them and uses one as the head (§4.4).
    let late = workload("mm-imdb", &[]);
    assert_eq!(node(&late, "text/maxout_mlp/maxout1/linear").stage, Stage::Encoder);
    assert_eq!(node(&late, "image/maxout_mlp/maxout2/linear").stage, Stage::Encoder);
    let early = workload("mm-imdb", &["variant=simple_early_fusion"]);
    assert!(early.nodes().all(|(_, n)| !n.name.starts_with("text/maxout_mlp") && !n.name.starts_with("image/maxout_mlp")));
    assert_eq!(node(&early, "head/maxout_mlp/bn0").output.shape, [1, 4864]);
    assert_eq!(node(&early, "head/maxout_mlp/fc").stage, Stage::Head);
}

#[test]
fn encoders_take_the_last_albert_token_and_the_vgg_logits() {
    let w = workload("mm-imdb", &[]);
    // §4.3 text rows 1-2: the whole sequence, then position -1; image rows 1-2: 1000 logits, then 4096.
    assert_eq!(node(&w, "text/albert/layer11/ffn_norm").output.shape, [1, 256, 768]);
    assert_eq!(node(&w, "text/albert/last_token/squeeze").output.shape, [1, 768]);
    assert_eq!(node(&w, "image/vgg/classifier/fc3").output.shape, [1, 1000]);
    assert_eq!(node(&w, "image/linear").output.shape, [1, 4096]);
    assert_eq!(w.graph[w.joins()[0]].output.shape, [1, 1024]);
}

#[test]
fn host_work_tokenises_the_plot_and_decodes_the_poster_first() {
    // §4.6: JSON parse + SentencePiece, and JPEG decode + resize, on the CPU before each encoder; the
    // tokeniser's int64 ids are what ALBERT gathers from.
    let w = workload("mm-imdb", &[]);
    let tokenise = node(&w, "text/host_work");
    assert_eq!((tokenise.output.shape.as_slice(), tokenise.output.dtype), ([1, 256].as_slice(), DType::I64));
    let gather = node(&w, "text/albert/embeddings/word");
    assert_eq!(w.graph[gather.inputs[0]].name, "text/host_work");
    let decode = node(&w, "image/host_work");
    assert_eq!(decode.output.shape, [1, 3, 224, 224]);
    assert_eq!(w.graph[node(&w, "image/vgg/features/conv1").inputs[0]].name, "image/host_work");
}

#[test]
fn plot_length_is_a_parameter_up_to_512_tokens() {
    // §4.2: L varies per movie; it changes the work, not the parameters.
    let short = workload("mm-imdb", &["params.tokens=64"]);
    let long = workload("mm-imdb", &["params.tokens=512"]);
    assert_eq!(short.params(), long.params());
    // Eight times the tokens: every GEMM grows 8x and the attention scores 64x.
    let text_flops = |w: &mmbench::graph::Workload| w.stage_totals()[0].flops;
    assert!(text_flops(&long) > 8 * text_flops(&short), "{} vs {}", text_flops(&long), text_flops(&short));
    assert_eq!(node(&long, "text/host_work").output.shape, [1, 512]);
    let err = try_workload("mm-imdb", &["params.tokens=513"]).unwrap_err();
    assert!(err.contains("exceed the 512 positions"), "{err}");
}

#[test]
fn predicts_on_gpu_servers_edge_boards_and_cpus() {
    let w = workload("mm-imdb", &[]);
    for hw in PRESETS {
        let t = predict_on(&w, hw);
        assert_eq!(devices_running(&t, "text/host_work"), ["cpu"], "{hw}: host work runs on the host");
        assert_eq!(devices_running(&t, "image/host_work"), ["cpu"], "{hw}");
        let dnn = default_device(hw);
        assert_eq!(devices_running(&t, "text/albert"), [dnn.as_str()], "{hw}");
        assert_eq!(devices_running(&t, "image/vgg"), [dnn.as_str()], "{hw}");
    }
}
