//! An invocation's metrics as CloudWatch Embedded Metric Format records: pure, from the
//! [`Invocation`] to JSON objects, one per log line. The specification:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
use serde_json::{Map, Value, json};

use super::catalogue::{self, NAMESPACE, Per};
use super::{Invocation, MAX_RESOURCES, MAX_VALUES};

/// Who emits: the `Function` dimension's value (the Lambda function's name), the crate
/// whose catalogue applies, the `Cluster` dimension when known.
#[derive(Clone, Debug)]
pub struct Source {
    pub function: String,
    pub catalogue: &'static str,
    pub cluster: Option<String>,
}

/// The records of one invocation, at `timestamp_ms` (milliseconds since the epoch): the
/// invocation's own, one per service called, one per resource (the first
/// [`MAX_RESOURCES`]). Names the catalogue does not list for the function are left out.
pub fn records(source: &Source, inv: &Invocation, timestamp_ms: i64) -> Vec<Value> {
    let known =
        |name: &str, per: Per| catalogue::find(source.catalogue, name).filter(|m| m.per == per);
    let mut out = Vec::new();
    let mut own = Map::new();
    let mut defs = Vec::new();
    for (name, values) in &inv.values {
        let Some(metric) = known(name, Per::Invocation) else {
            continue;
        };
        defs.push(json!({"Name": metric.name, "Unit": metric.unit.as_str()}));
        own.insert(metric.name.into(), value(values));
    }
    let mut dimensions = vec![json!(["Function"])];
    own.insert("Function".into(), json!(source.function));
    if let Some(cluster) = &source.cluster {
        dimensions.push(json!(["Function", "Cluster"]));
        own.insert("Cluster".into(), json!(cluster));
    }
    out.push(record(own, dimensions, defs, timestamp_ms));
    for (service, calls) in &inv.calls {
        let mut members = Map::new();
        members.insert("Function".into(), json!(source.function));
        members.insert("Service".into(), json!(service));
        members.insert("ApiCalls".into(), json!(calls.calls));
        members.insert("ApiErrors".into(), json!(calls.errors));
        let defs = ["ApiCalls", "ApiErrors"]
            .into_iter()
            .filter_map(|n| known(n, Per::Service))
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect();
        out.push(record(
            members,
            vec![json!(Per::Service.dimensions())],
            defs,
            timestamp_ms,
        ));
    }
    for ((namespace, name), values) in inv.resources.iter().take(MAX_RESOURCES) {
        let mut members = Map::new();
        members.insert("Function".into(), json!(source.function));
        members.insert("Namespace".into(), json!(namespace));
        members.insert("Name".into(), json!(name));
        let mut defs = Vec::new();
        for (metric, v) in values {
            let Some(metric) = known(metric, Per::Resource) else {
                continue;
            };
            defs.push(json!({"Name": metric.name, "Unit": metric.unit.as_str()}));
            members.insert(metric.name.into(), json!(v));
        }
        let dims = vec![json!(Per::Resource.dimensions())];
        out.push(record(members, dims, defs, timestamp_ms));
    }
    out
}

/// One value, or up to [`MAX_VALUES`] as an array (the specification's limit).
fn value(values: &[f64]) -> Value {
    match values {
        [one] => json!(one),
        many => json!(&many[..many.len().min(MAX_VALUES)]),
    }
}

fn record(mut members: Map<String, Value>, dims: Vec<Value>, defs: Vec<Value>, ts: i64) -> Value {
    members.insert(
        "_aws".into(),
        json!({
            "Timestamp": ts,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": dims, "Metrics": defs}],
        }),
    );
    Value::Object(members)
}

/// The units the specification allows (its `MetricDefinition.Unit`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `record` against the specification's MUSTs: the root's `_aws` object with an
/// integer `Timestamp` and a `CloudWatchMetrics` array of directives; each directive's
/// `Namespace` (1–1024 characters, not blank), `Dimensions` (arrays of at most 30 names,
/// each a string member of the root), `Metrics` (at most 100, each with a `Name` whose value
/// is a number or up to 100 numbers at the root, and a `Unit` from [`UNITS`] if any).
pub fn validate(record: &Value) -> Result<(), String> {
    let root = record
        .as_object()
        .ok_or("the record is not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no `_aws` object")?;
    aws.get("Timestamp")
        .and_then(Value::as_i64)
        .filter(|t| *t >= 0)
        .ok_or("`_aws.Timestamp` is not milliseconds since the epoch")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    for d in directives {
        let ns = d["Namespace"]
            .as_str()
            .ok_or("a directive has no Namespace")?;
        if ns.trim().is_empty() || ns.len() > 1024 {
            return Err(format!("Namespace {ns:?} is blank or longer than 1024"));
        }
        for set in d["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?
        {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err(format!(
                    "a dimension set has {} members (at most 30)",
                    set.len()
                ));
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !root.get(name).is_some_and(Value::is_string) {
                    return Err(format!(
                        "dimension {name} is not a string member of the root"
                    ));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
        if metrics.len() > 100 {
            return Err(format!(
                "{} metrics in one directive (at most 100)",
                metrics.len()
            ));
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric has no Name")?;
            if name.is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?} is empty or longer than 1024"));
            }
            if let Some(unit) = m.get("Unit") {
                let unit = unit.as_str().unwrap_or_default();
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: unit {unit:?} is not an allowed unit"));
                }
            }
            let ok = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(a)) => a.len() <= 100 && a.iter().all(Value::is_number),
                _ => false,
            };
            if !ok {
                return Err(format!("{name}: no number (or ≤ 100 numbers) at the root"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Calls;
    use super::*;

    fn source(cluster: Option<&str>) -> Source {
        Source {
            function: "prod-queue-scaler".into(),
            catalogue: "queue-scaler",
            cluster: cluster.map(Into::into),
        }
    }

    fn invocation() -> Invocation {
        let mut inv = Invocation::default();
        inv.values.insert("Runs", vec![1.0]);
        inv.values.insert("Duration", vec![12.5]);
        inv.values.insert("Rescaled", vec![2.0]);
        // Not queue-scaler's: left out.
        inv.values.insert("Workers", vec![3.0]);
        let calls = Calls {
            calls: 4,
            errors: 1,
        };
        inv.calls.insert("sqs".into(), calls);
        for i in 0..(MAX_RESOURCES + 5) {
            let r = inv
                .resources
                .entry(("apps".into(), format!("s{i:02}")))
                .or_default();
            r.insert("QueueDepth", 10.0 * i as f64);
            r.insert("DesiredReplicas", i as f64);
        }
        inv
    }

    #[test]
    fn every_record_meets_the_specification() {
        for cluster in [None, Some("prod")] {
            let records = records(&source(cluster), &invocation(), 1_700_000_000_000);
            assert_eq!(records.len(), 1 + 1 + MAX_RESOURCES, "own, sqs, resources");
            for r in &records {
                validate(r).unwrap_or_else(|e| panic!("{e}: {r}"));
                assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
            }
        }
    }

    #[test]
    fn the_invocation_record_holds_the_functions_metrics_with_their_units() {
        let records = records(&source(Some("prod")), &invocation(), 1);
        let own = &records[0];
        assert_eq!(own["Function"], "prod-queue-scaler");
        assert_eq!(own["Cluster"], "prod");
        assert_eq!(own["Rescaled"], 2.0);
        assert_eq!(own["Duration"], 12.5);
        assert!(own.get("Workers").is_none(), "{own}");
        let d = &own["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            d["Dimensions"],
            json!([["Function"], ["Function", "Cluster"]])
        );
        let units: Vec<(&str, &str)> = d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
            .collect();
        assert_eq!(
            units,
            [
                ("Duration", "Milliseconds"),
                ("Rescaled", "Count"),
                ("Runs", "Count")
            ]
        );
        let sqs = &records[1];
        assert_eq!(
            (sqs["Service"].as_str(), sqs["ApiCalls"].as_u64()),
            (Some("sqs"), Some(4))
        );
        assert_eq!(sqs["ApiErrors"], 1);
        let first = &records[2];
        assert_eq!(
            (first["Namespace"].as_str(), first["Name"].as_str()),
            (Some("apps"), Some("s00"))
        );
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Namespace", "Name"]])
        );
    }

    #[test]
    fn several_values_of_a_metric_are_one_array_of_at_most_100() {
        let mut inv = Invocation::default();
        inv.values.insert("Step", vec![1.0, -2.0]);
        inv.values
            .insert("ReplicasBefore", (0..150).map(f64::from).collect());
        let src = Source {
            function: "alarm-scaler".into(),
            catalogue: "alarm-scaler",
            cluster: None,
        };
        let r = &records(&src, &inv, 1)[0];
        validate(r).unwrap();
        assert_eq!(r["Step"], json!([1.0, -2.0]));
        assert_eq!(r["ReplicasBefore"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn the_validator_refuses_what_the_specification_forbids() {
        let good = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N",
            "Dimensions": [["Function"]], "Metrics": [{"Name": "Runs", "Unit": "Count"}]}]},
            "Function": "f", "Runs": 1});
        validate(&good).unwrap();
        let mut cases: Vec<(Value, &str)> = Vec::new();
        let mut v = good.clone();
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Replicas");
        cases.push((v, "not an allowed unit"));
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("Runs");
        cases.push((v, "no number"));
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("Function");
        cases.push((v, "dimension Function"));
        let mut v = good.clone();
        v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([vec!["Function"; 31]]);
        cases.push((v, "at most 30"));
        let mut v = good.clone();
        let many: Vec<Value> = (0..101).map(|i| json!({"Name": format!("m{i}")})).collect();
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(many);
        cases.push((v, "at most 100"));
        let mut v = good.clone();
        v["_aws"].as_object_mut().unwrap().remove("Timestamp");
        cases.push((v, "Timestamp"));
        cases.push((json!({"Runs": 1}), "_aws"));
        for (record, expected) in cases {
            let err = validate(&record).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn the_catalogue_fits_the_specification() {
        for (function, own) in catalogue::FUNCTIONS {
            let all: Vec<_> = catalogue::of(function).collect();
            assert_eq!(all.len(), catalogue::COMMON.len() + own.len());
            assert!(all.len() <= 100, "{function}");
            for m in &all {
                assert!(UNITS.contains(&m.unit.as_str()), "{function} {}", m.name);
                let twice = all.iter().filter(|o| o.name == m.name).count();
                assert_eq!(twice, 1, "{function}: {} listed twice", m.name);
            }
        }
    }
}
