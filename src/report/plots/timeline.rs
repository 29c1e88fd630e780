//! A timeline (Gantt chart) of one trace: a row per device and stream with every executed record colored by
//! stage (encoders by modality), then a row per branch that waits at a join, showing the wait from the
//! moment its tensor is ready to the join's start.

use super::{render, stage_color, TRANSFER_COLOR, WAIT_COLOR};
use crate::analysis::SyncReport;
use crate::error::Result;
use crate::graph::Stage;
use crate::trace::{RecordKind, Trace};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The timeline SVG of `t`, with the waits of `sync` (its synchronization report).
pub fn timeline_svg(t: &Trace, sync: &SyncReport) -> Result<String> {
    let tracks = crate::report::tracks(t);
    let waits: Vec<(String, f64, f64)> = sync
        .joins
        .iter()
        .flat_map(|j| j.branches.iter().filter(|b| b.wait_s > 0.0).map(move |b| (format!("wait: {} at {}", b.branch, j.name), b.ready_s, j.start_s)))
        .collect();
    let mut labels: Vec<String> = tracks
        .iter()
        .map(|tr| format!("{} {}", t.devices[tr.device as usize], tr.label()))
        .collect();
    labels.extend(waits.iter().map(|w| w.0.clone()));
    let rows = labels.len().max(1);
    // Row k from the top.
    let y_of = |k: usize| (rows - 1 - k) as f64;
    let end_ms = t.executed().map(|r| r.end_s).fold(t.latency_s, f64::max) * 1e3;
    let height = (150 + 30 * rows) as u32;
    render((1200, height.max(320)), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} on {} ({}, batch {}): {:.3} ms", t.workload, t.hardware, t.runtime, t.batch, t.latency_s * 1e3), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(260)
            .build_cartesian_2d(0f64..(end_ms * 1.3).max(1e-6), 0f64..rows as f64)?;
        chart.configure_mesh().disable_y_mesh().y_labels(0).x_desc("time (ms)").draw()?;
        let left = Pos::new(HPos::Right, VPos::Center);
        for (k, label) in labels.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, y_of(k) + 0.5));
            root.draw(&Text::new(label.clone(), (px - 8, py), ("sans-serif", 12).into_font().color(&BLACK).pos(left)))?;
        }
        let row_of = |d: u16, s: u32| tracks.iter().position(|tr| tr.device == d && tr.stream == s).unwrap_or(0);
        let bars = t.executed().filter(|r| r.end_s > r.start_s).map(|r| {
            let color = if r.kind == RecordKind::Transfer { TRANSFER_COLOR } else { stage_color(r.stage, r.modality.map(usize::from)) };
            let y = y_of(row_of(r.device, r.stream));
            Rectangle::new([(r.start_s * 1e3, y + 0.15), (r.end_s * 1e3, y + 0.85)], color.filled())
        });
        chart.draw_series(bars)?;
        chart.draw_series(waits.iter().enumerate().map(|(i, w)| {
            let y = y_of(tracks.len() + i);
            Rectangle::new([(w.1 * 1e3, y + 0.3), (w.2 * 1e3, y + 0.7)], WAIT_COLOR.filled())
        }))?;
        // Legend: one entry per color in use.
        let mut entries: Vec<(String, RGBColor)> = Vec::new();
        let mut add = |name: String, color: RGBColor| {
            if !entries.iter().any(|e| e.1 == color) {
                entries.push((name, color));
            }
        };
        for r in t.executed() {
            match (r.kind, r.stage) {
                (RecordKind::Transfer, _) => add("copy".into(), TRANSFER_COLOR),
                (_, Stage::Encoder) => add(format!("{} encoder", t.modality_name(r.modality).unwrap_or("?")), stage_color(Stage::Encoder, r.modality.map(usize::from))),
                (_, s) => add(s.name().into(), stage_color(s, None)),
            }
        }
        if !waits.is_empty() {
            add("waiting for a join".into(), WAIT_COLOR);
        }
        for (name, color) in entries {
            chart.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{fixtures::two_branches, sync_report};
    use crate::report::plots::{count_filled, tests::count_elements};

    #[test]
    fn a_bar_per_record_and_a_row_per_wait() {
        let t = two_branches();
        let svg = timeline_svg(&t, &sync_report(&t)).unwrap();
        let [rects] = count_elements(&svg, &["rect"])[..] else { unreachable!() };
        // Four records, one wait, a legend mark for each of the five colors, the backgrounds.
        assert!(rects >= 4 + 1 + 5, "{rects}");
        // Each color: its bars and its legend mark.
        assert_eq!(count_filled(&svg, "rect", stage_color(Stage::Encoder, Some(0))), 2);
        assert_eq!(count_filled(&svg, "rect", stage_color(Stage::Encoder, Some(1))), 2);
        assert_eq!(count_filled(&svg, "rect", stage_color(Stage::Fusion, None)), 2);
        assert_eq!(count_filled(&svg, "rect", stage_color(Stage::Head, None)), 2);
        assert_eq!(count_filled(&svg, "rect", WAIT_COLOR), 2);
        for label in ["gpu stream 0", "gpu stream 1", "gpu stream 2", "wait: b at fuse", "a encoder"] {
            assert!(svg.contains(label), "{label}");
        }
    }
}
