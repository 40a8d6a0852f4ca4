//! The invocation's metrics, from its answer (drain durations are put where each drain
//! ends, in `action.rs`).
use crate::answer::{Answer, Periodic, Replaced, Run, Spot, SpotDecision};

/// Puts the answer's metrics into the invocation's record.
pub(super) fn record(answer: &Answer) {
    for (name, value) in values(answer) {
        lambda_support::metrics::put(name, value);
    }
}

/// What the answer counts, by metric name.
fn values(answer: &Answer) -> Vec<(&'static str, f64)> {
    match &answer.run {
        Run::Schedule(periodic) => periodic_values(periodic),
        Run::SpotInterruption(spot) | Run::Rebalance(spot) | Run::StateChange(spot) => {
            spot_values(spot)
        }
        // One event about several instances: their counts summed.
        Run::ScheduledChange { instances, .. } => {
            let mut sum: Vec<(&'static str, f64)> = Vec::new();
            for (name, value) in instances.iter().flat_map(spot_values) {
                match sum.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => *total += value,
                    None => sum.push((name, value)),
                }
            }
            sum
        }
    }
}

fn periodic_values(periodic: &Periodic) -> Vec<(&'static str, f64)> {
    let n = |v: usize| v as f64;
    let (seen, launched, removed) = match periodic {
        Periodic::Locked { .. } => return vec![("LeaseConflicts", 1.0)],
        Periodic::Hold { seen, .. } => (seen, None, None),
        Periodic::ScaleUp { seen, launched, .. } => (seen, launched.as_ref(), None),
        Periodic::ScaleDown { seen, removed, .. } => (seen, None, removed.as_ref()),
    };
    let resumed = seen
        .resumed
        .iter()
        .filter(|r| r.outcome.terminated())
        .count();
    let terminated = removed.map_or(0, |r| r.terminated.len());
    let mut values = vec![
        ("LeaseConflicts", 0.0),
        ("Workers", n(seen.workers)),
        ("PendingPods", f64::from(seen.pending)),
        ("Launches", n(launched.map_or(0, |l| l.launched.len()))),
        ("LaunchErrors", n(launched.map_or(0, |l| l.errors.len()))),
        ("DrainAborts", n(removed.map_or(0, |r| r.aborted.len()))),
        (
            "Terminations",
            n(terminated + resumed + seen.unjoined_terminated.len()),
        ),
    ];
    values.extend(seen.cpu.map(|cpu| ("ClusterCpu", cpu)));
    values
}

fn spot_values(spot: &Spot) -> Vec<(&'static str, f64)> {
    let replaced = |done: &Option<Replaced>| {
        done.as_ref().map_or((0.0, 0.0, 0.0), |r| {
            let terminated = f64::from(u8::from(r.outcome.terminated()));
            (
                r.replacement.len() as f64,
                r.errors.len() as f64,
                terminated,
            )
        })
    };
    let (launches, errors, terminations) = match &spot.decision {
        SpotDecision::InProgress => return vec![("SpotEvents", 1.0), ("LeaseConflicts", 1.0)],
        SpotDecision::Ignored { .. }
        | SpotDecision::Cordon { .. }
        | SpotDecision::CleanNode { .. } => (0.0, 0.0, 0.0),
        SpotDecision::CordonDrainReplace { done } | SpotDecision::ReplaceThenDrain { done } => {
            replaced(done)
        }
    };
    vec![
        ("SpotEvents", 1.0),
        ("LeaseConflicts", 0.0),
        ("Launches", launches),
        ("LaunchErrors", errors),
        ("Terminations", terminations),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Launched, Removal, Removed, Resumed, Seen};

    fn answer(run: Run) -> Answer {
        Answer {
            run,
            dry_run: false,
            elapsed_ms: 1,
        }
    }

    fn seen() -> Seen {
        Seen {
            workers: 3,
            cpu: Some(71.5),
            pending: 4,
            resumed: vec![Resumed {
                instance: "i-r".into(),
                kind: "scale_down",
                outcome: Removal::Terminated,
            }],
            unjoined_terminated: vec!["i-u".into()],
        }
    }

    fn get(values: &[(&str, f64)], name: &str) -> Option<f64> {
        values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn a_scale_up_counts_what_it_saw_launched_and_tidied() {
        let up = answer(Run::Schedule(Periodic::ScaleUp {
            seen: seen(),
            from: 3,
            to: 5,
            reason: "pending".into(),
            launched: Some(Launched {
                launched: vec!["i-1".into()],
                errors: vec!["quota".into()],
            }),
        }));
        let v = values(&up);
        let expected = [
            ("Workers", 3.0),
            ("PendingPods", 4.0),
            ("ClusterCpu", 71.5),
            ("Launches", 1.0),
            ("LaunchErrors", 1.0),
            ("Terminations", 2.0),
            ("DrainAborts", 0.0),
            ("LeaseConflicts", 0.0),
        ];
        for (name, value) in expected {
            assert_eq!(get(&v, name), Some(value), "{name}: {v:?}");
        }
    }

    #[test]
    fn a_scale_down_counts_terminations_and_aborted_drains() {
        let mut seen = seen();
        seen.cpu = None;
        let down = answer(Run::Schedule(Periodic::ScaleDown {
            seen,
            from: 3,
            to: 1,
            reason: "idle".into(),
            victims: vec!["i-a".into(), "i-b".into()],
            removed: Some(Removed {
                terminated: vec!["i-a".into()],
                aborted: vec![crate::answer::Aborted {
                    instance: "i-b".into(),
                    why: "PDB".into(),
                }],
            }),
        }));
        let v = values(&down);
        assert_eq!(get(&v, "Terminations"), Some(3.0));
        assert_eq!(get(&v, "DrainAborts"), Some(1.0));
        assert_eq!(get(&v, "ClusterCpu"), None, "no data, no value");
    }

    #[test]
    fn a_held_lease_is_a_conflict() {
        let locked = answer(Run::Schedule(Periodic::Locked { holder: None }));
        assert_eq!(values(&locked), [("LeaseConflicts", 1.0)]);
        let spot = answer(Run::Rebalance(Spot {
            instance: "i-s".into(),
            decision: SpotDecision::InProgress,
        }));
        assert_eq!(get(&values(&spot), "LeaseConflicts"), Some(1.0));
        assert_eq!(get(&values(&spot), "SpotEvents"), Some(1.0));
    }

    #[test]
    fn a_scheduled_change_sums_its_instances() {
        let spot = |decision| Spot {
            instance: "i-s".into(),
            decision,
        };
        let replaced = Some(Replaced {
            replacement: vec!["i-n".into()],
            errors: vec![],
            outcome: Removal::Terminated,
        });
        let change = answer(Run::ScheduledChange {
            event_type: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
            instances: vec![
                spot(SpotDecision::ReplaceThenDrain {
                    done: replaced.clone(),
                }),
                spot(SpotDecision::ReplaceThenDrain { done: replaced }),
                spot(SpotDecision::Ignored { why: "not_ours" }),
            ],
        });
        let v = values(&change);
        assert_eq!(get(&v, "SpotEvents"), Some(3.0));
        assert_eq!(get(&v, "Launches"), Some(2.0));
        assert_eq!(get(&v, "Terminations"), Some(2.0));
        assert_eq!(v.iter().filter(|(n, _)| *n == "Launches").count(), 1);
    }

    #[test]
    fn every_name_is_node_autoscalers() {
        let all = [
            answer(Run::Schedule(Periodic::Hold {
                seen: seen(),
                why: "steady",
                reason: String::new(),
            })),
            answer(Run::SpotInterruption(Spot {
                instance: "i-s".into(),
                decision: SpotDecision::CordonDrainReplace {
                    done: Some(Replaced {
                        replacement: vec!["i-n".into()],
                        errors: vec![],
                        outcome: Removal::Terminated,
                    }),
                },
            })),
        ];
        for a in &all {
            for (name, _) in values(a) {
                let m = lambda_support::metrics::catalogue::find("node-autoscaler", name);
                assert!(m.is_some(), "{name} is not in the catalogue");
            }
        }
    }
}
