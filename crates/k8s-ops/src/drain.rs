//! Cordon, uncordon and drain a node through the policy/v1 Eviction API, as `kubectl drain`
//! does, bounded by a deadline.
//!
//! [`drain`]: cordon; list the node's pods (`fieldSelector=spec.nodeName=<node>`); leave
//! DaemonSet, mirror and finished pods ([`crate::evictable::skip_reason`]); evict the rest,
//! at most [`DrainOptions::parallelism`] requests in flight, each eviction pinned to the
//! listed pod's uid. A 429 (a PodDisruptionBudget refuses, or rate limiting) is retried with
//! exponential backoff until the deadline; 404 (or a uid mismatch, 409) means the pod is
//! already gone; any other refusal stops the drain. Then the evicted pods are polled until
//! they are gone. On deadline or error the node is uncordoned and [`DrainError::NotDrained`]
//! names every pod that remains and why.
//!
//! The client must not retry 429 itself, or the backoff here is not the one in effect:
//! `eks_auth::kube_client` adds no retry layer; a client from `kube::Client::try_from(Config)`
//! does unless `Config::default_retry` is `false`. Every request is bounded by the deadline
//! whatever the client does.
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::time::Instant;

use crate::evictable::{NodeReview, PodRef, review_node, skip_reason};

/// How hard and how long [`drain`] tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainOptions {
    /// Evictions in flight at once (at least 1).
    pub parallelism: usize,
    /// From the call of [`drain`] to every evicted pod being gone.
    pub deadline: Duration,
    /// First wait after a 429; doubles per attempt of the same pod up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How often the node's pods are listed while waiting for evicted pods to go.
    pub poll_interval: Duration,
}

impl Default for DrainOptions {
    /// 64 in flight (kubectl drain and Cluster Autoscaler evict a node's pods all at once; 64
    /// took a 110-pod Spot drain on the real control plane from 1.36 s to 1.14 s, median of
    /// three, BENCHMARKS.md), 5 minutes, backoff 500 ms doubling to 5 s (kubectl retries 429
    /// every 5 s), poll every second.
    fn default() -> Self {
        DrainOptions {
            parallelism: 64,
            deadline: Duration::from_secs(300),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What a successful [`drain`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods evicted (or found already gone) and now gone from the node.
    pub evicted: Vec<PodRef>,
    /// DaemonSet, mirror and finished pods, left on the node.
    pub skipped: Vec<PodRef>,
    /// From the start of the drain until every eviction had been accepted.
    pub evictions_issued_after: Duration,
    /// From the start of the drain until every evicted pod was gone.
    pub drained_after: Duration,
    /// Eviction attempts answered 429 and retried.
    pub retries_429: u32,
}

/// Why a pod is still on a node that could not be drained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stuck {
    /// Every eviction until the deadline was answered 429; `message` is the server's
    /// (the budget's name and its healthy counts when a PDB refused).
    DisruptionBudget { message: String },
    /// The eviction was refused with a status that is not retried (500: several PDBs
    /// select the pod; 403: forbidden; ...).
    Refused { code: u16, message: String },
    /// The API server could not be reached for this pod's eviction until the deadline.
    Unreachable { error: String },
    /// The eviction was accepted but the pod was still there at the deadline.
    Terminating,
    /// The drain stopped (another pod's eviction was refused) before this one was accepted.
    NotEvicted,
}

impl fmt::Display for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stuck::DisruptionBudget { message } => write!(f, "eviction answered 429: {message}"),
            Stuck::Refused { code, message } => write!(f, "eviction refused ({code}): {message}"),
            Stuck::Unreachable { error } => write!(f, "API server unreachable: {error}"),
            Stuck::Terminating => f.write_str("evicted but still terminating"),
            Stuck::NotEvicted => f.write_str("not evicted (drain stopped)"),
        }
    }
}

/// A pod left on the node, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckPod {
    pub pod: PodRef,
    pub why: Stuck,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("node {node} not found")]
    NodeNotFound { node: String },
    #[error("{action} node {node}: {source}")]
    Api {
        node: String,
        /// What was being done: "cordon", "uncordon", "get", "list pods on", ...
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{}", not_drained(node, *elapsed, *deadline_reached, remaining, uncordon_error.as_deref()))]
    NotDrained {
        node: String,
        elapsed: Duration,
        /// `false` when an eviction was refused outright before the deadline.
        deadline_reached: bool,
        remaining: Vec<StuckPod>,
        /// The node was left cordoned because uncordoning it failed.
        uncordon_error: Option<String>,
    },
    /// The drain failed before its evictions (`cause`), and so did the uncordon undoing its
    /// cordon: the node stays cordoned.
    #[error("{cause}; uncordoning the node again failed, so it stays cordoned: {uncordon_error}")]
    LeftCordoned {
        node: String,
        #[source]
        cause: Box<DrainError>,
        uncordon_error: String,
    },
}

impl DrainError {
    /// Whether the failed drain left the node cordoned (the uncordon rolling it back failed
    /// too): nothing but another attempt will make it schedulable again.
    pub fn left_cordoned(&self) -> bool {
        matches!(
            self,
            DrainError::LeftCordoned { .. }
                | DrainError::NotDrained {
                    uncordon_error: Some(_),
                    ..
                }
        )
    }

    /// The pods left on the node (empty for errors before any eviction).
    pub fn remaining(&self) -> &[StuckPod] {
        match self {
            DrainError::NotDrained { remaining, .. } => remaining,
            _ => &[],
        }
    }
}

fn not_drained(
    node: &str,
    elapsed: Duration,
    deadline_reached: bool,
    remaining: &[StuckPod],
    uncordon_error: Option<&str>,
) -> String {
    let mut s = format!(
        "node {node} not drained after {:.1}s ({}); ",
        elapsed.as_secs_f64(),
        if deadline_reached {
            "deadline reached"
        } else {
            "eviction refused"
        }
    );
    match uncordon_error {
        None => s.push_str("node uncordoned; "),
        Some(e) => s.push_str(&format!("node LEFT CORDONED, uncordon failed: {e}; ")),
    }
    s.push_str(&format!("{} pod(s) remain: ", remaining.len()));
    let pods: Vec<String> = remaining
        .iter()
        .map(|p| format!("{} ({})", p.pod, p.why))
        .collect();
    s.push_str(&pods.join(", "));
    s
}

fn api_error(node: &str, action: &'static str, e: kube::Error) -> DrainError {
    match e {
        kube::Error::Api(s) if s.code == 404 => DrainError::NodeNotFound { node: node.into() },
        source => DrainError::Api {
            node: node.into(),
            action,
            source,
        },
    }
}

async fn set_unschedulable(
    client: &kube::Client,
    node: &str,
    value: serde_json::Value,
    action: &'static str,
) -> Result<(), DrainError> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": value}})),
        )
        .await
        .map_err(|e| api_error(node, action, e))?;
    tracing::info!(node, action, "node {action}ed");
    Ok(())
}

/// Marks the node unschedulable (merge patch `spec.unschedulable: true`); idempotent.
pub async fn cordon(client: &kube::Client, node: &str) -> Result<(), DrainError> {
    set_unschedulable(client, node, json!(true), "cordon").await
}

/// Makes the node schedulable again (removes `spec.unschedulable`, as kubectl does);
/// idempotent.
pub async fn uncordon(client: &kube::Client, node: &str) -> Result<(), DrainError> {
    set_unschedulable(client, node, serde_json::Value::Null, "uncordon").await
}

/// Every pod bound to the node, in all namespaces.
pub async fn pods_on_node(client: &kube::Client, node: &str) -> Result<Vec<Pod>, DrainError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|source| DrainError::Api {
            node: node.into(),
            action: "list pods on",
            source,
        })?;
    Ok(list.items)
}

/// Reads the node, its pods and every PodDisruptionBudget, and applies
/// [`review_node`]: may this node be drained and removed? (RBAC: get nodes, list pods and
/// poddisruptionbudgets in all namespaces.)
pub async fn review(client: &kube::Client, node: &str) -> Result<NodeReview, DrainError> {
    let n = Api::<Node>::all(client.clone())
        .get(node)
        .await
        .map_err(|e| api_error(node, "get", e))?;
    let pods = pods_on_node(client, node).await?;
    let pdbs = Api::<PodDisruptionBudget>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|source| DrainError::Api {
            node: node.into(),
            action: "list PodDisruptionBudgets for",
            source,
        })?;
    Ok(review_node(&n, &pods, &pdbs.items))
}

/// Cordons the node, evicts its pods and waits until they are gone: see the module
/// documentation.
pub async fn drain(
    client: &kube::Client,
    node: &str,
    opts: &DrainOptions,
) -> Result<DrainReport, DrainError> {
    let start = Instant::now();
    let deadline = start + opts.deadline;
    match cordon(client, node).await {
        Ok(()) => {}
        Err(e @ DrainError::NodeNotFound { .. }) => return Err(e),
        // The patch may have landed though its answer was lost: undo it as any failure.
        Err(e) => return Err(rolled_back(node, e, undo_cordon(client, node).await)),
    }
    let pods = match tokio::time::timeout_at(deadline, pods_on_node(client, node)).await {
        Ok(Ok(pods)) => pods,
        Ok(Err(e)) => return Err(rolled_back(node, e, undo_cordon(client, node).await)),
        Err(_) => {
            let e = undo_cordon(client, node).await;
            return Err(not_drained_error(node, start, true, Vec::new(), e));
        }
    };
    let mut skipped = Vec::new();
    let mut targets = Vec::new();
    for pod in pods {
        match skip_reason(&pod) {
            Some(reason) => {
                tracing::debug!(node, pod = %PodRef::of(&pod), %reason, "decision=skip");
                skipped.push(PodRef::of(&pod));
            }
            None => targets.push(pod),
        }
    }
    tracing::info!(
        node,
        evict = targets.len(),
        skip = skipped.len(),
        parallelism = opts.parallelism,
        deadline_s = opts.deadline.as_secs_f64(),
        "decision=drain"
    );

    let retries = AtomicU32::new(0);
    let outcomes = evict_all(client, &targets, opts, deadline, &retries).await;
    let evictions_issued_after = start.elapsed();
    let retries_429 = retries.load(Ordering::Relaxed);

    let mut stuck = Vec::new();
    let mut waiting: HashMap<String, PodRef> = HashMap::new();
    let mut evicted = Vec::new();
    for (pod, outcome) in targets.iter().zip(outcomes) {
        let r = PodRef::of(pod);
        match outcome {
            Outcome::Accepted => {
                waiting.insert(pod.metadata.uid.clone().unwrap_or_default(), r.clone());
                evicted.push(r);
            }
            Outcome::Gone => evicted.push(r),
            Outcome::Stuck(why) => stuck.push(StuckPod { pod: r, why }),
        }
    }
    if !stuck.is_empty() {
        // Evictions accepted before the drain stopped: report those still terminating.
        let deadline_reached = Instant::now() >= deadline;
        let still = still_present(client, node, &waiting).await;
        stuck.extend(still.into_iter().map(|pod| StuckPod {
            pod,
            why: Stuck::Terminating,
        }));
        stuck.sort_by(|a, b| a.pod.cmp(&b.pod));
        let e = undo_cordon(client, node).await;
        return Err(not_drained_error(node, start, deadline_reached, stuck, e));
    }
    tracing::info!(
        node,
        evicted = evicted.len(),
        retries_429,
        evictions_issued_ms = evictions_issued_after.as_millis() as u64,
        "decision=evictions_accepted"
    );

    if let Err(mut remaining) =
        wait_gone(client, node, &waiting, opts.poll_interval, deadline).await
    {
        remaining.sort();
        let remaining = remaining
            .into_iter()
            .map(|pod| StuckPod {
                pod,
                why: Stuck::Terminating,
            })
            .collect();
        let e = undo_cordon(client, node).await;
        return Err(not_drained_error(node, start, true, remaining, e));
    }
    let drained_after = start.elapsed();
    tracing::info!(
        node,
        evicted = evicted.len(),
        skipped = skipped.len(),
        retries_429,
        evictions_issued_ms = evictions_issued_after.as_millis() as u64,
        drained_ms = drained_after.as_millis() as u64,
        "decision=drained"
    );
    Ok(DrainReport {
        evicted,
        skipped,
        evictions_issued_after,
        drained_after,
        retries_429,
    })
}

fn not_drained_error(
    node: &str,
    start: Instant,
    deadline_reached: bool,
    remaining: Vec<StuckPod>,
    uncordon_error: Option<String>,
) -> DrainError {
    let e = DrainError::NotDrained {
        node: node.into(),
        elapsed: start.elapsed(),
        deadline_reached,
        remaining,
        uncordon_error,
    };
    tracing::warn!(node, error = %e, "decision=drain_failed");
    e
}

/// Uncordons after a failed drain; the error, if any, as text for [`DrainError`].
/// Uncordons after a failed drain; the error when the node stays cordoned (a node that is
/// gone is not).
async fn undo_cordon(client: &kube::Client, node: &str) -> Option<String> {
    match uncordon(client, node).await {
        Ok(()) | Err(DrainError::NodeNotFound { .. }) => None,
        Err(e) => {
            tracing::error!(node, error = %e, "uncordon after a failed drain failed");
            Some(e.to_string())
        }
    }
}

/// `cause`, or, when the uncordon undoing the drain's cordon failed, `LeftCordoned`.
fn rolled_back(node: &str, cause: DrainError, uncordon_error: Option<String>) -> DrainError {
    match uncordon_error {
        None => cause,
        Some(uncordon_error) => DrainError::LeftCordoned {
            node: node.into(),
            cause: Box::new(cause),
            uncordon_error,
        },
    }
}

enum Outcome {
    Accepted,
    Gone,
    Stuck(Stuck),
}

/// One outcome per target, in order. A refusal that retrying cannot fix stops the other
/// evictions: the drain fails anyway, so evicting more would only disrupt.
async fn evict_all(
    client: &kube::Client,
    targets: &[Pod],
    opts: &DrainOptions,
    deadline: Instant,
    retries: &AtomicU32,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = targets.iter().map(|_| None).collect();
    // Futures are lazy: at most `parallelism` of them run at a time. (Collected first: a
    // stream mapping borrowed pods to futures through a closure would not be `Send`.)
    let evictions: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, pod)| async move { (i, evict_one(client, pod, opts, deadline, retries).await) })
        .collect();
    let mut in_flight = stream::iter(evictions).buffer_unordered(opts.parallelism.max(1));
    while let Some((i, outcome)) = in_flight.next().await {
        let stop = matches!(outcome, Outcome::Stuck(Stuck::Refused { .. }));
        outcomes[i] = Some(outcome);
        if stop {
            break;
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Stuck(Stuck::NotEvicted)))
        .collect()
}

async fn evict_one(
    client: &kube::Client,
    pod: &Pod,
    opts: &DrainOptions,
    deadline: Instant,
    retries: &AtomicU32,
) -> Outcome {
    let r = PodRef::of(pod);
    let api: Api<Pod> = Api::namespaced(client.clone(), &r.namespace);
    let params = EvictParams {
        delete_options: Some(DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        }),
        ..EvictParams::default()
    };
    let mut backoff = opts.backoff_initial;
    let mut last = Stuck::Unreachable {
        error: "no answer before the deadline".into(),
    };
    loop {
        match tokio::time::timeout_at(deadline, api.evict(&r.name, &params)).await {
            Err(_) => return Outcome::Stuck(last),
            Ok(Ok(_)) => {
                tracing::debug!(pod = %r, "evicted");
                return Outcome::Accepted;
            }
            // 404: gone; 409: the uid precondition failed, the pod we listed is gone (a new
            // one took its name).
            Ok(Err(kube::Error::Api(s))) if s.code == 404 || s.code == 409 => {
                return Outcome::Gone;
            }
            Ok(Err(kube::Error::Api(s))) if s.code == 429 => {
                retries.fetch_add(1, Ordering::Relaxed);
                let causes: Vec<&str> = s
                    .details
                    .iter()
                    .flat_map(|d| d.causes.iter().map(|c| c.message.as_str()))
                    .collect();
                let message = if causes.is_empty() {
                    s.message.clone()
                } else {
                    format!("{} {}", s.message, causes.join("; "))
                };
                tracing::debug!(pod = %r, %message, backoff_ms = backoff.as_millis() as u64, "eviction 429, retrying");
                last = Stuck::DisruptionBudget { message };
            }
            Ok(Err(kube::Error::Api(s))) => {
                return Outcome::Stuck(Stuck::Refused {
                    code: s.code,
                    message: s.message.clone(),
                });
            }
            Ok(Err(e)) => {
                tracing::debug!(pod = %r, error = %e, "eviction request failed, retrying");
                last = Stuck::Unreachable {
                    error: e.to_string(),
                };
            }
        }
        let wake = (Instant::now() + backoff).min(deadline);
        tokio::time::sleep_until(wake).await;
        if Instant::now() >= deadline {
            return Outcome::Stuck(last);
        }
        backoff = (backoff * 2).min(opts.backoff_max);
    }
}

/// Polls the node's pods until none of `waiting` (by uid) is left, or the deadline.
async fn wait_gone(
    client: &kube::Client,
    node: &str,
    waiting: &HashMap<String, PodRef>,
    poll: Duration,
    deadline: Instant,
) -> Result<(), Vec<PodRef>> {
    let mut remaining: Vec<PodRef> = waiting.values().cloned().collect();
    loop {
        if !remaining.is_empty() {
            match tokio::time::timeout_at(deadline, pods_on_node(client, node)).await {
                Ok(Ok(pods)) => remaining = present(&pods, waiting),
                Ok(Err(e)) => {
                    tracing::warn!(node, error = %e, "listing pods while draining failed")
                }
                Err(_) => {}
            }
        }
        if remaining.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(remaining);
        }
        tokio::time::sleep_until((Instant::now() + poll).min(deadline)).await;
    }
}

/// Which of `waiting` are still on the node (one listing; all of them if it fails).
async fn still_present(
    client: &kube::Client,
    node: &str,
    waiting: &HashMap<String, PodRef>,
) -> Vec<PodRef> {
    if waiting.is_empty() {
        return Vec::new();
    }
    match pods_on_node(client, node).await {
        Ok(pods) => present(&pods, waiting),
        Err(_) => waiting.values().cloned().collect(),
    }
}

fn present(pods: &[Pod], waiting: &HashMap<String, PodRef>) -> Vec<PodRef> {
    pods.iter()
        .filter_map(|p| waiting.get(p.metadata.uid.as_deref().unwrap_or_default()))
        .cloned()
        .collect()
}
