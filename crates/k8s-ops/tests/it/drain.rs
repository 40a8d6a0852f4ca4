//! `k8s_ops::drain` against the real control plane: evictions through policy/v1 with
//! PodDisruptionBudgets enforced by kube-apiserver (their status kept by the controller
//! manager's disruption controller), the deployment controller and scheduler recreating
//! evicted pods on other nodes, and KWOK finishing their termination.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eks_auth::client::BoxError;
use eks_auth::{BearerSource, ClusterAccess, Secret, kube_client};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_ops::drain::{self, DrainError, DrainOptions, Stuck};
use k8s_ops::evictable::PodRef;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testbed::harness::{Cluster as Testbed, ClusterConfig, eventually, manifests};
use testbed::harness::{FaultAction, FaultConfig, FaultRule, NodeSpec};

const WAIT: Duration = Duration::from_secs(20);

async fn start(nodes: Vec<NodeSpec>) -> Testbed {
    Testbed::start(ClusterConfig {
        nodes,
        ..Default::default()
    })
    .await
    .expect("cluster starts")
}

fn node(name: &str) -> NodeSpec {
    NodeSpec::new(name)
        .instance(format!("i-{name}"))
        .capacity("16", "64Gi")
}

/// The admin token as a [`BearerSource`], for the suite's own client.
struct AdminToken(String);

impl BearerSource for AdminToken {
    fn bearer(&self) -> Pin<Box<dyn Future<Output = Result<Secret, BoxError>> + Send + '_>> {
        Box::pin(async move { Ok(Secret::new(self.0.clone())) })
    }
    fn invalidate(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// The client the functions use (`eks_auth::kube_client`: CA pinned, bearer per request, no
/// 429 retry layer of its own), so the drain's backoff is the only one in effect.
fn client(tb: &Testbed) -> kube::Client {
    let access = ClusterAccess::from_pem_ca(tb.url(), tb.ca_pem().as_bytes()).expect("access");
    kube_client(&access, Arc::new(AdminToken(tb.admin_token().into()))).expect("client")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    let container = json!({"name": "app", "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}});
    let mut d = manifests::deployment("default", name, replicas, container);
    // Evicted pods are gone one (sim) second later.
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(1);
    serde_json::from_value(d).expect("deployment")
}

fn pdb(name: &str, app: &str, spec: Value) -> PodDisruptionBudget {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": app}});
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pdb")
}

fn node_of(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The live pods of `app` once there are exactly `n`, all Ready.
async fn running(client: &kube::Client, app: &str, n: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(&format!("{n} ready pods of {app}"), WAIT, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .ok()?;
            let live: Vec<Pod> = l
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            (live.len() == n && live.iter().all(ready)).then_some(live)
        }
    })
    .await
}

async fn unschedulable(client: &kube::Client, name: &str) -> bool {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .get(name)
        .await
        .expect("node")
        .spec
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn refs(pods: &[Pod]) -> Vec<PodRef> {
    let mut r: Vec<PodRef> = pods.iter().map(PodRef::of).collect();
    r.sort();
    r
}

fn sorted(mut v: Vec<PodRef>) -> Vec<PodRef> {
    v.sort();
    v
}

/// Makes the server meet the eviction requests it receives with `action` (at most
/// `max_count` times, if given), counting them in `faults_fired()[0]`.
fn on_evictions(tb: &Testbed, action: FaultAction, max_count: Option<u64>) {
    let mut rule = FaultRule::new(action)
        .verbs(&["create"])
        .resources(&["pods/eviction"]);
    rule.max_count = max_count;
    tb.set_faults(FaultConfig {
        seed: 7,
        rules: vec![rule],
    });
}

/// Refused as Too Many Requests: what the drain backs off from and counts as a retry.
fn too_many_requests() -> FaultAction {
    FaultAction::Error {
        code: 429,
        message: None,
    }
}

fn quick(deadline: Duration) -> DrainOptions {
    DrainOptions {
        deadline,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        poll_interval: Duration::from_millis(100),
        ..DrainOptions::default()
    }
}

/// `app` with `replicas` pods, all on node `on` (the only node when they are created);
/// then node `spare` joins so evicted pods have somewhere to go.
async fn pods_on_one_node(tb: &Testbed, app: &str, replicas: i32, on: &str, spare: &str) {
    let c = client(tb);
    let deps: Api<Deployment> = Api::namespaced(c.clone(), "default");
    deps.create(&PostParams::default(), &deployment(app, replicas))
        .await
        .unwrap();
    let pods = running(&c, app, replicas as usize).await;
    assert!(pods.iter().all(|p| node_of(p) == on));
    tb.register_node(node(spare)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_deployment_pods_skips_daemonset_and_pods_move() {
    let tb = start(vec![node("a"), node("b")]).await;
    let c = client(&tb);
    let deps: Api<Deployment> = Api::namespaced(c.clone(), "default");
    deps.create(&PostParams::default(), &deployment("web", 6))
        .await
        .unwrap();
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}}))
    .unwrap();
    Api::<DaemonSet>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &ds)
        .await
        .unwrap();
    let web = running(&c, "web", 6).await;
    let agents = running(&c, "agent", 2).await;
    let web_on_a: Vec<Pod> = web.into_iter().filter(|p| node_of(p) == "a").collect();
    let agent_on_a: Vec<Pod> = agents.into_iter().filter(|p| node_of(p) == "a").collect();
    assert!(
        !web_on_a.is_empty(),
        "the scheduler spreads web over a and b"
    );

    let report = drain::drain(&c, "a", &quick(Duration::from_secs(30)))
        .await
        .expect("drained");

    assert_eq!(sorted(report.evicted.clone()), refs(&web_on_a));
    assert_eq!(report.skipped, refs(&agent_on_a));
    assert_eq!(report.retries_429, 0);
    assert!(report.evictions_issued_after <= report.drained_after);
    assert!(unschedulable(&c, "a").await, "node stays cordoned");
    // Only the DaemonSet pod is left on the node; web runs its 6 replicas on b.
    let left = drain::pods_on_node(&c, "a").await.unwrap();
    assert_eq!(refs(&left), refs(&agent_on_a));
    let web = running(&c, "web", 6).await;
    assert!(web.iter().all(|p| node_of(p) == "b"));
    // Draining again is a no-op that succeeds.
    let again = drain::drain(&c, "a", &quick(Duration::from_secs(10)))
        .await
        .expect("drained again");
    assert!(again.evicted.is_empty());
    assert_eq!(again.skipped, refs(&agent_on_a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_reads_the_cluster_and_applies_the_scale_down_rules() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 2, "a", "b").await;
    let c = client(&tb);
    let web = refs(&running(&c, "web", 2).await);
    let review = drain::review(&c, "a").await.unwrap();
    assert_eq!(sorted(review.evict.clone()), web);
    assert!(review.removable(), "{review:?}");
    // A bare pod and a budget that allows nothing: both reported, read from the server.
    let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "bare"},
        "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    Api::<Pod>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    Api::<PodDisruptionBudget>::namespaced(c.clone(), "default")
        .create(
            &PostParams::default(),
            &pdb("web", "web", json!({"minAvailable": 2})),
        )
        .await
        .unwrap();
    let review = drain::review(&c, "a").await.unwrap();
    let mut blockers: Vec<String> = review.blockers.iter().map(|b| b.to_string()).collect();
    blockers.sort();
    assert_eq!(
        blockers,
        [
            "pod default/bare has no controller ownerReference".to_string(),
            format!(
                "pod {}: PodDisruptionBudget default/web allows no (further) disruption",
                web[0]
            ),
            format!(
                "pod {}: PodDisruptionBudget default/web allows no (further) disruption",
                web[1]
            ),
        ]
    );
    assert!(matches!(
        drain::review(&c, "nope").await,
        Err(DrainError::NodeNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_uncordon_are_idempotent_and_a_missing_node_is_named() {
    let tb = start(vec![node("a")]).await;
    let c = client(&tb);
    drain::cordon(&c, "a").await.unwrap();
    drain::cordon(&c, "a").await.unwrap();
    assert!(unschedulable(&c, "a").await);
    drain::uncordon(&c, "a").await.unwrap();
    drain::uncordon(&c, "a").await.unwrap();
    assert!(!unschedulable(&c, "a").await);
    let e = drain::drain(&c, "nope", &quick(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DrainError::NodeNotFound { node } if node == "nope"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdb_that_never_allows_hits_the_deadline_and_uncordons() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 2, "a", "b").await;
    let c = client(&tb);
    Api::<PodDisruptionBudget>::namespaced(c.clone(), "default")
        .create(
            &PostParams::default(),
            &pdb("web", "web", json!({"maxUnavailable": 0})),
        )
        .await
        .unwrap();
    let before = refs(&running(&c, "web", 2).await);

    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let e = drain::drain(&c, "a", &quick(deadline)).await.unwrap_err();
    let took = started.elapsed();

    let DrainError::NotDrained {
        deadline_reached,
        remaining,
        uncordon_error,
        ..
    } = &e
    else {
        panic!("expected NotDrained, got {e}");
    };
    assert!(*deadline_reached);
    assert_eq!(uncordon_error, &None);
    assert_eq!(
        remaining.iter().map(|s| s.pod.clone()).collect::<Vec<_>>(),
        before
    );
    for s in remaining {
        let Stuck::DisruptionBudget { message } = &s.why else {
            panic!("{s:?}");
        };
        assert!(
            message.contains("The disruption budget web needs 2 healthy pods"),
            "{message}"
        );
    }
    let text = e.to_string();
    assert!(text.contains("deadline reached"), "{text}");
    assert!(text.contains(&before[0].to_string()), "{text}");
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(
        !unschedulable(&c, "a").await,
        "uncordoned after the failure"
    );
    // Nothing was evicted.
    assert_eq!(refs(&running(&c, "web", 2).await), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdb_relaxing_mid_drain_lets_it_finish_with_retries_counted() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 2, "a", "b").await;
    let c = client(&tb);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.clone(), "default");
    pdbs.create(
        &PostParams::default(),
        &pdb("web", "web", json!({"minAvailable": 2})),
    )
    .await
    .unwrap();
    let before = refs(&running(&c, "web", 2).await);
    // A zero-latency fault rule counts the eviction requests the server receives.
    on_evictions(&tb, FaultAction::Latency { ms: 0 }, None);

    let drain = tokio::spawn({
        let c = c.clone();
        async move { drain::drain(&c, "a", &quick(Duration::from_secs(30))).await }
    });
    // Both pods have been refused at least twice: then the budget relaxes.
    eventually("four refused evictions", WAIT, || {
        let fired = tb.faults_fired()[0];
        async move { (fired >= 4).then_some(()) }
    })
    .await;
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .unwrap();

    let report = drain.await.unwrap().expect("drained once the PDB relaxed");
    let requests = tb.faults_fired()[0];
    assert_eq!(sorted(report.evicted.clone()), before);
    assert!(report.retries_429 >= 4, "{report:?}");
    // Every request the server refused is one retry: nothing else retried behind us.
    assert_eq!(u64::from(report.retries_429) + 2, requests, "{report:?}");
    let web = running(&c, "web", 2).await;
    assert!(web.iter().all(|p| node_of(p) == "b"));
    assert!(unschedulable(&c, "a").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429s_are_retried_with_backoff_and_counted() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 3, "a", "b").await;
    let c = client(&tb);
    on_evictions(&tb, too_many_requests(), Some(5));
    let report = drain::drain(&c, "a", &quick(Duration::from_secs(30)))
        .await
        .expect("drained");
    assert_eq!(tb.faults_fired(), [5]);
    assert_eq!(report.retries_429, 5);
    assert_eq!(report.evicted.len(), 3);
}

/// Why the client matters: kube-rs' default client (`Config::default_retry`) retries 429
/// behind the drain's back (honouring `Retry-After`), so the drain neither sees nor counts
/// them and its backoff is not the one in effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_its_own_429_retry_hides_them_from_the_drain() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 2, "a", "b").await;
    on_evictions(&tb, too_many_requests(), Some(2));
    let retrying = tb.kube_client_admin();
    let report = drain::drain(&retrying, "a", &quick(Duration::from_secs(30)))
        .await
        .expect("drained");
    assert_eq!(tb.faults_fired(), [2]);
    assert_eq!(report.retries_429, 0, "kube-rs retried them itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_refused_outright_stops_the_drain_before_the_deadline() {
    let tb = start(vec![node("a")]).await;
    pods_on_one_node(&tb, "web", 2, "a", "b").await;
    let c = client(&tb);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.clone(), "default");
    // Two budgets select the pods: the eviction API answers 500.
    for name in ["one", "two"] {
        pdbs.create(
            &PostParams::default(),
            &pdb(name, "web", json!({"maxUnavailable": 1})),
        )
        .await
        .unwrap();
    }
    let started = Instant::now();
    let e = drain::drain(&c, "a", &quick(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    let DrainError::NotDrained {
        deadline_reached,
        remaining,
        ..
    } = &e
    else {
        panic!("expected NotDrained, got {e}");
    };
    assert!(!deadline_reached);
    assert_eq!(remaining.len(), 2, "{e}");
    assert!(remaining.iter().any(|s| matches!(
        &s.why,
        Stuck::Refused { code: 500, message } if message.contains("more than one PodDisruptionBudget")
    )));
    assert!(!unschedulable(&c, "a").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_of_110_pods_drains() {
    let tb = start(vec![node("full")]).await;
    pods_on_one_node(&tb, "web", 110, "full", "spare").await;
    let c = client(&tb);
    let report = drain::drain(&c, "full", &quick(Duration::from_secs(120)))
        .await
        .expect("drained");
    println!(
        "110-pod drain: evictions_issued_after={:?} drained_after={:?} retries_429={}",
        report.evictions_issued_after, report.drained_after, report.retries_429
    );
    assert_eq!(report.evicted.len(), 110);
    assert!(drain::pods_on_node(&c, "full").await.unwrap().is_empty());
    let web = running(&c, "web", 110).await;
    assert!(web.iter().all(|p| node_of(p) == "spare"));
}
