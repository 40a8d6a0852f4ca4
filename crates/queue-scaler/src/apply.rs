//! One run: list the scalers, read each queue once, then for each scaler rescale its
//! Deployment through the scale subresource (conflicts re-read and re-decided), and record
//! status and an Event as the HPA does.
//!
//! Failure behaviour: a problem with one scaler (its spec, its queue or role, its
//! Deployment) goes to that scaler's status (`Ready=False` with the reason and message) and a
//! Warning Event; the others carry on and the next run retries it. The run itself fails only
//! when the scalers cannot be listed, or when a scaler's status could not be written.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::conditions;
use k8s_ops::crd::sqs_queue::{SqsQueueScaler, SqsQueueScalerStatus};
use k8s_ops::events::{self, EventSpec};
use k8s_ops::scale::{self, ScaleError};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use sqs_depth::{QueueReading, QueueRef, SqsDepth, SqsError};

use crate::config::Config;
use crate::decide::{self, Plan, Policy, SpecError};

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "queue-scaler";
/// Scalers handled at once: each waits on a few API round trips.
const PARALLEL_SCALERS: usize = 16;

/// Everything a run needs; built once at init, shared by warm invocations.
pub struct Context {
    pub kube: kube::Client,
    pub sqs: SqsDepth,
    pub config: Config,
    kube_calls: AtomicU64,
}

impl Context {
    pub fn new(kube: kube::Client, sqs: SqsDepth, config: Config) -> Context {
        Context {
            kube,
            sqs,
            config,
            kube_calls: AtomicU64::new(0),
        }
    }

    fn kube_calls(&self, n: u64) {
        self.kube_calls.fetch_add(n, Ordering::Relaxed);
    }
}

/// What a run did: the function's response.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub scalers: usize,
    pub rescaled: usize,
    pub errors: usize,
    pub dry_run: bool,
    /// API calls this run, by service (every page counts).
    pub api_calls: Calls,
    /// Wall time of the run inside the function.
    pub elapsed_ms: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Calls {
    pub kubernetes: u64,
    pub sqs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("listing SqsQueueScalers: {0}")]
    List(#[source] kube::Error),
    #[error("status of {failed} of {total} scalers could not be written; first: {first}")]
    Status {
        failed: usize,
        total: usize,
        first: String,
    },
}

/// Why one scaler could not be handled this run.
#[derive(Debug, thiserror::Error)]
enum ScalerError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Queue(#[from] SqsError),
    #[error(transparent)]
    Scale(#[from] ScaleError),
}

impl ScalerError {
    /// The Warning Event's and the Ready condition's reason (the HPA's where it has one).
    fn reason(&self) -> &'static str {
        match self {
            ScalerError::Spec(_) => "InvalidSpec",
            ScalerError::Queue(_) => "FailedGetQueueLength",
            ScalerError::Scale(ScaleError::NotFound(_)) => "FailedGetScale",
            ScalerError::Scale(_) => "FailedRescale",
        }
    }
}

pub async fn run(ctx: &Context, now: Timestamp) -> Result<Summary, RunError> {
    let began = std::time::Instant::now();
    let before = (ctx.kube_calls.load(Ordering::Relaxed), ctx.sqs.calls());
    let scalers = list(ctx).await?;
    let readings = ctx.sqs.read_all(scalers.iter().map(queue_ref)).await;
    let outcomes: Vec<Outcome> = futures_util::stream::iter(&scalers)
        .map(|scaler| reconcile(ctx, scaler, &readings, now))
        .buffer_unordered(PARALLEL_SCALERS)
        .collect()
        .await;

    let mut summary = Summary {
        scalers: scalers.len(),
        dry_run: ctx.config.dry_run,
        ..Summary::default()
    };
    let mut failed_writes = Vec::new();
    for outcome in outcomes {
        summary.rescaled += usize::from(outcome.rescaled);
        summary.errors += usize::from(outcome.error);
        failed_writes.extend(outcome.write_error);
    }
    summary.api_calls = Calls {
        kubernetes: ctx.kube_calls.load(Ordering::Relaxed) - before.0,
        sqs: ctx.sqs.calls() - before.1,
    };
    summary.elapsed_ms = began.elapsed().as_millis() as u64;
    tracing::info!(
        scalers = summary.scalers,
        elapsed_ms = summary.elapsed_ms,
        rescaled = summary.rescaled,
        errors = summary.errors,
        kubernetes_calls = summary.api_calls.kubernetes,
        sqs_calls = summary.api_calls.sqs,
        dry_run = summary.dry_run,
        "run complete"
    );
    match failed_writes.first() {
        None => Ok(summary),
        Some(first) => Err(RunError::Status {
            failed: failed_writes.len(),
            total: summary.scalers,
            first: first.clone(),
        }),
    }
}

fn queue_ref(scaler: &SqsQueueScaler) -> QueueRef {
    let spec = &scaler.spec;
    QueueRef {
        queue: spec.queue_url.trim().to_owned(),
        region: spec.aws_region.clone().filter(|r| !r.is_empty()),
        role_arn: spec.role_arn.clone().filter(|r| !r.is_empty()),
    }
}

async fn list(ctx: &Context) -> Result<Vec<SqsQueueScaler>, RunError> {
    let api: Api<SqsQueueScaler> = match ctx.config.namespace.as_deref() {
        Some(ns) => Api::namespaced(ctx.kube.clone(), ns),
        None => Api::all(ctx.kube.clone()),
    };
    k8s_ops::list::all(&api, || ctx.kube_calls(1))
        .await
        .map_err(RunError::List)
}

struct Outcome {
    rescaled: bool,
    error: bool,
    write_error: Option<String>,
}

/// What was found and done for a scaler whose checks passed.
struct Scaled {
    policy: Policy,
    plan: Plan,
    /// Replicas before this run's decision.
    current: i32,
    /// Whether the Deployment was rescaled (or would have been, in a dry run).
    changed: bool,
}

async fn reconcile(
    ctx: &Context,
    scaler: &SqsQueueScaler,
    readings: &HashMap<QueueRef, Result<QueueReading, SqsError>>,
    now: Timestamp,
) -> Outcome {
    let namespace = scaler.namespace().unwrap_or_default();
    let name = format!("{namespace}/{}", scaler.name_any());
    let old = scaler.status.clone().unwrap_or_default();
    let generation = scaler.metadata.generation;
    let mut status = SqsQueueScalerStatus {
        observed_generation: generation,
        ..old.clone()
    };
    let target = &scaler.spec.scale_target_ref.name;
    let (event, error) = match scale_target(ctx, scaler, &namespace, readings, now).await {
        Ok(Scaled {
            policy,
            plan,
            current,
            changed,
        }) => {
            let reason = plan.reason(&policy, current);
            tracing::info!(
                decision = plan.decision(current),
                scaler = %name,
                deployment = %target,
                queue = %scaler.spec.queue_url,
                length = plan.length,
                active = plan.active,
                from = current,
                to = plan.desired,
                reason = %reason,
                dry_run = ctx.config.dry_run,
            );
            status.current_replicas = Some(plan.desired);
            status.desired_replicas = Some(plan.desired);
            status.queue_length = Some(plan.length);
            status.inactive_since = plan.inactive_since.map(Time);
            if changed {
                status.last_scale_time = Some(Time(now));
            }
            let conds = &mut status.conditions;
            conditions::set(
                conds,
                "Ready",
                true,
                "ScalerReady",
                &format!("last run: {reason}"),
                generation,
                now,
            );
            let (active_reason, active_message) = if plan.active {
                (
                    "QueueActive",
                    format!(
                        "queue length {} > activation {}",
                        plan.length, policy.activation
                    ),
                )
            } else {
                (
                    "QueueInactive",
                    format!(
                        "queue length {} ≤ activation {}",
                        plan.length, policy.activation
                    ),
                )
            };
            conditions::set(
                conds,
                "Active",
                plan.active,
                active_reason,
                &active_message,
                generation,
                now,
            );
            let event = changed.then(|| EventSpec {
                warning: false,
                reason: "SuccessfulRescale".into(),
                message: format!("New size: {}; reason: {reason}", plan.desired),
                action: "Rescale".into(),
            });
            (event, false)
        }
        Err(e) => {
            tracing::warn!(decision = "error", scaler = %name, deployment = %target, reason = e.reason(), error = %e);
            let message = e.to_string();
            let was = old.conditions.iter().find(|c| c.type_ == "Ready");
            let new_problem = was.is_none_or(|c| c.status != "False" || c.message != message);
            conditions::set(
                &mut status.conditions,
                "Ready",
                false,
                e.reason(),
                &message,
                generation,
                now,
            );
            // A Warning only when the problem is new, not on every run while it lasts.
            let event = new_problem.then(|| EventSpec {
                warning: true,
                reason: e.reason().into(),
                message,
                action: "Rescale".into(),
            });
            (event, true)
        }
    };
    let rescaled = event.as_ref().is_some_and(|e| !e.warning);
    let mut outcome = Outcome {
        rescaled,
        error,
        write_error: None,
    };
    if ctx.config.dry_run {
        return outcome;
    }
    if status != old
        && let Err(e) = write_status(ctx, scaler, &status).await
    {
        tracing::error!(scaler = %name, error = %kube_message(&e), "status not written");
        outcome.write_error = Some(format!("{name}: {}", kube_message(&e)));
    }
    if let Some(spec) = event {
        ctx.kube_calls(1);
        // Events are best effort, as client-go's recorder: the status holds the outcome.
        if let Err(e) =
            events::publish(&ctx.kube, &scaler.object_ref(&()), COMPONENT, spec, now).await
        {
            tracing::warn!(scaler = %name, error = %kube_message(&e), "event not recorded");
        }
    }
    outcome
}

async fn scale_target(
    ctx: &Context,
    scaler: &SqsQueueScaler,
    namespace: &str,
    readings: &HashMap<QueueRef, Result<QueueReading, SqsError>>,
    now: Timestamp,
) -> Result<Scaled, ScalerError> {
    let policy = Policy::from_spec(&scaler.spec)?;
    let reading = readings
        .get(&queue_ref(scaler))
        .expect("every scaler's queue was read")
        .clone()?;
    let inactive_since = scaler
        .status
        .as_ref()
        .and_then(|s| s.inactive_since.as_ref())
        .map(|t| t.0);
    let deployments: Api<Deployment> = Api::namespaced(ctx.kube.clone(), namespace);
    let target = &scaler.spec.scale_target_ref.name;
    let decide = |current| decide::decide(&policy, &reading.depth, current, inactive_since, now);

    if ctx.config.dry_run {
        ctx.kube_calls(1);
        let current = scale::replicas(&deployments, target).await?;
        let plan = decide(current);
        return Ok(Scaled {
            policy,
            plan,
            current,
            changed: plan.desired != current,
        });
    }
    // `rescale` re-reads and re-decides on a conflict, so the plan kept is the one that
    // judged the replicas actually replaced.
    let mut judged = None;
    let result = scale::rescale(&deployments, target, |current| {
        let plan = decide(current);
        judged = Some((current, plan));
        Some(plan.desired)
    })
    .await;
    // A read per attempt, and a write per attempt of a rescale (each conflict is one); a
    // failure is counted as its one read, a hold after conflicts as one read too.
    ctx.kube_calls(match &result {
        Ok(Some(r)) => 2 * u64::from(r.attempts),
        _ => 1,
    });
    let rescale = result?;
    let (current, plan) = judged.expect("rescale judged the replicas it read");
    Ok(Scaled {
        policy,
        plan,
        current: rescale.map_or(current, |r| r.from),
        changed: rescale.is_some(),
    })
}

async fn write_status(
    ctx: &Context,
    scaler: &SqsQueueScaler,
    status: &SqsQueueScalerStatus,
) -> Result<(), kube::Error> {
    let api: Api<SqsQueueScaler> =
        Api::namespaced(ctx.kube.clone(), &scaler.namespace().unwrap_or_default());
    ctx.kube_calls(1);
    // A merge patch of the status alone: no resourceVersion, so a spec edit made meanwhile
    // does not fail it, and `null`s clear what no longer applies.
    let patch = Patch::Merge(serde_json::json!({ "status": status }));
    match api
        .patch_status(&scaler.name_any(), &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => Ok(()),
        // Deleted since the list: nothing left to record.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// An API error as the API server worded it (kube's Display adds the whole Status).
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}
