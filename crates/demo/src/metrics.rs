//! What the functions' metrics said during the demo: their EMF records, read from the
//! output of every process the demo started (each record checked against the EMF
//! specification), as a table and as the dashboard's graphs ([`crate::svg`]).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lambda_support::metrics::{catalogue, emf};
use serde_json::Value;

/// One value of one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub function: String,
    pub metric: String,
    /// What else identifies it: `Service=sqs`, `apps/worker`, or empty.
    pub about: String,
    pub unit: String,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// Every sample of every EMF record in `outputs` ((process, output) pairs); an error names
/// the first record that breaks the specification.
pub fn collect(outputs: &[(String, String)]) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (process, output) in outputs {
        for line in output.lines().filter(|l| l.contains("\"_aws\"")) {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            emf::validate(&record).map_err(|e| format!("{process}: {e}: {line}"))?;
            samples.extend(samples_of(&record));
        }
    }
    Ok(samples)
}

fn samples_of(record: &Value) -> Vec<Sample> {
    let text = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
    let about = match (record.get("Service"), record.get("Name")) {
        (Some(s), _) => format!("Service={}", s.as_str().unwrap_or_default()),
        (_, Some(_)) => format!("{}/{}", text("Namespace"), text("Name")),
        _ => String::new(),
    };
    let aws = &record["_aws"];
    let timestamp_ms = aws["Timestamp"].as_i64().unwrap_or_default();
    let mut out = Vec::new();
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for def in directives
        .iter()
        .flat_map(|d| d["Metrics"].as_array().cloned().unwrap_or_default())
    {
        let metric = def["Name"].as_str().unwrap_or_default().to_owned();
        let values = match &record[&metric] {
            Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
            v => v.as_f64().into_iter().collect::<Vec<_>>(),
        };
        for value in values {
            out.push(Sample {
                function: text("Function"),
                metric: metric.clone(),
                about: about.clone(),
                unit: def["Unit"].as_str().unwrap_or("None").to_owned(),
                timestamp_ms,
                value,
            });
        }
    }
    out
}

/// One row per (function, metric, about): how many values, their sum, min and max.
pub fn table(samples: &[Sample]) -> String {
    let mut rows: BTreeMap<(&str, &str, &str), (&str, Vec<f64>)> = BTreeMap::new();
    for s in samples {
        let key = (s.function.as_str(), s.metric.as_str(), s.about.as_str());
        rows.entry(key)
            .or_insert((&s.unit, Vec::new()))
            .1
            .push(s.value);
    }
    let mut out = format!(
        "  {:<19} {:<18} {:<22} {:<13} {:>3} {:>9} {:>9} {:>9}\n",
        "function", "metric", "per", "unit", "n", "sum", "min", "max"
    );
    for ((function, metric, about), (unit, values)) in rows {
        let sum: f64 = values.iter().sum();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        out.push_str(&format!(
            "  {function:<19} {metric:<18} {about:<22} {unit:<13} {:>3} {} {} {}\n",
            values.len(),
            num(sum),
            num(min),
            num(max)
        ));
    }
    out
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:>9}")
    } else {
        format!("{v:>9.1}")
    }
}

/// Each function's dashboard row for the demo run, one SVG per function in `dir`.
pub fn write_graphs(samples: &[Sample], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let functions: std::collections::BTreeSet<&str> =
        samples.iter().map(|s| s.function.as_str()).collect();
    for function in functions {
        let graphs: Vec<crate::svg::Chart> = catalogue::graphs(function)
            .iter()
            .map(|g| crate::svg::Chart {
                title: g.title.to_owned(),
                series: series(samples, function, g.metrics),
            })
            .collect();
        let path = dir.join(format!("{function}.svg"));
        std::fs::write(&path, crate::svg::row(function, &graphs))?;
        written.push(path);
    }
    Ok(written)
}

/// A chart line's key: the metric's place in its graph, its name and what it is about.
type LineKey<'s> = (usize, &'s str, &'s str);

/// One line per (metric, about) of `metrics`: its values in time order.
fn series(samples: &[Sample], function: &str, metrics: &[&str]) -> Vec<crate::svg::Series> {
    let mut lines: BTreeMap<LineKey, Vec<(i64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.function == function) {
        if let Some(i) = metrics.iter().position(|m| *m == s.metric) {
            let key = (i, s.metric.as_str(), s.about.as_str());
            lines
                .entry(key)
                .or_default()
                .push((s.timestamp_ms, s.value));
        }
    }
    lines
        .into_iter()
        .map(|((_, metric, about), mut points)| {
            points.sort_by_key(|p| p.0);
            let label = match about {
                "" => metric.to_owned(),
                about => format!("{metric} {about}"),
            };
            crate::svg::Series { label, points }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Vec<(String, String)> {
        let own = r#"{"_aws":{"Timestamp":1000,"CloudWatchMetrics":[{"Namespace":"K8sLambdaAutoscalers","Dimensions":[["Function"]],"Metrics":[{"Name":"Runs","Unit":"Count"},{"Name":"Step","Unit":"Count"}]}]},"Function":"alarm-scaler","Runs":1,"Step":[1,2]}"#;
        let api = r#"{"_aws":{"Timestamp":2000,"CloudWatchMetrics":[{"Namespace":"K8sLambdaAutoscalers","Dimensions":[["Function","Service"]],"Metrics":[{"Name":"ApiCalls","Unit":"Count"}]}]},"Function":"alarm-scaler","Service":"cloudwatch","ApiCalls":3}"#;
        let log = r#"{"level":"INFO","message":"run complete"}"#;
        vec![("alarm-scaler".into(), format!("{log}\n{own}\n{api}\n"))]
    }

    #[test]
    fn records_become_samples_and_a_table() {
        let samples = collect(&outputs()).unwrap();
        assert_eq!(samples.len(), 4, "{samples:?}");
        let t = table(&samples);
        assert!(t.contains("alarm-scaler"), "{t}");
        let step = t.lines().find(|l| l.contains(" Step ")).unwrap();
        assert!(
            step.split_whitespace()
                .eq(["alarm-scaler", "Step", "Count", "2", "3", "1", "2"]),
            "{step}"
        );
        assert!(t.contains("Service=cloudwatch"), "{t}");
    }

    #[test]
    fn a_record_against_the_specification_is_refused() {
        let bad = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Function"]],"Metrics":[{"Name":"Runs","Unit":"Replicas"}]}]},"Function":"f","Runs":1}"#;
        let err = collect(&[("f".into(), bad.into())]).unwrap_err();
        assert!(err.contains("not an allowed unit"), "{err}");
    }

    #[test]
    fn the_graphs_are_the_dashboards_row() {
        let dir = std::env::temp_dir().join(format!("demo-graphs-{}", std::process::id()));
        let written = write_graphs(&collect(&outputs()).unwrap(), &dir).unwrap();
        assert_eq!(written, [dir.join("alarm-scaler.svg")]);
        let svg = std::fs::read_to_string(&written[0]).unwrap();
        for title in [
            "Runs and failures",
            "Duration",
            "API calls and errors",
            "Replicas stepped",
        ] {
            assert!(svg.contains(title), "{title}");
        }
        assert!(svg.contains("ApiCalls Service=cloudwatch"), "{svg}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
