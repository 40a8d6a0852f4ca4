//! The template's dashboard and alarms name the metrics the code emits: the one list is
//! `lambda_support::metrics::catalogue` (names, units, dimensions, the dashboard's graphs);
//! the functions' sources emit exactly their catalogue's names; the README explains each.
use std::collections::BTreeSet;

use lambda_support::metrics::catalogue::{self, NAMESPACE, Per};
use serde_json::Value;

use crate::support::{FUNCTIONS, logical_stem, read, resource, root, sources, template};

/// The dashboard's body as deployed with no prefix.
fn dashboard(t: &Value) -> Value {
    let d = resource(t, "SuiteDashboard");
    assert_eq!(d["Type"], "AWS::CloudWatch::Dashboard");
    let body = d["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is a !Sub string");
    let body = body
        .replace("${FunctionNamePrefix}", "")
        .replace("${AWS::Region}", "us-east-1");
    assert!(!body.contains("${"), "an unresolved substitution: {body}");
    serde_json::from_str(&body).expect("the dashboard body is JSON")
}

/// The metric names a widget graphs, checked against `function`'s catalogue: each a metric
/// of the namespace for the function, with its dimensions.
fn widget_metrics(widget: &Value, function: &str) -> Vec<String> {
    let title = widget["properties"]["title"].as_str().unwrap_or_default();
    let mut names = Vec::new();
    for m in widget["properties"]["metrics"].as_array().expect("metrics") {
        if let Some(expr) = m[0]["expression"].as_str() {
            // SEARCH('{NS,Function,Service} MetricName="ApiCalls" Function="f"', 'Sum', 60)
            let name = between(expr, "MetricName=\"", "\"");
            let metric = catalogue::find(function, name)
                .unwrap_or_else(|| panic!("{title}: {name} is not {function}'s"));
            let schema = format!("{{{NAMESPACE},{}}}", metric.per.dimensions().join(","));
            assert!(expr.contains(&schema), "{title}: {expr} lacks {schema}");
            assert!(
                expr.contains(&format!("Function=\"{function}\"")),
                "{title}: {expr}"
            );
            names.push(name.to_owned());
        } else {
            let name = m[1].as_str().expect("a metric name");
            assert_eq!(m[0], NAMESPACE, "{title}");
            let metric = catalogue::find(function, name)
                .unwrap_or_else(|| panic!("{title}: {name} is not {function}'s"));
            assert_eq!(
                metric.per,
                Per::Invocation,
                "{title}: {name} needs a SEARCH"
            );
            assert_eq!(
                (m[2].as_str(), m[3].as_str()),
                (Some("Function"), Some(function))
            );
            names.push(name.to_owned());
        }
    }
    names
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).map(|i| i + start.len()).expect("start");
    &s[from..from + s[from..].find(end).expect("end")]
}

#[test]
fn the_dashboard_has_one_row_per_function_with_the_catalogues_graphs() {
    let t = template();
    let board = dashboard(&t);
    let widgets = board["widgets"].as_array().expect("widgets");
    let mut rows = BTreeSet::new();
    for function in FUNCTIONS {
        let row: Vec<&Value> = widgets
            .iter()
            .filter(|w| {
                let title = w["properties"]["title"].as_str().unwrap_or_default();
                title.starts_with(&format!("{function}: "))
            })
            .collect();
        let graphs = catalogue::graphs(function);
        assert_eq!(row.len(), graphs.len(), "{function}'s row");
        for (widget, graph) in row.iter().zip(&graphs) {
            let title = format!("{function}: {}", graph.title);
            assert_eq!(widget["properties"]["title"], title.as_str());
            assert_eq!(widget_metrics(widget, function), graph.metrics, "{title}");
        }
        let ys: BTreeSet<i64> = row.iter().map(|w| w["y"].as_i64().unwrap()).collect();
        assert_eq!(ys.len(), 1, "{function}'s graphs share one row");
        assert!(
            rows.insert(ys.into_iter().next()),
            "{function} shares a row"
        );
    }
    assert_eq!(
        widgets.len(),
        FUNCTIONS
            .iter()
            .map(|f| catalogue::graphs(f).len())
            .sum::<usize>()
    );
}

fn alarm<'t>(t: &'t Value, id: &str) -> &'t Value {
    let a = resource(t, id);
    assert_eq!(a["Type"], "AWS::CloudWatch::Alarm", "{id}");
    let p = &a["Properties"];
    // Every alarm notifies the operations topic when one is given, nothing otherwise.
    for actions in ["AlarmActions", "OKActions"] {
        let expected = serde_json::json!({"Fn::If": ["HasOperationsTopic",
            [{"Ref": "OperationsTopicArn"}], {"Ref": "AWS::NoValue"}]});
        assert_eq!(p[actions], expected, "{id}.{actions}");
    }
    p
}

#[test]
fn each_function_has_its_errors_and_throttles_alarms() {
    let t = template();
    for function in FUNCTIONS {
        let stem = logical_stem(function);
        for metric in ["Errors", "Throttles"] {
            let p = alarm(&t, &format!("{stem}{metric}Alarm"));
            assert_eq!(
                (p["Namespace"].as_str(), p["MetricName"].as_str()),
                (Some("AWS/Lambda"), Some(metric))
            );
            let dims = serde_json::json!([{"Name": "FunctionName", "Value": {"Ref": format!("{stem}Function")}}]);
            assert_eq!(p["Dimensions"], dims, "{function} {metric}");
            assert_eq!(p["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
            assert_eq!(p["Threshold"], 1);
        }
    }
    let p = alarm(&t, "FailedInvocationsAlarm");
    assert_eq!(p["Namespace"], "AWS/SQS");
    assert_eq!(p["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        p["Dimensions"][0]["Value"],
        serde_json::json!({"Fn::GetAtt": ["FailedInvocationsQueue", "QueueName"]})
    );
    assert_eq!(
        (p["ComparisonOperator"].as_str(), p["Threshold"].as_i64()),
        (Some("GreaterThanThreshold"), Some(0))
    );
    let cond = &t["Conditions"]["HasOperationsTopic"];
    assert_eq!(
        cond,
        &serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OperationsTopicArn"}, ""]}]})
    );
    assert_eq!(t["Parameters"]["OperationsTopicArn"]["Default"], "");
}

#[test]
fn node_autoscalers_liveness_alarm_reads_its_own_runs_metric() {
    let t = template();
    let p = alarm(&t, "NodeAutoscalerLivenessAlarm");
    assert_eq!(p["Namespace"], NAMESPACE);
    let name = p["MetricName"].as_str().unwrap();
    let metric = catalogue::find("node-autoscaler", name).expect("a metric it emits");
    assert_eq!((name, metric.per), ("Runs", Per::Invocation));
    // `Function` is the deployed function's name, as AWS_LAMBDA_FUNCTION_NAME gives it.
    let dims =
        serde_json::json!([{"Name": "Function", "Value": {"Ref": "NodeAutoscalerFunction"}}]);
    assert_eq!(p["Dimensions"], dims);
    assert_eq!(p["Statistic"], "Sum");
    assert_eq!(
        (p["ComparisonOperator"].as_str(), p["Threshold"].as_i64()),
        (Some("LessThanThreshold"), Some(1))
    );
    assert_eq!(
        p["TreatMissingData"], "breaching",
        "no run at all must fire it"
    );
    let n = serde_json::json!({"Ref": "NodeAutoscalerLivenessMinutes"});
    assert_eq!((&p["EvaluationPeriods"], &p["DatapointsToAlarm"]), (&n, &n));
}

/// `("Name",` literals of the function's metric calls (`put("X", v)`, `count("X", n)`,
/// node-autoscaler's `("X", value)` pairs) in the sources that use the metrics module.
fn emitted(function: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (_, text) in sources(&root().join("crates").join(function).join("src")) {
        if !text.contains("metrics::") {
            continue;
        }
        // After `(` and any line break rustfmt put there.
        let quoted = text
            .split('(')
            .skip(1)
            .filter_map(|p| p.trim_start().strip_prefix('"'));
        for piece in quoted {
            let Some((name, rest)) = piece.split_once('"') else {
                continue;
            };
            let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if camel && rest.starts_with(',') {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn each_function_emits_exactly_its_catalogues_metrics() {
    for function in FUNCTIONS {
        let own: BTreeSet<String> = catalogue::FUNCTIONS
            .iter()
            .find(|(f, _)| *f == function)
            .map(|(_, list)| list.iter().map(|m| m.name.to_owned()).collect())
            .unwrap_or_else(|| panic!("{function} has no catalogue"));
        assert_eq!(
            emitted(function),
            own,
            "{function}: names put in src/ vs its catalogue"
        );
    }
}

#[test]
fn the_readme_explains_every_metric() {
    let readme = read("README.md");
    let (_, section) = readme
        .split_once("## Metrics, dashboard and alarms")
        .expect("the section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let all = catalogue::COMMON
        .iter()
        .chain(catalogue::FUNCTIONS.iter().flat_map(|(_, l)| l.iter()));
    for m in all {
        assert!(
            section.contains(&format!("`{}`", m.name)),
            "README lacks `{}`",
            m.name
        );
    }
    for alarm in [
        "-errors",
        "-throttles",
        "failed-invocations",
        "node-autoscaler-not-running",
    ] {
        assert!(section.contains(alarm), "README lacks the {alarm} alarm");
    }
}
