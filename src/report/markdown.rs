//! The Markdown report of `mmbench characterize`: a summary across workloads and hardware, then for each
//! configuration the three traits MMBench characterizes (multi-stage execution, synchronization,
//! heterogeneity) and memory, with links to the plots and Chrome traces written beside it.

use super::characterize::FileNames;
use super::csv::bound_name;
use super::{bytes_text, flops_text, thousands};
use crate::analysis::{scope_name, Characterization, KernelBucket, SHORT_KERNEL_S};
use crate::graph::Stage;
use crate::trace::TraceSource;
use std::fmt::Write;

fn pct(x: f64) -> String {
    // Rounding leftovers (1 - 0.9999999) must not print as -0.0%.
    let v = x * 100.0;
    format!("{:.1}%", if v.abs() < 0.05 { 0.0 } else { v })
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// The report. With `figures`, the names of the files written beside it, to link them.
pub fn characterize_markdown(items: &[&Characterization], figures: Option<&FileNames>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# mmbench characterization\n");
    let sources: Vec<String> = items
        .iter()
        .map(|c| match &c.source {
            TraceSource::Predicted => format!("predicted (runtime `{}`)", c.runtime),
            TraceSource::Measured { adapter } => format!("measured on {adapter}"),
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let _ = writeln!(
        s,
        "{} configuration{}, {}. Metric definitions: README, section \"Characterization\". Times are of one inference.\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        sources.join("; ")
    );
    let _ = writeln!(s, "| workload | hardware | batch | latency (ms) | encoders | fusion | head | sync points | sync wait | overlap | kernels | < 10 µs | compute / memory / overhead-bound | peak activations |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    for c in items {
        let k = c.all_kernels();
        let u = c.all_utilization();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.workload,
            c.hardware,
            c.batch,
            ms(c.latency_s),
            pct(c.stage_share(Stage::Encoder)),
            pct(c.stage_share(Stage::Fusion)),
            pct(c.stage_share(Stage::Head)),
            c.sync.sync_points,
            pct(c.sync.wait_share),
            pct(c.overlap.share),
            k.map_or(0, |k| k.kernels),
            pct(k.map_or(0.0, |k| k.short_share)),
            u.map_or_else(String::new, |u| format!("{} / {} / {}", pct(u.compute_bound_share), pct(u.memory_bound_share), pct(u.overhead_bound_share))),
            bytes_text(c.memory.peak_activation_bytes),
        );
    }
    let _ = writeln!(s);
    if let Some(f) = figures {
        let _ = writeln!(s, "![Share of latency per stage]({})\n", f.stage_bars);
        for (hw, file) in &f.rooflines {
            let _ = writeln!(s, "![Roofline on {hw}]({file})\n");
        }
    }
    for (i, c) in items.iter().enumerate() {
        section(&mut s, c, figures.map(|f| (f.timelines[i].as_str(), f.traces[i].as_str())));
    }
    s
}

fn section(s: &mut String, c: &Characterization, files: Option<(&str, &str)>) {
    let _ = writeln!(s, "## {} on {}\n", c.workload, c.hardware);
    let _ = writeln!(
        s,
        "Runtime `{}`, batch {}. End-to-end latency **{} ms**; {}; {} parameters.\n",
        c.runtime,
        c.batch,
        ms(c.latency_s),
        flops_text(c.flops),
        thousands(c.memory.params)
    );

    let _ = writeln!(s, "### Multi-stage execution\n");
    let _ = writeln!(s, "| stage | modality | time (ms) | share | ops | kernels |\n|---|---|---:|---:|---:|---:|");
    for st in &c.stages {
        let _ = writeln!(s, "| {} | {} | {} | {} | {} | {} |", st.stage.name(), st.modality.as_deref().unwrap_or("-"), ms(st.seconds), pct(st.share), st.ops, st.kernels);
    }
    let cp = &c.critical_path;
    let _ = writeln!(s, "\nCritical path: {} ({} ms busy, {} ms launch and synchronization overhead).", cp.describe(), ms(cp.busy_s), ms(cp.overhead_s));
    let o = &c.overlap;
    let _ = writeln!(
        s,
        "Branch overlap: {} ms, {} of latency (at most {} modalit{} at once){}.\n",
        ms(o.overlap_s),
        pct(o.share),
        o.max_concurrent,
        if o.max_concurrent == 1 { "y" } else { "ies" },
        if o.overlap_s == 0.0 { ": the branches run one after another" } else { "" }
    );
    if let Some((timeline, trace)) = files {
        let _ = writeln!(s, "![Timeline]({timeline})\n\nChrome trace (open in ui.perfetto.dev): [{trace}]({trace})\n");
    }

    let _ = writeln!(s, "### Synchronization\n");
    let y = &c.sync;
    let _ = writeln!(
        s,
        "{} sync point{}. Some finished branch waits at a join during {} ms, {} of latency (summed over branches: {} ms); joins start {} ms after their last input arrives. Branch imbalance {:.2}x (slowest over fastest encoder).\n",
        y.sync_points,
        if y.sync_points == 1 { "" } else { "s" },
        ms(y.total_wait_s),
        pct(y.wait_share),
        ms(y.total_wait_s),
        ms(y.join_delay_s),
        y.imbalance
    );
    if !y.joins.is_empty() {
        let _ = writeln!(s, "| join | starts (ms) | branch | ready (ms) | waits (ms) |\n|---|---:|---|---:|---:|");
        for j in &y.joins {
            for b in &j.branches {
                let _ = writeln!(s, "| {} | {} | {} | {} | {} |", j.name, ms(j.start_s), b.branch, ms(b.ready_s), ms(b.wait_s));
            }
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "### Heterogeneity\n");
    if let Some(k) = c.all_kernels() {
        let _ = writeln!(
            s,
            "{} kernels, {} of them ({}) shorter than {:.0} µs; mean kernel {:.1} µs.",
            k.kernels,
            k.short_kernels,
            pct(k.short_share),
            SHORT_KERNEL_S * 1e6,
            k.mean_kernel_s * 1e6
        );
    }
    if let Some(u) = c.all_utilization() {
        let _ = writeln!(
            s,
            "Of the busy time, {} is compute-bound, {} memory-bound and {} overhead-bound (the roofline explains less than half of the op's time).\n",
            pct(u.compute_bound_share),
            pct(u.memory_bound_share),
            pct(u.overhead_bound_share)
        );
    }
    let _ = writeln!(
        s,
        "| stage | kernels | < 10 µs | FLOP/byte | GFLOP/s | % of peak FLOP/s | GB/s | % of peak bandwidth | compute-bound | memory-bound | overhead-bound |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for u in &c.roofline.stages {
        let k = c.kernels.iter().find(|k| k.stage == u.stage);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} | {} | {:.1} | {} | {} | {} | {} |",
            scope_name(u.stage),
            k.map_or(0, |k| k.kernels),
            pct(k.map_or(0.0, |k| k.short_share)),
            u.intensity.map_or("-".to_string(), |i| format!("{i:.2}")),
            u.achieved_flops / 1e9,
            pct(u.compute_util),
            u.achieved_bw / 1e9,
            pct(u.memory_util),
            pct(u.compute_bound_share),
            pct(u.memory_bound_share),
            pct(u.overhead_bound_share)
        );
    }
    let _ = writeln!(s, "\nKernel time per MMBench bucket (WORKLOADS.md §13.3), share of each stage's busy time:\n");
    let names: Vec<&str> = KernelBucket::ALL.iter().map(|b| b.name()).collect();
    let _ = writeln!(s, "| stage | {} |\n|---|{}", names.join(" | "), "---:|".repeat(names.len()));
    let mut scopes: Vec<Option<Stage>> = c.mix.buckets.iter().map(|e| e.stage).collect();
    scopes.dedup();
    for scope in scopes {
        let cells: Vec<String> = c.mix.buckets.iter().filter(|e| e.stage == scope).map(|e| pct(e.share)).collect();
        let _ = writeln!(s, "| {} | {} |", scope_name(scope), cells.join(" | "));
    }
    let _ = writeln!(s, "\nOp types by time (whole inference):\n\n| op type | ops | kernels | time (ms) | share |\n|---|---:|---:|---:|---:|");
    for e in c.mix.op_types.iter().filter(|e| e.stage.is_none()).take(10) {
        let _ = writeln!(s, "| {} | {} | {} | {} | {} |", e.key, e.ops, e.kernels, ms(e.seconds), pct(e.share));
    }
    if let Some(p) = c.roofline.ops.iter().max_by(|a, b| a.seconds.total_cmp(&b.seconds)) {
        let _ = writeln!(
            s,
            "\nLongest op: `{}` ({}, {:.1} µs, {}-bound, {} of peak FLOP/s, {} of peak bandwidth).",
            p.name,
            p.op,
            p.seconds * 1e6,
            bound_name(p.bound),
            pct(p.compute_util),
            pct(p.memory_util)
        );
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "### Memory\n");
    let m = &c.memory;
    let _ = writeln!(s, "Parameters: {} ({} in fp32).", thousands(m.params), bytes_text(m.param_bytes));
    if !m.sizes_known {
        let _ = writeln!(s, "The trace carries no tensor sizes, so there is no activation timeline.\n");
        return;
    }
    for d in &m.devices {
        let _ = writeln!(s, "Peak live activations on {}: {} at {} ms.", d.device, bytes_text(d.peak_bytes), ms(d.peak_at_s));
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{characterize, fixtures::two_branches};
    use crate::hardware::load_hardware;

    #[test]
    fn the_report_names_each_trait_with_its_figures() {
        let hw = load_hardware("a100", &[]).unwrap();
        let c = characterize(&two_branches(), &hw);
        let md = characterize_markdown(&[&c], None);
        for heading in ["## t on h", "### Multi-stage execution", "### Synchronization", "### Heterogeneity", "### Memory"] {
            assert!(md.contains(heading), "{heading}\n{md}");
        }
        // The two-branch figures: 2 ms of waiting in a 4 ms inference, imbalance 3.
        assert!(md.contains("1 sync point."), "{md}");
        assert!(md.contains("during 2.000 ms, 50.0% of latency"), "{md}");
        assert!(md.contains("imbalance 3.00x"), "{md}");
        assert!(md.contains("| encoder | a | 2.500 | 62.5% |"), "{md}");
        assert!(!md.contains("!["), "no figures without files");
    }
}
