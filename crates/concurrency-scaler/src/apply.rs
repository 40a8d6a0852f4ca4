//! One run: list the scalers, read each queue once, then for each scaler read the function's
//! reserved concurrency, decide, write what changed (concurrency, status, an Event).
//!
//! Failure behaviour: a problem with one scaler (its spec, queue, function, mapping, the
//! account floor) goes to that scaler's status as ERROR with a message and a Warning Event;
//! the run carries on with the others and the next run retries it. The run itself fails
//! (Lambda reports an error, the schedule's next tick retries) only when the scalers cannot
//! be listed, or when a scaler's status — the only place its outcome is recorded — could not
//! be written.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::lambda_concurrency::{
    ConcurrencyState, LambdaConcurrencyScaler, LambdaConcurrencyScalerStatus,
};
use k8s_ops::events::{self, EventSpec};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use sqs_depth::{QueueReading, QueueRef, SqsDepth, SqsError};

use crate::config::Config;
use crate::decide::{self, Observed, Plan, Policy, SpecError};
use crate::lambda_api::{LambdaApi, LambdaError};

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "concurrency-scaler";
/// Scalers handled at once: each waits on a few API round trips.
const PARALLEL_SCALERS: usize = 16;

/// Everything a run needs; built once at init, shared by warm invocations.
pub struct Context {
    pub kube: kube::Client,
    pub lambda: LambdaApi,
    pub sqs: SqsDepth,
    pub config: Config,
    kube_calls: AtomicU64,
}

impl Context {
    pub fn new(kube: kube::Client, lambda: LambdaApi, sqs: SqsDepth, config: Config) -> Context {
        Context {
            kube,
            lambda,
            sqs,
            config,
            kube_calls: AtomicU64::new(0),
        }
    }

    fn kube_call(&self) {
        self.kube_calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a run did: the function's response.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub scalers: usize,
    pub adjusted: usize,
    pub pending: usize,
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
    pub lambda: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("listing LambdaConcurrencyScalers: {0}")]
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
    Lambda(#[from] LambdaError),
    #[error("function {function}: no event source mapping from queue {queue_arn}")]
    NoMapping { function: String, queue_arn: String },
}

impl ScalerError {
    /// The Warning Event's reason.
    fn reason(&self) -> &'static str {
        match self {
            ScalerError::Spec(_) => "InvalidSpec",
            ScalerError::Queue(SqsError::NotFound { .. }) => "QueueNotFound",
            ScalerError::Queue(_) => "FailedGetQueueDepth",
            ScalerError::Lambda(LambdaError::NotFound { .. }) => "FunctionNotFound",
            ScalerError::Lambda(LambdaError::AccountFloor { .. }) => "AccountConcurrencyFloor",
            ScalerError::Lambda(_) => "FailedAdjust",
            ScalerError::NoMapping { .. } => "NoEventSourceMapping",
        }
    }
}

pub async fn run(ctx: &Context, now: Timestamp) -> Result<Summary, RunError> {
    let began = std::time::Instant::now();
    let calls_before = (
        ctx.kube_calls.load(Ordering::Relaxed),
        ctx.sqs.calls(),
        ctx.lambda.calls(),
    );
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
        match outcome.state {
            ConcurrencyState::Adjusting => summary.adjusted += 1,
            ConcurrencyState::Pending => summary.pending += 1,
            ConcurrencyState::Error => summary.errors += 1,
            ConcurrencyState::Adjusted => {}
        }
        if let Some(e) = outcome.write_error {
            failed_writes.push(e);
        }
    }
    summary.api_calls = Calls {
        kubernetes: ctx.kube_calls.load(Ordering::Relaxed) - calls_before.0,
        sqs: ctx.sqs.calls() - calls_before.1,
        lambda: ctx.lambda.calls() - calls_before.2,
    };
    summary.elapsed_ms = began.elapsed().as_millis() as u64;
    tracing::info!(
        scalers = summary.scalers,
        elapsed_ms = summary.elapsed_ms,
        adjusted = summary.adjusted,
        pending = summary.pending,
        errors = summary.errors,
        kubernetes_calls = summary.api_calls.kubernetes,
        sqs_calls = summary.api_calls.sqs,
        lambda_calls = summary.api_calls.lambda,
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

fn queue_ref(scaler: &LambdaConcurrencyScaler) -> QueueRef {
    QueueRef::named(scaler.spec.aws_sqs_name.trim())
}

fn api(ctx: &Context, namespace: Option<&str>) -> Api<LambdaConcurrencyScaler> {
    match namespace {
        Some(ns) => Api::namespaced(ctx.kube.clone(), ns),
        None => Api::all(ctx.kube.clone()),
    }
}

async fn list(ctx: &Context) -> Result<Vec<LambdaConcurrencyScaler>, RunError> {
    let api = api(ctx, ctx.config.namespace.as_deref());
    k8s_ops::list::all(&api, || ctx.kube_call())
        .await
        .map_err(RunError::List)
}

struct Outcome {
    state: ConcurrencyState,
    write_error: Option<String>,
}

/// What was found and decided for a scaler whose checks passed.
struct Assessed {
    policy: Policy,
    depth: i64,
    reserved: Option<i32>,
    plan: Plan,
}

async fn reconcile(
    ctx: &Context,
    scaler: &LambdaConcurrencyScaler,
    readings: &HashMap<QueueRef, Result<QueueReading, SqsError>>,
    now: Timestamp,
) -> Outcome {
    let name = format!(
        "{}/{}",
        scaler.namespace().unwrap_or_default(),
        scaler.name_any()
    );
    let old = scaler.status.clone().unwrap_or_default();
    let generation = scaler.metadata.generation;
    let (status, event) = match assess(ctx, scaler, &old, readings, now).await {
        Ok(Assessed {
            policy,
            depth,
            reserved,
            plan,
        }) => {
            let from = reserved.map_or("unset".to_owned(), |r| r.to_string());
            tracing::info!(
                decision = plan.decision(reserved),
                scaler = %name,
                function = %scaler.spec.aws_lambda_name,
                queue = %scaler.spec.aws_sqs_name,
                depth,
                threshold = policy.threshold,
                from = %from,
                to = plan.wanted,
                state = ?plan.state,
                reason = %plan.why,
                dry_run = ctx.config.dry_run,
            );
            let message = match (plan.set, plan.not_before) {
                (Some(to), _) => format!(
                    "{}: depth {depth}, threshold {}; reserved concurrency {from} → {to}",
                    plan.why, policy.threshold
                ),
                (None, Some(when)) => format!(
                    "{}: depth {depth}, threshold {}; {from} → {} waits until {when}",
                    plan.why, policy.threshold, plan.wanted
                ),
                (None, None) => format!(
                    "{}: depth {depth}, threshold {}; reserved concurrency {from}",
                    plan.why, policy.threshold
                ),
            };
            let event = plan.set.map(|to| EventSpec {
                warning: false,
                reason: "SuccessfulAdjust".into(),
                message: format!("New reserved concurrency: {to}; reason: {message}"),
                action: "Adjust".into(),
            });
            let status = LambdaConcurrencyScalerStatus {
                state: Some(plan.state),
                concurrency: plan.set.or(reserved),
                adjusted_timestamp: if plan.set.is_some() {
                    Some(Time(now))
                } else {
                    old.adjusted_timestamp.clone()
                },
                message: Some(message),
                queue_depth: Some(depth),
                observed_generation: generation,
                verified_generation: generation,
            };
            (status, event)
        }
        Err(e) => {
            tracing::warn!(decision = "error", scaler = %name, reason = e.reason(), error = %e);
            let message = e.to_string();
            // A Warning only when the problem is new, not on every run while it lasts.
            let event = (old.state != Some(ConcurrencyState::Error)
                || old.message.as_deref() != Some(message.as_str()))
            .then(|| EventSpec {
                warning: true,
                reason: e.reason().into(),
                message: message.clone(),
                action: "Adjust".into(),
            });
            let status = LambdaConcurrencyScalerStatus {
                state: Some(ConcurrencyState::Error),
                message: Some(message),
                observed_generation: generation,
                ..old.clone()
            };
            (status, event)
        }
    };
    let state = status.state.unwrap_or(ConcurrencyState::Error);
    if ctx.config.dry_run {
        return Outcome {
            state,
            write_error: None,
        };
    }
    let mut write_error = None;
    if status != old
        && let Err(e) = write_status(ctx, scaler, &status).await
    {
        tracing::error!(scaler = %name, error = %kube_message(&e), "status not written");
        write_error = Some(format!("{name}: {}", kube_message(&e)));
    }
    if let Some(spec) = event {
        ctx.kube_call();
        // Events are best effort, as client-go's recorder: the status holds the outcome.
        if let Err(e) =
            events::publish(&ctx.kube, &scaler.object_ref(&()), COMPONENT, spec, now).await
        {
            tracing::warn!(scaler = %name, error = %kube_message(&e), "event not recorded");
        }
    }
    Outcome { state, write_error }
}

async fn assess(
    ctx: &Context,
    scaler: &LambdaConcurrencyScaler,
    old: &LambdaConcurrencyScalerStatus,
    readings: &HashMap<QueueRef, Result<QueueReading, SqsError>>,
    now: Timestamp,
) -> Result<Assessed, ScalerError> {
    let spec = &scaler.spec;
    let policy = Policy::from_spec(spec)?;
    let reading = readings
        .get(&queue_ref(scaler))
        .expect("every scaler's queue was read")
        .clone()?;
    let function = spec.aws_lambda_name.trim();
    let reserved = ctx.lambda.reserved_concurrency(function).await?;
    // The mapping is checked once per spec generation, and again after any error, so a
    // steady scaler costs one Lambda call per run.
    let verified = old.verified_generation.is_some()
        && old.verified_generation == scaler.metadata.generation
        && old.state != Some(ConcurrencyState::Error);
    if !verified && !ctx.lambda.has_mapping(function, &reading.arn).await? {
        return Err(ScalerError::NoMapping {
            function: function.into(),
            queue_arn: reading.arn,
        });
    }
    let depth = reading.depth.length(policy.include_in_flight, false);
    let seen = Observed {
        depth,
        reserved,
        last_adjusted: old.adjusted_timestamp.as_ref().map(|t| t.0),
    };
    let plan = decide::decide(&policy, &ctx.config.settings, &seen, now);
    if let Some(to) = plan.set
        && !ctx.config.dry_run
    {
        ctx.lambda.set_reserved_concurrency(function, to).await?;
    }
    Ok(Assessed {
        policy,
        depth,
        reserved,
        plan,
    })
}

async fn write_status(
    ctx: &Context,
    scaler: &LambdaConcurrencyScaler,
    status: &LambdaConcurrencyScalerStatus,
) -> Result<(), kube::Error> {
    let api = api(ctx, scaler.namespace().as_deref());
    ctx.kube_call();
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
