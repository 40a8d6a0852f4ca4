//! What a pass answers: the function's response (its JSON is what operators and the tests
//! read), or why the pass failed.
use std::collections::BTreeMap;

use lambda_support::ErrorType;
use lambda_support::eventbridge::EventError;
use serde::Serialize;

use super::{Pass, Scaling};

/// What a pass did: the function's response.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary<T> {
    pub scalers: usize,
    /// The function's own counts of outcomes (queue-scaler: `rescaled`, `errors`).
    #[serde(flatten)]
    pub tally: T,
    pub dry_run: bool,
    /// API calls this pass, by service (every page counts).
    pub api_calls: Calls,
    /// Wall time of the pass inside the function.
    pub elapsed_ms: u64,
}

/// The counts a summary adds up, one outcome per scaler.
pub trait Tally: Default + Serialize {
    type Outcome;
    fn add(&mut self, outcome: Self::Outcome);
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Calls {
    pub kubernetes: u64,
    pub sqs: u64,
    /// The function's other services (concurrency-scaler: `lambda`).
    #[serde(flatten)]
    pub other: BTreeMap<&'static str, u64>,
}

impl Calls {
    /// The calls made so far, in total.
    pub(super) fn so_far<S: Scaling>(pass: &Pass, scaling: &S) -> Calls {
        Calls {
            kubernetes: pass.kube_calls(),
            sqs: pass.sqs.calls(),
            other: scaling.other_calls().into_iter().collect(),
        }
    }

    /// The calls made since `before`.
    pub(super) fn since(self, before: &Calls) -> Calls {
        let other = self.other.into_iter().map(|(service, calls)| {
            let earlier = before.other.get(service).copied().unwrap_or(0);
            (service, calls - earlier)
        });
        Calls {
            kubernetes: self.kubernetes - before.kubernetes,
            sqs: self.sqs - before.sqs,
            other: other.collect(),
        }
    }

    /// One other service's calls (0 when it made none).
    pub fn other(&self, service: &str) -> u64 {
        self.other.get(service).copied().unwrap_or(0)
    }
}

impl<T> Summary<T> {
    /// The summary, unless a scaler's status could not be written: its outcome is then
    /// recorded nowhere, so the pass fails and the schedule's next tick retries it.
    pub(super) fn unless_unrecorded(self, unrecorded: Vec<String>) -> Result<Self, RunError> {
        match unrecorded.first() {
            None => Ok(self),
            Some(first) => Err(RunError::Status {
                failed: unrecorded.len(),
                total: self.scalers,
                first: first.clone(),
            }),
        }
    }
}

/// Why an invocation of a scaler failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Not a schedule tick (a mis-wired rule): nothing was read or written.
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    List(#[from] k8s_ops::list::ListError),
    #[error("status of {failed} of {total} scalers could not be written; first: {first}")]
    Status {
        failed: usize,
        total: usize,
        first: String,
    },
}

impl ErrorType for RunError {
    fn error_type(&self) -> &'static str {
        match self {
            RunError::Event(_) => "EventRejected",
            RunError::List(_) => "KubernetesFailed",
            RunError::Status { .. } => "StatusNotWritten",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Default, Serialize)]
    struct Counts {
        rescaled: usize,
    }

    #[test]
    fn the_summary_answers_the_functions_json_with_its_own_counts_and_services() {
        let before = Calls {
            kubernetes: 10,
            sqs: 4,
            other: [("lambda", 7)].into(),
        };
        let after = Calls {
            kubernetes: 13,
            sqs: 6,
            other: [("lambda", 9)].into(),
        };
        let summary = Summary {
            scalers: 2,
            tally: Counts { rescaled: 1 },
            dry_run: false,
            api_calls: after.since(&before),
            elapsed_ms: 5,
        };
        assert_eq!(summary.api_calls.other("lambda"), 2);
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            json!({"scalers": 2, "rescaled": 1, "dryRun": false, "elapsedMs": 5,
                   "apiCalls": {"kubernetes": 3, "sqs": 2, "lambda": 2}})
        );
        let err = summary
            .unless_unrecorded(vec!["default/a: denied".into(), "default/b: denied".into()])
            .unwrap_err();
        assert_eq!(
            (err.error_type(), err.to_string().as_str()),
            (
                "StatusNotWritten",
                "status of 2 of 2 scalers could not be written; first: default/a: denied"
            )
        );
    }

    /// Both scalers' sample schedules are the pass's trigger; their other sample is refused
    /// under the name alarms match on.
    #[test]
    fn each_scalers_sample_schedule_decodes_and_anything_else_is_rejected() {
        use lambda_support::schedule::decode;
        let sample = |path: &str| -> serde_json::Value {
            let path = format!("{}/../../events/{path}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
        };
        for function in ["queue-scaler", "concurrency-scaler"] {
            let tick = decode(
                sample(&format!("{function}/scheduled.json")),
                jiff::Timestamp::UNIX_EPOCH,
            );
            assert_eq!(tick.unwrap().scheduled.to_string(), "2026-01-01T00:00:00Z");
            let not = sample(&format!("{function}/not-a-schedule.json"));
            let err = RunError::from(decode(not, jiff::Timestamp::UNIX_EPOCH).unwrap_err());
            assert_eq!(err.error_type(), "EventRejected", "{function}: {err}");
        }
    }
}
