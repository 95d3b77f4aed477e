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
    log_plot_with_dashed(path, title, x_label, y_label, series, &[])
}

/// [`log_plot`], with `dashed` series drawn as dashed lines with hollow points: the same figure
/// measured another way, in the colour of its solid counterpart.
pub fn log_plot_with_dashed(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    solid: &[Series<'_>],
    dashed: &[Series<'_>],
) -> anyhow::Result<()> {
    let (solid, dashed) = (keep(solid), keep(dashed));
    let all = || {
        solid
            .iter()
            .chain(&dashed)
            .flat_map(|s| s.2.iter().copied())
    };
    if all().next().is_none() {
        return Ok(());
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for (x, y) in all() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(
            axis(x0 * 0.8, x1 * 1.25).log_scale(),
            // Room above the highest point for the legend.
            axis(y0 * 0.5, y1 * 4.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .draw()?;
    for (name, color, points) in &solid {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    for (name, color, points) in &dashed {
        let color = *color;
        chart
            .draw_series(DashedLineSeries::new(
                points.clone(),
                6,
                4,
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                plotters::element::DashedPathElement::new(
                    vec![(x, y), (x + 16, y)],
                    4,
                    3,
                    color.stroke_width(2),
                )
            });
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 3, color.stroke_width(1))),
        )?;
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

/// The series with their unmeasured points (y of zero or less) left out, and empty ones dropped.
fn keep<'a>(series: &[Series<'a>]) -> Vec<Series<'a>> {
    series
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
        .collect()
}

/// A log axis from `lo` to `hi`, widened to whole decades when it spans less than one, since a log
/// axis only labels powers of ten and their multiples.
fn axis(lo: f64, hi: f64) -> std::ops::Range<f64> {
    if hi / lo >= 10.0 {
        lo..hi
    } else {
        10f64.powf(lo.log10().floor())..10f64.powf(hi.log10().ceil())
    }
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
