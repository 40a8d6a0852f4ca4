//! A barrier in the request path, for concurrency tests: the first `parties` requests it
//! selects are held until all of them have arrived, then go on together. That they all
//! arrived ([`BarrierReport::filled`]) is the proof that that many callers were at that
//! point at once, which no count of outcomes can give. The answers the held requests got
//! are kept ([`BarrierReport::statuses`]: e.g. one 200 and the others' 409 when they raced
//! on one resourceVersion). The cluster's front holds Kubernetes requests with it; the moto
//! gateway has its own for AWS requests (`tools/moto_gateway.py`, section 5), reported in
//! the same form.
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use super::faults::selects;

/// Which requests to hold, how many, and for how long at most.
#[derive(Clone, Debug)]
pub struct Barrier {
    /// RBAC verbs (`patch`, `update`, …); empty = all.
    pub verbs: Vec<String>,
    /// Resources, with a subresource where it applies (`k8smetricalarms/status`); empty =
    /// all.
    pub resources: Vec<String>,
    pub namespace: Option<String>,
    pub parties: usize,
    /// How long a held request waits for the others before going on alone (the barrier
    /// then reports itself not filled).
    pub timeout: Duration,
}

impl Barrier {
    /// Holds the first `parties` requests with one of `verbs` on one of `resources`, for a
    /// minute at most.
    pub fn new(verbs: &[&str], resources: &[&str], parties: usize) -> Barrier {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Barrier {
            verbs: strings(verbs),
            resources: strings(resources),
            namespace: None,
            parties,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What a barrier saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BarrierReport {
    pub parties: usize,
    /// Requests held (at most `parties`).
    pub arrived: usize,
    /// All `parties` arrived while the first still waited.
    pub filled: bool,
    /// A held request stopped waiting.
    pub timed_out: bool,
    /// The statuses the held requests were answered with, in the order answered (0: the
    /// connection was dropped).
    pub statuses: Vec<u16>,
}

impl BarrierReport {
    /// How many of the held requests were answered `status`.
    pub fn answered(&self, status: u16) -> usize {
        self.statuses.iter().filter(|s| **s == status).count()
    }
}

/// The front's barrier: armed by [`Held::arm`], waited at by every request.
#[derive(Default)]
pub(crate) struct Held {
    state: Mutex<Option<Armed>>,
    report: Mutex<BarrierReport>,
}

struct Armed {
    barrier: Barrier,
    open: watch::Sender<bool>,
}

/// A request the barrier held: its answer's status goes into the report.
pub(crate) struct Ticket;

impl Held {
    /// Arms `barrier` (`None` disarms); requests held by a previous one go on.
    pub fn arm(&self, barrier: Option<Barrier>) {
        let mut state = lock(&self.state);
        *lock(&self.report) = BarrierReport {
            parties: barrier.as_ref().map_or(0, |b| b.parties),
            ..BarrierReport::default()
        };
        // Dropping the previous sender ends its waiters' wait.
        *state = barrier.map(|barrier| Armed {
            barrier,
            open: watch::channel(false).0,
        });
    }

    pub fn report(&self) -> BarrierReport {
        lock(&self.report).clone()
    }

    /// Holds the request if it is one of the first the barrier selects, until all have
    /// arrived or the timeout passes.
    pub async fn wait(&self, verb: &str, resource: &str, ns: Option<&str>) -> Option<Ticket> {
        let (mut open, timeout) = {
            let state = lock(&self.state);
            let armed = state.as_ref()?;
            let b = &armed.barrier;
            let selection = (&b.verbs[..], &b.resources[..], b.namespace.as_deref());
            let mut report = lock(&self.report);
            if !selects(selection, (verb, resource, ns)) || report.arrived >= b.parties {
                return None;
            }
            report.arrived += 1;
            if report.arrived == b.parties {
                report.filled = true;
                armed.open.send_replace(true);
                return Some(Ticket);
            }
            (armed.open.subscribe(), b.timeout)
        };
        let waited = tokio::time::timeout(timeout, open.wait_for(|open| *open)).await;
        if waited.is_err() {
            lock(&self.report).timed_out = true;
        }
        Some(Ticket)
    }

    /// Records the status a held request was answered with.
    pub fn answered(&self, _ticket: Ticket, status: u16) {
        lock(&self.report).statuses.push(status);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn holds_the_first_parties_until_all_arrived() {
        let held = std::sync::Arc::new(Held::default());
        held.arm(Some(Barrier::new(&["patch"], &["widgets/status"], 3)));
        assert!(held.wait("get", "widgets/status", None).await.is_none());
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let held = held.clone();
                tokio::spawn(async move { held.wait("patch", "widgets/status", None).await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!((held.report().arrived, held.report().filled), (2, false));
        let last = held.wait("patch", "widgets/status", None).await.unwrap();
        for w in waiting {
            held.answered(w.await.unwrap().unwrap(), 409);
        }
        held.answered(last, 200);
        assert!(held.wait("patch", "widgets/status", None).await.is_none());
        let report = held.report();
        assert!(report.filled && !report.timed_out, "{report:?}");
        assert_eq!((report.answered(200), report.answered(409)), (1, 2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_alone_goes_on_after_the_timeout_and_says_so() {
        let held = Held::default();
        let mut barrier = Barrier::new(&[], &[], 2);
        barrier.timeout = Duration::from_millis(50);
        held.arm(Some(barrier));
        let ticket = held.wait("get", "pods", None).await;
        assert!(ticket.is_some());
        let report = held.report();
        assert_eq!((report.filled, report.timed_out), (false, true));
    }
}
