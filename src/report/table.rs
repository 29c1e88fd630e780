//! Human-readable tables.

use super::{flops_text, thousands, PredictReport};
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
