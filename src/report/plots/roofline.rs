//! A roofline per hardware: every op of every workload characterized on it, at its arithmetic intensity
//! (FLOP/byte) and achieved FLOP/s, colored by stage, under the device's roofs (`min(peak, intensity ·
//! bandwidth)` for each math mode in use). Log-log. Ops that move no bytes or do no FLOPs cannot sit on a log
//! axis and are left out.

use super::{render, stage_color};
use crate::analysis::{Characterization, DeviceRoof};
use crate::error::Result;
use crate::graph::Stage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One plotted op: intensity, achieved FLOP/s, stage.
fn points(items: &[&Characterization]) -> Vec<(f64, f64, Stage)> {
    items
        .iter()
        .flat_map(|c| c.roofline.ops.iter())
        .filter(|p| p.flops > 0 && p.bytes > 0)
        .map(|p| (p.flops as f64 / p.bytes as f64, p.achieved_flops, p.stage))
        .collect()
}

/// The smallest or largest (per `pick`) of the finite positive values: what a log axis can show.
fn positive(values: impl Iterator<Item = f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    values.filter(|v| v.is_finite() && *v > 0.0).reduce(pick)
}

/// The ops a roofline of `items` plots.
pub fn plotted_ops(items: &[&Characterization]) -> usize {
    points(items).len()
}

/// The roofline SVG of the characterizations made on `hardware`.
pub fn roofline_svg(hardware: &str, items: &[&Characterization]) -> Result<String> {
    let pts = points(items);
    let mut roofs: Vec<&DeviceRoof> = Vec::new();
    for r in items.iter().flat_map(|c| c.roofline.devices.iter()) {
        if !roofs.iter().any(|x| x.device == r.device) {
            roofs.push(r);
        }
    }
    let ridges: Vec<f64> = roofs.iter().flat_map(|r| r.ceilings().into_iter().map(|(_, p)| p / r.mem_bw)).filter(|x| x.is_finite() && *x > 0.0).collect();
    let intensities = || pts.iter().map(|p| p.0).chain(ridges.iter().copied());
    let x_min = positive(intensities(), f64::min).unwrap_or(1e-2) / 4.0;
    let x_max = positive(intensities(), f64::max).unwrap_or(1e4) * 4.0;
    let peak = positive(roofs.iter().map(|r| r.ceilings()[0].1), f64::max);
    let y_max = positive(pts.iter().map(|p| p.1).chain(peak), f64::max).unwrap_or(1e12) * 4.0;
    let y_min = positive(pts.iter().map(|p| p.1), f64::min).unwrap_or(y_max).min(y_max * 1e-3) / 4.0;
    render((900, 640), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Roofline on {hardware}: every op, colored by stage"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP/byte)")
            .y_desc("achieved FLOP/s")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        for (k, roof) in roofs.iter().enumerate() {
            let color = if k == 0 { BLACK } else { RGBColor(0x55, 0x55, 0x55) };
            for (j, (label, peak)) in roof.ceilings().into_iter().enumerate() {
                let ridge = peak / roof.mem_bw;
                let line: Vec<(f64, f64)> = if ridge > x_min {
                    vec![(x_min, x_min * roof.mem_bw), (ridge.min(x_max), peak.min(x_max * roof.mem_bw)), (x_max, peak)]
                } else {
                    vec![(x_min, peak), (x_max, peak)]
                };
                let s = chart.draw_series(LineSeries::new(line, color.stroke_width(if j == 0 { 2 } else { 1 })))?;
                if j == 0 {
                    s.label(format!("{} roof ({:.0} GB/s)", roof.device, roof.mem_bw / 1e9)).legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
                }
                let text = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Bottom));
                chart.draw_series(std::iter::once(Text::new(format!("{} {label} {:.1} TFLOP/s", roof.device, peak / 1e12), (x_max / 1.2, peak / 1.05), text)))?;
            }
        }
        for stage in Stage::ALL {
            let color = stage_color(stage, None);
            let mine: Vec<(f64, f64)> = pts.iter().filter(|p| p.2 == stage).map(|p| (p.0, p.1)).collect();
            if mine.is_empty() {
                continue;
            }
            chart
                .draw_series(mine.into_iter().map(|p| Circle::new(p, 3, color.mix(0.75).filled())))?
                .label(stage.name())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(SeriesLabelPosition::LowerRight).draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use crate::analysis::{characterize, DeviceRoof};
    use crate::graph::OpClass;
    use crate::hardware::load_hardware;
    use crate::report::plots::{count_filled, tests::count_elements};

    #[test]
    fn every_op_with_work_is_a_point_colored_by_stage() {
        let mut t = two_branches();
        for (i, r) in t.ops.iter_mut().enumerate() {
            *r = work(r.clone(), "linear", OpClass::Matmul, 1_000_000 * (i as u64 + 1), 10_000, 1);
        }
        // An op without bytes has no intensity and stays off the plot.
        t.ops[3].bytes = 0;
        let hw = load_hardware("a100", &[]).unwrap();
        let c = characterize(&t, &hw);
        assert_eq!(c.roofline.devices, [DeviceRoof::for_trace(&t, &hw)[0].clone().unwrap()]);
        assert_eq!(plotted_ops(&[&c]), 3);
        let svg = roofline_svg("a100", &[&c]).unwrap();
        let [circles, lines] = count_elements(&svg, &["circle", "polyline"])[..] else { unreachable!() };
        // Three points and two legend marks (encoder, fusion: the head op is off the plot).
        assert_eq!(circles, 5);
        // Encoder: two points and the legend mark.
        assert_eq!(count_filled(&svg, "circle", stage_color(Stage::Encoder, None)), 3);
        assert_eq!(count_filled(&svg, "circle", stage_color(Stage::Head, None)), 0);
        // A roof per ceiling (fp32 only: the fixture's runtime is unknown to the a100), plus mesh lines.
        assert!(lines >= 1);
        assert!(svg.contains("gpu fp32 19.5 TFLOP/s"), "{svg}");
    }
}
