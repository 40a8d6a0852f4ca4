//! A scaler's verdict: its status (state, concurrency, what was scaled, the message that
//! explains it) and the Event that tells of it.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::crd::lambda_concurrency::{
    ConcurrencyState, LambdaConcurrencyScaler, LambdaConcurrencyScalerStatus, Scale,
};
use k8s_ops::events::EventSpec;
use k8s_ops::pause::{self, Pause};
use sqs_depth::pass::Verdict;

use super::{Assessed, Judge, ScalerError};
use crate::scaled::Write;

/// What the Events of an adjustment say was done.
const ACTION: &str = "Adjust";

/// A concurrency as messages show it (`unset` when none is set).
pub(super) fn shown(concurrency: Option<i32>) -> String {
    concurrency.map_or("unset".to_owned(), |r| r.to_string())
}

/// What the stepped concurrency is, in words.
fn knob(scaled: Scale) -> &'static str {
    match scaled {
        Scale::ReservedConcurrency => "reserved concurrency",
        _ => "maximum concurrency",
    }
}

/// The state the status shows: PAUSED while an annotation holds the scaler.
pub(super) fn state(assessed: &Assessed) -> ConcurrencyState {
    match (assessed.pause, assessed.writes.is_empty()) {
        (Pause::Hold | Pause::At(_), _) => ConcurrencyState::Paused,
        (Pause::Running, false) => ConcurrencyState::Adjusting,
        (Pause::Running, true) => assessed.plan.state,
    }
}

/// Why the concurrency is what it is, or will be.
fn message(assessed: &Assessed) -> String {
    let Assessed {
        policy,
        pause,
        scaled,
        depth,
        found,
        plan,
        notes,
        writes,
    } = assessed;
    let (knob, threshold, from) = (
        knob(*scaled),
        policy.threshold,
        shown(found.current(*scaled)),
    );
    let why = match pause.condition(pause::SUITE) {
        Some((_, paused)) => paused,
        None => plan.why.describe(knob),
    };
    let seen = format!("{why}: depth {depth}, threshold {threshold}");
    let mut message = match (plan.set, plan.not_before) {
        (Some(to), _) => format!("{seen}; {knob} {from} → {to}"),
        (None, Some(when)) => format!("{seen}; {from} → {} waits until {when}", plan.wanted),
        (None, None) => format!("{seen}; {knob} {from}"),
    };
    for write in writes {
        if let (Write::Reserved(to), Scale::Both) = (write, scaled) {
            message += &format!("; reserved concurrency {} → {to}", shown(found.reserved));
        }
    }
    for note in notes {
        message += &format!("; {note}");
    }
    message
}

/// Decided (and written): the state and concurrencies, verified at this generation; an Event
/// when something was set.
pub(super) fn assessed<'a>(
    scaler: &LambdaConcurrencyScaler,
    assessed: &Assessed,
    now: Timestamp,
) -> Verdict<Judge<'a>> {
    let message = message(assessed);
    let Assessed {
        scaled,
        depth,
        found,
        plan,
        writes,
        ..
    } = assessed;
    let old = scaler.status.as_ref();
    let generation = scaler.metadata.generation;
    let event = (!writes.is_empty()).then(|| EventSpec {
        warning: false,
        reason: "SuccessfulAdjust".into(),
        message: format!("New {}; reason: {message}", written(writes)),
        action: ACTION.into(),
    });
    let adjusted = match plan.set {
        Some(_) => Some(Time(now)),
        None => old.and_then(|s| s.adjusted_timestamp.clone()),
    };
    let after =
        |pick: fn(&Write) -> Option<i32>, before| writes.iter().rev().find_map(pick).or(before);
    let state = state(assessed);
    Verdict {
        status: LambdaConcurrencyScalerStatus {
            state: Some(state),
            concurrency: plan.set.or(found.current(*scaled)),
            scaled: Some(*scaled),
            reserved_concurrency: after(Write::reserved, found.reserved),
            maximum_concurrency: after(Write::maximum, found.mine.as_ref().and_then(|m| m.maximum)),
            adjusted_timestamp: adjusted,
            message: Some(message),
            queue_depth: Some(*depth),
            observed_generation: generation,
            verified_generation: generation,
        },
        event,
        outcome: state,
    }
}

/// `reserved concurrency: 5, maximum concurrency: 3`.
fn written(writes: &[Write]) -> String {
    let each = writes.iter().map(|w| match w {
        Write::Reserved(to) => format!("reserved concurrency: {to}"),
        Write::Maximum(to) => format!("maximum concurrency: {to}"),
    });
    each.collect::<Vec<_>>().join(", ")
}

/// A problem: state ERROR with its message, the rest as it was; a Warning Event only when
/// the problem is new, not on every run while it lasts.
pub(super) fn failed<'a>(scaler: &LambdaConcurrencyScaler, e: &ScalerError) -> Verdict<Judge<'a>> {
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
