//! GRU and LSTM steps on the GPU equal the CPU reference: a chain of steps sharing one weight group over a
//! projected sequence (batch-first or time-major), the first step without a state (no GEMM), hidden sizes
//! that are and are not multiples of 4 (the vec4 and scalar GEMMs), with and without subgroups; and the
//! `gru` and `lstm` blocks of a workload file end to end.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph_on, gpu, gpu_without_subgroups, TOLERANCE};
use mmbench::exec::check_on;
use mmbench::graph::ops::{GruCell, LstmCell};
use mmbench::graph::{parse_workload, DType, Op, WorkloadOptions};
use proptest::prelude::*;

/// The cell op of step `t` (`None`: a `[B, G]` input of its own).
fn cell(lstm: bool, hidden: usize, step: Option<usize>, time_major: bool) -> Op {
    if lstm { Op::LstmCell(LstmCell { hidden, step, time_major }) } else { Op::GruCell(GruCell { hidden, step, time_major }) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// `steps` cells over a `[B, T, F]` (or `[T, B, F]`) sequence projected by a `linear`, sharing `W_hh`;
    /// the first step starts from zeros or from a given state.
    #[test]
    fn steps_over_a_sequence_match_reference(
        lstm: bool,
        batch in 1usize..6,
        hidden in 1usize..40,
        features in 1usize..20,
        steps in 1usize..4,
        time_major: bool,
        initial_state: bool,
        subgroups: bool,
    ) {
        let gates = if lstm { 4 } else { 3 };
        let seq = if time_major { [steps, batch, features] } else { [batch, steps, features] };
        let state_shape = if lstm { vec![batch, 2, hidden] } else { vec![batch, hidden] };
        let device = if subgroups { gpu() } else { gpu_without_subgroups() };
        let r = check_graph_on(device, |b| {
            let x = b.input("x", &seq, DType::F32).unwrap();
            let proj = b.linear("input_proj", x, gates * hidden, true).unwrap();
            let mut state = initial_state.then(|| b.input("h0", &state_shape, DType::F32).unwrap());
            let group = b.qualified("cell");
            for t in 0..steps {
                let args: Vec<_> = std::iter::once(proj).chain(state).collect();
                let op = cell(lstm, hidden, Some(t), time_major);
                state = Some(b.scope(&format!("t{t}"), |b| b.shared(&group, |b| b.add("cell", op, &args))).unwrap());
            }
            state.unwrap()
        });
        prop_assert_eq!(r.ops.iter().filter(|o| o.op.ends_with("_cell")).count(), steps);
        assert_all_pass(&r)?;
    }

    /// A cell on a `[B, G]` input of its own (no `step`), with or without a previous state.
    #[test]
    fn one_step_matches_reference(lstm: bool, batch in 1usize..40, hidden in 1usize..70, with_state: bool) {
        let gates = if lstm { 4 } else { 3 };
        let state_shape = if lstm { vec![batch, 2, hidden] } else { vec![batch, hidden] };
        let r = check_graph_on(gpu(), |b| {
            let x = b.input("x", &[batch, gates * hidden], DType::F32).unwrap();
            let mut args = vec![x];
            if with_state {
                args.push(b.input("h", &state_shape, DType::F32).unwrap());
            }
            b.add("cell", cell(lstm, hidden, None, false), &args).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// The `gru` and `lstm` blocks as workloads use them: two layers, time-major, and every kind of return
/// (the last h, the last c, the whole sequence).
#[test]
fn recurrent_blocks_run_end_to_end() {
    let yaml = r#"
name: rnn
batch: 3
modalities:
  a:
    input: [5, 6]
    encoder:
      - gru: {hidden: 12, layers: 2, return: sequence}
      - lstm: {hidden: 7, return: last_cell}
  b:
    input: [4, 6]
    encoder:
      - transpose: {axes: [0, 1]}
      - lstm: {hidden: 9, layers: 2, time_major: true, return: sequence}
      - gru: {hidden: 5, time_major: true}
fusion:
  - concat
"#;
    let w = parse_workload("rnn.yaml", yaml, &WorkloadOptions::default()).unwrap();
    let r = check_on(gpu(), &w, TOLERANCE).unwrap();
    for kind in ["gru_cell", "lstm_cell"] {
        assert!(r.ops.iter().any(|o| o.op == kind), "no `{kind}` ran");
    }
    for o in &r.ops {
        assert!(o.unwritten == 0 && o.rel_l2 < TOLERANCE, "{} (`{}`): error {:e}, {} unwritten", o.name, o.op, o.rel_l2, o.unwritten);
    }
}
