//! Log-log line plots as SVG, in one style for every benchmark that draws how a figure grows with
//! the size of the network.

use plotters::prelude::*;
use std::path::Path;

/// A named line: its colour and its `(x, y)` points.
pub type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Colours for series in order, distinct on white.
pub const PALETTE: [RGBColor; 8] = [
    BLUE,
    RED,
    GREEN,
    MAGENTA,
    RGBColor(230, 140, 0),
    CYAN,
    BLACK,
    RGBColor(120, 70, 20),
];

/// Draws `series` on log-log axes to an SVG file at `path`. Points with a y of zero or less (a
/// figure not measured) are left out; a plot with no point left is not drawn at all.
pub fn log_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
) -> anyhow::Result<()> {
    let series: Vec<Series<'_>> = series
        .iter()
        .map(|(name, color, points)| {
            let kept = points
                .iter()
                .copied()
                .filter(|&(x, y)| x > 0.0 && y > 0.0)
                .collect::<Vec<_>>();
            (*name, *color, kept)
        })
        .filter(|s| !s.2.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .collect();
    let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
    let (x0, x1) = (fold(&xs, f64::min, f64::MAX), fold(&xs, f64::max, 0.0));
    let (y0, y1) = (fold(&ys, f64::min, f64::MAX), fold(&ys, f64::max, 0.0));
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x0 * 0.8..x1 * 1.25).log_scale(),
            (y0 * 0.5..y1 * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .draw()?;
    for (name, color, points) in &series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// An axis label: 2k, 1.5M, 0.25, without a trailing ".0".
fn compact(v: f64) -> String {
    let (scaled, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if scaled >= 100.0 || scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else if scaled >= 1.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    format!("{}{unit}", text.trim_end_matches(".0"))
}
