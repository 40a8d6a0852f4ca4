//! Status conditions as Kubernetes convention has them (metav1.Condition): one per type,
//! `lastTransitionTime` moving only when the status changes.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Sets condition `type_` in `conditions`, keeping its transition time when the status is
/// unchanged. Returns whether anything changed (so callers can skip a no-op status write).
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: jiff::Timestamp,
) -> bool {
    let status = if status { "True" } else { "False" }.to_owned();
    let wanted = Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation,
        last_transition_time: Time(now),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        None => {
            conditions.push(wanted);
            true
        }
        Some(existing) => {
            let transition = existing.status != wanted.status;
            let changed = transition
                || existing.reason != wanted.reason
                || existing.message != wanted.message
                || existing.observed_generation != wanted.observed_generation;
            if changed {
                let since = if transition {
                    wanted.last_transition_time.clone()
                } else {
                    existing.last_transition_time.clone()
                };
                *existing = Condition {
                    last_transition_time: since,
                    ..wanted
                };
            }
            changed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut c = Vec::new();
        assert!(set(
            &mut c,
            "Synced",
            true,
            "Ok",
            "2 alarms",
            Some(1),
            t(100)
        ));
        assert!(!set(
            &mut c,
            "Synced",
            true,
            "Ok",
            "2 alarms",
            Some(1),
            t(200)
        ));
        assert!(set(
            &mut c,
            "Synced",
            true,
            "Ok",
            "2 alarms",
            Some(2),
            t(300)
        ));
        assert_eq!(c[0].last_transition_time.0, t(100));
        assert!(set(
            &mut c,
            "Synced",
            false,
            "Error",
            "bad",
            Some(2),
            t(400)
        ));
        assert_eq!((c.len(), c[0].status.as_str()), (1, "False"));
        assert_eq!(c[0].last_transition_time.0, t(400));
    }
}
