//! `make demo` works: the demo binary runs every function on the stand-ins, each acts as
//! the scenario says, no credential reaches a function's log, and it ends with the metrics
//! each function emitted, as a table and as the dashboard's graphs (SVG).
use std::process::Command;

#[test]
fn the_demo_shows_every_function_acting() {
    let dir = std::env::temp_dir().join(format!("suite-demo-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_suite-demo"))
        .env("DEMO_OUTPUT_DIR", &dir)
        .output()
        .expect("suite-demo runs");
    assert_every_function_acted(&out);
    assert_metrics_shown(&out, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What each function's run of the scenario must show in its metrics: a row of the table,
/// and a value drawn in its graphs (its own graph's first metric and `Runs`).
const EXPECTED_METRICS: [(&str, &[&str]); 6] = [
    ("alarm-sync", &["AlarmsCreated", "Resources"]),
    ("alarm-scaler", &["ReplicasBefore", "ReplicasAfter", "Step"]),
    (
        "queue-scaler",
        &[
            "QueueDepth",
            "DesiredReplicas",
            "ActualReplicas",
            "Rescaled",
        ],
    ),
    ("concurrency-scaler", &["QueueDepth", "Concurrency"]),
    ("iam-sync", &["IdentitiesCreated"]),
    ("node-autoscaler", &["Workers", "PendingPods", "Launches"]),
];

/// The table names every function's metrics, each function's graphs are written with its
/// row of the dashboard, and every record met the EMF specification (the demo fails
/// otherwise).
pub fn assert_metrics_shown(out: &std::process::Output, dir: &std::path::Path) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (_, table) = stdout
        .split_once("Metrics the functions emitted")
        .unwrap_or_else(|| panic!("no metrics table:\n{stdout}"));
    for (function, metrics) in EXPECTED_METRICS {
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(function))
            .collect();
        for metric in metrics.iter().chain(&["Runs", "Duration", "ApiCalls"]) {
            assert!(
                rows.iter()
                    .any(|r| r.split_whitespace().nth(1) == Some(metric)),
                "{function} {metric} not in the table:\n{table}"
            );
        }
        let svg = std::fs::read_to_string(dir.join(format!("{function}.svg")))
            .unwrap_or_else(|e| panic!("{function}.svg: {e}"));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{function}.svg"
        );
        for graph in lambda_support::metrics::catalogue::graphs(function) {
            assert!(
                svg.contains(graph.title),
                "{function}.svg lacks {}",
                graph.title
            );
        }
        // Each series is drawn with its label (`class="series"`) under its chart.
        let labels: Vec<&str> = svg
            .split(r#"class="series""#)
            .skip(1)
            .filter_map(|s| s.split_once('>').map(|(_, label)| label))
            .collect();
        for metric in metrics.iter().take(1).chain(&["Runs"]) {
            assert!(
                labels.iter().any(|l| l.starts_with(metric)),
                "{function}.svg draws no {metric}"
            );
        }
        assert!(
            stdout.contains(&format!("{function}.svg")),
            "{function}.svg not named"
        );
    }
}

/// The demo ran to its end, and every function did what the scenario says.
pub fn assert_every_function_acted(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for function in demo::BINARIES {
        assert!(
            stdout.contains(&format!("━━━ {function} ━━━")),
            "{function} missing:\n{stdout}"
        );
    }
    for expected in [
        "CloudWatch alarms: web-http-rate-high, web-cpu-low",
        "deployment web/web replicas=4, alarm web-http-rate-high OK",
        "deployment default/worker replicas=3",
        "orders-consumer reserved concurrency 6",
        "(unchanged: dry run)",
        "as \"alice@example.com\" in [\"dev-readers\"]",
        "launched: i-",
        ": 0 found.",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
}
