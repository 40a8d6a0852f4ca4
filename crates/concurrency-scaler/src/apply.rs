//! concurrency-scaler's part of the scaler pass ([`sqs_depth::pass`] reads each queue once,
//! records each verdict and summarises; [`crate::run`] lists the scalers and finds who owns
//! each function): for each scaler, check its spec, pause and ownership, read the function's
//! reserved concurrency and event source mappings, decide, and set the reserved concurrency
//! and/or the mapping's maximum concurrency ([`crate::scaled`]); the status and Event say so.
//!
//! A problem with one scaler (its spec, annotations, owner, queue, function, mapping, the
//! account floor) is its verdict: state ERROR with a message, and a Warning Event.
use std::collections::HashMap;

use jiff::Timestamp;
use k8s_ops::crd::lambda_concurrency::{ConcurrencyState, LambdaConcurrencyScaler, Scale};
use k8s_ops::pause::{self, Pause, PauseError};
use kube::ResourceExt;
use serde::Serialize;
use sqs_depth::pass::{self, Pass, Scaling, Verdict};
use sqs_depth::{QueueReading, QueueRef, SqsError};

use crate::decide::{self, Observed, Plan, Policy, Settings, SpecError};
use crate::lambda_api::{LambdaApi, LambdaError};
use crate::scaled::{self, Conflict, Function, Write};

mod verdict;

/// The component name on Events, and the function's name.
pub const COMPONENT: &str = "concurrency-scaler";

/// How concurrency-scaler carries a decision out, built once at init.
pub struct Concurrency {
    pub lambda: LambdaApi,
    pub settings: Settings,
}

/// One pass's judge: the scalers refused as another owns their function (`namespace/name`
/// → why, naming the owner).
pub struct Judge<'a> {
    pub concurrency: &'a Concurrency,
    pub refused: HashMap<String, String>,
}

/// What the summary counts, from each scaler's state.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub adjusted: usize,
    pub pending: usize,
    pub paused: usize,
    pub errors: usize,
}

impl pass::Tally for Tally {
    type Outcome = ConcurrencyState;

    fn add(&mut self, state: ConcurrencyState) {
        match state {
            ConcurrencyState::Adjusting => self.adjusted += 1,
            ConcurrencyState::Pending => self.pending += 1,
            ConcurrencyState::Paused => self.paused += 1,
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
    Pause(#[from] PauseError),
    /// Another scaler owns the function (`k8s_ops::owner::refusal`'s message).
    #[error("{0}")]
    Owned(String),
    #[error(transparent)]
    Queue(#[from] SqsError),
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    #[error("function {function}: no event source mapping from queue {queue_arn}")]
    NoMapping { function: String, queue_arn: String },
    #[error("function {function}: {conflict}")]
    Conflict {
        function: String,
        conflict: Conflict,
    },
}

impl ScalerError {
    /// The Warning Event's reason.
    fn reason(&self) -> &'static str {
        match self {
            ScalerError::Spec(_) => "InvalidSpec",
            ScalerError::Pause(_) => "InvalidPause",
            ScalerError::Owned(_) => "AmbiguousOwner",
            ScalerError::Queue(SqsError::NotFound { .. }) => "QueueNotFound",
            ScalerError::Queue(_) => "FailedGetQueueDepth",
            ScalerError::Lambda(LambdaError::NotFound { .. }) => "FunctionNotFound",
            ScalerError::Lambda(LambdaError::AccountFloor { .. }) => "AccountConcurrencyFloor",
            ScalerError::Lambda(_) => "FailedAdjust",
            ScalerError::NoMapping { .. } => "NoEventSourceMapping",
            ScalerError::Conflict { .. } => "ConcurrencyConflict",
        }
    }
}

/// What was found and decided for a scaler whose checks passed.
struct Assessed {
    policy: Policy,
    pause: Pause,
    scaled: Scale,
    depth: i64,
    /// The function before the writes.
    found: Function,
    plan: Plan,
    /// Why the bounds were narrowed ([`scaled::limits`]).
    notes: Vec<String>,
    writes: Vec<Write>,
}

impl Scaling for Judge<'_> {
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
    ) -> Verdict<Self> {
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
        vec![("lambda", self.concurrency.lambda.calls())]
    }

    fn log(summary: &pass::Summary<Tally>) {
        let Tally {
            adjusted,
            pending,
            paused,
            errors,
        } = summary.tally;
        let lambda_calls = summary.api_calls.other("lambda");
        sqs_depth::run_complete!(summary, adjusted, pending, paused, errors, lambda_calls);
        use lambda_support::metrics::count;
        count("Scalers", summary.scalers);
        count("Adjusted", adjusted);
        count("ScalerErrors", errors);
    }
}

impl Judge<'_> {
    /// The steps for one scaler: check its spec, pause annotations, ownership and queue; read
    /// the function's reserved concurrency and mappings; decide; write (unless a dry run).
    async fn assess(
        &self,
        scaler: &LambdaConcurrencyScaler,
        reading: Result<QueueReading, SqsError>,
        dry_run: bool,
        now: Timestamp,
    ) -> Result<Assessed, ScalerError> {
        let policy = Policy::from_spec(&scaler.spec)?;
        let pause = pause::read(scaler.annotations(), pause::SUITE)?;
        let function = scaler.spec.aws_lambda_name.trim();
        if let Some(why) = self.refused.get(&pass::name(scaler)) {
            return Err(ScalerError::Owned(why.clone()));
        }
        let reading = reading?;
        let lambda = &self.concurrency.lambda;
        // Two reads of the function, neither needing the other: made together (both run to
        // their end, so a failure reported is the same one as when they ran in turn).
        let (reserved, mappings) = tokio::join!(
            lambda.reserved_concurrency(function),
            lambda.mappings(function)
        );
        let (reserved, mappings) = (reserved?, mappings?);
        let found = Function::new(reserved, &mappings, &reading.arn);
        let conflict = |conflict| ScalerError::Conflict {
            function: function.into(),
            conflict,
        };
        let Some(mine) = &found.mine else {
            return Err(ScalerError::NoMapping {
                function: function.into(),
                queue_arn: reading.arn,
            });
        };
        let scaled = scaled::resolve(scaler.spec.scale, mine).map_err(conflict)?;
        let depth = reading.depth.length(policy.include_in_flight, false);
        // paused-replicas N: the policy's bounds become [N, N], made safe as any bounds.
        let bounds = match pause {
            Pause::At(n) => Policy {
                min: n,
                max: n,
                ..policy
            },
            _ => policy,
        };
        let (limited, notes) = scaled::limits(&bounds, scaled, &found).map_err(conflict)?;
        let current = found.current(scaled);
        let last_adjusted = scaler
            .status
            .as_ref()
            .and_then(|s| s.adjusted_timestamp.as_ref());
        let seen = Observed {
            depth,
            current,
            last_adjusted: last_adjusted.map(|t| t.0),
        };
        let plan = match pause {
            Pause::Hold => decide::held(current),
            _ => decide::decide(&limited, &self.concurrency.settings, &seen, now),
        };
        let writes = match pause {
            Pause::Hold => Vec::new(),
            _ => scaled::writes(scaled, &plan, &found),
        };
        if !dry_run {
            self.write(function, &mine.uuid, &writes).await?;
        }
        Ok(Assessed {
            policy,
            pause,
            scaled,
            depth,
            found,
            plan,
            notes,
            writes,
        })
    }

    /// Carries the writes out in order; the first failure stops them (the order is what
    /// keeps the poller unthrottled).
    async fn write(
        &self,
        function: &str,
        mapping: &str,
        writes: &[Write],
    ) -> Result<(), LambdaError> {
        let lambda = &self.concurrency.lambda;
        for write in writes {
            match *write {
                Write::Reserved(to) => lambda.set_reserved_concurrency(function, to).await?,
                Write::Maximum(to) => {
                    lambda
                        .set_maximum_concurrency(function, mapping, to)
                        .await?
                }
            }
        }
        Ok(())
    }
}

fn log_decision(scaler: &LambdaConcurrencyScaler, assessed: &Assessed, dry_run: bool) {
    let plan = &assessed.plan;
    let current = assessed.found.current(assessed.scaled);
    tracing::info!(
        decision = if assessed.pause == Pause::Hold { "paused" } else { plan.decision(current) },
        scaler = %pass::name(scaler),
        function = %scaler.spec.aws_lambda_name,
        queue = %scaler.spec.aws_sqs_name,
        scaled = ?assessed.scaled,
        depth = assessed.depth,
        threshold = assessed.policy.threshold,
        from = %verdict::shown(current),
        to = plan.wanted,
        writes = ?assessed.writes,
        state = ?verdict::state(assessed),
        reason = %plan.why,
        dry_run,
    );
    // The decision's metrics, beside its line.
    let (namespace, name) = (scaler.namespace().unwrap_or_default(), scaler.name_any());
    let put = |metric, v: f64| lambda_support::metrics::put_resource(&namespace, &name, metric, v);
    put("QueueDepth", assessed.depth as f64);
    put("Concurrency", f64::from(plan.wanted));
}
