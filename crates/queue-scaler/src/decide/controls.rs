//! The decisions KEDA's controls make instead of the queue's: its pause annotations, and its
//! `fallback` for a queue that cannot be read.
use jiff::Timestamp;
use k8s_ops::crd::sqs_queue::Fallback;
use k8s_ops::pause::Pause;
use sqs_depth::QueueDepth;

use super::{Plan, Policy, State, Why, normalize, remember};

/// KEDA's pause: `paused-replicas` sets exactly its count (KEDA sets it even outside
/// [min, max]); `paused` holds the current one. The queue is still read, so the status keeps
/// its length; the history is kept as it was (a paused HPA records nothing either).
pub fn paused(
    policy: &Policy,
    depth: &QueueDepth,
    pause: Pause,
    current: i32,
    state: &State,
    now: Timestamp,
) -> Plan {
    let (length, active) = policy.measure(depth);
    let desired = pause.replicas(current).unwrap_or(current);
    Plan {
        length,
        active,
        desired,
        why: Why::Paused(pause),
        inactive_since: (!active).then(|| state.inactive_since.unwrap_or(now)),
        recommended: desired,
        history: state.history.clone(),
    }
}

impl Policy {
    /// The queue's length as the spec counts it, and whether it is active.
    pub(super) fn measure(&self, depth: &QueueDepth) -> (i64, bool) {
        let length = depth.length(self.in_flight, self.delayed);
        (length, length > self.activation)
    }

    /// Whether a queue unread `failures` times in a row falls back (KEDA: failures >
    /// failureThreshold); if not, the replicas are held.
    pub fn falls_back(&self, failures: i32) -> bool {
        self.fallback
            .is_some_and(|f| failures > f.failure_threshold)
    }
}

/// The replicas for a queue that could not be read `failures` times in a row, when the
/// policy [falls back](Policy::falls_back): KEDA's `fallback.replicas` (KEDA feeds its HPA a
/// metric that asks exactly that many, so HPA's behavior and bounds apply, and at least one
/// replica runs: never zero on an error). The plan's length is unknown (0).
pub fn fallback(
    policy: &Policy,
    failures: i32,
    current: i32,
    state: &State,
    now: Timestamp,
) -> Plan {
    let f = policy.fallback.unwrap_or(Fallback {
        failure_threshold: 0,
        replicas: current,
    });
    let floor = policy.min.max(1);
    let n = normalize(policy, state, now, current, f.replicas);
    let (desired, history) = if current == 0 {
        // KEDA scales a target at zero up itself; the HPA's rate does not apply.
        let desired = f.replicas.clamp(floor, policy.max);
        (desired, remember(&state.history, now, current, desired))
    } else {
        (n.replicas, n.history)
    };
    Plan {
        length: 0,
        active: true,
        desired,
        why: Why::Fallback(failures),
        inactive_since: state.inactive_since,
        recommended: f.replicas,
        history,
    }
}
