//! The SVG chart: a grouped bar chart of the headline ratios on a log
//! scale, drawn with plotters.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Report, Scenario};
use crate::procs::ServerKind;

impl Report<'_> {
    /// A grouped bar chart of the ratios on a log scale, bars starting at
    /// 1× (axum defaults; for the fan-out, axum + broadcast channel). Idle
    /// memory is drawn as defaults ÷ server so that up is better everywhere.
    pub fn chart(&self, path: &Path) -> Result<(), String> {
        let n = self.scenarios.len();
        let mut bars: Vec<(usize, usize, f64)> = Vec::new();
        for (si, s) in self.scenarios.iter().enumerate() {
            for (k, &server) in self.servers.iter().enumerate() {
                if let Some(r) = self.ratio(si, server).filter(|r| *r > 0.0) {
                    let up = if s.higher_is_better() { r } else { 1.0 / r };
                    bars.push((si, k, up));
                }
            }
        }
        let lo = bars.iter().map(|b| b.2).fold(1.0f64, f64::min) / 1.6;
        let hi = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.6;
        let err = |e: DrawingAreaErrorKind<std::io::Error>| format!("chart: {e}");

        let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Ratio to plain axum with defaults (fan-out: axum + broadcast channel), \
                 same client, same run (higher is better)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            // Scenario i is centred on x = i: the default key points of this
            // range fall on the integers, which get the names.
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (lo..hi).log_scale())
            .map_err(err)?;
        let names: Vec<String> = self
            .scenarios
            .iter()
            .map(|s| match s {
                Scenario::Idle => "idle memory (defaults ÷ server)".to_owned(),
                Scenario::Fanout => "fan-out (vs axum + broadcast)".to_owned(),
                _ => s.title().to_owned(),
            })
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.2}×"))
            .y_desc("ratio (log scale)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;

        let width = 0.8 / self.servers.len() as f64;
        for (k, &server) in self.servers.iter().enumerate() {
            // Colour-blind-safe (Okabe–Ito), one per server.
            let color = match server {
                ServerKind::Cheese => RGBColor(230, 159, 0),
                ServerKind::AxumDefaults => RGBColor(120, 120, 120),
                ServerKind::AxumNodelay => RGBColor(86, 180, 233),
                ServerKind::AxumTuned => RGBColor(0, 114, 178),
            };
            let mine: Vec<(usize, f64)> = bars
                .iter()
                .filter(|b| b.1 == k)
                .map(|b| (b.0, b.2))
                .collect();
            chart
                .draw_series(mine.iter().map(|&(si, r)| {
                    let x0 = si as f64 - 0.4 + k as f64 * width;
                    // A bar at exactly 1× would be invisible: give it a sliver.
                    let (a, b) = if (r - 1.0).abs() < 0.01 {
                        (0.99, 1.01)
                    } else {
                        (1.0, r)
                    };
                    Rectangle::new([(x0, a), (x0 + width * 0.92, b)], color.filled())
                }))
                .map_err(err)?
                .label(server.label())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart
                .draw_series(mine.iter().map(|&(si, r)| {
                    let x = si as f64 - 0.4 + (k as f64 + 0.46) * width;
                    let y = if r >= 1.0 { r * 1.08 } else { r / 1.02 };
                    Text::new(
                        format!("{r:.2}×"),
                        (x, y),
                        ("sans-serif", 11).into_font().color(&BLACK).pos(Pos::new(
                            HPos::Center,
                            if r >= 1.0 { VPos::Bottom } else { VPos::Top },
                        )),
                    )
                }))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    }
}
