//! Figures for alarm-scaler and alarm-sync, printed, never asserted (`#[ignore]`d: run it on
//! purpose, ideally with release binaries):
//!
//! ```sh
//! cargo nextest run --release -p alarm-scaler --test it --run-ignored only --no-capture bench::
//! ```
//!
//! - Kubernetes API calls per scale step and per in-sync alarm-sync run, counted by the
//!   testbed API server itself (a zero-latency fault rule per verb and resource fires once
//!   per matching request).
//! - Warm invocation latency through the Lambda emulator (`cargo lambda invoke` round trip),
//!   next to the floor function's round trip on the same emulator: the difference is the
//!   function's own work (list, scale read and write, status, Event, SetAlarmState on moto).
//! - Start-up to the first Runtime API poll and peak RSS, next to the floor.
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testbed::bench::{env_pairs, median_iqr, sorted, startup};
use testbed::harness::{FaultAction, FaultConfig, FaultRule};
use testbed::world::cloudwatch::{TOPIC, notification};
use testbed::world::{CLUSTER, World, build, sample};

use crate::support;

const OWN: &str = env!("CARGO_BIN_EXE_alarm-scaler");
const WARM_RUNS: usize = 20;
const STARTUP_RUNS: usize = 20;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Counting rules: one per (verb, resource) the functions use, and one for everything.
fn counters() -> (Vec<String>, FaultConfig) {
    let kinds = [
        ("list", "k8smetricalarms"),
        // One owner per target: the namespace's other controllers.
        ("list", "horizontalpodautoscalers"),
        ("list", "sqsqueuescalers"),
        ("patch", "k8smetricalarms/status"),
        ("get", "deployments/scale"),
        ("update", "deployments/scale"),
        ("get", "deployments"),
        ("patch", "deployments"),
        ("create", "events"),
    ];
    let mut names: Vec<String> = kinds.iter().map(|(v, r)| format!("{v} {r}")).collect();
    let mut rules: Vec<FaultRule> = kinds
        .iter()
        .map(|(v, r)| {
            FaultRule::new(FaultAction::Latency { ms: 0 })
                .verbs(&[v])
                .resources(&[r])
        })
        .collect();
    names.push("all requests".into());
    rules.push(FaultRule::new(FaultAction::Latency { ms: 0 }));
    (names, FaultConfig { seed: 1, rules })
}

fn count(w: &World, names: &[String], config: FaultConfig, run: impl FnOnce()) -> String {
    w.cluster.set_faults(config);
    run();
    let fired = w.cluster.faults_fired();
    w.cluster.clear_faults();
    names
        .iter()
        .zip(fired)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn round_trips(w: &World, function: &str, mut event: impl FnMut(usize) -> Value) -> Vec<Duration> {
    sorted(WARM_RUNS, {
        let mut i = 0;
        move || {
            i += 1;
            let e = event(i);
            let began = Instant::now();
            w.invoke(function, &e).expect("invoke");
            began.elapsed()
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures; run with --run-ignored only --no-capture"]
async fn figures() {
    let w = support::world().await;
    w.create_deployment("web", "web", 4).await;
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    // One pod per step, no cooldown, room to grow: every notification steps.
    kube::Api::<k8s_ops::crd::metric_alarm::K8sMetricAlarm>::namespaced(w.admin.clone(), "web")
        .patch(
            "web-http-rate",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"maxReplicas": 1000,
                "scaleUpBehavior": {"coolDown": 0, "policies": [{"type": "Pods", "value": 1}]}}})),
        )
        .await
        .unwrap();
    let sync_bin = build("alarm-sync", "alarm-sync");
    let floor_bin = build("lambda-support", "lambda-floor");
    let scaler_bin = std::path::PathBuf::from(OWN);
    let _sync = w.spawn("alarm-sync", &[]);
    let scheduled = sample("events/alarm-sync/scheduled.json");
    w.invoke("alarm-sync", &scheduled)
        .expect("alarm-sync creates the alarms");
    let up = w.alarm("web-http-rate-high").await.unwrap();
    let _scaler = w.spawn("alarm-scaler", &[]);
    let _floor = w
        .emulator
        .spawn_function("lambda-floor", &floor_bin, [("AWS_REGION", "us-east-1")])
        .unwrap();
    // Warm everything once (token, connections).
    w.invoke("alarm-scaler", &notification(&up, "warm-up", "ALARM"))
        .unwrap();

    let (names, config) = counters();
    let step = count(&w, &names, config.clone(), || {
        let r = w
            .invoke("alarm-scaler", &notification(&up, "count-step", "ALARM"))
            .unwrap();
        assert_eq!(r["outcomes"][0]["decision"], "scale_up", "{r}");
    });
    let duplicate = count(&w, &names, config.clone(), || {
        w.invoke("alarm-scaler", &notification(&up, "count-step", "ALARM"))
            .unwrap();
    });
    let in_sync = count(&w, &names, config, || {
        w.invoke("alarm-sync", &scheduled).unwrap();
    });

    let steps = round_trips(&w, "alarm-scaler", |i| {
        notification(&up, &format!("warm-{i}"), "ALARM")
    });
    let floor = round_trips(&w, "lambda-floor", |i| json!({ "n": i }));
    let syncs = round_trips(&w, "alarm-sync", |_| scheduled.clone());

    let env: Vec<(String, String)> = vec![
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "AKIAIOSFODNN7EXAMPLE".into()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        ),
        ("CLUSTER_NAME".into(), CLUSTER.into()),
        ("API_SERVER".into(), w.cluster.url().into()),
        (
            "CERT_AUTHORITY".into(),
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                w.cluster.ca_pem(),
            ),
        ),
        ("SNS_TOPIC_ARN".into(), TOPIC.into()),
    ];
    let env = env_pairs(&env);
    let starts = |bin: &std::path::Path| {
        let s = sorted(STARTUP_RUNS, || {
            let s = startup(bin, &env).expect("start-up");
            (s.to_first_poll, s.peak_rss_kib)
        });
        let mut t: Vec<Duration> = s.iter().map(|x| x.0).collect();
        let mut r: Vec<u64> = s.iter().map(|x| x.1).collect();
        t.sort();
        r.sort();
        (median_iqr(&t), median_iqr(&r))
    };

    // The profile directory the binaries were built into (debug, release, measure).
    let profile = std::path::Path::new(OWN)
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|d| d.to_str())
        .unwrap_or("?");
    println!("\n# alarm-scaler / alarm-sync figures ({profile} binaries)\n");
    println!("| figure | value |\n|---|---|");
    println!("| Kubernetes calls, one scale step (warm) | {step} |");
    println!(
        "| CloudWatch calls, one scale step (by the code path, not counted) | SetAlarmState: 1 |"
    );
    println!("| Kubernetes calls, a redelivered notification | {duplicate} |");
    println!("| Kubernetes calls, alarm-sync run, all in sync | {in_sync} |");
    println!(
        "| AWS calls, alarm-sync run, all in sync (by the code path, not counted) | DescribeAlarms: 1, tagging GetResources: 1 |"
    );
    for (name, samples) in [
        ("alarm-scaler step", &steps),
        ("lambda-floor echo", &floor),
        ("alarm-sync run, in sync", &syncs),
    ] {
        let (m, lo, hi) = median_iqr(samples);
        println!(
            "| warm invoke round trip, {name} | {} (p25–p75 {}–{}, {WARM_RUNS} runs) |",
            ms(m),
            ms(lo),
            ms(hi)
        );
    }
    let (step_m, floor_m) = (median_iqr(&steps).0, median_iqr(&floor).0);
    println!(
        "| warm step, own work (step − floor, medians) | {} |",
        ms(step_m.saturating_sub(floor_m))
    );
    for (name, bin) in [
        ("lambda-floor", &floor_bin),
        ("alarm-scaler", &scaler_bin),
        ("alarm-sync", &sync_bin),
    ] {
        let ((t, tlo, thi), (r, rlo, rhi)) = starts(bin);
        println!(
            "| {name} start-up to first poll | {} (p25–p75 {}–{}) |",
            ms(t),
            ms(tlo),
            ms(thi)
        );
        println!("| {name} peak RSS at first poll | {r} KiB ({rlo}–{rhi}) |");
    }
}
