//! The SVG chart, drawn with plotters: a grouped bar chart of the headline
//! ratios on a log scale and, below it when cheese-api ran against a
//! reference, its ratios against issue 16's targets.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Report, Scenario};
use crate::procs::ServerKind;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Failure = DrawingAreaErrorKind<std::io::Error>;

fn err(e: Failure) -> String {
    format!("chart: {e}")
}

/// The colour of a server's bars (Okabe–Ito, colour-blind-safe).
fn color(server: ServerKind) -> RGBColor {
    match server {
        ServerKind::Cheese => RGBColor(230, 159, 0),
        ServerKind::AxumDefaults => RGBColor(120, 120, 120),
        ServerKind::AxumNodelay => RGBColor(86, 180, 233),
        ServerKind::AxumTuned => RGBColor(0, 114, 178),
        ServerKind::Bun => RGBColor(213, 94, 0),
    }
}

/// The lower and upper end of a log axis holding `values` and 1×.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo / 1.6, hi * 1.6)
}

/// A bar from 1× to `r` (a sliver when `r` is 1×, which would not show).
fn bar(x0: f64, x1: f64, r: f64, color: RGBColor) -> Rectangle<(f64, f64)> {
    let (a, b) = if (r - 1.0).abs() < 0.01 {
        (0.99, 1.01)
    } else {
        (1.0, r)
    };
    Rectangle::new([(x0, a), (x1, b)], color.filled())
}

/// `r` as "1.23×" just above (or below) the end of its bar at `x`.
fn bar_label(x: f64, r: f64) -> Text<'static, (f64, f64), String> {
    let y = if r >= 1.0 { r * 1.08 } else { r / 1.02 };
    let v = if r >= 1.0 { VPos::Bottom } else { VPos::Top };
    let style = ("sans-serif", 11).into_font().color(&BLACK);
    Text::new(
        format!("{r:.2}×"),
        (x, y),
        style.pos(Pos::new(HPos::Center, v)),
    )
}

impl Report<'_> {
    /// The chart: the ratios to axum defaults, and below them cheese-api
    /// against issue 16's targets when any was measured.
    pub fn chart(&self, path: &Path) -> Result<(), String> {
        let targets = !self.target_bars().is_empty();
        let height = if targets { 840 } else { 520 };
        let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        if targets {
            let (top, bottom) = root.split_vertically(520);
            self.draw_ratios(&top)?;
            self.draw_targets(&bottom)?;
        } else {
            self.draw_ratios(&root)?;
        }
        root.present().map_err(err)
    }

    /// A grouped bar chart of the ratios on a log scale, bars starting at
    /// 1× (axum defaults; for the fan-out, axum + broadcast channel). Idle
    /// memory is drawn as defaults ÷ server so that up is better everywhere.
    fn draw_ratios(&self, root: &Area) -> Result<(), String> {
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
        let (lo, hi) = log_range(bars.iter().map(|b| b.2));
        let mut chart = ChartBuilder::on(root)
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
            let color = color(server);
            let mine: Vec<(usize, f64)> = bars
                .iter()
                .filter(|b| b.1 == k)
                .map(|b| (b.0, b.2))
                .collect();
            chart
                .draw_series(mine.iter().map(|&(si, r)| {
                    let x0 = si as f64 - 0.4 + k as f64 * width;
                    bar(x0, x0 + width * 0.92, r, color)
                }))
                .map_err(err)?
                .label(server.label())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart
                .draw_series(
                    mine.iter()
                        .map(|&(si, r)| bar_label(si as f64 - 0.4 + (k as f64 + 0.46) * width, r)),
                )
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)
    }

    /// cheese-api against issue 16's targets: per target, a bar from 1× to
    /// the median ratio (turned so that up is better), a whisker from the
    /// lowest to the highest round, and the goal as a black dash.
    fn draw_targets(&self, root: &Area) -> Result<(), String> {
        let bars = self.target_bars();
        let n = bars.len();
        let all = bars.iter().flat_map(|b| [b.up.lo, b.up.hi, b.goal]);
        let (lo, hi) = log_range(all);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "cheese-api against issue 16's targets: cheese-api ÷ reference in each round \
                 (CPU and idle memory: reference ÷ cheese-api); bar: median, whisker: \
                 lowest–highest, black dash: the target (higher is better)",
                ("sans-serif", 14),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    bars.get(i as usize)
                        .map(|b| b.name.to_owned())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .y_label_formatter(&|y| format!("{y:.2}×"))
            .y_desc("ratio (log scale)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let cheese = color(ServerKind::Cheese);
        let at = |i: usize| i as f64;
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .map(|(i, b)| bar(at(i) - 0.2, at(i) + 0.2, b.up.median, cheese)),
            )
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                PathElement::new([(at(i), b.up.lo), (at(i), b.up.hi)], BLACK.stroke_width(1))
            }))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                PathElement::new(
                    [(at(i) - 0.3, b.goal), (at(i) + 0.3, b.goal)],
                    BLACK.stroke_width(3),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .map(|(i, b)| bar_label(at(i) + 0.32, b.up.median)),
            )
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map(|_| ())
            .map_err(err)
    }
}
