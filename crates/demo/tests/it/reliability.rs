//! The reliability suite on the demo's world (moto, the real control plane with the shipped
//! RBAC, the Runtime API emulator running the real function binaries):
//!
//! - duplicates: each function given the same event 100 times acts exactly once;
//! - faults: with exactly 20 % of the Kubernetes calls failing (500, 429, dropped
//!   connections, in turn) the functions report errors (the invocation fails, so Lambda
//!   retries it), never leave the CR's bounds (observed past the faults, at every tick), and
//!   converge to the same state once retried; the same with 20 % of queue-scaler's SQS calls
//!   failing (injected by the moto gateway in SQS's protocol); and every function under 20 %
//!   faults on both its Kubernetes and AWS calls ends where a fault-free run ends, no
//!   injected fault swallowed: each is retried (a later call of the same operation in that
//!   invocation goes through) or reported (the invocation fails, or its answer counts
//!   errors), as the layers' logs and the answers show;
//! - secrets: every function at TRACE runs its flow, and no credential, bearer token or token
//!   signature is in the complete output of any process of the run.
//!
//! Counts are printed (`--no-capture`).
use demo::stage::{Stage, sample};
use demo::steps::{alarms, queues};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use serde_json::Value;
use testbed::harness::FaultConfig;
use testbed::harness::cluster::Served;
use testbed::harness::cluster::faults::unaccounted;
use testbed::harness::moto::twenty_percent_faults;
use testbed::harness::process;
use testbed::world::leaks;

const DELIVERIES: usize = 100;

fn sum(responses: &[Value], field: &str) -> u64 {
    responses
        .iter()
        .map(|r| match &r[field] {
            Value::Array(a) => a.len() as u64,
            v => v.as_u64().unwrap_or(0),
        })
        .sum()
}

/// `<faults> of <requests> = <share> %` for a fault layer's log.
fn share(log: &[Served]) -> String {
    let faults = log.iter().filter(|s| s.fault.is_some()).count();
    let percent = 100.0 * faults as f64 / log.len().max(1) as f64;
    format!("{faults} of {} requests = {percent:.1} %", log.len())
}

async fn rescale_events(w: &Stage, namespace: &str, name: &str) -> usize {
    Api::<Event>::namespaced(w.world.admin.clone(), namespace)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter(|e| e.reason.as_deref() == Some("SuccessfulRescale"))
        .count()
}

/// Users mapped in aws-auth.
fn map_users_entries(w: &Stage) -> usize {
    let aws_auth = w
        .world
        .cluster
        .get("configmaps", "kube-system", "aws-auth")
        .unwrap();
    let map_users = aws_auth["data"]["mapUsers"].as_str().unwrap_or_default();
    map_users.matches("userarn").count()
}

/// web-http-rate-high goes to ALARM; its SNS notification (message id `id`) as Lambda
/// delivers it.
async fn alarm_fires(w: &Stage, id: &str) -> Value {
    w.world.breach("web-http-rate-high").await;
    alarms::fired(w, "web-http-rate-high", id).await.unwrap()
}

/// The sample IamUserGroup, alice@example.com in IAM group developers, iam-sync deployed.
async fn seed_iam_membership(w: &mut Stage) {
    demo::steps::iam::seed_membership(w).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_acts_once_on_an_event_delivered_100_times() {
    let mut w = Stage::start(&demo::FUNCTIONS).await.unwrap();
    alarms::seed(&mut w).unwrap();
    let url = queues::seed_queue(&mut w).await.unwrap();
    queues::seed_consumer(&mut w, &url).await.unwrap();

    // alarm-sync: the same schedule tick, 100 times → each alarm created once.
    let tick = sample("events/alarm-sync/scheduled.json").unwrap();
    let mut responses = Vec::new();
    for _ in 0..DELIVERIES {
        responses.push(w.world.invoke_http("alarm-sync", &tick).await.unwrap());
    }
    let created = sum(&responses, "created");
    let alarms_in_cloudwatch = w.world.alarm_names().await.len();
    println!(
        "alarm-sync: {DELIVERIES} deliveries → {created} alarms created, {alarms_in_cloudwatch} in CloudWatch"
    );
    assert_eq!((created, alarms_in_cloudwatch), (2, 2));
    assert_eq!(sum(&responses, "updated") + sum(&responses, "deleted"), 0);

    // alarm-scaler: one notification delivered 100 times → one step, one Event.
    let notification = alarm_fires(&w, "dup-1").await;
    let mut decisions = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..DELIVERIES {
        let r = w
            .world
            .invoke_http("alarm-scaler", &notification)
            .await
            .unwrap();
        let d = r["outcomes"][0]["decision"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        *decisions.entry(d).or_default() += 1;
    }
    let replicas = w.world.replicas("web", "web").await;
    let events = rescale_events(&w, "web", "web").await;
    println!(
        "alarm-scaler: {DELIVERIES} deliveries → {decisions:?}, replicas 2 → {replicas}, {events} rescale Event(s)"
    );
    assert_eq!(decisions.get("scale_up"), Some(&1));
    assert_eq!(decisions.get("duplicate"), Some(&(DELIVERIES - 1)));
    assert_eq!((replicas, events), (4, 1));

    // queue-scaler: one schedule tick 100 times → one rescale (225 messages / 10 per
    // replica, clamped to maxReplicaCount 20).
    let tick = queues::scheduled("events/queue-scaler/scheduled.json").unwrap();
    let mut responses = Vec::new();
    for _ in 0..DELIVERIES {
        responses.push(w.world.invoke_http("queue-scaler", &tick).await.unwrap());
    }
    let workers = w.world.replicas("default", "worker").await;
    let rescaled = sum(&responses, "rescaled");
    let events = rescale_events(&w, "default", "worker").await;
    println!(
        "queue-scaler: {DELIVERIES} deliveries → {rescaled} rescale(s), worker 0 → {workers}, {events} rescale Event(s)"
    );
    assert_eq!((rescaled, workers, events), (1, 20, 1));

    // concurrency-scaler: one tick 100 times → one adjustment (unset → min 2 + step 4).
    let tick = queues::scheduled("events/concurrency-scaler/scheduled.json").unwrap();
    let mut responses = Vec::new();
    for _ in 0..DELIVERIES {
        responses.push(
            w.world
                .invoke_http("concurrency-scaler", &tick)
                .await
                .unwrap(),
        );
    }
    let lambda = aws_sdk_lambda::Client::new(&w.world.aws);
    let reserved = queues::reserved(&lambda, "orders-consumer").await.unwrap();
    let adjusted = sum(&responses, "adjusted");
    println!(
        "concurrency-scaler: {DELIVERIES} deliveries → {adjusted} adjustment(s), reserved concurrency unset → {reserved}"
    );
    assert_eq!((adjusted, reserved.as_str()), (1, "6"));

    // iam-sync: one AddUserToGroup delivered 100 times → one aws-auth change.
    seed_iam_membership(&mut w).await;
    let event = sample("events/iam-sync/add-user-to-group.json").unwrap();
    let mut responses = Vec::new();
    for _ in 0..DELIVERIES {
        responses.push(w.world.invoke_http("iam-sync", &event).await.unwrap());
    }
    let changes = sum(&responses, "changes");
    let entries = map_users_entries(&w);
    println!(
        "iam-sync: {DELIVERIES} deliveries → {changes} aws-auth change(s), {entries} mapUsers entry"
    );
    assert_eq!((changes, entries), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_20_percent_kubernetes_faults_the_scalers_report_errors_and_converge() {
    let mut w = Stage::start(&demo::FUNCTIONS).await.unwrap();
    alarms::seed(&mut w).unwrap();
    queues::seed_queue(&mut w).await.unwrap();
    let tick = sample("events/alarm-sync/scheduled.json").unwrap();
    w.world.invoke_http("alarm-sync", &tick).await.unwrap();
    w.world.cluster.set_faults(FaultConfig::twenty_percent(7));

    // alarm-scaler: SNS retries a failed delivery; every delivery of the one message is
    // either an error or at most one step, and the step happens exactly once.
    let notification = alarm_fires(&w, "fault-1").await;
    let (mut errors, mut steps) = (0, 0);
    for _ in 0..40 {
        match w.world.invoke_http("alarm-scaler", &notification).await {
            Ok(r) if r["outcomes"][0]["decision"] == "scale_up" => steps += 1,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    let fired = w.world.cluster.faults_fired().iter().sum::<u64>();
    let rate = share(&w.world.cluster.fault_log());
    w.world.cluster.clear_faults();
    let replicas = w.world.replicas("web", "web").await;
    println!(
        "alarm-scaler under faults: 40 deliveries, {fired} faults injected ({rate}), {errors} invocation errors, {steps} step(s), replicas 2 → {replicas}"
    );
    assert!(
        fired > 0 && errors > 0,
        "the faults bit: {fired} faults, {errors} errors"
    );
    assert_eq!(steps, 1, "exactly one step across every retry");
    assert!((2..=10).contains(&replicas));
    assert_eq!(replicas, 4);

    // queue-scaler: ticks under faults, then clean ticks: replicas converge to 3 and never
    // leave [0, 20].
    w.world.cluster.set_faults(FaultConfig::twenty_percent(11));
    let tick = queues::scheduled("events/queue-scaler/scheduled.json").unwrap();
    // The test observes past the front: its reads get no fault, so every tick is observed.
    let direct = Api::<Deployment>::namespaced(w.world.cluster.kube_client_direct(), "default");
    let (mut errors, mut observations) = (0, 0);
    for _ in 0..20 {
        if w.world.invoke_http("queue-scaler", &tick).await.is_err() {
            errors += 1;
        }
        let scale = direct.get_scale("worker").await.expect("worker's scale");
        let n = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        assert!((0..=20).contains(&n), "worker replicas {n} outside [0, 20]");
        observations += 1;
    }
    assert_eq!(observations, 20, "every tick observed");
    w.world.cluster.clear_faults();
    w.world.invoke_http("queue-scaler", &tick).await.unwrap();
    let workers = w.world.replicas("default", "worker").await;
    println!(
        "queue-scaler under faults: 20 ticks, {errors} invocation errors, {observations} observations within [0, 20]; after one clean tick worker = {workers}"
    );
    assert_eq!(workers, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_20_percent_aws_faults_queue_scaler_reports_errors_and_converges() {
    let mut w = Stage::start(&demo::FUNCTIONS).await.unwrap();
    queues::seed_queue(&mut w).await.unwrap();
    // Faults on the function's SQS reads only (set-up calls are left alone), in SQS's own
    // protocol: 500 InternalError, 400 ThrottlingException, a dropped connection, 1/15
    // each. The SDK retries them (standard mode, 3 attempts); what gets through fails the
    // invocation.
    w.world
        .moto
        .set_faults(&twenty_percent_faults(3, "GetQueueAttributes"))
        .unwrap();
    let tick = queues::scheduled("events/queue-scaler/scheduled.json").unwrap();
    let mut errors = 0;
    for _ in 0..30 {
        // A scaler whose queue cannot be read is reported in the run's summary and its
        // status; the invocation itself fails only when the run cannot proceed at all.
        errors += match w.world.invoke_http("queue-scaler", &tick).await {
            Ok(out) => out["errors"].as_u64().unwrap_or(0),
            Err(_) => 1,
        };
        let n = w.world.replicas("default", "worker").await;
        assert!((0..=20).contains(&n), "worker replicas {n} outside [0, 20]");
        assert!(
            n == 0 || n == 3,
            "only the queue's answer, never a guess: {n}"
        );
    }
    let (fired, looked_at) = w.world.moto.faults_fired().unwrap();
    let rate = share(&w.world.moto.fault_log().unwrap());
    w.world
        .moto
        .set_faults(&serde_json::json!({"rules": []}))
        .unwrap();
    w.world.invoke_http("queue-scaler", &tick).await.unwrap();
    let workers = w.world.replicas("default", "worker").await;
    println!(
        "queue-scaler under AWS faults: 30 ticks, {looked_at} requests seen, faults fired {fired:?} ({rate} of GetQueueAttributes), {errors} scaler errors reported (the SDK's retries absorb most); after one clean tick worker = {workers}"
    );
    assert!(fired.iter().sum::<u64>() > 0, "the faults bit: {fired:?}");
    assert_eq!(workers, 3);

    // SQS down (every read fails, retries too): each tick reports the scaler's error (the
    // run's summary, the CR's status) and leaves the Deployment as it was: no guess from a
    // missing depth.
    w.world
        .moto
        .set_faults(
            &serde_json::json!({"rules": [{"operation": "GetQueueAttributes",
            "fault": {"status": 503, "code": "ServiceUnavailable", "message": "SQS is down"}}]}),
        )
        .unwrap();
    for _ in 0..3 {
        let out = w.world.invoke_http("queue-scaler", &tick).await.unwrap();
        assert_eq!(out["errors"], 1, "{out}");
        assert_eq!(w.world.replicas("default", "worker").await, 3);
    }
    let cr = w
        .world
        .cluster
        .get(
            "sqsqueuescalers.autoscaling.k8s-lambda.dev",
            "default",
            "worker",
        )
        .expect("the scaler");
    assert!(
        cr["status"].to_string().contains("SQS is down"),
        "{}",
        cr["status"]
    );
    w.world
        .moto
        .set_faults(&serde_json::json!({"rules": []}))
        .unwrap();
}

/// Every function, with 20 % of its Kubernetes calls (at the cluster's front) and 20 % of
/// its AWS calls (the moto gateway, every operation, STS included) failing with 500, 429 /
/// throttling or a dropped connection: ten deliveries each under faults, then one clean
/// one; each ends where a fault-free run ends, having acted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_converges_under_20_percent_faults_on_both_sides() {
    const UNDER_FAULTS: usize = 10;
    let mut w = Stage::start(&demo::FUNCTIONS).await.unwrap();
    alarms::seed(&mut w).unwrap();
    let url = queues::seed_queue(&mut w).await.unwrap();
    queues::seed_consumer(&mut w, &url).await.unwrap();
    seed_iam_membership(&mut w).await;
    // The rules are set once and paused between the functions' runs under faults: each
    // layer's windows of five requests run on, so exactly one request in five fails.
    w.world.cluster.set_faults(FaultConfig::twenty_percent(21));
    w.world
        .moto
        .set_faults(&twenty_percent_faults(21, "*"))
        .unwrap();
    let pause = |w: &Stage, paused: bool| {
        w.world.cluster.pause_faults(paused);
        w.world.moto.pause_faults(paused).unwrap();
    };
    pause(&w, true);
    let mut errors = std::collections::BTreeMap::<&str, usize>::new();
    // Every request each side looked at under faults, and the faults no invocation
    // accounted for.
    let mut looked_at: (Vec<Served>, Vec<Served>) = Default::default();
    let mut swallowed = Vec::new();
    let mut under_faults = async |w: &Stage, function: &'static str, event: &Value| {
        pause(w, false);
        for _ in 0..UNDER_FAULTS {
            let before = (
                w.world.cluster.fault_log().len(),
                w.world.moto.fault_log().unwrap().len(),
            );
            let failed = match w.world.invoke_http(function, event).await {
                Ok(out) => out["errors"].as_u64().unwrap_or(0) > 0,
                Err(_) => true,
            };
            *errors.entry(function).or_default() += usize::from(failed);
            // This invocation's requests: the function's are the only ones meanwhile.
            let k8s = w.world.cluster.fault_log().split_off(before.0);
            let aws = w.world.moto.fault_log().unwrap().split_off(before.1);
            for side in [&k8s, &aws] {
                swallowed.extend(
                    unaccounted(side, failed)
                        .into_iter()
                        .map(|s| format!("{function}: {s:?}")),
                );
            }
            looked_at.0.extend(k8s);
            looked_at.1.extend(aws);
        }
        pause(w, true);
        w.world
            .invoke_http(function, event)
            .await
            .unwrap_or_else(|e| panic!("{function}, clean delivery: {e}"));
    };

    let tick = sample("events/alarm-sync/scheduled.json").unwrap();
    under_faults(&w, "alarm-sync", &tick).await;
    // The alarm fires (set up without faults: the alarms exist now).
    let notification = alarm_fires(&w, "faults-1").await;
    under_faults(&w, "alarm-scaler", &notification).await;
    let tick = queues::scheduled("events/queue-scaler/scheduled.json").unwrap();
    under_faults(&w, "queue-scaler", &tick).await;
    let tick = queues::scheduled("events/concurrency-scaler/scheduled.json").unwrap();
    under_faults(&w, "concurrency-scaler", &tick).await;
    let event = sample("events/iam-sync/add-user-to-group.json").unwrap();
    under_faults(&w, "iam-sync", &event).await;
    w.world.cluster.clear_faults();
    w.world
        .moto
        .set_faults(&serde_json::json!({"rules": []}))
        .unwrap();
    println!(
        "under faults: Kubernetes {}, AWS {}; deliveries that failed or reported errors, of {UNDER_FAULTS} each: {errors:?}; {} swallowed",
        share(&looked_at.0),
        share(&looked_at.1),
        swallowed.len()
    );
    for log in [&looked_at.0, &looked_at.1] {
        let faults = log.iter().filter(|s| s.fault.is_some()).count();
        assert!(faults > 0, "the faults bit");
        // Exactly one in five (the last window may be partial).
        assert!(
            (log.len() / 5..=log.len().div_ceil(5)).contains(&faults),
            "{}",
            share(log)
        );
    }
    assert!(swallowed.is_empty(), "faults swallowed: {swallowed:#?}");
    // Where a fault-free run ends (the duplicates test above): each acted once.
    let alarms_in_cloudwatch = w.world.alarm_names().await.len();
    assert_eq!(alarms_in_cloudwatch, 2, "alarm-sync");
    assert_eq!(
        w.world.replicas("web", "web").await,
        4,
        "alarm-scaler: one step"
    );
    assert_eq!(
        rescale_events(&w, "web", "web").await,
        1,
        "alarm-scaler Event"
    );
    assert_eq!(
        w.world.replicas("default", "worker").await,
        20,
        "queue-scaler"
    );
    let lambda = aws_sdk_lambda::Client::new(&w.world.aws);
    assert_eq!(
        queues::reserved(&lambda, "orders-consumer").await.unwrap(),
        "6",
        "concurrency-scaler: one step within its interval"
    );
    let entries = map_users_entries(&w);
    assert_eq!(entries, 1, "iam-sync");
}

/// Every function at TRACE (its SDK, HTTP, TLS and runtime crates included) runs its flow:
/// no secret access key or session token handed to a function, no bearer token sent to the
/// cluster and no signature of an EKS token is in the complete output of any process of the
/// run (the functions, moto's gateway, the control plane, the emulator), raw, base64- or
/// URL-encoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_output_of_any_process_at_trace() {
    let mut w = Stage::start(&demo::FUNCTIONS).await.unwrap();
    alarms::seed(&mut w).unwrap();
    let url = queues::seed_queue(&mut w).await.unwrap();
    queues::seed_consumer(&mut w, &url).await.unwrap();
    seed_iam_membership(&mut w).await;
    for function in demo::FUNCTIONS {
        w.deploy(function, &[("RUST_LOG", "trace")]).unwrap();
    }
    let tick = sample("events/alarm-sync/scheduled.json").unwrap();
    let synced = w.world.invoke_http("alarm-sync", &tick).await.unwrap();
    assert_eq!(sum(&[synced], "created"), 2);
    let notification = alarm_fires(&w, "trace-1").await;
    let stepped = w
        .world
        .invoke_http("alarm-scaler", &notification)
        .await
        .unwrap();
    assert_eq!(stepped["outcomes"][0]["decision"], "scale_up", "{stepped}");
    let tick = queues::scheduled("events/queue-scaler/scheduled.json").unwrap();
    let rescaled = w.world.invoke_http("queue-scaler", &tick).await.unwrap();
    assert_eq!(sum(&[rescaled], "rescaled"), 1);
    let tick = queues::scheduled("events/concurrency-scaler/scheduled.json").unwrap();
    let adjusted = w
        .world
        .invoke_http("concurrency-scaler", &tick)
        .await
        .unwrap();
    assert_eq!(sum(&[adjusted], "adjusted"), 1);
    let event = sample("events/iam-sync/add-user-to-group.json").unwrap();
    let changed = w.world.invoke_http("iam-sync", &event).await.unwrap();
    assert_eq!(sum(&[changed], "changes"), 1);

    let secrets = w.world.run_secrets(&[]);
    let tokens = secrets
        .iter()
        .filter(|s| s.what.starts_with("X-Amz-Signature"))
        .count();
    // Everything stopped: each process's output is complete.
    drop(w);
    let outputs = process::outputs();
    let leaks = leaks::search(&outputs, &secrets);
    println!(
        "secrets at TRACE: {} processes, {} lines searched for {} secrets ({tokens} EKS tokens' signatures among them) in {} forms: {} found",
        leaks.processes,
        leaks.lines,
        leaks.secrets,
        leaks.forms,
        leaks.found.len()
    );
    assert!(leaks.found.is_empty(), "{:#?}", leaks.found);
    assert!(
        tokens >= demo::FUNCTIONS.len() - 1,
        "EKS tokens seen: {tokens}"
    );
    // At TRACE: the SDKs' and hyper's lines are there to be searched.
    for function in demo::FUNCTIONS {
        let lines: usize = outputs
            .iter()
            .filter(|(name, _)| name == function)
            .map(|(_, o)| o.lines().count())
            .sum();
        assert!(lines > 200, "{function}: {lines} lines at TRACE");
    }
}
