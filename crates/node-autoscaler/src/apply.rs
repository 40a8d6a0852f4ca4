//! One invocation: take the lease, resume recorded actions, observe (EC2, Kubernetes,
//! Prometheus, DynamoDB), decide, act, log the decision, release the lease.
//!
//! Safety rules enforced here, whatever `decide` says:
//! - only instances with the worker tag and without the master tag are launched-for,
//!   drained or terminated (`Ec2::terminate_owned` re-checks the tags right before);
//! - every cordon → drain → terminate is recorded (`action#<instance>`) before its first
//!   step and deleted after its last, with fenced writes; a run that finds a record resumes
//!   it (drain again, then terminate) or rolls it back (a drain that fails uncordons);
//! - an instance that never became a Node within `JOIN_TIMEOUT_SEC` is terminated, so a
//!   crash between launch and join leaves no orphan;
//! - `DRY_RUN`: decide and log; no lease, no launch, no drain, no terminate, no write.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_ops::drain::{self, DrainError, DrainOptions};
use lambda_support::aws::LazyClient;
use serde_json::{Value, json};

use crate::cluster::{self, ClusterView};
use crate::config::{Config, JoinToken};
use crate::decide::{
    self, Demand, Observed, Ownership, Plan, SpotAction, SpotKind, Worker, WorkerState,
};
use crate::ec2::{Ec2, Instance, LAUNCHED_BY_TAG, LaunchSpec};
use crate::event::{Event, Trigger};
use crate::prometheus::{Prometheus, Queries};
use crate::store::{Action, ActionKind, Lease, State, Store};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const PERIODIC: &str = "periodic";
const K3S_API_PORT: u16 = 6443;
/// A resumed drain whose recorded deadline has passed still gets this long.
const RESUME_MIN: Duration = Duration::from_secs(30);

/// Built once at init; shared by warm invocations.
pub struct Context {
    pub config: Config,
    pub ec2: Ec2,
    pub store: Store,
    pub ssm: LazyClient<aws_sdk_ssm::Client>,
    pub prometheus: Prometheus,
    pub region: String,
    bearer: Arc<dyn eks_auth::BearerSource>,
    clients: tokio::sync::Mutex<HashMap<String, kube::Client>>,
    ca_pem: tokio::sync::OnceCell<Vec<u8>>,
    invocations: AtomicU64,
}

impl Context {
    pub fn new(
        config: Config,
        ec2: Ec2,
        store: Store,
        ssm: impl Into<LazyClient<aws_sdk_ssm::Client>>,
        region: String,
    ) -> Context {
        let ssm = ssm.into();
        let bearer = Arc::new(eks_auth::SsmTokenSource::new(
            ssm.clone(),
            config.api_token_param.clone(),
        ));
        Context {
            config,
            ec2,
            store,
            ssm,
            prometheus: Prometheus::default(),
            region,
            bearer,
            clients: Default::default(),
            ca_pem: Default::default(),
            invocations: AtomicU64::new(0),
        }
    }

    async fn parameter(&self, name: &str) -> Result<String, Error> {
        let out = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SSM GetParameter {name}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )
            })?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_owned)
            .ok_or_else(|| format!("SSM parameter {name} has no value").into())
    }

    /// A client for `url`, verifying TLS against the cluster CA, authenticating with the
    /// service-account token from `K8S_API_TOKEN_PARAM` (re-read on 401).
    async fn kube(&self, url: &str) -> Result<kube::Client, Error> {
        let ca = self
            .ca_pem
            .get_or_try_init(|| async {
                match (&self.config.cert_authority, &self.config.ca_param) {
                    (Some(b64), _) => {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.trim())
                            .map_err(|e| -> Error {
                                format!("CERT_AUTHORITY: not base64: {e}").into()
                            })
                    }
                    (None, Some(param)) => Ok(self.parameter(param).await?.into_bytes()),
                    (None, None) => Err("no cluster CA configured".into()),
                }
            })
            .await?;
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(url) {
            return Ok(c.clone());
        }
        let access = eks_auth::ClusterAccess::from_pem_ca(url, ca)?;
        let client = eks_auth::kube_client(&access, self.bearer.clone())?;
        clients.insert(url.to_owned(), client.clone());
        Ok(client)
    }

    fn owner(&self, event: &Event) -> String {
        format!(
            "{}/{}/{}",
            event.id,
            std::process::id(),
            self.invocations.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Where the cluster is: the control plane's private IP, the API server and Prometheus URLs.
struct Endpoints {
    control_plane: Instance,
    api_server: String,
    prometheus: String,
}

async fn endpoints(ctx: &Context) -> Result<Endpoints, Error> {
    let c = &ctx.config;
    let control_plane = ctx.ec2.control_plane(&c.master_tag).await?;
    let ip = control_plane.private_ip.clone().unwrap_or_default();
    Ok(Endpoints {
        api_server: c
            .api_server
            .clone()
            .unwrap_or_else(|| format!("https://{ip}:{K3S_API_PORT}")),
        prometheus: c
            .prometheus_url
            .clone()
            .unwrap_or_else(|| format!("http://{ip}:{}", c.prom_nodeport)),
        control_plane,
    })
}

pub async fn handle(ctx: &Context, event: Event) -> Result<Value, Error> {
    let began = Instant::now();
    let mut out = match &event.trigger {
        Trigger::Schedule => Box::pin(periodic(ctx, &event)).await?,
        Trigger::SpotInterruption { instance_id } => {
            Box::pin(spot(ctx, &event, instance_id, SpotKind::Interruption)).await?
        }
        Trigger::Rebalance { instance_id } => {
            Box::pin(spot(ctx, &event, instance_id, SpotKind::Rebalance)).await?
        }
    };
    out["dryRun"] = ctx.config.dry_run.into();
    out["elapsedMs"] = (began.elapsed().as_millis() as u64).into();
    if !ctx.config.dry_run
        && let Err(e) = ctx.store.log(event.now, &event.id, &out).await
    {
        tracing::warn!(error = %e, "decision log not written");
    }
    Ok(out)
}

// ---------------------------------------------------------------- periodic evaluation

async fn periodic(ctx: &Context, event: &Event) -> Result<Value, Error> {
    if ctx.config.dry_run {
        return Box::pin(periodic_locked(ctx, event, None)).await;
    }
    let owner = ctx.owner(event);
    let Some(lease) = ctx
        .store
        .acquire(PERIODIC, &owner, event.now, ctx.config.lease)
        .await?
    else {
        let holder = ctx.store.holder(PERIODIC).await?;
        tracing::info!(
            decision = "locked",
            holder = holder.as_ref().map(|h| h.0.as_str()),
            "another run holds the lease; nothing done"
        );
        return Ok(json!({"trigger": "schedule", "decision": "locked",
                         "holder": holder.map(|h| h.0)}));
    };
    let result = Box::pin(periodic_locked(ctx, event, Some(&lease))).await;
    if let Err(e) = ctx.store.release(&lease).await {
        tracing::warn!(error = %e, "lease not released; it expires by itself");
    }
    result
}

async fn periodic_locked(
    ctx: &Context,
    event: &Event,
    lease: Option<&Lease>,
) -> Result<Value, Error> {
    let c = &ctx.config;
    let now = event.now;
    let ep = endpoints(ctx).await?;
    let kube = ctx.kube(&ep.api_server).await?;

    // 1. Resume what an earlier run left half done.
    let mut resumed = Vec::new();
    if let Some(lease) = lease {
        for action in ctx.store.actions().await? {
            if let Some(outcome) = Box::pin(resume(ctx, &kube, lease, &action, now)).await? {
                resumed.push(json!({"instance": action.instance_id, "kind": action.kind.as_str(), "outcome": outcome}));
            }
        }
    }

    // 2. Observe.
    let queries = Queries {
        cpu: &c.cpu_query,
        pending: &c.pending_query,
        pending_up: c.policy.pending_up,
        idle_down: c.policy.idle_down,
        cpu_down: c.policy.cpu_down,
    };
    let (instances, view, metrics, state, actions) = futures_util::try_join!(
        async {
            ctx.ec2
                .workers(&c.worker_tag, &c.master_tag)
                .await
                .map_err(Error::from)
        },
        async { cluster::observe(&kube).await.map_err(Error::from) },
        async {
            ctx.prometheus
                .metrics(&ep.prometheus, &queries, now)
                .await
                .map_err(Error::from)
        },
        async { ctx.store.state().await.map_err(Error::from) },
        async { ctx.store.actions().await.map_err(Error::from) },
    )?;
    let (workers, unjoined) = classify(c, &instances, &view, &actions, now);

    // 3. No orphans: instances that never joined within JOIN_TIMEOUT_SEC go.
    let mut unjoined_terminated = Vec::new();
    if !unjoined.is_empty() {
        let ids: Vec<String> = unjoined.iter().map(|u| u.instance.clone()).collect();
        tracing::info!(decision = "terminate_unjoined", instances = ?ids, join_timeout_s = c.join_timeout.as_secs(), "instances never became Ready nodes");
        if !c.dry_run {
            unjoined_terminated = ctx
                .ec2
                .terminate_owned(&ids, &c.worker_tag, &c.master_tag)
                .await?;
            // Their Node objects, if they registered, would stay NotReady for ever: no
            // cloud controller removes them in a self-managed cluster.
            for u in &unjoined {
                if let (Some(node), true) = (&u.node, unjoined_terminated.contains(&u.instance)) {
                    cluster::delete_node(&kube, node).await?;
                }
            }
        }
    }

    // 4. Decide.
    let (node_cpu, node_memory) = view
        .nodes
        .iter()
        .filter(|n| {
            n.ready
                && workers.iter().any(|w| {
                    w.state == WorkerState::Ready
                        && n.instance_id.as_deref() == Some(&w.instance_id)
                })
        })
        .map(|n| (n.allocatable_cpu_milli, n.allocatable_memory_bytes))
        .max()
        .unwrap_or((c.worker_cpu_milli, c.worker_memory_bytes));
    let observed = Observed {
        now,
        metrics,
        demand: Demand {
            pending_cpu_milli: view.pending_cpu_milli,
            pending_memory_bytes: view.pending_memory_bytes,
            node_cpu_milli: node_cpu,
            node_memory_bytes: node_memory,
        },
        workers,
        last_up: state.last_up.and_then(|s| Timestamp::from_second(s).ok()),
        last_down: state.last_down.and_then(|s| Timestamp::from_second(s).ok()),
    };
    let plan = decide::decide(&c.policy, &observed);
    let mut out = json!({
        "trigger": "schedule",
        "workers": observed.workers.len(),
        "cpu": metrics.cpu_percent,
        "pending": metrics.pending_pods,
        "resumed": resumed,
        "unjoinedTerminated": unjoined_terminated,
    });

    // 5. Act.
    match &plan {
        Plan::Hold { why, reason } => {
            tracing::info!(
                decision = "hold",
                why,
                reason = reason.as_str(),
                workers = observed.workers.len(),
                "hold"
            );
            out["decision"] = "hold".into();
            out["why"] = (*why).into();
            out["reason"] = reason.as_str().into();
        }
        Plan::ScaleUp {
            count,
            from,
            to,
            reason,
        } => {
            tracing::info!(
                decision = "scale_up",
                from,
                to,
                count,
                reason = reason.as_str(),
                "scale up"
            );
            out["decision"] = "scale_up".into();
            out["from"] = (*from).into();
            out["to"] = (*to).into();
            out["reason"] = reason.as_str().into();
            if let Some(lease) = lease {
                // Check the fence before acting, not only after: a holder whose lease was
                // taken over stops here, before it launches anything.
                ctx.store.put_state(lease, state).await?;
                let (launched, errors) =
                    launch(ctx, &ep.control_plane, &observed.workers, *count, &event.id).await?;
                if !launched.is_empty() {
                    ctx.store
                        .put_state(
                            lease,
                            State {
                                last_up: Some(now.as_second()),
                                ..state
                            },
                        )
                        .await?;
                }
                if launched.is_empty() && !errors.is_empty() {
                    // Nothing could launch: fail the invocation so it counts in the
                    // function's Errors metric (and an async retry tries again), rather
                    // than a quiet success the schedule's caller never reads.
                    return Err(format!("scale up launched nothing: {}", errors.join("; ")).into());
                }
                out["launched"] = json!(launched);
                out["errors"] = json!(errors);
            }
        }
        Plan::ScaleDown {
            instances: victims,
            from,
            to,
            reason,
        } => {
            tracing::info!(decision = "scale_down", from, to, instances = ?victims, reason = reason.as_str(), "scale down");
            out["decision"] = "scale_down".into();
            out["from"] = (*from).into();
            out["to"] = (*to).into();
            out["reason"] = reason.as_str().into();
            out["victims"] = json!(victims);
            if let Some(lease) = lease {
                ctx.store
                    .put_state(
                        lease,
                        State {
                            last_down: Some(now.as_second()),
                            ..state
                        },
                    )
                    .await?;
                let mut terminated = Vec::new();
                let mut aborted = Vec::new();
                for id in victims {
                    let Some(node) = instances
                        .iter()
                        .find(|i| &i.id == id)
                        .and_then(|i| view.node_of(i))
                        .map(|n| n.name.clone())
                    else {
                        continue;
                    };
                    let action = Action {
                        instance_id: id.clone(),
                        node,
                        kind: ActionKind::ScaleDown,
                        step: "draining".into(),
                        started: now.as_second(),
                        deadline: now.as_second() + c.drain_timeout.as_secs() as i64,
                        lease: PERIODIC.into(),
                        reason: reason.clone(),
                    };
                    ctx.store.put_action(lease, &action).await?;
                    match Box::pin(carry_out(ctx, &kube, lease, &action, c.drain_timeout)).await? {
                        Outcome::Terminated => terminated.push(id.clone()),
                        Outcome::Aborted(why) => aborted.push(json!({"instance": id, "why": why})),
                    }
                }
                out["terminated"] = json!(terminated);
                out["aborted"] = json!(aborted);
            }
        }
    }
    Ok(out)
}

/// An instance that did not become a Ready node within JOIN_TIMEOUT_SEC of its launch.
struct Unjoined {
    instance: String,
    /// The Node it registered, if it got that far (deleted with the instance).
    node: Option<String>,
}

/// Workers as `decide` sees them, and the instances that never joined in time.
fn classify(
    c: &Config,
    instances: &[Instance],
    view: &ClusterView,
    actions: &[Action],
    now: Timestamp,
) -> (Vec<Worker>, Vec<Unjoined>) {
    let mut workers = Vec::new();
    let mut unjoined = Vec::new();
    for i in instances {
        let node = view.node_of(i);
        let leaving = actions.iter().any(|a| a.instance_id == i.id);
        let overdue = now.as_second() - i.launched >= c.join_timeout.as_secs() as i64;
        let state = match node {
            _ if leaving => WorkerState::Leaving,
            Some(n) if n.ready => WorkerState::Ready,
            // Registered but never Ready by the join deadline: as good as never joined.
            Some(n) if n.never_ready && overdue => {
                unjoined.push(Unjoined {
                    instance: i.id.clone(),
                    node: Some(n.name.clone()),
                });
                continue;
            }
            Some(_) => WorkerState::NotReady,
            None if !overdue => WorkerState::Joining,
            None => {
                unjoined.push(Unjoined {
                    instance: i.id.clone(),
                    node: None,
                });
                continue;
            }
        };
        workers.push(Worker {
            instance_id: i.id.clone(),
            zone: i.zone.clone(),
            state,
            requested_cpu_milli: node.map_or(0, |n| n.requested_cpu_milli),
            allocatable_cpu_milli: node.map_or(c.worker_cpu_milli, |n| n.allocatable_cpu_milli),
            blocked: node.and_then(|n| {
                if n.unschedulable {
                    Some("node is cordoned".to_owned())
                } else {
                    n.blocked.clone()
                }
            }),
        });
    }
    (workers, unjoined)
}

// ---------------------------------------------------------------- launch

fn user_data(c: &Config, region: &str, server_ip: &str, token: Option<&str>) -> String {
    let token_line = match token {
        Some(t) => format!("K3S_TOKEN='{t}'"),
        None => format!(
            "K3S_TOKEN=\"$(aws ssm get-parameter --region {region} --with-decryption --name '{}' --query Parameter.Value --output text)\"",
            c.k3s_token_param
        ),
    };
    format!(
        r#"#!/bin/bash
# node-autoscaler: join the k3s cluster as an agent. The provider id lets the autoscaler
# match this node to its instance.
set -euo pipefail
IMDS=http://169.254.169.254/latest
T=$(curl -sf -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
ID=$(curl -sf -H "X-aws-ec2-metadata-token: $T" $IMDS/meta-data/instance-id)
AZ=$(curl -sf -H "X-aws-ec2-metadata-token: $T" $IMDS/meta-data/placement/availability-zone)
{token_line}
export K3S_TOKEN
curl -sfL https://get.k3s.io | K3S_URL='https://{server_ip}:{K3S_API_PORT}' sh -s - agent --kubelet-arg="provider-id=aws:///$AZ/$ID"
"#
    )
}

/// Launches `count` workers across the least populated zones. Returns the ids launched and
/// the errors (one per failed launch).
async fn launch(
    ctx: &Context,
    control_plane: &Instance,
    workers: &[Worker],
    count: u32,
    event_id: &str,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let c = &ctx.config;
    let token = match c.join_token {
        JoinToken::Embed => Some(eks_auth::Secret::new(
            ctx.parameter(&c.k3s_token_param).await?,
        )),
        JoinToken::SsmAtBoot => None,
    };
    let subnets = ctx.ec2.subnet_zones(&c.subnet_ids).await?;
    let order = decide::spread(&subnets, workers, count);
    let data = user_data(
        c,
        &ctx.region,
        control_plane.private_ip.as_deref().unwrap_or_default(),
        token.as_ref().map(|t| t.expose()),
    );
    let spec = LaunchSpec {
        ami_id: c.ami_id.as_deref(),
        launch_template: c.launch_template.as_deref(),
        instance_types: &c.instance_types,
        spot: c.spot,
        security_group: &c.security_group,
        instance_profile: c.instance_profile.as_deref(),
        key_name: c.key_name.as_deref(),
        user_data: &data,
        tags: vec![
            c.worker_tag.clone(),
            (
                "Name".into(),
                format!("{}-{}", c.worker_tag.0, c.worker_tag.1),
            ),
            (LAUNCHED_BY_TAG.into(), event_id.to_owned()),
        ],
    };
    let results =
        futures_util::future::join_all(order.iter().map(|subnet| ctx.ec2.launch(subnet, &spec)))
            .await;
    let mut launched = Vec::new();
    let mut errors = Vec::new();
    for (subnet, r) in order.iter().zip(results) {
        match r {
            Ok(i) => {
                tracing::info!(
                    decision = "launched",
                    instance = i.id,
                    subnet,
                    zone = i.zone,
                    spot = i.spot,
                    "worker launched"
                );
                launched.push(i.id);
            }
            Err(e) => {
                tracing::warn!(subnet, error = %e, "launch failed");
                errors.push(e.to_string());
            }
        }
    }
    Ok((launched, errors))
}

// ---------------------------------------------------------------- drain and terminate

enum Outcome {
    Terminated,
    Aborted(String),
}

/// Runs a recorded action from its step to the end: drain (if `draining`), terminate the
/// instance, delete its Node, delete the record. A scale-down whose drain fails is rolled
/// back (the drain uncordons; the record goes). A Spot interruption terminates anyway: the
/// instance is reclaimed within two minutes whatever we do.
async fn carry_out(
    ctx: &Context,
    kube: &kube::Client,
    lease: &Lease,
    action: &Action,
    deadline: Duration,
) -> Result<Outcome, Error> {
    let c = &ctx.config;
    let mut action = action.clone();
    if action.step == "draining" {
        let opts = DrainOptions {
            deadline,
            ..DrainOptions::default()
        };
        match drain::drain(kube, &action.node, &opts).await {
            Ok(report) => {
                tracing::info!(
                    decision = "drained",
                    instance = action.instance_id,
                    node = action.node,
                    evicted = report.evicted.len(),
                    retries_429 = report.retries_429,
                    drained_ms = report.drained_after.as_millis() as u64,
                    "node drained"
                );
            }
            Err(DrainError::NodeNotFound { .. }) => {
                tracing::info!(
                    instance = action.instance_id,
                    node = action.node,
                    "node already gone"
                );
            }
            Err(e) if action.kind != ActionKind::SpotInterruption => {
                let why = e.to_string();
                // A failed drain uncordons the node itself, and says when that failed too.
                // The record goes only once the node is schedulable again: nothing else
                // would ever uncordon it (a cordoned node is never chosen again). Until then
                // the run fails and the next one resumes the action.
                if e.left_cordoned() {
                    tracing::error!(
                        instance = action.instance_id,
                        node = action.node,
                        kind = action.kind.as_str(),
                        why,
                        "drain failed and the node could not be uncordoned; action kept for the next run"
                    );
                    return Err(format!(
                        "drain of node {} failed and left it cordoned ({why}): the action stays \
                         recorded for the next run",
                        action.node
                    )
                    .into());
                }
                tracing::warn!(
                    decision = "abort_drain",
                    instance = action.instance_id,
                    node = action.node,
                    kind = action.kind.as_str(),
                    why,
                    "drain failed; node uncordoned, instance kept"
                );
                ctx.store.delete_action(lease, &action.instance_id).await?;
                return Ok(Outcome::Aborted(why));
            }
            Err(e) => {
                tracing::warn!(instance = action.instance_id, node = action.node, error = %e, "Spot drain incomplete; terminating anyway");
            }
        }
        action.step = "terminating".into();
        ctx.store.put_action(lease, &action).await?;
    }
    let ids = [action.instance_id.clone()];
    let terminated = ctx
        .ec2
        .terminate_owned(&ids, &c.worker_tag, &c.master_tag)
        .await?;
    cluster::delete_node(kube, &action.node).await?;
    ctx.store.delete_action(lease, &action.instance_id).await?;
    tracing::info!(
        decision = "terminated",
        instance = action.instance_id,
        node = action.node,
        kind = action.kind.as_str(),
        was_running = !terminated.is_empty(),
        "worker removed"
    );
    Ok(Outcome::Terminated)
}

/// The live instances an earlier attempt at the event `event_id` launched.
fn launched_by(instances: &[Instance], event_id: &str) -> Vec<String> {
    if event_id.is_empty() {
        return Vec::new();
    }
    let tag = (LAUNCHED_BY_TAG.to_owned(), event_id.to_owned());
    instances
        .iter()
        .filter(|i| i.tagged(&tag) && matches!(i.state.as_str(), "pending" | "running"))
        .map(|i| i.id.clone())
        .collect()
}

/// Resumes one recorded action under its own lease (the periodic lease, or the Spot
/// handler's lease once that has expired). `None` when another holder is still at it.
async fn resume(
    ctx: &Context,
    kube: &kube::Client,
    periodic: &Lease,
    action: &Action,
    now: Timestamp,
) -> Result<Option<String>, Error> {
    let own;
    let lease = if action.lease == PERIODIC {
        periodic
    } else {
        match ctx
            .store
            .acquire(&action.lease, &periodic.owner, now, ctx.config.lease)
            .await?
        {
            Some(l) => {
                own = l;
                &own
            }
            None => return Ok(None),
        }
    };
    let left =
        Duration::from_secs((action.deadline - now.as_second()).max(0) as u64).max(RESUME_MIN);
    tracing::info!(
        decision = "resume",
        instance = action.instance_id,
        node = action.node,
        kind = action.kind.as_str(),
        step = action.step,
        "resuming a recorded action"
    );
    let outcome = carry_out(ctx, kube, lease, action, left).await;
    if action.lease != PERIODIC {
        let _ = ctx.store.release(lease).await;
    }
    Ok(Some(match outcome? {
        Outcome::Terminated => "terminated".to_owned(),
        Outcome::Aborted(why) => format!("aborted: {why}"),
    }))
}

// ---------------------------------------------------------------- Spot

async fn spot(
    ctx: &Context,
    event: &Event,
    instance_id: &str,
    kind: SpotKind,
) -> Result<Value, Error> {
    let c = &ctx.config;
    let trigger = match kind {
        SpotKind::Interruption => "spot_interruption",
        SpotKind::Rebalance => "rebalance",
    };
    let instance = ctx.ec2.get(instance_id).await?;
    let owner = match &instance {
        Some(i) if i.tagged(&c.master_tag) => Ownership::ControlPlane,
        Some(i) if i.tagged(&c.worker_tag) && matches!(i.state.as_str(), "pending" | "running") => {
            Ownership::Worker
        }
        _ => Ownership::Foreign,
    };
    let action = decide::spot_action(kind, owner, c.rebalance);
    let mut out = json!({"trigger": trigger, "instance": instance_id});
    let (instance, action) = match (instance, action) {
        (_, SpotAction::Ignore(why)) => {
            tracing::info!(
                decision = "ignored",
                trigger,
                instance = instance_id,
                why,
                "not acting"
            );
            out["decision"] = "ignored".into();
            out["why"] = why.into();
            return Ok(out);
        }
        (Some(i), a) => (i, a),
        (None, _) => unreachable!("a missing instance is Foreign"),
    };
    out["decision"] = match action {
        SpotAction::CordonDrainReplace => "cordon_drain_replace",
        SpotAction::Cordon => "cordon",
        SpotAction::ReplaceThenDrain => "replace_then_drain",
        SpotAction::Ignore(_) => unreachable!(),
    }
    .into();
    tracing::info!(
        decision = out["decision"].as_str(),
        trigger,
        instance = instance_id,
        "Spot event for one of our workers"
    );
    if c.dry_run {
        return Ok(out);
    }
    let key = format!("spot#{instance_id}");
    let Some(lease) = ctx
        .store
        .acquire(&key, &ctx.owner(event), event.now, c.lease)
        .await?
    else {
        out["decision"] = "in_progress".into();
        return Ok(out);
    };
    let result = Box::pin(spot_locked(
        ctx, event, &instance, action, kind, &lease, &mut out,
    ))
    .await;
    let _ = ctx.store.release(&lease).await;
    result.map(|()| out)
}

async fn spot_locked(
    ctx: &Context,
    event: &Event,
    instance: &Instance,
    action: SpotAction,
    kind: SpotKind,
    lease: &Lease,
    out: &mut Value,
) -> Result<(), Error> {
    let c = &ctx.config;
    let now = event.now;
    let ep = endpoints(ctx).await?;
    let kube = ctx.kube(&ep.api_server).await?;
    let view = cluster::observe(&kube).await?;
    let node = view.node_of(instance).map(|n| n.name.clone());
    let (timeout, action_kind) = match kind {
        SpotKind::Interruption => (c.spot_drain_timeout, ActionKind::SpotInterruption),
        SpotKind::Rebalance => (c.drain_timeout, ActionKind::Rebalance),
    };
    // The record goes first, the cordon after it: a run that fails between them leaves an
    // action the next run resumes (drains, or rolls back by uncordoning), never a Node
    // cordoned with nothing tracking it. One DynamoDB write before the cordon.
    let record = node
        .as_ref()
        .filter(|_| action != SpotAction::Cordon)
        .map(|node| Action {
            instance_id: instance.id.clone(),
            node: node.clone(),
            kind: action_kind,
            step: "draining".into(),
            started: now.as_second(),
            deadline: now.as_second() + timeout.as_secs() as i64,
            lease: lease.key.clone(),
            reason: format!("{} {}", action_kind.as_str(), event.id),
        });
    if let Some(r) = &record {
        ctx.store.put_action(lease, r).await?;
    }
    // Cordon at once: nothing new lands on a worker about to go.
    if let Some(node) = &node
        && action != SpotAction::ReplaceThenDrain
    {
        drain::cordon(&kube, node).await?;
    }
    if action == SpotAction::Cordon {
        out["cordoned"] = json!(node);
        return Ok(());
    }
    let instances = ctx.ec2.workers(&c.worker_tag, &c.master_tag).await?;
    let actions = ctx.store.actions().await?;
    let (mut workers, _) = classify(c, &instances, &view, &actions, now);
    for w in &mut workers {
        if w.instance_id == instance.id {
            w.state = WorkerState::Leaving;
        }
    }
    let replace = decide::may_replace(&c.policy, &workers, &instance.id);
    // A retried event whose earlier attempt launched the replacement, then failed: that
    // replacement stands (it carries the event's id); no second one.
    let launched_before = launched_by(&instances, &event.id);
    let launch_replacement = async {
        if !launched_before.is_empty() {
            tracing::info!(
                decision = "replacement_exists",
                instances = ?launched_before,
                "launched by an earlier attempt at this event"
            );
            Ok((launched_before.clone(), Vec::new()))
        } else if replace {
            launch(ctx, &ep.control_plane, &workers, 1, &event.id).await
        } else {
            Ok((
                Vec::new(),
                vec!["at MAX_WORKERS: no replacement".to_owned()],
            ))
        }
    };
    let remove = async {
        match &record {
            Some(r) => carry_out(ctx, &kube, lease, r, timeout).await.map(Some),
            None => {
                // No node: nothing to drain; the instance goes.
                ctx.ec2
                    .terminate_owned(
                        std::slice::from_ref(&instance.id),
                        &c.worker_tag,
                        &c.master_tag,
                    )
                    .await?;
                Ok(None)
            }
        }
    };
    let ((launched, errors), removed) = if action == SpotAction::ReplaceThenDrain {
        let l = launch_replacement.await?;
        (l, remove.await?)
    } else {
        let (l, r) = futures_util::join!(launch_replacement, remove);
        (l?, r?)
    };
    out["replacement"] = json!(launched);
    out["errors"] = json!(errors);
    out["outcome"] = match removed {
        Some(Outcome::Aborted(why)) => format!("aborted: {why}"),
        _ => "terminated".to_owned(),
    }
    .into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_event_finds_the_replacement_it_launched() {
        let i = |id: &str, state: &str, by: &str| Instance {
            id: id.into(),
            zone: "z".into(),
            private_ip: None,
            private_dns: None,
            launched: 0,
            state: state.into(),
            spot: true,
            tags: vec![(LAUNCHED_BY_TAG.into(), by.into())],
        };
        let instances = [
            i("i-1", "running", "evt-1"),
            i("i-2", "running", "evt-2"),
            i("i-3", "terminated", "evt-1"),
            i("i-4", "pending", "evt-1"),
        ];
        assert_eq!(launched_by(&instances, "evt-1"), ["i-1", "i-4"]);
        assert!(launched_by(&instances, "evt-3").is_empty());
        assert!(launched_by(&[i("i-5", "running", "")], "").is_empty());
    }

    #[test]
    fn a_failed_drain_is_rolled_back_only_once_the_node_is_uncordoned_or_gone() {
        let refused = || {
            kube::Error::Api(
                kube::core::Status::failure("injected: patch refused", "InternalError")
                    .with_code(500)
                    .boxed(),
            )
        };
        let failed = || DrainError::Api {
            node: "worker-a".into(),
            action: "list pods on",
            source: refused(),
        };
        // The drain's own uncordon succeeded (or the node is gone): rolled back.
        assert!(!failed().left_cordoned());
        assert!(
            !DrainError::NodeNotFound {
                node: "worker-a".into()
            }
            .left_cordoned()
        );
        // It failed: the node stays cordoned, whichever step failed first.
        assert!(
            DrainError::LeftCordoned {
                node: "worker-a".into(),
                cause: Box::new(failed()),
                uncordon_error: refused().to_string(),
            }
            .left_cordoned()
        );
        assert!(
            DrainError::NotDrained {
                node: "worker-a".into(),
                elapsed: Duration::from_secs(20),
                deadline_reached: true,
                remaining: Vec::new(),
                uncordon_error: Some(refused().to_string()),
            }
            .left_cordoned()
        );
    }

    #[test]
    fn user_data_fetches_the_token_at_boot_unless_embedded() {
        let env = crate::config::tests::minimal();
        let c = Config::from_env(lambda_support::Env::from_pairs(env)).unwrap();
        let boot = user_data(&c, "eu-west-1", "10.0.0.10", None);
        assert!(boot.contains(
            "aws ssm get-parameter --region eu-west-1 --with-decryption --name '/k3s/token'"
        ));
        assert!(boot.contains("K3S_URL='https://10.0.0.10:6443'"));
        assert!(boot.contains("provider-id=aws:///$AZ/$ID"));
        let embedded = user_data(&c, "eu-west-1", "10.0.0.10", Some("K10abc::server:xyz"));
        assert!(embedded.contains("K3S_TOKEN='K10abc::server:xyz'"));
        assert!(!embedded.contains("get-parameter"));
    }
}
