//! The report's plot: for each case, latency against percentile (in nines, on a log scale),
//! one line per system, drawn with plotters into SVG.

use plotters::prelude::*;

use super::measurement::Measurement;

const PANEL: (u32, u32) = (560, 360);

/// One panel per case: its open-loop runs (every system at the same rate) where there are
/// some, else its closed-loop runs. Round 1 of each.
pub fn percentiles(measurements: &[Measurement]) -> anyhow::Result<String> {
    let mut cases: Vec<&str> = Vec::new();
    for measurement in measurements {
        if !cases.contains(&measurement.case.as_str()) {
            cases.push(&measurement.case);
        }
    }
    let columns = 2.min(cases.len().max(1));
    let rows = cases.len().div_ceil(columns).max(1);
    let mut svg = String::new();
    {
        let size = (PANEL.0 * columns as u32, PANEL.1 * rows as u32);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        for (panel, case) in root.split_evenly((rows, columns)).iter().zip(&cases) {
            let runs: Vec<&Measurement> = measurements
                .iter()
                .filter(|m| m.case == *case && m.round == 1)
                .collect();
            let pace = if runs.iter().any(|m| m.pace == "open") {
                "open"
            } else {
                "closed"
            };
            let runs: Vec<_> = runs.into_iter().filter(|m| m.pace == pace).collect();
            draw_case(panel, case, pace, &runs)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_case(
    panel: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    case: &str,
    pace: &str,
    runs: &[&Measurement],
) -> anyhow::Result<()> {
    let (low, high) = runs
        .iter()
        .flat_map(|m| m.spectrum.iter().map(|(_, ms)| *ms))
        .filter(|ms| *ms > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(low, high), ms| {
            (low.min(ms), high.max(ms))
        });
    // Whole decades, so that every panel has labelled powers of ten to read against.
    let (low, high) = if high > 0.0 {
        (
            10f64.powf(low.log10().floor()),
            10f64.powf(high.log10().ceil().max(low.log10().floor() + 1.0)),
        )
    } else {
        (0.01, 1.0)
    };
    let title = match runs.first().and_then(|m| m.rate) {
        Some(rate) if pace == "open" => format!("{case}: open loop, {rate:.0} req/s"),
        _ => format!(
            "{case}: closed loop, {} connections",
            runs.first().map_or(0, |m| m.connections)
        ),
    };
    let mut chart = ChartBuilder::on(panel)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..4f64, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|nines| match nines.round() as i32 {
            0 => "p0".to_owned(),
            1 => "p90".to_owned(),
            2 => "p99".to_owned(),
            3 => "p99.9".to_owned(),
            _ => "p99.99".to_owned(),
        })
        .y_label_formatter(&|ms| format!("{ms}"))
        .light_line_style(TRANSPARENT)
        .x_desc("percentile")
        .y_desc("latency, ms")
        .draw()?;
    for run in runs {
        let color = color_of(&run.system);
        chart
            .draw_series(LineSeries::new(
                run.spectrum.iter().map(|(nines, ms)| (*nines, ms.max(low))),
                color.stroke_width(2),
            ))?
            .label(run.system.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// One color per system in every panel.
fn color_of(system: &str) -> RGBAColor {
    match system {
        super::scenario::SHOP => RGBColor(214, 39, 40),
        super::scenario::CEILING | super::scenario::BARE => RGBColor(44, 160, 44),
        super::scenario::NGINX => RGBColor(255, 127, 14),
        super::scenario::FLASK => RGBColor(31, 119, 180),
        _ => RGBColor(127, 127, 127),
    }
    .to_rgba()
}
