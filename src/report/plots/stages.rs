//! Stacked stage bars: one bar per workload and hardware, split into the share of latency of each modality
//! encoder, the fusion and the head (MMBench's stage breakdown), with the end-to-end latency above the bar.

use super::{render, stage_color};
use crate::analysis::Characterization;
use crate::error::Result;
use crate::graph::Stage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Segments narrower than this share get no label inside.
const LABEL_MIN_SHARE: f64 = 0.07;

/// The SVG of stacked stage bars, one per characterization, in the order given.
pub fn stage_bars_svg(items: &[&Characterization]) -> Result<String> {
    let n = items.len().max(1);
    let width = (160 + 90 * n) as u32;
    render((width, 620), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Share of latency per stage", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(170)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, 0f64..112f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(12)
            .y_label_formatter(&|v| if *v <= 100.0 { format!("{v:.0}%") } else { String::new() })
            .y_desc("share of end-to-end latency")
            .draw()?;
        let centered = Pos::new(HPos::Center, VPos::Center);
        for (i, c) in items.iter().enumerate() {
            let x0 = i as f64 + 0.15;
            let x1 = i as f64 + 0.85;
            let mut y = 0.0;
            for s in &c.stages {
                let h = s.share * 100.0;
                let color = stage_color(s.stage, c.modality_index(s.modality.as_deref()));
                chart.draw_series(std::iter::once(Rectangle::new([(x0, y), (x1, y + h)], color.filled())))?;
                if s.share >= LABEL_MIN_SHARE {
                    let label = s.modality.clone().filter(|_| s.stage == Stage::Encoder).unwrap_or_else(|| s.stage.name().to_string());
                    let style = ("sans-serif", 12).into_font().color(&WHITE).pos(centered);
                    chart.draw_series(std::iter::once(Text::new(format!("{label} {:.0}%", h), ((x0 + x1) / 2.0, y + h / 2.0), style)))?;
                }
                y += h;
            }
            let top = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(format!("{:.3} ms", c.latency_s * 1e3), ((x0 + x1) / 2.0, 101.5), top)))?;
            // Bar names under the axis, rotated.
            let (px, py) = chart.backend_coord(&((x0 + x1) / 2.0, 0.0));
            let name = ("sans-serif", 13).into_font().transform(FontTransform::Rotate90).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(format!("{} / {}", c.workload, c.hardware), (px, py + 8), name))?;
        }
        // Encoders are labelled inside their segments; fusion and head, often thin, get a legend.
        for stage in [Stage::Fusion, Stage::Head] {
            let color = stage_color(stage, None);
            chart.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?.label(stage.name()).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{characterize, fixtures::two_branches};
    use crate::hardware::load_hardware;
    use crate::report::plots::{count_filled, tests::count_elements};

    #[test]
    fn one_segment_per_stage_and_modality_per_bar() {
        let hw = load_hardware("a100", &[]).unwrap();
        let c = characterize(&two_branches(), &hw);
        let mut other = c.clone();
        other.hardware = "other".into();
        let svg = stage_bars_svg(&[&c, &other]).unwrap();
        let [rects, texts] = count_elements(&svg, &["rect", "text"])[..] else { unreachable!() };
        // Two bars of four segments (a, b, fusion, head), plus the background.
        assert!(rects >= 9, "{rects}");
        // A segment per bar; fusion and head also have a legend mark.
        for (stage, m, n) in [(Stage::Encoder, Some(0), 2), (Stage::Encoder, Some(1), 2), (Stage::Fusion, None, 3), (Stage::Head, None, 3)] {
            assert_eq!(count_filled(&svg, "rect", stage_color(stage, m)), n, "{stage:?} {m:?}");
        }
        assert!(texts >= 4, "{texts}");
        assert!(svg.contains("t / other"));
        assert!(svg.contains("4.000 ms"));
    }
}
