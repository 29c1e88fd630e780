//! Generic XY plots for studies and validation: a line chart (one line per series, optional log axes), a
//! scatter plot (one colour per series, with an optional y = x diagonal), and grouped bars.

use super::render;
use crate::error::Result;
use plotters::prelude::*;

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Axis options.
#[derive(Debug, Clone, Default)]
pub struct Axes {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
}

/// Distinct colours for series.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0xD6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x17, 0xBE, 0xCF),
];

/// The colour of series `i`.
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn bounds(series: &[Series], log: bool, pick: fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(pick)).filter(|v| v.is_finite() && (!log || *v > 0.0)).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 1.25, hi * 1.25)
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-12);
        ((lo - pad).min(if lo >= 0.0 { 0.0 } else { lo - pad }), hi + pad)
    }
}

/// A compact tick label: `1000`, `2.5`, `0.012`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if s.is_empty() { "0".into() } else { s }
}

/// Draws the series as lines with markers (`lines`) or as points only, optionally with the y = x diagonal.
fn xy_svg(axes: &Axes, series: &[Series], lines: bool, diagonal: bool) -> Result<String> {
    let (mut x0, mut x1) = bounds(series, axes.log_x, |p| p.0);
    let (mut y0, mut y1) = bounds(series, axes.log_y, |p| p.1);
    if diagonal {
        // A common range, so y = x is the diagonal of the square.
        (x0, x1, y0, y1) = (x0.min(y0), x1.max(y1), x0.min(y0), x1.max(y1));
    }
    render((900, 600), |root| {
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(root);
        b.caption(&axes.title, ("sans-serif", 22)).margin(16).x_label_area_size(48).y_label_area_size(72);
        // plotters needs the coordinate type at compile time: four combinations of linear and log axes.
        macro_rules! draw {
            ($x:expr, $y:expr) => {{
                let mut chart = b.build_cartesian_2d($x, $y)?;
                chart
                    .configure_mesh()
                    .x_labels(8)
                    .y_labels(8)
                    .x_label_formatter(&|v| tick(*v))
                    .y_label_formatter(&|v| tick(*v))
                    .x_desc(axes.x_label.as_str())
                    .y_desc(axes.y_label.as_str())
                    .draw()?;
                if diagonal {
                    chart.draw_series(LineSeries::new([(x0, x0), (x1, x1)], BLACK.mix(0.4)))?.label("y = x").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));
                }
                for (i, s) in series.iter().enumerate() {
                    let c = series_color(i);
                    let pts: Vec<(f64, f64)> =
                        s.points.iter().copied().filter(|&(x, y)| x.is_finite() && y.is_finite() && (!axes.log_x || x > 0.0) && (!axes.log_y || y > 0.0)).collect();
                    if lines {
                        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
                    }
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
                }
                chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.3)).position(SeriesLabelPosition::UpperLeft).draw()?;
            }};
        }
        match (axes.log_x, axes.log_y) {
            (false, false) => draw!(x0..x1, y0..y1),
            (true, false) => draw!((x0..x1).log_scale(), y0..y1),
            (false, true) => draw!(x0..x1, (y0..y1).log_scale()),
            (true, true) => draw!((x0..x1).log_scale(), (y0..y1).log_scale()),
        }
        Ok(())
    })
}

/// A line chart.
pub fn line_svg(axes: &Axes, series: &[Series]) -> Result<String> {
    xy_svg(axes, series, true, false)
}

/// A scatter plot; with `diagonal`, both axes share one range and y = x is drawn (predicted vs measured).
pub fn scatter_svg(axes: &Axes, series: &[Series], diagonal: bool) -> Result<String> {
    xy_svg(axes, series, false, diagonal)
}

/// Grouped bars: one group per category, one bar per series (`values[s][c]`).
pub fn grouped_bars_svg(axes: &Axes, categories: &[String], series: &[String], values: &[Vec<f64>]) -> Result<String> {
    let top = values.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max).max(1e-12) * 1.15;
    let n = series.len().max(1) as f64;
    render((900, 600), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&axes.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(64)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..categories.len() as f64, 0f64..top)?;
        chart.configure_mesh().disable_x_mesh().x_labels(0).y_label_formatter(&|v| tick(*v)).x_desc(axes.x_label.as_str()).y_desc(axes.y_label.as_str()).draw()?;
        // Category names centred under their groups (plotters places numeric ticks where it likes).
        for (ci, name) in categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(ci as f64 + 0.5, 0.0));
            root.draw(&Text::new(name.clone(), (px, py + 8), ("sans-serif", 14).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ))))?;
        }
        for (si, name) in series.iter().enumerate() {
            let c = series_color(si);
            chart
                .draw_series(categories.iter().enumerate().filter_map(|(ci, _)| {
                    let v = *values.get(si)?.get(ci)?;
                    let x = ci as f64 + 0.1 + 0.8 * si as f64 / n;
                    Some(Rectangle::new([(x, 0.0), (x + 0.8 / n, v)], c.filled()))
                }))?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.3)).position(SeriesLabelPosition::UpperRight).draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::tests::count_elements;

    fn series() -> Vec<Series> {
        vec![
            Series { name: "a".into(), points: vec![(1.0, 2.0), (10.0, 3.0), (100.0, 5.0)] },
            Series { name: "b".into(), points: vec![(1.0, 1.0), (10.0, 8.0)] },
        ]
    }

    #[test]
    fn line_and_scatter_plots_are_well_formed_with_one_marker_per_point() {
        let axes = Axes { title: "t".into(), x_label: "x".into(), y_label: "y".into(), log_x: true, log_y: false };
        let svg = line_svg(&axes, &series()).unwrap();
        // 5 points + 2 legend markers.
        assert_eq!(count_elements(&svg, &["circle"])[0], 7);
        let svg = scatter_svg(&Axes { log_y: true, ..axes }, &series(), true).unwrap();
        assert_eq!(count_elements(&svg, &["circle"])[0], 7);
        assert!(svg.contains("y = x"));
    }

    #[test]
    fn grouped_bars_draw_one_rectangle_per_value() {
        let cats = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let names = vec!["s1".to_string(), "s2".to_string()];
        let svg = grouped_bars_svg(&Axes::default(), &cats, &names, &[vec![1.0, 2.0, 3.0], vec![2.0, 1.0, 0.5]]).unwrap();
        let fill = super::super::count_filled(&svg, "rect", series_color(0)) + super::super::count_filled(&svg, "rect", series_color(1));
        // 6 bars + 2 legend swatches.
        assert_eq!(fill, 8);
    }
}
