//! The simulator's SVG: nodes over time per policy, demand dashed.
use std::fmt::Write as _;

use super::model::{PODS_PER_NODE, Report};
use super::{Kind, Step};

pub fn svg(title: &str, trace: &[Step], runs: &[(Kind, Report)]) -> String {
    let (w, h, left, top, bottom) = (900.0, 360.0, 50.0, 30.0, 40.0);
    let minutes = trace.last().map_or(1, |s| s.minute.max(1)) as f64;
    let needed: Vec<(i64, f64)> = trace
        .iter()
        .map(|s| (s.minute, s.pods.div_ceil(PODS_PER_NODE) as f64))
        .collect();
    let ymax = runs
        .iter()
        .flat_map(|(_, r)| r.series.iter().map(|p| p.1 as f64))
        .chain(needed.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        .ceil();
    let x = |m: f64| left + (w - left - 20.0) * m / minutes;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
    let path = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut d = String::new();
        for (i, (m, v)) in pts.enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(m),
                y(v)
            );
        }
        d
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="18" font-size="14">{title}: nodes over time (demand = nodes the pods need)</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
"#,
        h - bottom,
        w - 20.0,
        h - bottom,
        h - bottom
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"#,
            left - 5.0,
            y(v) + 4.0
        );
        let m = minutes * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1} h</text>"#,
            x(m),
            h - bottom + 16.0,
            m / 60.0
        );
    }
    let d = path(&mut needed.iter().map(|&(m, v)| (m as f64, v)));
    let _ = writeln!(
        out,
        r#"<path d="{d}" fill="none" stroke="black" stroke-dasharray="4 3"/>"#
    );
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
    let mut legend = vec![("demand".to_owned(), "black")];
    for ((kind, r), colour) in runs.iter().zip(colours) {
        let d = path(&mut r.series.iter().map(|&(m, v)| (m as f64, v as f64)));
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
        );
        legend.push((kind.name().to_owned(), colour));
    }
    for (i, (name, colour)) in legend.iter().enumerate() {
        let lx = left + 10.0 + 140.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{colour}"/><text x="{}" y="{}">{name}</text>"#,
            top + 2.0,
            lx + 16.0,
            top + 7.0
        );
    }
    out.push_str("</svg>\n");
    out
}
