//! What a run says about KEDA ScaledObjects: the `scaledObjects` part of the function's
//! response, since their status is KEDA's and queue-scaler writes none.
use std::collections::BTreeMap;

use serde::Serialize;
use sqs_depth::pass;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every ScaledObject listed.
    pub listed: usize,
    /// Judged from its queue as an SqsQueueScaler would be.
    pub scaled: usize,
    /// Deployments rescaled (from their queue, or to a paused count).
    pub rescaled: usize,
    /// Held by KEDA's pause annotations.
    pub paused: usize,
    /// An HPA scales the Deployment (KEDA runs the ScaledObject, or another autoscaler does).
    pub left_alone: usize,
    /// Not one aws-sqs-queue trigger, or a KEDA feature queue-scaler lacks.
    pub skipped: usize,
    /// Invalid, or a problem with the queue, the role or the Deployment.
    pub errors: usize,
    /// Why each ScaledObject that was not simply scaled was not: `namespace/name` → why.
    pub notes: BTreeMap<String, String>,
}

/// What became of one ScaledObject the pass judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Held,
    Rescaled,
    /// Its problem, for the notes (`namespace/name`, `Reason: message`).
    Failed {
        scaler: String,
        problem: String,
    },
}

impl pass::Tally for Report {
    type Outcome = Outcome;

    fn add(&mut self, outcome: Outcome) {
        self.scaled += 1;
        match outcome {
            Outcome::Held => {}
            Outcome::Rescaled => self.rescaled += 1,
            Outcome::Failed { scaler, problem } => {
                self.errors += 1;
                self.notes.insert(scaler, problem);
            }
        }
    }
}

impl Report {
    /// `other`'s counts and notes added to these.
    pub fn absorb(&mut self, other: Report) {
        self.listed += other.listed;
        self.scaled += other.scaled;
        self.rescaled += other.rescaled;
        self.paused += other.paused;
        self.left_alone += other.left_alone;
        self.skipped += other.skipped;
        self.errors += other.errors;
        self.notes.extend(other.notes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sqs_depth::pass::Tally;

    #[test]
    fn the_report_counts_outcomes_and_notes_problems() {
        let mut report = Report {
            listed: 4,
            left_alone: 1,
            notes: [("jobs/a".into(), "left alone: HPA keda-hpa-a exists".into())].into(),
            ..Report::default()
        };
        let mut judged = Report::default();
        judged.add(Outcome::Rescaled);
        judged.add(Outcome::Held);
        judged.add(Outcome::Failed {
            scaler: "jobs/c".into(),
            problem: "FailedGetScale: deployment c not found".into(),
        });
        report.absorb(judged);
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"listed": 4, "scaled": 3, "rescaled": 1, "paused": 0, "leftAlone": 1,
                   "skipped": 0, "errors": 1,
                   "notes": {"jobs/a": "left alone: HPA keda-hpa-a exists",
                             "jobs/c": "FailedGetScale: deployment c not found"}})
        );
    }
}
