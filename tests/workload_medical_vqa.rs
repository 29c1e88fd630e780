//! Medical VQA (`graphs/medical-vqa.yaml`) as WORKLOADS.md §7 describes it: the masked fundus image through
//! ResNet-152 to layer4, the question through an embedding and a 12-step LSTM (final cell state), two-glimpse
//! question-guided attention, concat, MLP; two samples per batch.

mod common;
use common::*;
use mmbench::graph::{DType, Stage};

/// Active parameters without the vocabulary embedding (§7.5).
const ACTIVE_WITHOUT_EMBEDDING: u64 = 70_398_535;

#[test]
fn matches_section_7_with_a_vocabulary_of_30() {
    let w = workload("medical-vqa", &[]);
    assert_eq!(w.modalities, ["image", "mask", "question"]);
    assert_eq!(w.batch, 2, "§7.2: one main and one sub question per batch");
    assert_eq!(output_shape(&w), [2, 5], "§7.5: 5 answers");
    assert_stage_tags(&w);
    // §7.3-7.5: ResNet-152 to layer4 (active parameters only: the unused FC never runs), Embedding(31, 300) +
    // LSTM, the attention's 1x1 convs and Linear, the MLP head.
    assert_eq!(
        stage_params(&w),
        [
            (Stage::Encoder, Some("image".into()), 58_143_808),
            (Stage::Encoder, Some("mask".into()), 0),
            (Stage::Encoder, Some("question".into()), 300 * 31 + 5_431_296),
            (Stage::Fusion, None, 1_574_402),
            (Stage::Head, None, 5_249_029),
        ]
    );
    assert_eq!(w.params(), ACTIVE_WITHOUT_EMBEDDING + 300 * 31);
    assert_eq!(w.params(), 70_407_835);
}

#[test]
fn the_vocabulary_size_is_a_parameter() {
    // Embedding(V + 1, 300): row 0 is the padding index (§7.3).
    let w = workload("medical-vqa", &["params.vocab=100"]);
    assert_eq!(w.params(), ACTIVE_WITHOUT_EMBEDDING + 300 * 101);
    assert_eq!(node(&w, "question/embedding").output.shape, [2, 12, 300]);
}

#[test]
fn shapes_follow_sections_7_3_and_7_4() {
    let w = workload("medical-vqa", &[]);
    assert_eq!(node(&w, "image/masked").output.shape, [2, 3, 448, 448]);
    assert_eq!(node(&w, "image/resnet/layer4/block2/relu").output.shape, [2, 2048, 14, 14]);
    assert_eq!(node(&w, "question/input").output.dtype, DType::I64);
    // Time-major LSTM over 12 steps, unrolled; the question vector is the final cell state.
    assert_eq!(node(&w, "question/transpose/transpose").output.shape, [12, 2, 300]);
    assert_eq!(w.nodes().filter(|(_, n)| n.op.kind() == "lstm_cell").count(), 12);
    assert_eq!(node(&w, "question/lstm/c_last").output.shape, [2, 1, 1024]);
    assert_eq!(node(&w, "question/lstm/state_out").output.shape, [2, 1024]);
    // Two glimpses of the 2048-channel map, then the question appended.
    assert_eq!(node(&w, "fusion/glimpse_attention/softmax").output.shape, [2, 2, 196]);
    assert_eq!(node(&w, "fusion/glimpse_attention/flatten").output.shape, [2, 4096]);
    assert_eq!(fusion_output_shape(&w), [2, 5120]);
    assert_eq!(node(&w, "head/mlp/fc0").output.shape, [2, 1024]);
}

#[test]
fn joins_are_the_mask_multiply_and_the_question_guided_hadamard() {
    // §7.7 lists (1) image x mask, (2) the Hadamard product inside the attention, (3) the final concat.
    let w = workload("medical-vqa", &[]);
    assert_eq!(join_names(&w), ["image/masked", "fusion/glimpse_attention/mul"]);
    assert_eq!(node(&w, "image/masked").stage, Stage::Encoder, "§7.6: the encoder option runs the mask multiply");
    assert_eq!(node(&w, "fusion/glimpse_attention/mul").stage, Stage::Fusion);
    // The concat also consumes the question branch directly, but the attended features already carry the
    // question (through the Hadamard product), so by §0.1's definition (the FIRST op that consumes tensors
    // from two or more modalities) it is where the branches meet again, not a new join.
    let concat = node(&w, "fusion/concat");
    let producers: Vec<&str> = concat.inputs.iter().map(|&i| w.graph[i].name.as_str()).collect();
    assert_eq!(producers, ["fusion/glimpse_attention/flatten", "question/lstm/state_out"]);
    assert!(!join_names(&w).contains(&"fusion/concat".to_string()));
}

#[test]
fn predicts_on_gpu_servers_edge_boards_and_cpus() {
    let w = workload("medical-vqa", &[]);
    for hw in PRESETS {
        let t = predict_on(&w, hw);
        assert_eq!(devices_running(&t, ""), [default_device(hw)], "{hw}: no host work, every op on the default device");
    }
    // On a GPU each input is copied once: the image, the mask and the question ids.
    let t = predict_on(&w, "a100");
    assert_eq!(copies(&t), [2 * 3 * 448 * 448 * 4, 2 * 448 * 448 * 4, 2 * 12 * 8]);
}
