//! The composer: builds a custom multi-modal model from a menu of encoders, fusions and heads, like MMBench's
//! Customization builder (WORKLOADS.md §12). A workload file with a `compose:` section is rewritten into the
//! ordinary form (modalities, fusion, head) before it is loaded, so everything else — `--set`, `info`,
//! `predict` — works unchanged; `--set compose.text.encoder=lstm` swaps a menu item.
//!
//! ```yaml
//! name: custom-type1
//! compose:
//!   image: {encoder: lenet, size: [256, 256], width: 6, extra_blocks: 3}
//!   text: {encoder: bert}
//!   audio: {encoder: librosa}
//!   force: {}
//!   proprio: {}
//!   depth: {}
//!   action: {}
//!   fusion: {type: concat}
//!   head: {type: mlp, hidden: 128, out: 16}
//! ```
//!
//! Modalities run in the builder's fixed order: image, video, text, audio, force, proprio, depth, action.
//! MMBench always runs one sample; the fields map to its config keys as the README's composer table shows.

use crate::error::{Error, Result};
use crate::yaml::{self, Document};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Compose {
    #[serde(default)]
    image: Option<Image>,
    #[serde(default)]
    video: Option<Video>,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    audio: Option<Audio>,
    #[serde(default)]
    force: Option<Sensor>,
    #[serde(default)]
    proprio: Option<Sensor>,
    #[serde(default)]
    depth: Option<Sensor>,
    #[serde(default)]
    action: Option<Sensor>,
    fusion: Fusion,
    head: Head,
}

/// `image: {encoder: lenet | resnet, ...}` (MMBench `have_img`, `img_encoder`, `channels`, `img_size_x/y`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    encoder: String,
    #[serde(default = "three")]
    channels: usize,
    #[serde(default = "size256")]
    size: [usize; 2],
    /// LeNet base width (`Lenet_channels`).
    #[serde(default = "six")]
    width: usize,
    /// LeNet blocks after the first (`Lenet_additional_layers`).
    #[serde(default = "three")]
    extra_blocks: usize,
    /// Width of the Linear after ResNet-152 (`Resnet_output_dim`).
    #[serde(default = "d256")]
    out: usize,
}

/// `video: {frames: 16}` (MMBench `have_video`, `num_frames`): torchvision r3d_18 without its FC.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Video {
    #[serde(default = "sixteen")]
    frames: usize,
}

/// `text: {encoder: bert | distilbert | roberta | lstm}` (MMBench `text_encoder`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    encoder: String,
    /// Characters of the sentence: the stand-in tokenizer of `bert` and `lstm` makes one 1-token sequence per
    /// character (49 for the shipped sentence).
    #[serde(default = "chars49")]
    chars: usize,
    /// Tokens from the real tokenizers of `distilbert` and `roberta`.
    #[serde(default = "tokens14")]
    tokens: usize,
    /// `LSTM_output_dim`.
    #[serde(default = "d512")]
    out: usize,
}

/// `audio: {encoder: librosa | opensmile}` (MMBench `audio_encoder`); both run on the CPU.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Audio {
    encoder: String,
    /// Length of the clip.
    #[serde(default = "four_s")]
    seconds: f64,
}

/// A robotics sensor, with the Vision & Touch encoder of its name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sensor {}

/// `fusion: {type: concat | tensor_fusion | attention | rnn | low_rank_tensor | film | concat_linear |
/// multiplicative_interactions, out, rank, hidden}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fusion {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    out: Option<usize>,
    #[serde(default)]
    rank: Option<usize>,
    #[serde(default)]
    hidden: Option<usize>,
}

/// `head: {type: mlp | transformer_with_mlp, hidden, out, conv}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    hidden: usize,
    out: usize,
    /// `head_Transformer_conv`: a 1x1 Conv1d to the hidden width first.
    #[serde(default = "yes")]
    conv: bool,
}

fn three() -> usize {
    3
}
fn six() -> usize {
    6
}
fn sixteen() -> usize {
    16
}
fn size256() -> [usize; 2] {
    [256, 256]
}
fn d256() -> usize {
    256
}
fn d512() -> usize {
    512
}
fn chars49() -> usize {
    49
}
fn tokens14() -> usize {
    14
}
fn four_s() -> f64 {
    4.0
}
fn yes() -> bool {
    true
}

fn y(s: &str) -> Value {
    serde_yaml::from_str(s).expect("composer templates are valid YAML")
}

/// Rewrites a document with a `compose:` section into the ordinary form. Documents without one are left alone.
pub fn expand(doc: &mut Document) -> Result<()> {
    let Some(spec) = doc.value.get("compose").cloned() else { return Ok(()) };
    for k in ["modalities", "fusion", "head", "nodes"] {
        if doc.value.get(k).is_some() {
            return Err(doc.error(k, format!("`{k}` cannot be combined with `compose:`, which generates it")));
        }
    }
    let c: Compose = yaml::decode(doc, "compose", &spec)?;
    let mut modalities = Mapping::new();
    let mut widths: Vec<usize> = Vec::new();
    let err = |field: &str, msg: String| -> Error { doc.error(&format!("compose.{field}"), msg) };

    if let Some(i) = &c.image {
        let input = Value::from(vec![i.channels, i.size[0], i.size[1]]);
        let (encoder, w) = match i.encoder.as_str() {
            // LeNet then, as cust.py does for one sample, the maps flattened and averaged over channels.
            "lenet" => {
                let (mut h, mut wd) = (i.size[0], i.size[1]);
                for _ in 0..=i.extra_blocks {
                    h /= 2;
                    wd /= 2;
                }
                let e = y(&format!("[{{lenet: {{channels: {}, blocks: {}}}}}, {{flatten: {{start: 2}}}}, {{mean: {{axes: [1]}}}}]", i.width, i.extra_blocks));
                (e, h * wd)
            }
            // The first sample goes through PIL on the CPU (resize 256, crop 224, normalise), then ResNet-152
            // to pool5, a mean over the batch and a Linear.
            "resnet" => {
                let e = y(&format!(
                    "[{{host_work: {{label: PIL resize+crop+normalise, output: [3, 224, 224], flops_per_sample: 4000000, bytes_per_sample: 1400000, threads: 1}}}},
                      {{resnet: {{depth: 152, output: pool5}}}}, {{mean: {{axes: [0], keepdim: true}}}}, {{linear: {{out: {}}}}}]",
                    i.out
                ));
                (e, i.out)
            }
            other => return Err(err("image.encoder", format!("unknown image encoder `{other}` (lenet, resnet)"))),
        };
        modalities.insert("image".into(), modality("random image", input, encoder));
        widths.push(w);
    }
    if let Some(v) = &c.video {
        // OpenCV reads and resizes the frames on the CPU; r3d_18 (Kinetics-400) without its FC.
        let e = y(&format!(
            "[{{host_work: {{label: OpenCV decode+resize+crop of {f} frames, output: [3, {f}, 112, 112], flops_per_sample: {fl}, bytes_per_sample: {by}, threads: 1}}}},
              {{r3d_18: {{output: pool5}}}}]",
            f = v.frames,
            fl = v.frames * 171 * 128 * 3 * 20,
            by = v.frames * 171 * 128 * 3 * 8
        ));
        modalities.insert("video".into(), modality("video clip", y("[1]"), e));
        widths.push(512);
    }
    if let Some(t) = &c.text {
        let (input, e, w) = match t.encoder.as_str() {
            // A random-weight BERT-base over one 1-token sequence per character; the first sequence's output.
            "bert" => (
                y(&format!("{{shape: [{}, 1], dtype: i64, batched: false}}", t.chars)),
                y("[{bert: {output: cls}}, {slice: {axis: 0, start: 0, end: 1}}]"),
                768,
            ),
            "distilbert" => (
                y(&format!("{{shape: [{}], dtype: i64}}", t.tokens)),
                y("[{bert: {layers: 6, type_vocab: 0, pooler: false, output: cls}}]"),
                768,
            ),
            "roberta" => (
                y(&format!("{{shape: [{}], dtype: i64}}", t.tokens)),
                y("[{bert: {vocab: 50265, positions: 514, type_vocab: 1, output: cls}}]"),
                768,
            ),
            // Embedding(30522, 768) -> 2-layer LSTM over each 1-character sequence -> mean over sequences.
            "lstm" => (
                y(&format!("{{shape: [{}, 1], dtype: i64, batched: false}}", t.chars)),
                y(&format!(
                    "[{{embedding: {{vocab: 30522, dim: 768}}}}, {{lstm: {{hidden: {}, layers: 2, return: sequence}}}}, {{mean: {{axes: [0], keepdim: true}}}}, {{select: {{axis: 1, index: -1}}}}]",
                    t.out
                )),
                t.out,
            ),
            "gpt2" => return Err(err("text.encoder", "GPT-2 (pre-LayerNorm) is not in the block library yet; use bert, distilbert, roberta or lstm".into())),
            other => return Err(err("text.encoder", format!("unknown text encoder `{other}` (bert, distilbert, roberta, lstm)"))),
        };
        modalities.insert("text".into(), modality("a sentence", input, e));
        widths.push(w);
    }
    if let Some(a) = &c.audio {
        if !(a.seconds > 0.0 && a.seconds <= 3600.0) {
            return Err(err("audio.seconds", format!("must be in (0, 3600], got {}", a.seconds)));
        }
        // Stereo 48 kHz samples of the clip; the feature extraction is single-threaded CPU code.
        let samples = (a.seconds * 48_000.0) as usize;
        let (label, out, flops) = match a.encoder.as_str() {
            // Sarcasm's pipeline (§6.6): resampling, STFT/ISTFT 2048/512, similarity median filter, soft mask,
            // MFCC + mel + deltas + centroid; about 60 MFLOP per second of audio.
            "librosa" => ("librosa features (283)", 283, 60_000_000.0 * a.seconds),
            // openSMILE ComParE 2016 functionals: 65 LLDs at 100 frames/s with deltas, then functionals;
            // about 50 MFLOP per second of audio.
            "opensmile" => ("openSMILE ComParE functionals (6373)", 6373, 50_000_000.0 * a.seconds),
            "vggish" | "wav2vec2" => return Err(err("audio.encoder", format!("`{}` is not modelled (WORKLOADS.md §12.3: VGGish's width is not recorded and Wav2Vec2 fails as written)", a.encoder))),
            other => return Err(err("audio.encoder", format!("unknown audio encoder `{other}` (librosa, opensmile)"))),
        };
        let e = y(&format!("[{{host_work: {{label: {label}, output: [{out}], flops_per_sample: {}, bytes_per_sample: {}, threads: 1}}}}]", flops as u64, samples * 2 * 4 * 8));
        modalities.insert("audio".into(), modality("audio clip", Value::from(vec![2, samples]), e));
        widths.push(out);
    }
    // The sensors take the Vision & Touch encoders verbatim (§12.3).
    let sensors = [("force", &c.force, 256), ("proprio", &c.proprio, 256), ("depth", &c.depth, 256), ("action", &c.action, 32)];
    if sensors.iter().any(|(_, s, _)| s.is_some()) {
        let vt: Value = serde_yaml::from_str(super::builtin::workload_text("vision-touch").expect("built in")).expect("valid");
        for (name, s, w) in sensors {
            if s.is_some() {
                let m = &vt["modalities"][name];
                modalities.insert(name.into(), modality(&format!("{name} sensor (zeros)"), m["input"].clone(), m["encoder"].clone()));
                widths.push(w);
            }
        }
    }
    if modalities.is_empty() {
        return Err(err("", "enable at least one modality (image, video, text, audio, force, proprio, depth, action)".into()));
    }
    let n = widths.len();
    let need = |field: Option<usize>, name: &str| field.ok_or_else(|| err(&format!("fusion.{name}"), format!("fusion `{}` needs `{name}`", c.fusion.kind)));
    let fusion = match c.fusion.kind.as_str() {
        "concat" => y("[concat]"),
        "tensor_fusion" => y("[tensor_fusion]"),
        "attention" => y(&format!("[{{attention_fusion: {{out: {}}}}}]", need(c.fusion.out, "out")?)),
        "rnn" => y(&format!("[{{rnn_fusion: {{out: {}}}}}]", need(c.fusion.out, "out")?)),
        "low_rank_tensor" => y(&format!("[{{low_rank_tensor_fusion: {{out: {}, rank: {}}}}}]", need(c.fusion.out, "out")?, need(c.fusion.rank, "rank")?)),
        "film" if n == 2 || n == 3 => y(&format!("[{{film: {{hidden: {}}}}}]", need(c.fusion.hidden, "hidden")?)),
        "film" => return Err(err("fusion.type", format!("FiLM fuses 2 or 3 modalities, this model has {n}"))),
        "concat_linear" => y(&format!("[{{concat_linear: {{out: {}, axis: 1}}}}]", need(c.fusion.out, "out")?)),
        "multiplicative_interactions" if n == 2 => y(&format!("[{{multiplicative_interactions: {{out: {}}}}}]", need(c.fusion.out, "out")?)),
        "multiplicative_interactions" => return Err(err("fusion.type", format!("multiplicative interactions fuse exactly 2 modalities, this model has {n}"))),
        other => {
            return Err(err(
                "fusion.type",
                format!("unknown fusion `{other}` (concat, tensor_fusion, attention, rnn, low_rank_tensor, film, concat_linear, multiplicative_interactions)"),
            ));
        }
    };
    let h = &c.head;
    let head = match h.kind.as_str() {
        "mlp" => y(&format!("[{{mlp: {{hidden: {}, out: {}}}}}]", h.hidden, h.out)),
        // Optional Conv1d k1 on a length-1 sequence, 5 PyTorch encoder layers (2 heads, FFN 2048, ReLU,
        // post-LN) over that single token, then an MLP.
        "transformer_with_mlp" => {
            let d = if h.conv { h.hidden } else { h.hidden / 2 };
            let conv = if h.conv { format!("{{unsqueeze: {{axis: 2}}}}, {{conv1d: {{out: {d}, kernel: 1, bias: false}}}}, {{transpose: {{axes: [1, 2]}}}},") } else { "{unsqueeze: {axis: 1}},".to_string() };
            y(&format!(
                "[{conv} {{transformer_layer: {{heads: 2, ff: 2048, norm: post, activation: relu, qkv: fused}}, repeat: 5}}, {{squeeze: {{axis: 1}}}}, {{mlp: {{hidden: {d}, out: {}}}}}]",
                h.out
            ))
        }
        other => return Err(err("head.type", format!("unknown head `{other}` (mlp, transformer_with_mlp)"))),
    };
    let root = doc.value.as_mapping_mut().expect("workload documents are mappings");
    root.remove("compose");
    root.insert("modalities".into(), Value::Mapping(modalities));
    root.insert("fusion".into(), fusion);
    root.insert("head".into(), head);
    Ok(())
}

fn modality(description: &str, input: Value, encoder: Value) -> Value {
    let mut m = Mapping::new();
    m.insert("description".into(), description.into());
    m.insert("input".into(), input);
    m.insert("encoder".into(), encoder);
    Value::Mapping(m)
}
