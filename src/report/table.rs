//! Human-readable tables.

use super::{bytes_text, flops_text, thousands, PredictReport};
use crate::analysis::Characterization;
use crate::graph::Stage;
use std::fmt::Write;

pub fn predict_table(r: &PredictReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} on {} (batch {}, runtime {})", r.workload, r.hardware, r.batch, r.runtime);
    let _ = writeln!(s, "  assumes {}", r.runtime_assumption);
    let _ = writeln!(s);
    let _ = writeln!(s, "end-to-end latency  {:>10.3} ms", r.latency_ms);
    let mut params = thousands(r.params);
    if r.unregistered_params > 0 {
        params.push_str(&format!(" (+{} unregistered)", thousands(r.unregistered_params)));
    }
    let _ = writeln!(s, "parameters          {params}");
    let _ = writeln!(s, "work                {}, {} ops, {} kernel launches", flops_text(r.flops), r.ops, r.kernels);
    let _ = writeln!(s, "devices             {}", r.devices.join(", "));
    let _ = writeln!(s);
    let _ = writeln!(s, "{:<9} {:<14} {:>10} {:>7} {:>6} {:>8}", "stage", "modality", "time (ms)", "share", "ops", "kernels");
    for st in &r.stages {
        let _ = writeln!(
            s,
            "{:<9} {:<14} {:>10.3} {:>6.1}% {:>6} {:>8}",
            st.stage.name(),
            st.modality.as_deref().unwrap_or("-"),
            st.ms,
            st.share * 100.0,
            st.ops,
            st.kernels
        );
    }
    let _ = writeln!(s);
    let joins = r.sync.joins.len();
    let _ = writeln!(
        s,
        "sync wait           {:.3} ms at {joins} fusion node{} (time branch outputs wait for the slowest branch); branch imbalance {:.2}x",
        r.sync_wait_ms,
        if joins == 1 { "" } else { "s" },
        r.imbalance
    );
    let _ = writeln!(s, "critical path       {}", r.critical_path.describe());
    let _ = writeln!(s, "                    ({:.3} ms busy, {:.3} ms launch/sync overhead)", r.critical_path.busy_s * 1e3, r.critical_path.overhead_s * 1e3);
    s
}

/// A block of headline figures per characterized configuration.
pub fn characterize_table(items: &[&Characterization]) -> String {
    let mut s = String::new();
    for (i, c) in items.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "{} on {} (runtime {}, batch {}): {:.3} ms", c.workload, c.hardware, c.runtime, c.batch, c.latency_s * 1e3);
        let stages: Vec<String> = c
            .stages
            .iter()
            .map(|st| match (&st.modality, st.stage) {
                (Some(m), Stage::Encoder) => format!("{m} encoder {:.1}%", st.share * 100.0),
                _ => format!("{} {:.1}%", st.stage.name(), st.share * 100.0),
            })
            .collect();
        let _ = writeln!(s, "  stages      {}", stages.join(", "));
        let _ = writeln!(s, "  overlap     {:.3} ms ({:.1}% of latency)", c.overlap.overlap_s * 1e3, c.overlap.share * 100.0);
        let y = &c.sync;
        let _ = writeln!(
            s,
            "  sync        {} point{}, waiting {:.3} ms ({:.1}% of latency), join delay {:.3} ms, imbalance {:.2}x",
            y.sync_points,
            if y.sync_points == 1 { "" } else { "s" },
            y.total_wait_s * 1e3,
            y.wait_share * 100.0,
            y.join_delay_s * 1e3,
            y.imbalance
        );
        if let Some(k) = c.all_kernels() {
            let _ = writeln!(s, "  kernels     {}, {:.1}% under 10 us, mean {:.1} us", k.kernels, k.short_share * 100.0, k.mean_kernel_s * 1e6);
        }
        if let Some(u) = c.all_utilization() {
            let _ = writeln!(
                s,
                "  bound       compute {:.1}%, memory {:.1}%, overhead {:.1}% of busy time",
                u.compute_bound_share * 100.0,
                u.memory_bound_share * 100.0,
                u.overhead_bound_share * 100.0
            );
            let _ = writeln!(
                s,
                "  roofline    {} FLOP/byte, {:.2}% of peak FLOP/s, {:.2}% of peak bandwidth",
                u.intensity.map_or("-".to_string(), |i| format!("{i:.2}")),
                u.compute_util * 100.0,
                u.memory_util * 100.0
            );
        }
        let buckets: Vec<String> = c.mix.buckets.iter().filter(|e| e.stage.is_none() && e.ops > 0).map(|e| format!("{} {:.1}%", e.key, e.share * 100.0)).collect();
        let _ = writeln!(s, "  buckets     {}", buckets.join(", "));
        let _ = writeln!(
            s,
            "  memory      {} params ({}), peak activations {}",
            thousands(c.memory.params),
            bytes_text(c.memory.param_bytes),
            bytes_text(c.memory.peak_activation_bytes)
        );
    }
    s
}
