//! SVG plots drawn with plotters' SVG backend. No system fonts are needed: plotters estimates text extents
//! itself and the SVG viewer renders the `<text>` elements. One file per plot: stacked stage bars across
//! workloads and hardware, a roofline per hardware, a timeline (Gantt chart) per trace.

pub mod lines;
pub mod roofline;
pub mod stages;
pub mod timeline;

pub use lines::{grouped_bars_svg, line_svg, scatter_svg, Axes, Series};
pub use roofline::roofline_svg;
pub use stages::stage_bars_svg;
pub use timeline::timeline_svg;

use crate::error::{Error, Result};
use crate::graph::Stage;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Encoder branches in modality order; fusion red and head blue throughout, as in the Chrome traces.
const ENCODER_COLORS: [RGBColor; 6] = [
    RGBColor(0x2C, 0xA0, 0x2C), // green
    RGBColor(0x17, 0xBE, 0xCF), // teal
    RGBColor(0xBC, 0xBD, 0x22), // olive
    RGBColor(0x94, 0x67, 0xBD), // purple
    RGBColor(0x8C, 0x56, 0x4B), // brown
    RGBColor(0xE3, 0x77, 0xC2), // pink
];
pub const FUSION_COLOR: RGBColor = RGBColor(0xD6, 0x27, 0x28);
pub const HEAD_COLOR: RGBColor = RGBColor(0x1F, 0x77, 0xB4);
pub const TRANSFER_COLOR: RGBColor = RGBColor(0x7F, 0x7F, 0x7F);
pub const WAIT_COLOR: RGBColor = RGBColor(0xC7, 0xC7, 0xC7);

/// The color of a stage; encoders by the index of their modality.
pub fn stage_color(stage: Stage, modality: Option<usize>) -> RGBColor {
    match stage {
        Stage::Encoder => ENCODER_COLORS[modality.unwrap_or(0) % ENCODER_COLORS.len()],
        Stage::Fusion => FUSION_COLOR,
        Stage::Head => HEAD_COLOR,
    }
}

/// `#2CA02C`, as the SVG backend writes colors.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Elements `<element .../>` of an SVG written by plotters that are filled with `color` (for tests and
/// checks).
pub fn count_filled(svg: &str, element: &str, color: RGBColor) -> usize {
    let fill = format!("fill=\"{}\"", hex(color));
    svg.split(&format!("<{element} ")).skip(1).filter(|s| s.split('>').next().unwrap_or("").contains(&fill)).count()
}

/// Draws into an SVG document of the given size.
fn render(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> std::result::Result<(), Box<dyn std::error::Error>>) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&root).and_then(|_| root.present().map_err(Into::into)).map_err(|e| Error::Unsupported(format!("plotting failed: {e}")))?;
    }
    Ok(buf)
}

#[cfg(test)]
pub(crate) mod tests {
    /// Parses `svg` as XML and returns the number of elements of each name asked for.
    pub fn count_elements(svg: &str, names: &[&str]) -> Vec<usize> {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_str(svg);
        let mut counts = vec![0; names.len()];
        let mut depth = 0i32;
        loop {
            let event = r.read_event().unwrap_or_else(|e| panic!("not well-formed XML at {}: {e}", r.buffer_position()));
            match &event {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    if let Some(i) = names.iter().position(|n| *n == e.name().0) {
                        counts[i] += 1;
                    }
                }
                Event::End(_) => depth -= 1,
                _ => {}
            }
            if let Event::Start(_) = event {
                depth += 1;
            }
        }
        assert_eq!(depth, 0, "unclosed elements");
        counts
    }
}
