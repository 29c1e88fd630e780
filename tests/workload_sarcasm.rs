//! Sarcasm / MUStARD (`graphs/sarcasm.yaml`) as WORKLOADS.md §6 describes it: ResNet-152 to pool5 over 96
//! frames in three chunks of 32, a librosa feature vector computed on the CPU, BERT-base [CLS] run on the CPU,
//! concat and a small MLP; the per-clip CPU work of §6.6 in front of each encoder.

mod common;
use common::*;
use mmbench::graph::{DType, Stage};

/// Bytes of one chunk of 32 normalised frames, [32, 3, 224, 224] fp32.
const CHUNK_BYTES: u64 = 32 * 3 * 224 * 224 * 4;

#[test]
fn matches_section_6() {
    let w = workload("sarcasm", &[]);
    assert_eq!(w.modalities, ["video", "audio", "text"]);
    assert_eq!(w.batch, 1, "§6.2: one utterance per run");
    assert_eq!(output_shape(&w), [1, 2], "§6.4: binary logits");
    assert_stage_tags(&w);
    // §6.3-6.4: ResNet-152 without FC (one module for the three chunks), no audio DNN, BERT-base, the MLP head.
    assert_eq!(
        stage_params(&w),
        [
            (Stage::Encoder, Some("video".into()), 58_143_808),
            (Stage::Encoder, Some("audio".into()), 0),
            (Stage::Encoder, Some("text".into()), 109_482_240),
            (Stage::Fusion, None, 0),
            (Stage::Head, None, 31_022),
        ]
    );
    assert_eq!(w.params(), 167_657_070);
}

#[test]
fn the_one_join_concatenates_video_audio_and_text() {
    // §6.4 and §6.6: one join, the concat 2048 + 283 + 768 -> 3099, in that order.
    let w = workload("sarcasm", &[]);
    assert_eq!(join_names(&w), ["fusion/concat"]);
    let concat = node(&w, "fusion/concat");
    assert_eq!(concat.output.shape, [1, 3099]);
    let widths: Vec<Vec<usize>> = concat.inputs.iter().map(|&i| w.graph[i].output.shape.clone()).collect();
    assert_eq!(widths, [vec![1, 2048], vec![1, 283], vec![1, 768]]);
    assert_eq!(node(&w, "head/mlp/fc0").output.shape, [1, 10]);
}

#[test]
fn video_runs_one_resnet_three_times_on_chunks_of_32_frames() {
    // §6.3: 96 frames are the video's own leading axis; frames go through ResNet-152 32 at a time, the pool5
    // features are concatenated to [96, 2048] and averaged over the frames.
    let w = workload("sarcasm", &[]);
    assert_eq!(node(&w, "video/input").output.shape, [1, 96, 3, 224, 224]);
    for chunk in 0..3 {
        let conv1 = node(&w, &format!("video/resnet_chunk{chunk}/conv1/conv"));
        assert_eq!(w.graph[conv1.inputs[0]].output.shape, [32, 3, 224, 224], "chunk {chunk}");
        assert_eq!(node(&w, &format!("video/resnet_chunk{chunk}/avgpool")).output.shape, [32, 2048], "chunk {chunk}");
    }
    assert_eq!(node(&w, "video/features").output.shape, [96, 2048]);
    assert_eq!(node(&w, "video/mean").output.shape, [1, 2048]);
    // One module: the same weight group in every pass, so parameters count once and the work three times.
    let pass = |c: usize| -> Vec<(Option<String>, u64)> {
        let prefix = format!("video/resnet_chunk{c}/");
        w.nodes().filter(|(_, n)| n.name.starts_with(&prefix)).map(|(_, n)| (n.weight_group.clone(), n.cost.flops)).collect()
    };
    assert_eq!(pass(0).len(), pass(1).len());
    assert_eq!(pass(0), pass(1));
    assert_eq!(pass(0), pass(2));
    assert!(pass(0).iter().all(|(g, _)| g.is_some()), "every ResNet op is in the shared group");
}

#[test]
fn host_work_decodes_frames_computes_librosa_features_and_tokenises() {
    // §6.6 items 2, 4 and 5.
    let w = workload("sarcasm", &[]);
    let host: Vec<(&str, Vec<usize>, DType)> = w
        .nodes()
        .filter(|(_, n)| n.op.kind() == "host_work")
        .map(|(_, n)| (w.modality_name(n).unwrap(), n.output.shape.clone(), n.output.dtype))
        .collect();
    let frames = vec![1, 32, 3, 224, 224];
    assert_eq!(
        host,
        [
            ("video", frames.clone(), DType::F32),
            ("video", frames.clone(), DType::F32),
            ("video", frames, DType::F32),
            ("audio", vec![1, 283], DType::F32),
            ("text", vec![1, 15], DType::I64),
        ]
    );
    // All 96 frames are decoded before the first ResNet pass, as the script stacks them first.
    let index = |name: &str| w.nodes().position(|(_, n)| n.name == name).unwrap();
    assert!(index("video/frames_64_95") < index("video/resnet_chunk0/conv1/conv"));
    // The tokeniser's ids feed BERT's word gather.
    assert_eq!(w.graph[node(&w, "text/bert/embeddings/word").inputs[0]].name, "text/host_work");
}

#[test]
fn bert_runs_on_the_cpu_and_the_frames_are_copied_in_three_chunks() {
    // §6.3: BERT and its ids never reach the GPU; only its [CLS] vector is copied, like the audio vector.
    // §6.6 item 2: the frames reach the GPU in three chunks, each right before its ResNet pass.
    let w = workload("sarcasm", &[]);
    assert!(w.nodes().filter(|(_, n)| n.name.starts_with("text/")).all(|(_, n)| n.device.as_deref() == Some("cpu") || n.op.kind() == "input"));
    let t = predict_on(&w, "a100");
    assert_eq!(devices_running(&t, "text/bert"), ["cpu"]);
    assert_eq!(devices_running(&t, "video/resnet_chunk"), ["gpu"]);
    assert_eq!(devices_running(&t, "fusion/"), ["gpu"]);
    assert_eq!(copies(&t), [CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES, 283 * 4, 768 * 4]);
}

#[test]
fn predicts_on_gpu_servers_edge_boards_and_cpus() {
    let w = workload("sarcasm", &[]);
    for hw in PRESETS {
        let t = predict_on(&w, hw);
        assert_eq!(devices_running(&t, "text/bert"), ["cpu"], "{hw}");
        assert_eq!(devices_running(&t, "audio/host_work"), ["cpu"], "{hw}");
        assert_eq!(devices_running(&t, "video/resnet_chunk"), [default_device(hw)], "{hw}");
    }
}
