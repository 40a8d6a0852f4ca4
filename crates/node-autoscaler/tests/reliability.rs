//! The reliability suite (issue 9) for node-autoscaler, on its stand-ins (moto behind the
//! fault-injecting gateway, the real control plane with the shipped RBAC behind its
//! fault-injecting front, Prometheus, the Runtime API emulator running the real binary):
//!
//! - duplicates: one Spot interruption warning delivered 100 times drains, replaces and
//!   terminates once; one scheduled tick (pending pods) delivered 100 times scales up once.
//!   Counted in the run summaries, the function's log, and at the gateway (every
//!   RunInstances / TerminateInstances that reached EC2).
//! - faults: a scale-up, two scale-downs (drained) and a Spot warning, each delivered five
//!   times with 20 % of the Kubernetes calls and 20 % of the AWS calls failing (500, 429 /
//!   throttling, dropped connections; fixed seeds), then once cleanly (the retry that gets
//!   through), then clean ticks until the cluster settles: the workers stay within
//!   [MIN_WORKERS, MAX_WORKERS] at every observation, no instance is launched without the
//!   cluster's tags or left running without a Node past its join timeout, no Node is ever
//!   cordoned without a recorded action, errors are reported, and the end state is the one
//!   the same scenario reaches without faults.
//! - a scale-down whose drain fails and whose rollback (uncordon) fails too is reported and
//!   keeps its record, so the next run finishes it: no Node is left cordoned for ever.
//!
//! Counts are printed (`--no-capture`).
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::Instance;
use jiff::Timestamp;
use serde_json::{Value, json};
use support::{MASTER_TAG, WORKER_TAG, World, scheduled, spot_warning};
use testbed::harness::moto::twenty_percent_faults;
use testbed::harness::{FaultAction, FaultConfig, FaultRule, Supervised};

const DELIVERIES: usize = 100;
/// MIN_WORKERS and MAX_WORKERS of the World's configuration.
const MIN: usize = 1;
const MAX: usize = 5;
/// JOIN_TIMEOUT_SEC of the World's configuration.
const JOIN_TIMEOUT: i64 = 300;
/// LEASE_SEC of the World's configuration.
const LEASE: i64 = 120;
const LAUNCHED_BY: &str = "node-autoscaler/launched-by";
/// Deliveries of each of the four events under faults, before the clean one (twenty in
/// all: a faulted invocation takes about a second, the SDK's retries backing off).
const UNDER_FAULTS: usize = 5;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

/// `decision`, or `decision/why` for holds and ignored events.
fn decision_of(out: &Value) -> String {
    match (out["decision"].as_str(), out["why"].as_str()) {
        (Some(d @ ("hold" | "ignored")), Some(why)) => format!("{d}/{why}"),
        (Some(d), _) => d.to_owned(),
        _ => panic!("no decision in the summary: {out}"),
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The gateway counts the RunInstances and TerminateInstances that reach EC2 (a 1 ms delay
/// "fault" fires on each and lets it through).
fn count_ec2_calls(w: &World) {
    w.moto
        .set_faults(&json!({"rules": [
            {"operation": "RunInstances", "fault": {"delay_ms": 1}},
            {"operation": "TerminateInstances", "fault": {"delay_ms": 1}},
        ]}))
        .unwrap();
}

fn ec2_calls(w: &World) -> (u64, u64) {
    let (fired, _) = w.moto.faults_fired().unwrap();
    (fired[0], fired[1])
}

/// How many log lines of the function carry each `decision` field (reads what it printed
/// so far, waiting a second for the last lines).
fn logged_decisions(function: &mut Supervised) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let _ = function.wait_for_line(Duration::from_secs(1), |line| {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let Some(d) = v["fields"]["decision"].as_str()
        {
            *counts.entry(d.to_owned()).or_default() += 1;
        }
        None::<()>
    });
    counts
}

/// Every instance moto knows, any state.
async fn all_instances(w: &World) -> Vec<Instance> {
    let out = w.ec2.describe_instances().send().await.expect("describe");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect()
}

/// The instances launched for `event` (tagged with its id), in any state.
async fn launched_for(w: &World, event: &Value) -> Vec<String> {
    all_instances(w)
        .await
        .iter()
        .filter(|i| tag(i, LAUNCHED_BY) == event["id"].as_str())
        .map(|i| i.instance_id().unwrap_or_default().to_owned())
        .collect()
}

fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn state(i: &Instance) -> &str {
    i.state().and_then(|s| s.name()).map_or("", |n| n.as_str())
}

fn live(i: &Instance) -> bool {
    matches!(state(i), "pending" | "running")
}

fn is_worker(i: &Instance) -> bool {
    tag(i, WORKER_TAG.0) == Some(WORKER_TAG.1) && tag(i, MASTER_TAG.0) != Some(MASTER_TAG.1)
}

fn node_instance(node: &Value) -> String {
    node["spec"]["providerID"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn node_name(node: &Value) -> String {
    node["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

// ---------------------------------------------------------------- duplicates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_spot_warning_delivered_100_times_drains_replaces_and_terminates_once() {
    let w = World::start(&support::steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.deployment("web", 2, "500m", 0);
    let b = w.worker(1, "worker-b").await;
    let mut function = w.spawn(&[]);
    count_ec2_calls(&w);
    let warning = spot_warning(support::t0(), &a);

    let mut decisions = BTreeMap::<String, usize>::new();
    let mut replacements = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..DELIVERIES {
        let out = w
            .invoke_http(&warning)
            .await
            .expect("every delivery answers");
        *decisions.entry(decision_of(&out)).or_default() += 1;
        replacements.extend(ids(&out["replacement"]));
        if let Some(o) = out["outcome"].as_str() {
            outcomes.push(o.to_owned());
        }
    }
    let (run_instances, terminate_instances) = ec2_calls(&w);
    let logged = logged_decisions(&mut function);
    let instances = all_instances(&w).await;
    let launched: Vec<&Instance> = instances
        .iter()
        .filter(|i| tag(i, LAUNCHED_BY).is_some())
        .collect();
    println!(
        "spot warning: {DELIVERIES} deliveries → {decisions:?}; outcomes {outcomes:?}; \
         {} replacement(s) reported, {} instance(s) launched in EC2; RunInstances {run_instances}, \
         TerminateInstances {terminate_instances} reached EC2; logged {logged:?}",
        replacements.len(),
        launched.len()
    );

    assert_eq!(
        decisions.get("cordon_drain_replace"),
        Some(&1),
        "{decisions:?}"
    );
    assert_eq!(
        decisions.get("ignored/not_ours"),
        Some(&(DELIVERIES - 1)),
        "the instance is gone: every later delivery is ignored: {decisions:?}"
    );
    assert_eq!(outcomes, ["terminated"]);
    assert_eq!(replacements.len(), 1);
    assert_eq!((run_instances, terminate_instances), (1, 1));
    for d in ["drained", "terminated", "launched"] {
        assert_eq!(logged.get(d), Some(&1), "{d} once in the log: {logged:?}");
    }
    // EC2: the warned instance terminated, the replacement (tagged as ours) running, b and the
    // control plane untouched, nothing else.
    assert_eq!(launched.len(), 1);
    let r = launched[0];
    assert_eq!(r.instance_id(), Some(replacements[0].as_str()));
    assert!(live(r) && is_worker(r), "{r:?}");
    assert_eq!(w.state(&a).await, "terminated");
    assert_eq!(w.state(&b).await, "running");
    assert_eq!(w.state(&w.master).await, "running");
    assert_eq!(instances.len(), 4, "master, a, b, the replacement");
    // Kubernetes: its Node deleted once drained; b schedulable and running the pods; no
    // action left recorded.
    assert!(w.node("worker-a").is_none());
    assert!(!w.cordoned("worker-b"));
    support::eventually("web pods on worker-b", support::SETTLE, async || {
        w.pods_by_node("web").iter().all(|(_, n)| n == "worker-b")
    })
    .await;
    let actions = w.actions().await;
    assert!(actions.is_empty(), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scheduled_tick_delivered_100_times_scales_up_once() {
    // 50% CPU, 5 pods pending for the whole window (as scale_up.rs): 3 launches.
    let w = World::start(&support::steady_metrics(0.5, 5)).await;
    w.worker(0, "worker-a").await;
    w.deployment("web", 6, "1500m", 0);
    let mut function = w.spawn(&[]);
    count_ec2_calls(&w);
    let t0 = support::t0();
    let tick = scheduled(t0);

    let mut decisions = BTreeMap::<String, usize>::new();
    let mut launched = Vec::new();
    for _ in 0..DELIVERIES {
        let out = w.invoke_http(&tick).await.expect("every delivery answers");
        *decisions.entry(decision_of(&out)).or_default() += 1;
        launched.extend(ids(&out["launched"]));
        assert_eq!(out["errors"].as_array().map_or(0, Vec::len), 0, "{out}");
    }
    let (run_instances, terminate_instances) = ec2_calls(&w);
    let logged = logged_decisions(&mut function);
    let workers = w.live_workers().await;
    println!(
        "scheduled tick: {DELIVERIES} deliveries → {decisions:?}; {} launched; RunInstances \
         {run_instances}, TerminateInstances {terminate_instances} reached EC2; live workers \
         1 → {}; logged {logged:?}",
        launched.len(),
        workers.len()
    );
    assert_eq!(decisions.get("scale_up"), Some(&1), "{decisions:?}");
    assert_eq!(
        decisions.get("hold/cooldown_up"),
        Some(&(DELIVERIES - 1)),
        "{decisions:?}"
    );
    assert_eq!(launched.len(), 3);
    assert_eq!((run_instances, terminate_instances), (3, 0));
    assert_eq!(logged.get("scale_up"), Some(&1), "{logged:?}");
    assert_eq!(logged.get("launched"), Some(&3), "{logged:?}");
    assert_eq!(workers.len(), 4);
    for id in &launched {
        assert!(workers.contains(id), "{id} running");
    }
    let items = w.items().await;
    let state = &items.iter().find(|(k, _)| k == "state").expect("state").1;
    assert_eq!(state["last_up"].as_i64(), Some(t0.as_second()));
}

// ---------------------------------------------------------------- faults

/// Where the scenario ends, in terms that do not depend on instance ids.
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    live_workers: usize,
    /// Ready, schedulable worker Nodes (one per live worker).
    worker_nodes: usize,
    cordoned_nodes: usize,
    recorded_actions: usize,
    /// `web` pods running on a node, and pending.
    web_running: usize,
    web_pending: usize,
    small_running: usize,
    burst_pods: usize,
    /// The final tick's hold.
    settled: String,
}

/// What the fault-free scenario reaches (its test checks it): two workers, one `web` pod on
/// each and the small pods; neither can go (the other could not hold its pods).
fn reference_end_state() -> EndState {
    EndState {
        live_workers: 2,
        worker_nodes: 2,
        cordoned_nodes: 0,
        recorded_actions: 0,
        web_running: 2,
        web_pending: 0,
        small_running: 4,
        burst_pods: 0,
        settled: "hold/no_candidate".into(),
    }
}

#[derive(Default, Debug)]
struct Counts {
    invocations: usize,
    under_faults: usize,
    /// Invocations that failed (Lambda retries those).
    invocation_errors: usize,
    /// Invocations that answered with errors in their summary (failed launches, aborted
    /// drains).
    summary_errors: usize,
    k8s_faults: u64,
    aws_faults: u64,
    decisions: BTreeMap<String, usize>,
    launched: usize,
    terminated: usize,
    replacements: usize,
    observations: usize,
    /// Time spent in invocations, and the longest one.
    invoking: Duration,
    slowest: Duration,
    /// The invocations' errors (the start of each).
    errors: Vec<String>,
}

struct Scenario<'a> {
    w: &'a World,
    faults: bool,
    seed: u64,
    /// Instances the test made (the control plane, the first worker).
    ours: Vec<String>,
    /// When each instance was first seen, on the scenario's clock.
    first_seen: BTreeMap<String, i64>,
    counts: Counts,
}

impl Scenario<'_> {
    fn faults_on(&mut self) {
        self.seed += 1;
        self.w.tb.set_faults(FaultConfig::twenty_percent(self.seed));
        self.w
            .moto
            .set_faults(&twenty_percent_faults(self.seed, "*"))
            .unwrap();
    }

    /// Off while the test observes and plays the kubelets (its own calls go through the
    /// same API server and gateway); the counts are kept.
    fn faults_off(&mut self) {
        self.counts.k8s_faults += self.w.tb.faults_fired().iter().sum::<u64>();
        self.w.tb.clear_faults();
        self.counts.aws_faults += self.w.moto.faults_fired().unwrap().0.iter().sum::<u64>();
        self.w.moto.set_faults(&json!({"rules": []})).unwrap();
    }

    /// One delivery of `event` (deciding at `now`), with or without faults, then an
    /// observation of the invariants.
    async fn deliver(&mut self, event: &Value, now: i64, faulted: bool) -> Result<Value, String> {
        if faulted {
            self.faults_on();
        }
        let began = std::time::Instant::now();
        let result = self.w.invoke_http(event).await;
        let took = began.elapsed();
        self.counts.invoking += took;
        self.counts.slowest = self.counts.slowest.max(took);
        if faulted {
            self.faults_off();
            self.counts.under_faults += 1;
        }
        self.counts.invocations += 1;
        match &result {
            Err(e) => {
                self.counts.invocation_errors += 1;
                let e = e.split("errorMessage").last().unwrap_or(e);
                self.counts.errors.push(e.chars().take(200).collect());
                *self.counts.decisions.entry("error".into()).or_default() += 1;
            }
            Ok(out) => {
                *self.counts.decisions.entry(decision_of(out)).or_default() += 1;
                self.counts.launched += ids(&out["launched"]).len();
                self.counts.replacements += ids(&out["replacement"]).len();
                self.counts.terminated += ids(&out["terminated"]).len()
                    + usize::from(out["outcome"] == "terminated")
                    + out["resumed"].as_array().map_or(0, |r| {
                        r.iter().filter(|r| r["outcome"] == "terminated").count()
                    });
                let errors = out["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e != "at MAX_WORKERS: no replacement"))
                    || out["aborted"].as_array().is_some_and(|a| !a.is_empty())
                    || out["outcome"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("aborted"))
                    || out["resumed"].as_array().is_some_and(|r| {
                        r.iter()
                            .any(|r| r["outcome"].as_str().is_some_and(|o| o != "terminated"))
                    });
                self.counts.summary_errors += usize::from(errors);
            }
        }
        self.observe(now, &result).await;
        result
    }

    /// The invariants, at any observation.
    async fn observe(&mut self, now: i64, last: &Result<Value, String>) {
        self.counts.observations += 1;
        let instances = all_instances(self.w).await;
        let workers: Vec<&Instance> = instances
            .iter()
            .filter(|i| live(i) && is_worker(i))
            .collect();
        assert!(
            (MIN..=MAX).contains(&workers.len()),
            "{} live workers, outside [{MIN}, {MAX}], after {last:?}",
            workers.len()
        );
        // Nothing launched without the cluster's ownership tags.
        for i in instances.iter().filter(|i| live(i)) {
            let id = i.instance_id().unwrap_or_default();
            if self.ours.iter().any(|o| o == id) {
                continue;
            }
            assert!(
                is_worker(i) && tag(i, LAUNCHED_BY).is_some(),
                "{id} is running without the worker and launched-by tags: {:?}",
                i.tags()
            );
        }
        // Every running worker has a Node, or is still within its join timeout.
        let nodes = self.w.tb.list("nodes", None);
        for i in &workers {
            let id = i.instance_id().unwrap_or_default();
            if nodes.iter().any(|n| node_instance(n) == id) {
                continue;
            }
            // On the scenario's clock (the events' times): first seen at an observation.
            let launched = *self.first_seen.entry(id.to_owned()).or_insert(now);
            assert!(
                now - launched < JOIN_TIMEOUT,
                "{id} runs without a Node {}s after its launch (at {now})",
                now - launched
            );
        }
        // A cordoned Node always has a recorded action (to resume or roll back): the
        // record is written before the cordon, and kept until the node is gone or
        // schedulable again, whatever failed in between.
        let actions = self.w.actions().await;
        for n in nodes.iter().filter(|n| n["spec"]["unschedulable"] == true) {
            let name = node_name(n);
            assert!(
                actions.iter().any(|(_, a)| a["node"] == name.as_str()),
                "node {name} cordoned without a recorded action (last invocation: {last:?})"
            );
        }
    }

    /// `event` delivered UNDER_FAULTS times under faults (none in the reference run), then
    /// once cleanly, as the retry that gets through. A lease left held by a failed run (its
    /// release failed too) is waited out, as the next retry would: the same event, later.
    async fn phase(&mut self, name: &str, event: &Value) {
        let at = event["time"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap();
        let now = at.as_second();
        for _ in 0..UNDER_FAULTS {
            let _ = self.deliver(event, now, self.faults).await;
        }
        let mut out = self
            .deliver(event, now, false)
            .await
            .unwrap_or_else(|e| panic!("{name}: the clean delivery failed: {e}"));
        if out["decision"] == "locked" || out["decision"] == "in_progress" {
            let mut later = event.clone();
            later["time"] = ts(now + LEASE + 1).to_string().into();
            out = self
                .deliver(&later, now + LEASE + 1, false)
                .await
                .unwrap_or_else(|e| panic!("{name}: the later delivery failed: {e}"));
        }
        println!("{name}: clean delivery → {}", decision_of(&out));
    }

    /// The kubelets of the launched instances register their Nodes.
    async fn join_new(&self) {
        let nodes = self.w.tb.list("nodes", None);
        for i in all_instances(self.w).await {
            let id = i.instance_id().unwrap_or_default();
            if live(&i) && is_worker(&i) && !nodes.iter().any(|n| node_instance(n) == id) {
                self.w.join(id, &format!("w-{id}")).await;
            }
        }
    }
}

/// A burst of pending pods (scale-up), the burst ending (two scale-downs, each draining a
/// worker), a Spot interruption warning (replacement, drain, terminate), then clean ticks
/// until the cluster settles. With `faults`, each event is first delivered UNDER_FAULTS
/// times under 20 % Kubernetes and 20 % AWS faults.
async fn scenario(faults: bool) -> (EndState, Counts) {
    let base = Timestamp::now().as_second() + 60;
    // Pods pending (50% CPU) until base + 300, then idle (10% CPU, nothing pending).
    let w = World::start(&support::phased_metrics(base + 300, (0.5, 5), (0.1, 0))).await;
    let a = w.worker(0, "worker-a").await;
    // One web pod runs on worker-a (2 CPU); one web and three burst pods pend: 6 CPU, three
    // workers (SCALE_UP_BATCH).
    w.deployment("web", 2, "1500m", 0);
    w.deployment("burst", 3, "1500m", 0);
    // Small pods, so that the scale-downs evict something.
    w.deployment("small", 4, "100m", 0);
    let _function = w.spawn(&[]);
    let mut s = Scenario {
        w: &w,
        faults,
        // Fixed; RELIABILITY_SEED explores others.
        seed: std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(9000),
        ours: vec![w.master.clone(), a],
        first_seen: BTreeMap::new(),
        counts: Counts::default(),
    };

    s.phase("scale-up", &scheduled(ts(base))).await;
    s.join_new().await;
    // The burst ends.
    kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(w.admin.clone(), "default")
        .delete("burst", &Default::default())
        .await
        .expect("delete burst");
    support::eventually("burst pods gone", support::SETTLE, async || {
        w.pods_by_node("burst").is_empty()
    })
    .await;
    // Idle for IDLE_DOWN_SEC, and COOLDOWN_DOWN_SEC apart.
    s.phase("scale-down 1", &scheduled(ts(base + 1000))).await;
    s.phase("scale-down 2", &scheduled(ts(base + 1700))).await;
    s.join_new().await;

    // A Spot interruption warning for one of the workers left.
    let nodes = w.tb.list("nodes", None);
    let mut candidates: Vec<(String, String)> = Vec::new();
    for id in w.live_workers().await {
        if let Some(n) = nodes.iter().find(|n| node_instance(n) == id) {
            candidates.push((node_name(n), id));
        }
    }
    candidates.sort();
    let (_, victim) = candidates.first().expect("a worker to warn").clone();
    let warning = spot_warning(ts(base + 1800), &victim);
    s.phase("spot warning", &warning).await;
    let replacements = launched_for(&w, &warning).await;
    assert!(
        replacements.len() <= 1,
        "one warning, several replacements: {replacements:?}"
    );
    assert_eq!(w.state(&victim).await, "terminated");
    s.join_new().await;

    // Clean ticks, COOLDOWN_DOWN_SEC apart, until one holds for good.
    let mut settled = String::new();
    for k in 0..6 {
        let t = base + 2500 + 700 * k;
        s.join_new().await;
        let out = s
            .deliver(&scheduled(ts(t)), t, false)
            .await
            .expect("clean tick");
        let d = decision_of(&out);
        let busy = !out["resumed"].as_array().is_none_or(Vec::is_empty)
            || !out["unjoinedTerminated"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if d.starts_with("hold/") && !d.contains("cooldown") && d != "hold/joining" && !busy {
            settled = d;
            break;
        }
    }
    support::eventually("pods scheduled", support::SETTLE, async || {
        ["web", "small"]
            .iter()
            .all(|app| w.pods_by_node(app).iter().all(|(_, n)| !n.is_empty()))
    })
    .await;

    let nodes = w.tb.list("nodes", None);
    let workers = w.live_workers().await;
    let worker_nodes: Vec<&Value> = nodes
        .iter()
        .filter(|n| workers.contains(&node_instance(n)))
        .collect();
    let web = w.pods_by_node("web");
    let end = EndState {
        live_workers: workers.len(),
        worker_nodes: worker_nodes
            .iter()
            .filter(|n| node_ready(n) && n["spec"]["unschedulable"] != true)
            .count(),
        cordoned_nodes: nodes
            .iter()
            .filter(|n| n["spec"]["unschedulable"] == true)
            .count(),
        recorded_actions: w
            .items()
            .await
            .iter()
            .filter(|(k, _)| k.starts_with("action#"))
            .count(),
        web_running: web.iter().filter(|(_, n)| !n.is_empty()).count(),
        web_pending: web.iter().filter(|(_, n)| n.is_empty()).count(),
        small_running: w
            .pods_by_node("small")
            .iter()
            .filter(|(_, n)| !n.is_empty())
            .count(),
        burst_pods: w.pods_by_node("burst").len(),
        settled,
    };
    // Every worker Node belongs to a running instance (none left behind by a removal).
    for n in &nodes {
        let name = node_name(n);
        assert!(
            name == "master" || workers.contains(&node_instance(n)),
            "node {name} has no running instance"
        );
    }
    (end, s.counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_the_scenario_reaches_the_reference_end_state() {
    let (end, counts) = scenario(false).await;
    println!("reference run: {counts:?}");
    println!("reference run: end state {end:?}");
    assert_eq!(counts.invocation_errors + counts.summary_errors, 0);
    // Each event acted once however often delivered: 3 launched, 2 scale-downs, 1 Spot
    // replacement and its termination.
    assert_eq!(counts.decisions.get("scale_up"), Some(&1), "{counts:?}");
    assert_eq!(counts.decisions.get("scale_down"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.decisions.get("cordon_drain_replace"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        (counts.launched, counts.replacements, counts.terminated),
        (3, 1, 3)
    );
    assert_eq!(end, reference_end_state());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_20_percent_kubernetes_and_aws_faults_it_reports_errors_and_converges() {
    let (end, counts) = scenario(true).await;
    println!(
        "under faults: {} invocations ({} under faults): {} Kubernetes and {} AWS faults fired; \
         {} invocation errors, {} summaries with errors; {} observations (none with a \
         Node cordoned and untracked); launched {}, replacements {}, terminated {}; \
         decisions {:?}",
        counts.invocations,
        counts.under_faults,
        counts.k8s_faults,
        counts.aws_faults,
        counts.invocation_errors,
        counts.summary_errors,
        counts.observations,
        counts.launched,
        counts.replacements,
        counts.terminated,
        counts.decisions
    );
    println!(
        "under faults: {:?} in invocations, the longest {:?}; errors: {:#?}",
        counts.invoking, counts.slowest, counts.errors
    );
    println!("under faults: end state {end:?}");
    assert!(
        counts.k8s_faults > 0 && counts.aws_faults > 0,
        "the faults bit on both sides: {counts:?}"
    );
    assert!(
        counts.invocation_errors + counts.summary_errors > 0,
        "faults that got through are reported: {counts:?}"
    );
    assert!(
        counts.replacements <= 1,
        "one warning, one replacement at most: {counts:?}"
    );
    assert_eq!(end, reference_end_state(), "where the fault-free run ends");
}

/// A scale-down whose drain fails (the evicted pod outlives DRAIN_TIMEOUT_SEC) and whose
/// rollback fails too (the uncordon is refused): the node must not be left cordoned with no
/// action recorded. The run reports the error and keeps the record; the next run, faults
/// gone, finishes the action (or rolls it back): no Node stays cordoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_rollback_fails_is_reported_and_finished_by_the_next_run() {
    let w = World::start(&support::steady_metrics(0.1, 0)).await;
    // One pod per 1-CPU worker, each taking 10 minutes to terminate once evicted (its
    // kubelet slow to stop it).
    for (zone, node) in [(0, "worker-a"), (1, "worker-b"), (0, "worker-c")] {
        w.slow_worker(zone, node, "1").await;
    }
    w.deployment("slow", 3, "600m", 600);
    let _function = w.spawn(&[("DRAIN_TIMEOUT_SEC", "3")]);
    let t0 = support::t0();

    // Once the victim is cordoned (the drain waits for its evicted pod), every node patch
    // fails: the uncordon of the rollback is refused.
    let cordoned = async {
        support::eventually("a worker cordoned", Duration::from_secs(30), async || {
            ["worker-a", "worker-c"].iter().any(|n| w.cordoned(n))
        })
        .await;
        w.tb.set_faults(FaultConfig {
            seed: 1,
            rules: vec![
                FaultRule::new(FaultAction::Error {
                    code: 500,
                    message: Some("injected: patch refused".into()),
                })
                .verbs(&["patch"])
                .resources(&["nodes"]),
            ],
        });
    };
    let tick = scheduled(t0);
    let (result, ()) = tokio::join!(w.invoke_http(&tick), cordoned);
    let fired = w.tb.faults_fired();
    w.tb.clear_faults();
    let node = ["worker-a", "worker-c"]
        .into_iter()
        .find(|n| w.cordoned(n))
        .expect("the victim is still cordoned");
    let actions: Vec<(String, Value)> = w
        .items()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("action#"))
        .collect();
    println!("drain and rollback failed ({fired:?} faults): {result:?}; actions {actions:?}");
    assert!(fired[0] >= 1, "the uncordon was refused: {fired:?}");
    let err = result.expect_err("the run reports that it left a node cordoned");
    assert!(err.contains(node), "{err}");
    assert_eq!(actions.len(), 1, "the action stays recorded");
    assert_eq!(actions[0].1["node"], node);

    // The evicted pod finishes; the next run resumes the recorded action first: no node is
    // left cordoned, no action recorded.
    w.finish_terminating();
    let out = w
        .invoke_http(&scheduled(support::at(t0, 60)))
        .await
        .expect("next run");
    println!("next run: {out}");
    assert_eq!(out["resumed"].as_array().map(Vec::len), Some(1), "{out}");
    assert!(
        !["worker-a", "worker-b", "worker-c"]
            .iter()
            .any(|n| w.cordoned(n)),
        "{out}"
    );
    let actions = w.actions().await;
    assert!(actions.is_empty(), "{actions:?}");
}

/// A Spot warning whose run launched the replacement but failed to terminate the warned
/// instance (EC2 refused, retries too) fails, and is retried: the retry finishes the job
/// without launching a second replacement for the same warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_warning_retried_after_a_failed_termination_launches_one_replacement() {
    let w = World::start(&support::steady_metrics(0.5, 0)).await;
    let a = w.worker(0, "worker-a").await;
    w.worker(1, "worker-b").await;
    let _function = w.spawn(&[]);
    let warning = spot_warning(support::t0(), &a);

    w.moto
        .set_faults(&json!({"rules": [{"operation": "TerminateInstances",
            "fault": {"status": 503, "code": "Unavailable", "message": "injected: EC2 unavailable"}}]}))
        .unwrap();
    let first = w.invoke_http(&warning).await;
    let (fired, _) = w.moto.faults_fired().unwrap();
    w.moto.set_faults(&json!({"rules": []})).unwrap();
    println!("first delivery ({fired:?} TerminateInstances refused): {first:?}");
    let err = first.expect_err("the termination failed: the invocation fails, to be retried");
    assert!(err.contains("TerminateInstances"), "{err}");
    assert_eq!(w.state(&a).await, "running");

    let retry = w.invoke_http(&warning).await.expect("the retry");
    let replacements = launched_for(&w, &warning).await;
    println!("retry: {retry}; replacements in EC2: {replacements:?}");
    assert_eq!(retry["outcome"], "terminated", "{retry}");
    assert_eq!(w.state(&a).await, "terminated");
    assert_eq!(replacements.len(), 1, "one warning, one replacement");
    assert_eq!(ids(&retry["replacement"]), replacements, "{retry}");
    assert_eq!(w.live_workers().await.len(), 2, "b and the replacement");
}
