//! A scaler's verdict: its status (state, concurrency, the message that explains it) and the
//! Event that tells of it.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::lambda_concurrency::{
    ConcurrencyState, LambdaConcurrencyScaler, LambdaConcurrencyScalerStatus,
};
use k8s_ops::events::EventSpec;
use sqs_depth::pass::Verdict;

use super::{Assessed, ReservedConcurrency, ScalerError};

/// What the Events of an adjustment say was done.
const ACTION: &str = "Adjust";

/// A reserved concurrency as messages show it (`unset` when none is reserved).
pub(super) fn shown(reserved: Option<i32>) -> String {
    reserved.map_or("unset".to_owned(), |r| r.to_string())
}

/// Why the reserved concurrency is what it is, or will be.
fn message(assessed: &Assessed) -> String {
    let Assessed {
        policy,
        depth,
        reserved,
        plan,
    } = assessed;
    let (why, threshold, from) = (plan.why, policy.threshold, shown(*reserved));
    let seen = format!("{why}: depth {depth}, threshold {threshold}");
    match (plan.set, plan.not_before) {
        (Some(to), _) => format!("{seen}; reserved concurrency {from} → {to}"),
        (None, Some(when)) => format!("{seen}; {from} → {} waits until {when}", plan.wanted),
        (None, None) => format!("{seen}; reserved concurrency {from}"),
    }
}

/// Decided (and adjusted): the state and concurrency, verified at this generation; an Event
/// when the reserved concurrency was set.
pub(super) fn assessed(
    scaler: &LambdaConcurrencyScaler,
    assessed: &Assessed,
    now: Timestamp,
) -> Verdict<ReservedConcurrency> {
    let message = message(assessed);
    let Assessed {
        depth,
        reserved,
        plan,
        ..
    } = assessed;
    let old = scaler.status.as_ref();
    let generation = scaler.metadata.generation;
    let event = plan.set.map(|to| EventSpec {
        warning: false,
        reason: "SuccessfulAdjust".into(),
        message: format!("New reserved concurrency: {to}; reason: {message}"),
        action: ACTION.into(),
    });
    let adjusted = match plan.set {
        Some(_) => Some(Time(now)),
        None => old.and_then(|s| s.adjusted_timestamp.clone()),
    };
    Verdict {
        status: LambdaConcurrencyScalerStatus {
            state: Some(plan.state),
            concurrency: plan.set.or(*reserved),
            adjusted_timestamp: adjusted,
            message: Some(message),
            queue_depth: Some(*depth),
            observed_generation: generation,
            verified_generation: generation,
        },
        event,
        outcome: plan.state,
    }
}

/// A problem: state ERROR with its message, the rest as it was; a Warning Event only when
/// the problem is new, not on every run while it lasts.
pub(super) fn failed(
    scaler: &LambdaConcurrencyScaler,
    e: &ScalerError,
) -> Verdict<ReservedConcurrency> {
    let old = scaler.status.clone().unwrap_or_default();
    let message = e.to_string();
    let new_problem = old.state != Some(ConcurrencyState::Error)
        || old.message.as_deref() != Some(message.as_str());
    let event = new_problem.then(|| EventSpec {
        warning: true,
        reason: e.reason().into(),
        message: message.clone(),
        action: ACTION.into(),
    });
    Verdict {
        status: LambdaConcurrencyScalerStatus {
            state: Some(ConcurrencyState::Error),
            message: Some(message),
            observed_generation: scaler.metadata.generation,
            ..old
        },
        event,
        outcome: ConcurrencyState::Error,
    }
}
