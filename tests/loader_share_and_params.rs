//! Two loader features the MMBench graphs need: blocks that are one module called several times (`share:`,
//! Sarcasm's ResNet-152 over three chunks of frames, WORKLOADS.md §6.3) and integer arithmetic on parameters
//! (Medical VQA's Embedding(V + 1, 300), §7.3).

use mmbench::graph::{parse_workload, Workload, WorkloadOptions};

fn parse(text: &str, sets: &[&str]) -> Result<Workload, String> {
    let sets = sets.iter().map(|s| mmbench::yaml::parse_set(s).unwrap()).collect();
    parse_workload("t.yaml", text, &WorkloadOptions { batch: None, sets, scale: None }).map_err(|e| e.to_string())
}

/// Two MLPs 8 -> 4 -> 8 in sequence; `{share_a}` / `{share_b}` are their reserved-key lines.
fn two_mlps(share_a: &str, share_b: &str) -> String {
    format!(
        "name: t\nbatch: 2\nmodalities:\n  x:\n    input: [8]\n    encoder:\n      - mlp: {{hidden: 4, out: 8}}\n{share_a}      - mlp: {{hidden: 4, out: 8}}\n{share_b}"
    )
}

/// Parameters of one MLP 8 -> 4 -> 8.
const MLP: u64 = (8 * 4 + 4) + (4 * 8 + 8);

#[test]
fn blocks_with_the_same_share_count_parameters_once_and_work_every_call() {
    let separate = parse(&two_mlps("", ""), &[]).unwrap();
    let shared = parse(&two_mlps("        share: m\n", "        share: m\n"), &[]).unwrap();
    assert_eq!(separate.params(), 2 * MLP);
    assert_eq!(shared.params(), MLP);
    assert_eq!(shared.flops(), separate.flops());
    assert_eq!(shared.kernels(), separate.kernels());
    // Different names are different modules.
    let other = parse(&two_mlps("        share: m\n", "        share: n\n"), &[]).unwrap();
    assert_eq!(other.params(), 2 * MLP);
}

#[test]
fn blocks_that_tie_weights_inside_share_them_across_calls_too() {
    // An LSTM ties its steps' weights; two calls of one LSTM module still hold one set: 4 (8·8 + 8·8 + 2·8).
    let lstm = "        share: rnn\n";
    let text = format!(
        "name: t\nbatch: 2\nmodalities:\n  x:\n    input: [5, 8]\n    encoder:\n      - lstm: {{hidden: 8, return: sequence}}\n{lstm}      - lstm: {{hidden: 8, return: sequence}}\n{lstm}"
    );
    let w = parse(&text, &[]).unwrap();
    assert_eq!(w.params(), 4 * (8 * 8 + 8 * 8 + 2 * 8));
    assert_eq!(w.nodes().filter(|(_, n)| n.op.kind() == "lstm_cell").count(), 10);
}

#[test]
fn share_is_for_blocks_and_needs_a_name() {
    let op = "name: t\nbatch: 1\nmodalities:\n  x:\n    input: [8]\n    encoder:\n      - linear: {out: 4}\n        share: m\n";
    let err = parse(op, &[]).unwrap_err();
    assert!(err.contains("modalities.x.encoder[0].share") && err.contains("`share` applies to blocks"), "{err}");
    let err = parse(&two_mlps("        share: 3\n", ""), &[]).unwrap_err();
    assert!(err.contains("expected a non-empty name"), "{err}");
}

/// An embedding of `rows` rows on 12 ids, with `params: {words: 30, scale: 2.5}`.
fn embedding(rows: &str) -> String {
    format!(
        "name: t\nbatch: 1\nparams: {{words: 30, scale: 2.5}}\nmodalities:\n  q:\n    input: {{shape: [12], dtype: i64}}\n    encoder:\n      - embedding: {{vocab: \"{rows}\", dim: 300}}\n"
    )
}

#[test]
fn parameters_can_be_used_in_integer_arithmetic() {
    // A padding row on top of the vocabulary: Embedding(V + 1, 300).
    let w = parse(&embedding("${words} + 1"), &[]).unwrap();
    assert_eq!(w.params(), 31 * 300);
    // `--set params.words=...` applies before the arithmetic.
    let w = parse(&embedding("${words} + 1"), &["params.words=99"]).unwrap();
    assert_eq!(w.params(), 100 * 300);
    // Multiplication binds first; `-` subtracts the term after it.
    let w = parse(&embedding("2 * ${words} - 3 * 4 + ${batch}"), &[]).unwrap();
    assert_eq!(w.params(), (2 * 30 - 12 + 1) * 300);
}

#[test]
fn division_is_integer_and_binds_like_multiplication() {
    // A token grid that follows a volume: 128 / 16 = 8; left to right, so `* 5 / 8` multiplies first.
    let w = parse(&embedding("${words} / 4"), &[]).unwrap();
    assert_eq!(w.params(), 7 * 300, "30 / 4 rounds toward zero");
    let w = parse(&embedding("${words} * 5 / 8"), &[]).unwrap();
    assert_eq!(w.params(), 18 * 300, "(30 * 5) / 8 = 18, not 30 * (5 / 8) = 0");
    let w = parse(&embedding("${words} / 3 + 100 / 10 / 5 - 1"), &[]).unwrap();
    assert_eq!(w.params(), (10 + 2 - 1) * 300);
    let err = parse(&embedding("${words} / 0"), &[]).unwrap_err();
    assert!(err.contains("modalities.q.encoder[0].embedding.vocab") && err.contains("divides by zero"), "{err}");
}

#[test]
fn arithmetic_errors_name_the_field() {
    let err = parse(&embedding("${scale} + 1"), &[]).unwrap_err();
    assert!(err.contains("modalities.q.encoder[0].embedding.vocab") && err.contains("`${scale}` in `${scale} + 1` is not an integer"), "{err}");
    let err = parse(&embedding("${wrods} + 1"), &[]).unwrap_err();
    assert!(err.contains("unknown parameter `${wrods}`"), "{err}");
    // Text that is not an expression stays text, and the field then rejects it.
    let err = parse(&embedding("${words} plus one"), &[]).unwrap_err();
    assert!(err.contains("vocab") && err.contains("invalid type: string"), "{err}");
}
