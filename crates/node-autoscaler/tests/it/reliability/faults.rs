//! A scale-up, two scale-downs (drained) and a Spot warning, each delivered under 20 %
//! Kubernetes and 20 % AWS faults, then cleanly: the invariants hold at every observation
//! and the end state is the fault-free run's.
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::Instance;
use jiff::Timestamp;
use serde_json::Value;
use testbed::harness::cluster::Served;
use testbed::harness::cluster::faults::unaccounted;
use testbed::harness::cluster::node_ready;
use testbed::harness::moto::twenty_percent_faults;
use testbed::harness::{FaultConfig, eventually};
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, phased_metrics};
use testbed::world::scheduled;

use super::{LAUNCHED_BY, all_instances, decision_of, ids, is_worker, launched_for, live, tag};
use crate::support::{Scenarios, spot_warning};

/// MIN_WORKERS and MAX_WORKERS of the stand-ins' configuration ([`K3s::start`]).
const MIN: usize = 1;
const MAX: usize = 5;
/// JOIN_TIMEOUT_SEC of the stand-ins' configuration ([`K3s::start`]).
const JOIN_TIMEOUT: i64 = 300;
/// LEASE_SEC of the stand-ins' configuration ([`K3s::start`]).
const LEASE: i64 = 120;
/// How long the pod garbage collector may take to delete the pods of a deleted Node
/// (kube-controller-manager: 40 s quarantine, checked every 20 s).
const PODGC: Duration = Duration::from_secs(120);
/// Deliveries of each of the four events under faults, before the clean one (twenty in
/// all: a faulted invocation takes about a second, the SDK's retries backing off).
const UNDER_FAULTS: usize = 5;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
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
    /// Requests looked at under faults (Kubernetes, AWS), and how many got one.
    looked_at: (usize, usize),
    faulted: (usize, usize),
    /// Injected faults neither retried nor reported.
    swallowed: Vec<String>,
}

struct Scenario<'a> {
    w: &'a K3s,
    faults: bool,
    seed: u64,
    /// The layers' log lengths when the current delivery under faults began.
    logged: (usize, usize),
    /// Instances the test made (the control plane, the first worker).
    ours: Vec<String>,
    /// When each instance was first seen, on the scenario's clock.
    first_seen: BTreeMap<String, i64>,
    counts: Counts,
}

impl Scenario<'_> {
    /// The rules, set once for the whole run and paused between the deliveries under
    /// faults: each layer's windows of five requests run on across the deliveries, so
    /// exactly one request in five of all the function's calls under faults fails.
    fn arm_faults(&mut self) {
        self.w
            .cluster
            .set_faults(FaultConfig::twenty_percent(self.seed));
        self.w
            .moto
            .set_faults(&twenty_percent_faults(self.seed, "*"))
            .unwrap();
        self.pause_faults(true);
    }

    fn pause_faults(&mut self, paused: bool) {
        self.w.cluster.pause_faults(paused);
        self.w.moto.pause_faults(paused).unwrap();
    }

    /// On for one delivery; the layers' logs so far are noted, to tell its requests.
    fn faults_on(&mut self) {
        self.logged = (
            self.w.cluster.fault_log().len(),
            self.w.moto.fault_log().unwrap().len(),
        );
        self.pause_faults(false);
    }

    /// Accounts for the faults injected in the delivery that just ended (`reported`: it
    /// failed, or its answer reports errors): each retried (a later call of its operation
    /// in that invocation went through) or reported.
    fn account(&mut self, reported: bool) {
        let logs = [
            self.w.cluster.fault_log().split_off(self.logged.0),
            self.w.moto.fault_log().unwrap().split_off(self.logged.1),
        ];
        let faulted = |log: &[Served]| log.iter().filter(|s| s.fault.is_some()).count();
        self.counts.looked_at.0 += logs[0].len();
        self.counts.looked_at.1 += logs[1].len();
        self.counts.faulted.0 += faulted(&logs[0]);
        self.counts.faulted.1 += faulted(&logs[1]);
        for log in &logs {
            let swallowed = unaccounted(log, reported);
            self.counts
                .swallowed
                .extend(swallowed.iter().map(|s| format!("{s:?}")));
        }
    }

    /// Off (paused) while the test observes and plays the kubelets (its own calls go
    /// through the same API server and gateway).
    fn faults_off(&mut self) {
        self.pause_faults(true);
    }

    /// One delivery of `event` (deciding at `now`), with or without faults, then an
    /// observation of the invariants.
    async fn deliver(&mut self, event: &Value, now: i64, faulted: bool) -> Result<Value, String> {
        if faulted {
            self.faults_on();
        }
        let began = std::time::Instant::now();
        let result = self.w.invoke_http(FUNCTION, event).await;
        let took = began.elapsed();
        self.counts.invoking += took;
        self.counts.slowest = self.counts.slowest.max(took);
        self.counts.invocations += 1;
        let reported = match &result {
            Err(e) => {
                self.counts.invocation_errors += 1;
                let e = e.split("errorMessage").last().unwrap_or(e);
                self.counts.errors.push(e.chars().take(200).collect());
                *self.counts.decisions.entry("error".into()).or_default() += 1;
                true
            }
            Ok(out) => {
                *self.counts.decisions.entry(decision_of(out)).or_default() += 1;
                self.counts.launched += ids(&out["launched"]).len();
                self.counts.replacements += ids(&out["replacement"]).len();
                // (`terminated, drain incomplete: …` is terminated too.)
                let terminated =
                    |o: &Value| o.as_str().is_some_and(|o| o.starts_with("terminated"));
                self.counts.terminated += ids(&out["terminated"]).len()
                    + usize::from(terminated(&out["outcome"]))
                    + out["resumed"].as_array().map_or(0, |r| {
                        r.iter().filter(|r| terminated(&r["outcome"])).count()
                    });
                let errors = out["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e != "at MAX_WORKERS: no replacement"))
                    || out["aborted"].as_array().is_some_and(|a| !a.is_empty())
                    || out["outcome"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("aborted") || o.contains("incomplete"))
                    || out["resumed"].as_array().is_some_and(|r| {
                        r.iter()
                            .any(|r| r["outcome"].as_str().is_some_and(|o| o != "terminated"))
                    });
                self.counts.summary_errors += usize::from(errors);
                errors
            }
        };
        if faulted {
            self.account(reported);
            self.faults_off();
            self.counts.under_faults += 1;
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
        let nodes = self.w.cluster.list("nodes", None);
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
        let nodes = self.w.cluster.list("nodes", None);
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
    // 50 % CPU until base + 300, then idle (10 % CPU). (Prometheus's Pending series is not
    // read: PROM_PENDING_QUERY is unset; the pods' demand is the API's.)
    let w = K3s::start(&phased_metrics(base + 300, (0.5, 5), (0.1, 0))).await;
    let a = w.worker(0, "worker-a").await;
    // One web pod runs on worker-a (2 CPU); one web and three burst pods pend: 6 CPU, three
    // workers (SCALE_UP_BATCH).
    w.deployment("web", 2, "1500m", 0);
    w.deployment("burst", 3, "1500m", 0);
    // Small pods, so that the scale-downs evict something.
    w.deployment("small", 4, "100m", 0);
    // The burst is due at once (this test is about faults, not the delay).
    let _function = w.spawn(FUNCTION, &[("PENDING_UP_SEC", "0")]);
    let mut s = Scenario {
        w: &w,
        faults,
        // Fixed; RELIABILITY_SEED explores others.
        seed: std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(9000),
        logged: (0, 0),
        ours: vec![w.master.clone(), a],
        first_seen: BTreeMap::new(),
        counts: Counts::default(),
    };
    if faults {
        s.arm_faults();
    }

    // Not before the scheduler found the pods unschedulable (the world took a while to
    // start): the delay counts from then.
    let up = base.max(Timestamp::now().as_second() + 1);
    s.phase("scale-up", &scheduled(ts(up))).await;
    s.join_new().await;
    // The burst ends.
    kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(w.admin.clone(), "default")
        .delete("burst", &Default::default())
        .await
        .expect("delete burst");
    eventually("burst pods gone", SETTLE, async || {
        (w.pods_by_node("burst").is_empty()).then_some(())
    })
    .await;
    // Idle for IDLE_DOWN_SEC, and COOLDOWN_DOWN_SEC apart.
    s.phase("scale-down 1", &scheduled(ts(base + 1000))).await;
    s.phase("scale-down 2", &scheduled(ts(base + 1700))).await;
    s.join_new().await;

    // A Spot interruption warning for one of the workers left.
    let nodes = w.cluster.list("nodes", None);
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
    // A Spot drain cut short by faults leaves pods bound to the deleted Node until the pod
    // garbage collector deletes them (then their controllers recreate them): as a cluster
    // would, the ticks below come after it.
    eventually("pods of deleted Nodes collected", PODGC, async || {
        let nodes: Vec<String> = w
            .cluster
            .list("nodes", None)
            .iter()
            .map(node_name)
            .collect();
        (["web", "small"].iter().all(|app| {
            w.pods_by_node(app)
                .iter()
                .all(|(_, n)| n.is_empty() || nodes.contains(n))
        }))
        .then_some(())
    })
    .await;

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
        // (`hold/unneeded`: a worker's unneeded time is running, a removal may follow.)
        let waiting = d.contains("cooldown") || d == "hold/joining" || d == "hold/unneeded";
        if d.starts_with("hold/") && !waiting && !busy {
            settled = d;
            break;
        }
    }
    eventually("pods scheduled", SETTLE, async || {
        (["web", "small"]
            .iter()
            .all(|app| w.pods_by_node(app).iter().all(|(_, n)| !n.is_empty())))
        .then_some(())
    })
    .await;

    let nodes = w.cluster.list("nodes", None);
    let workers = w.live_workers().await;
    let worker_nodes: Vec<&Value> = nodes
        .iter()
        .filter(|n| workers.contains(&node_instance(n)))
        .collect();
    // Running: on a Node that exists.
    let names: Vec<String> = nodes.iter().map(node_name).collect();
    let on_a_node = |app: &str| -> Vec<(String, String)> {
        w.pods_by_node(app)
            .into_iter()
            .map(|(p, n)| (p, if names.contains(&n) { n } else { String::new() }))
            .collect()
    };
    let web = on_a_node("web");
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
        small_running: on_a_node("small")
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
    let percent = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    println!(
        "under faults: {} invocations ({} under faults): {} Kubernetes faults of {} requests \
         ({:.1} %) and {} AWS faults of {} requests ({:.1} %); {} swallowed; \
         {} invocation errors, {} summaries with errors; {} observations (none with a \
         Node cordoned and untracked); launched {}, replacements {}, terminated {}; \
         decisions {:?}",
        counts.invocations,
        counts.under_faults,
        counts.faulted.0,
        counts.looked_at.0,
        percent(counts.faulted.0, counts.looked_at.0),
        counts.faulted.1,
        counts.looked_at.1,
        percent(counts.faulted.1, counts.looked_at.1),
        counts.swallowed.len(),
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
        counts.faulted.0 > 0 && counts.faulted.1 > 0,
        "the faults bit on both sides: {counts:?}"
    );
    // Exactly one in five of the requests each layer looked at (the last window may be
    // partial).
    for (faulted, looked_at) in [
        (counts.faulted.0, counts.looked_at.0),
        (counts.faulted.1, counts.looked_at.1),
    ] {
        assert!(
            (looked_at / 5..=looked_at.div_ceil(5)).contains(&faulted),
            "{faulted} faults of {looked_at} requests"
        );
    }
    assert!(
        counts.invocation_errors + counts.summary_errors > 0,
        "faults that got through are reported: {counts:?}"
    );
    assert!(
        counts.swallowed.is_empty(),
        "every injected fault retried or reported: {:#?}",
        counts.swallowed
    );
    assert!(
        counts.replacements <= 1,
        "one warning, one replacement at most: {counts:?}"
    );
    assert_eq!(end, reference_end_state(), "where the fault-free run ends");
}
