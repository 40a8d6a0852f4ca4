//! What an invocation answers, and writes to the decision log (`LOGS_TABLE`): one JSON
//! object, `trigger` and `decision` first, then what was seen and done. The integration
//! tests, the demo and the log's readers read these names; the table test at the end pins
//! them.
use serde::{Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(flatten)]
    pub run: Run,
    pub dry_run: bool,
    pub elapsed_ms: u64,
}

/// What the trigger led to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum Run {
    Schedule(Periodic),
    SpotInterruption(Spot),
    Rebalance(Spot),
    /// An EC2 Instance State-change Notification (stopping, shutting-down, terminated).
    StateChange(Spot),
    /// An AWS Health scheduled change: one answer per instance it names.
    ScheduledChange {
        #[serde(rename = "eventType")]
        event_type: String,
        instances: Vec<Spot>,
    },
}

/// A periodic evaluation. Without `launched` / `removed`: `DRY_RUN`, nothing done.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Periodic {
    /// Another run holds the lease: nothing done.
    Locked { holder: Option<String> },
    Hold {
        #[serde(flatten)]
        seen: Seen,
        /// Short machine-readable cause (`steady`, `cooldown_up`, …).
        why: &'static str,
        reason: String,
    },
    ScaleUp {
        #[serde(flatten)]
        seen: Seen,
        from: u32,
        to: u32,
        reason: String,
        #[serde(flatten)]
        launched: Option<Launched>,
    },
    ScaleDown {
        #[serde(flatten)]
        seen: Seen,
        from: u32,
        to: u32,
        reason: String,
        victims: Vec<String>,
        #[serde(flatten)]
        removed: Option<Removed>,
    },
}

/// What a periodic run found and tidied before deciding.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub workers: usize,
    /// Cluster CPU %; `null` when Prometheus has no data.
    pub cpu: Option<f64>,
    /// Pods the scheduler could not place (PodScheduled False, Unschedulable), however
    /// recent, whether or not a worker could host them.
    pub pending: u32,
    /// The actions an earlier run left half done, finished (or rolled back) first.
    pub resumed: Vec<Resumed>,
    /// Instances that never became a Ready node within `JOIN_TIMEOUT_SEC`, terminated.
    pub unjoined_terminated: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resumed {
    pub instance: String,
    /// `scale_down`, `spot_interruption` or `rebalance`.
    pub kind: &'static str,
    pub outcome: Removal,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Launched {
    pub launched: Vec<String>,
    /// One per failed launch.
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Removed {
    pub terminated: Vec<String>,
    pub aborted: Vec<Aborted>,
}

/// A scale-down victim whose drain failed: uncordoned and kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aborted {
    pub instance: String,
    pub why: String,
}

/// An EC2 event about one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spot {
    pub instance: String,
    #[serde(flatten)]
    pub decision: SpotDecision,
}

/// Without `done`: `DRY_RUN`, nothing done.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SpotDecision {
    /// Not one of our running workers.
    Ignored { why: &'static str },
    /// Another invocation holds this instance's lease and is at it.
    InProgress,
    Cordon {
        #[serde(flatten)]
        done: Option<Cordoned>,
    },
    CordonDrainReplace {
        #[serde(flatten)]
        done: Option<Replaced>,
    },
    ReplaceThenDrain {
        #[serde(flatten)]
        done: Option<Replaced>,
    },
    /// The instance is stopping or gone: its Node deleted at once.
    CleanNode {
        #[serde(flatten)]
        done: Option<Cleaned>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleaned {
    /// The Node deleted; `null` when there was none.
    pub node_deleted: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cordoned {
    /// The worker's node; `null` when it had none (nothing to cordon).
    pub cordoned: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Replaced {
    /// The replacement launched (or found, launched by an earlier attempt at the event).
    pub replacement: Vec<String>,
    pub errors: Vec<String>,
    pub outcome: Removal,
}

/// How the removal of a worker ended: `terminated`; `terminated, drain incomplete: <why>`
/// (a Spot worker, reclaimed whatever we do: its pods not evicted are gone with it, which
/// the answer must say); or `aborted: <why>` (a drain that failed and was rolled back:
/// uncordoned, instance kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    Terminated,
    Undrained(String),
    Aborted(String),
}

impl Removal {
    pub fn terminated(&self) -> bool {
        !matches!(self, Removal::Aborted(_))
    }
}

impl Serialize for Removal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Removal::Terminated => s.serialize_str("terminated"),
            Removal::Undrained(why) => {
                s.collect_str(&format_args!("terminated, drain incomplete: {why}"))
            }
            Removal::Aborted(why) => s.collect_str(&format_args!("aborted: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen() -> Seen {
        Seen {
            workers: 2,
            cpu: None,
            pending: 1,
            resumed: vec![Resumed {
                instance: "i-r".into(),
                kind: "scale_down",
                outcome: Removal::Aborted("PDB".into()),
            }],
            unjoined_terminated: vec!["i-u".into()],
        }
    }

    fn answer(run: Run) -> serde_json::Value {
        serde_json::to_value(Answer {
            run,
            dry_run: false,
            elapsed_ms: 7,
        })
        .unwrap()
    }

    fn spot(decision: SpotDecision) -> Spot {
        Spot {
            instance: "i-s".into(),
            decision,
        }
    }

    fn replaced() -> Option<Replaced> {
        Some(Replaced {
            replacement: vec!["i-n".into()],
            errors: vec![],
            outcome: Removal::Terminated,
        })
    }

    #[test]
    fn a_removal_says_how_it_ended() {
        let shown = |r: Removal| serde_json::to_value(&r).unwrap();
        assert_eq!(shown(Removal::Terminated), "terminated");
        assert_eq!(
            shown(Removal::Undrained("evict web: 500".into())),
            "terminated, drain incomplete: evict web: 500"
        );
        assert_eq!(shown(Removal::Aborted("PDB".into())), "aborted: PDB");
        assert!(Removal::Undrained(String::new()).terminated());
        assert!(!Removal::Aborted(String::new()).terminated());
    }

    #[test]
    fn the_answers_fields() {
        let seen_json = json!({"workers": 2, "cpu": null, "pending": 1,
            "resumed": [{"instance": "i-r", "kind": "scale_down", "outcome": "aborted: PDB"}],
            "unjoinedTerminated": ["i-u"]});
        let with_seen = |mut fields: serde_json::Value| {
            for (k, v) in seen_json.as_object().unwrap() {
                fields[k] = v.clone();
            }
            fields["trigger"] = "schedule".into();
            fields["dryRun"] = false.into();
            fields["elapsedMs"] = 7.into();
            fields
        };
        let spot_json = |mut fields: serde_json::Value, trigger: &str| {
            fields["trigger"] = trigger.into();
            fields["instance"] = "i-s".into();
            fields["dryRun"] = false.into();
            fields["elapsedMs"] = 7.into();
            fields
        };
        let table = [
            (
                Run::Schedule(Periodic::Locked { holder: None }),
                json!({"trigger": "schedule", "decision": "locked", "holder": null,
                       "dryRun": false, "elapsedMs": 7}),
            ),
            (
                Run::Schedule(Periodic::Hold {
                    seen: seen(),
                    why: "steady",
                    reason: "CPU 50%".into(),
                }),
                with_seen(json!({"decision": "hold", "why": "steady", "reason": "CPU 50%"})),
            ),
            (
                Run::Schedule(Periodic::ScaleUp {
                    seen: seen(),
                    from: 2,
                    to: 3,
                    reason: "pending".into(),
                    launched: None,
                }),
                with_seen(json!({"decision": "scale_up", "from": 2, "to": 3, "reason": "pending"})),
            ),
            (
                Run::Schedule(Periodic::ScaleUp {
                    seen: seen(),
                    from: 2,
                    to: 3,
                    reason: "pending".into(),
                    launched: Some(Launched {
                        launched: vec!["i-n".into()],
                        errors: vec!["no capacity".into()],
                    }),
                }),
                with_seen(json!({"decision": "scale_up", "from": 2, "to": 3,
                    "reason": "pending", "launched": ["i-n"], "errors": ["no capacity"]})),
            ),
            (
                Run::Schedule(Periodic::ScaleDown {
                    seen: seen(),
                    from: 3,
                    to: 2,
                    reason: "idle".into(),
                    victims: vec!["i-v".into(), "i-w".into()],
                    removed: Some(Removed {
                        terminated: vec!["i-v".into()],
                        aborted: vec![Aborted {
                            instance: "i-w".into(),
                            why: "PDB".into(),
                        }],
                    }),
                }),
                with_seen(json!({"decision": "scale_down", "from": 3, "to": 2,
                    "reason": "idle", "victims": ["i-v", "i-w"], "terminated": ["i-v"],
                    "aborted": [{"instance": "i-w", "why": "PDB"}]})),
            ),
            (
                Run::SpotInterruption(spot(SpotDecision::Ignored { why: "not_ours" })),
                spot_json(
                    json!({"decision": "ignored", "why": "not_ours"}),
                    "spot_interruption",
                ),
            ),
            (
                Run::Rebalance(spot(SpotDecision::InProgress)),
                spot_json(json!({"decision": "in_progress"}), "rebalance"),
            ),
            (
                Run::Rebalance(spot(SpotDecision::Cordon { done: None })),
                spot_json(json!({"decision": "cordon"}), "rebalance"),
            ),
            (
                Run::Rebalance(spot(SpotDecision::Cordon {
                    done: Some(Cordoned { cordoned: None }),
                })),
                spot_json(json!({"decision": "cordon", "cordoned": null}), "rebalance"),
            ),
            (
                Run::SpotInterruption(spot(SpotDecision::CordonDrainReplace { done: replaced() })),
                spot_json(
                    json!({"decision": "cordon_drain_replace", "replacement": ["i-n"],
                           "errors": [], "outcome": "terminated"}),
                    "spot_interruption",
                ),
            ),
            (
                Run::Rebalance(spot(SpotDecision::ReplaceThenDrain { done: None })),
                spot_json(json!({"decision": "replace_then_drain"}), "rebalance"),
            ),
            (
                Run::StateChange(spot(SpotDecision::CleanNode {
                    done: Some(Cleaned {
                        node_deleted: Some("worker-a".into()),
                    }),
                })),
                spot_json(
                    json!({"decision": "clean_node", "nodeDeleted": "worker-a"}),
                    "state_change",
                ),
            ),
            (
                Run::ScheduledChange {
                    event_type: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
                    instances: vec![spot(SpotDecision::Ignored { why: "not_ours" })],
                },
                json!({"trigger": "scheduled_change",
                    "eventType": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                    "instances": [{"instance": "i-s", "decision": "ignored", "why": "not_ours"}],
                    "dryRun": false, "elapsedMs": 7}),
            ),
        ];
        for (run, want) in table {
            assert_eq!(answer(run.clone()), want, "{run:?}");
        }
    }
}
