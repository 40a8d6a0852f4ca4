//! concurrency-scaler's part of the scaler pass ([`sqs_depth::pass`] lists the scalers, reads
//! each queue once, records each verdict and summarises): for each scaler, read its
//! function's reserved concurrency, check once per spec generation that the queue feeds the
//! function, decide, and set the reserved concurrency; the status and Event say so.
//!
//! A problem with one scaler (its spec, queue, function, mapping, the account floor) is its
//! verdict: state ERROR with a message, and a Warning Event.
use jiff::Timestamp;
use k8s_ops::crd::lambda_concurrency::{ConcurrencyState, LambdaConcurrencyScaler};
use kube::ResourceExt;
use serde::Serialize;
use sqs_depth::pass::{self, Pass, Scaling, Verdict};
use sqs_depth::{QueueReading, QueueRef, SqsError};

use crate::decide::{self, Observed, Plan, Policy, Settings, SpecError};
use crate::lambda_api::{LambdaApi, LambdaError};

mod verdict;

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "concurrency-scaler";

/// How concurrency-scaler carries a decision out: the function's reserved concurrency.
pub struct ReservedConcurrency {
    pub lambda: LambdaApi,
    pub settings: Settings,
}

/// What the summary counts, from each scaler's state.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub adjusted: usize,
    pub pending: usize,
    pub errors: usize,
}

impl pass::Tally for Tally {
    type Outcome = ConcurrencyState;

    fn add(&mut self, state: ConcurrencyState) {
        match state {
            ConcurrencyState::Adjusting => self.adjusted += 1,
            ConcurrencyState::Pending => self.pending += 1,
            ConcurrencyState::Error => self.errors += 1,
            ConcurrencyState::Adjusted => {}
        }
    }
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

/// What was found and decided for a scaler whose checks passed.
struct Assessed {
    policy: Policy,
    depth: i64,
    reserved: Option<i32>,
    plan: Plan,
}

impl Scaling for ReservedConcurrency {
    type Scaler = LambdaConcurrencyScaler;
    type Tally = Tally;

    fn queue(scaler: &LambdaConcurrencyScaler) -> QueueRef {
        QueueRef::named(scaler.spec.aws_sqs_name.trim())
    }

    async fn judge(
        &self,
        pass: &Pass,
        scaler: &LambdaConcurrencyScaler,
        reading: Result<QueueReading, SqsError>,
        now: Timestamp,
    ) -> Verdict<ReservedConcurrency> {
        let dry_run = pass.options.dry_run;
        match self.assess(scaler, reading, dry_run, now).await {
            Ok(assessed) => {
                log_decision(scaler, &assessed, dry_run);
                verdict::assessed(scaler, &assessed, now)
            }
            Err(e) => {
                let name = pass::name(scaler);
                tracing::warn!(decision = "error", scaler = %name, reason = e.reason(), error = %e);
                verdict::failed(scaler, &e)
            }
        }
    }

    fn other_calls(&self) -> Vec<(&'static str, u64)> {
        vec![("lambda", self.lambda.calls())]
    }

    fn log(summary: &pass::Summary<Tally>) {
        let Tally {
            adjusted,
            pending,
            errors,
        } = summary.tally;
        let lambda_calls = summary.api_calls.other("lambda");
        sqs_depth::run_complete!(summary, adjusted, pending, errors, lambda_calls);
        use lambda_support::metrics::count;
        count("Scalers", summary.scalers);
        count("Adjusted", adjusted);
        count("ScalerErrors", errors);
    }
}

impl ReservedConcurrency {
    /// The steps for one scaler: check its spec and queue, read the function's reserved
    /// concurrency, check the queue feeds the function, decide, adjust (unless a dry run).
    async fn assess(
        &self,
        scaler: &LambdaConcurrencyScaler,
        reading: Result<QueueReading, SqsError>,
        dry_run: bool,
        now: Timestamp,
    ) -> Result<Assessed, ScalerError> {
        let policy = Policy::from_spec(&scaler.spec)?;
        let reading = reading?;
        let function = scaler.spec.aws_lambda_name.trim();
        let reserved = self.lambda.reserved_concurrency(function).await?;
        self.verify_mapping(scaler, function, &reading.arn).await?;
        let depth = reading.depth.length(policy.include_in_flight, false);
        let last_adjusted = scaler
            .status
            .as_ref()
            .and_then(|s| s.adjusted_timestamp.as_ref());
        let seen = Observed {
            depth,
            reserved,
            last_adjusted: last_adjusted.map(|t| t.0),
        };
        let plan = decide::decide(&policy, &self.settings, &seen, now);
        if !dry_run {
            self.adjust(function, &plan).await?;
        }
        Ok(Assessed {
            policy,
            depth,
            reserved,
            plan,
        })
    }

    /// That an event source mapping from the queue to the function exists: checked once per
    /// spec generation, and again after any error, so a steady scaler costs one Lambda call
    /// per run.
    async fn verify_mapping(
        &self,
        scaler: &LambdaConcurrencyScaler,
        function: &str,
        queue_arn: &str,
    ) -> Result<(), ScalerError> {
        let verified = scaler.status.as_ref().is_some_and(|old| {
            old.verified_generation.is_some()
                && old.verified_generation == scaler.metadata.generation
                && old.state != Some(ConcurrencyState::Error)
        });
        if verified || self.lambda.has_mapping(function, queue_arn).await? {
            return Ok(());
        }
        Err(ScalerError::NoMapping {
            function: function.into(),
            queue_arn: queue_arn.into(),
        })
    }

    /// Sets the reserved concurrency the plan wants now, if it wants a change.
    async fn adjust(&self, function: &str, plan: &Plan) -> Result<(), LambdaError> {
        match plan.set {
            Some(to) => self.lambda.set_reserved_concurrency(function, to).await,
            None => Ok(()),
        }
    }
}

fn log_decision(scaler: &LambdaConcurrencyScaler, assessed: &Assessed, dry_run: bool) {
    let plan = &assessed.plan;
    tracing::info!(
        decision = plan.decision(assessed.reserved),
        scaler = %pass::name(scaler),
        function = %scaler.spec.aws_lambda_name,
        queue = %scaler.spec.aws_sqs_name,
        depth = assessed.depth,
        threshold = assessed.policy.threshold,
        from = %verdict::shown(assessed.reserved),
        to = plan.wanted,
        state = ?plan.state,
        reason = %plan.why,
        dry_run,
    );
    // The decision's metrics, beside its line.
    let (namespace, name) = (scaler.namespace().unwrap_or_default(), scaler.name_any());
    let put = |metric, v: f64| lambda_support::metrics::put_resource(&namespace, &name, metric, v);
    put("QueueDepth", assessed.depth as f64);
    put("Concurrency", f64::from(plan.wanted));
}
