//! RBAC experiments on a deployed function: the grants of its shipped ClusterRole
//! ([`crate::harness::rbac`]), one withheld per scheduled run, each run judged by what it
//! returns and the Events it records about one object.
//!
//! ```ignore
//! let experiment = w.grants_of("queue-scaler", ("default", "worker"), t0());
//! for (i, grant) in experiment.grants.iter().enumerate() {
//!     let run = experiment.without(i).await;
//!     run.refused("listing SqsQueueScalers");
//!     run.recorded(&[]);
//! }
//! ```
use jiff::{Timestamp, ToSpan};
use serde_json::Value;

use super::{World, scheduled};
use crate::harness::Supervised;
use crate::harness::rbac::{self, Grant};

/// The runs of one experiment: see [`World::grants_of`].
pub struct Experiment<'w> {
    world: &'w World,
    function: &'w str,
    /// The object whose Events judge a run: (namespace, name).
    object: (&'w str, &'w str),
    t0: Timestamp,
    /// Every grant of `infra/k8s/rbac/<function>.yaml`, one verb on one resource each, in
    /// the file's order.
    pub grants: Vec<Grant>,
}

/// One scheduled run of an [`Experiment`].
pub struct Run {
    /// The withheld grant described, or "every grant": for assertion messages.
    pub what: String,
    withheld: Option<Grant>,
    /// The run's event time.
    pub at: Timestamp,
    /// The function's response, or its error.
    pub result: Result<Value, String>,
    /// (type, reason, message) of the Events the run recorded about the object.
    pub events: Vec<(String, String, String)>,
}

impl World {
    /// An experiment on `function`'s grants, judged by the Events about `object` (namespace,
    /// name); its runs are a minute apart from `t0` (ahead of the clock, so that each run's
    /// event time is the time it decides with and names its Events with).
    pub fn grants_of<'w>(
        &'w self,
        function: &'w str,
        object: (&'w str, &'w str),
        t0: Timestamp,
    ) -> Experiment<'w> {
        Experiment {
            world: self,
            function,
            object,
            t0,
            grants: rbac::grants(&World::rules_of(function)),
        }
    }
}

impl Experiment<'_> {
    /// A run with the ClusterRole holding every grant but the `i`th, `i` minutes after `t0`.
    pub async fn without(&self, i: usize) -> Run {
        let grant = self.grants[i].clone();
        self.run(rbac::all_but(&self.grants, i), i, Some(grant))
            .await
    }

    /// A run with every grant back, after the runs [`without`](Experiment::without) one.
    pub async fn with_all(&self) -> Run {
        self.run(rbac::all(&self.grants), self.grants.len(), None)
            .await
    }

    async fn run(&self, rules: Value, minute: usize, withheld: Option<Grant>) -> Run {
        let w = self.world;
        let (namespace, name) = self.object;
        w.set_rules(self.function, rules).await;
        let at = self.t0 + (60 * minute as i64).seconds();
        let before = w.events(namespace, name).await.len();
        let result = w.invoke(self.function, &scheduled(at));
        let events = w.events(namespace, name).await.split_off(before);
        Run {
            what: withheld
                .as_ref()
                .map_or_else(|| "every grant".to_owned(), Grant::describe),
            withheld,
            at,
            result,
            events,
        }
    }
}

impl Run {
    fn withheld(&self) -> &Grant {
        self.withheld
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no grant withheld", self.what))
    }

    /// Asserts that the run failed at `step` (as the function words it) on the withheld
    /// grant's denial; returns the error.
    pub fn refused(&self, step: &str) -> &str {
        let what = &self.what;
        let err = self.result.as_ref().expect_err(what);
        assert!(
            rbac::mentions(err, step) && self.withheld().denied_in(err),
            "{what}: {err}"
        );
        err
    }

    /// Asserts that the run succeeded with a summary counting as `counts` says (`("errors",
    /// 0)`: `summary["errors"]` is 0); returns the summary.
    pub fn counted(&self, counts: &[(&str, u64)]) -> &Value {
        let what = &self.what;
        let summary = self
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got: Vec<Option<u64>> = counts.iter().map(|(k, _)| summary[k].as_u64()).collect();
        let want: Vec<Option<u64>> = counts.iter().map(|(_, n)| Some(*n)).collect();
        assert_eq!(got, want, "{what}: {counts:?} in {summary}");
        summary
    }

    /// Asserts that the run recorded Events of exactly these reasons, in this order.
    pub fn recorded(&self, reasons: &[&str]) {
        let got: Vec<&str> = self.events.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(got, reasons, "{}: {:?}", self.what, self.events);
    }

    /// Events are best effort: asserts that the run recorded none, and that `function` logged
    /// the one it could not record with the withheld grant's denial.
    pub fn unrecorded(&self, function: &mut Supervised) {
        self.recorded(&[]);
        tokio::task::block_in_place(|| self.withheld().unrecorded_event_logged(function))
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
    }
}
