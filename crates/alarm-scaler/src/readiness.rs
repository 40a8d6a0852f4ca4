//! alarm-scaler's conditions in a K8sMetricAlarm's `status.scaleConditions`, pure: `Ready`
//! says whether a notification may write the target (False: why not, e.g. `AmbiguousOwner`,
//! `Unscalable`, `InvalidPause`), `Paused` whether the suite's pause annotations hold it.
//! Written only when they change, so a resource scaling as usual costs no extra write.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_ops::conditions::set;

pub const READY: &str = "Ready";
pub const PAUSED: &str = "Paused";

/// What a notification found about the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State<'a> {
    /// Scaling on its alarms as usual.
    Scaling,
    /// Held by an annotation (`k8s_ops::pause::Pause::condition`'s reason and message).
    Paused { reason: &'a str, message: &'a str },
    /// Writes nothing until this is fixed (or the rival goes).
    Refused { reason: &'a str, message: &'a str },
}

/// The conditions after `state`; `None` when they stay as they are.
pub fn conditions(
    current: &[Condition],
    state: State<'_>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Option<Vec<Condition>> {
    let mut c = current.to_vec();
    let mut put = |type_: &str, ok: bool, reason: &str, message: &str| {
        set(&mut c, type_, ok, reason, message, generation, now)
    };
    // `|`, not `||`: both conditions are set.
    let changed = match state {
        State::Scaling => {
            put(READY, true, "Scaling", "steps its target on its alarms")
                | put(PAUSED, false, "Running", "no pause annotation")
        }
        State::Paused { reason, message } => {
            put(READY, true, "Paused", message) | put(PAUSED, true, reason, message)
        }
        // Whether it is paused is unknown (or beside the point) while it is refused.
        State::Refused { reason, message } => put(READY, false, reason, message),
    };
    changed.then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    /// (type, status, reason) of each condition.
    fn summary(c: &[Condition]) -> Vec<(&str, &str, &str)> {
        c.iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect()
    }

    #[test]
    fn each_state_sets_ready_and_paused_and_an_unchanged_state_writes_nothing() {
        let refused = State::Refused {
            reason: "AmbiguousOwner",
            message: "HPA",
        };
        let paused = State::Paused {
            reason: "ScalingPaused",
            message: "paused by annotation",
        };
        let scaling = conditions(&[], State::Scaling, Some(1), t(0)).unwrap();
        assert_eq!(
            summary(&scaling),
            [("Ready", "True", "Scaling"), ("Paused", "False", "Running")]
        );
        assert_eq!(conditions(&scaling, State::Scaling, Some(1), t(9)), None);
        let held = conditions(&scaling, paused, Some(1), t(10)).unwrap();
        assert_eq!(
            summary(&held),
            [
                ("Ready", "True", "Paused"),
                ("Paused", "True", "ScalingPaused")
            ]
        );
        assert_eq!(held[1].last_transition_time.0, t(10));
        let refusal = conditions(&held, refused, Some(1), t(20)).unwrap();
        assert_eq!(
            summary(&refusal),
            [
                ("Ready", "False", "AmbiguousOwner"),
                ("Paused", "True", "ScalingPaused")
            ]
        );
        assert_eq!(conditions(&refusal, refused, Some(1), t(30)), None);
        // Resumed: both flip back, with new transition times.
        let resumed = conditions(&refusal, State::Scaling, Some(2), t(40)).unwrap();
        assert_eq!(summary(&resumed), summary(&scaling));
        assert!(resumed.iter().all(|c| c.last_transition_time.0 == t(40)));
    }
}
