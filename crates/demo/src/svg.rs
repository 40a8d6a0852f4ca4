//! A small SVG line-chart writer: a dashboard row of charts, each with its series drawn as
//! lines with points over the run's time (enough for a demo's few invocations; no plotting
//! crate).
use std::fmt::Write;

pub struct Series {
    pub label: String,
    /// (milliseconds since the epoch, value), in time order.
    pub points: Vec<(i64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub series: Vec<Series>,
}

const W: f64 = 360.0;
const H: f64 = 240.0;
const PLOT: (f64, f64, f64, f64) = (44.0, 30.0, 340.0, 170.0);
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// `charts` side by side under `heading`.
pub fn row(heading: &str, charts: &[Chart]) -> String {
    let width = W * charts.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" font-family="sans-serif" font-size="11">"#,
        H + 24.0
    );
    let _ = write!(
        svg,
        r#"<text x="8" y="16" font-size="14">{}</text>"#,
        escape(heading)
    );
    for (i, chart) in charts.iter().enumerate() {
        let _ = write!(svg, r#"<g transform="translate({},24)">"#, W * i as f64);
        draw(&mut svg, chart);
        svg.push_str("</g>");
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw(svg: &mut String, chart: &Chart) {
    let (left, top, right, bottom) = PLOT;
    let _ = write!(
        svg,
        r#"<text x="{left}" y="16">{}</text>"#,
        escape(&chart.title)
    );
    let points = chart.series.iter().flat_map(|s| &s.points);
    let (t0, t1) = points
        .clone()
        .fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let vmax = points.clone().fold(0.0_f64, |m, p| m.max(p.1));
    let vmin = points.fold(0.0_f64, |m, p| m.min(p.1));
    let (t0, t1) = if t0 > t1 { (0, 0) } else { (t0, t1) };
    let span_t = (t1 - t0).max(1) as f64;
    let span_v = if vmax > vmin { vmax - vmin } else { 1.0 };
    let x = |t: i64| left + (t - t0) as f64 / span_t * (right - left);
    let y = |v: f64| bottom - (v - vmin) / span_v * (bottom - top);
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/><text x="4" y="{}">{}</text><text x="4" y="{bottom}">{}</text>"##,
        right - left,
        bottom - top,
        top + 8.0,
        trim(vmax.max(vmin + span_v)),
        trim(vmin)
    );
    if chart.series.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" fill="#999">no data</text>"##,
            left + 8.0,
            top + 20.0
        );
    }
    for (i, s) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for p in &s.points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(p.0),
                y(p.1)
            );
        }
        let _ = write!(
            svg,
            r#"<text class="series" x="{left}" y="{}" fill="{colour}">{}</text>"#,
            bottom + 16.0 + 13.0 * i as f64,
            escape(&s.label)
        );
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_draws_each_series_through_its_points() {
        let chart = Chart {
            title: "Workers & pods".into(),
            series: vec![Series {
                label: "Workers".into(),
                points: vec![(1000, 1.0), (2000, 3.0)],
            }],
        };
        let svg = row(
            "node-autoscaler",
            &[
                chart,
                Chart {
                    title: "Duration".into(),
                    series: vec![],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Workers &amp; pods"));
        // First point at the left bottom (value 1 above the 0 baseline), last at the right top.
        assert!(svg.contains(r#"points="44.0,123.3 340.0,30.0""#), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("no data"));
    }
}
