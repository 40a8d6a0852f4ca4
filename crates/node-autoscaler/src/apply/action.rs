//! The life of one worker's removal: recorded (`action#<instance>`) before its first step,
//! drained, terminated, its Node and its record deleted — and resumed by a later run when an
//! invocation stopped half way. A scale-down whose drain fails is rolled back (the drain
//! uncordons; the record goes). A Spot interruption terminates anyway: the instance is
//! reclaimed within two minutes whatever we do.
use std::time::Duration;

use jiff::Timestamp;
use k8s_ops::drain::{self, DrainError, DrainOptions};

use super::Context;
use crate::answer::Removal;
use crate::cluster;
use crate::error::Error;
use crate::store::{Action, ActionKind, Lease};

/// The periodic run's lease; a Spot handler holds `spot#<instance>`.
pub(super) const PERIODIC: &str = "periodic";
/// The steps of a recorded action: cordoned and evicting; drained, to terminate.
const DRAINING: &str = "draining";
const TERMINATING: &str = "terminating";
/// A resumed drain whose recorded deadline has passed still gets this long.
const RESUME_MIN: Duration = Duration::from_secs(30);

/// The record of a removal about to start: its first step the drain, due `timeout` from
/// `now`, run under the lease `lease`.
pub(super) fn record(
    instance_id: &str,
    node: &str,
    kind: ActionKind,
    lease: &str,
    reason: String,
    now: Timestamp,
    timeout: Duration,
) -> Action {
    Action {
        instance_id: instance_id.to_owned(),
        node: node.to_owned(),
        kind,
        step: DRAINING.into(),
        started: now.as_second(),
        deadline: now.as_second() + timeout.as_secs() as i64,
        lease: lease.to_owned(),
        reason,
    }
}

enum Drained {
    /// Drained, or its node already gone: on to terminating.
    Done,
    /// A Spot worker's drain failed: on to terminating anyway.
    Incomplete(String),
    /// The drain failed and the node is schedulable again: the record is gone, the
    /// instance stays.
    RolledBack(String),
}

/// Who carries removals out: the run's context, the cluster's client, and the lease the
/// actions are recorded under.
pub(super) struct Remover<'a> {
    pub ctx: &'a Context,
    pub kube: &'a kube::Client,
    pub lease: &'a Lease,
}

impl Remover<'_> {
    /// Runs a recorded action from its step to the end: drain (if `draining`), terminate the
    /// instance, delete its Node, delete the record.
    pub(super) async fn carry_out(
        &self,
        action: &Action,
        deadline: Duration,
    ) -> Result<Removal, Error> {
        let mut action = action.clone();
        let mut undrained = None;
        if action.step == DRAINING {
            match self.drain_node(&action, deadline).await? {
                Drained::RolledBack(why) => return Ok(Removal::Aborted(why)),
                Drained::Incomplete(why) => undrained = Some(why),
                Drained::Done => {}
            }
            action.step = TERMINATING.into();
            self.ctx.store.put_action(self.lease, &action).await?;
        }
        self.terminate(&action).await?;
        Ok(undrained.map_or(Removal::Terminated, Removal::Undrained))
    }

    async fn drain_node(&self, action: &Action, deadline: Duration) -> Result<Drained, Error> {
        let Remover { ctx, kube, lease } = *self;
        let opts = DrainOptions {
            deadline,
            ..DrainOptions::default()
        };
        match drain::drain(kube, &action.node, &opts).await {
            Ok(report) => {
                tracing::info!(
                    decision = "drained",
                    instance = action.instance_id,
                    node = action.node,
                    evicted = report.evicted.len(),
                    retries_429 = report.retries_429,
                    drained_ms = report.drained_after.as_millis() as u64,
                    "node drained"
                );
                let seconds = report.drained_after.as_secs_f64();
                lambda_support::metrics::put("DrainDuration", seconds);
            }
            Err(DrainError::NodeNotFound { .. }) => {
                tracing::info!(
                    instance = action.instance_id,
                    node = action.node,
                    "node already gone"
                );
            }
            Err(e) if action.kind != ActionKind::SpotInterruption => {
                let why = e.to_string();
                // A failed drain uncordons the node itself, and says when that failed too.
                // The record goes only once the node is schedulable again: nothing else
                // would ever uncordon it (a cordoned node is never chosen again). Until then
                // the run fails and the next one resumes the action.
                if e.left_cordoned() {
                    tracing::error!(
                        instance = action.instance_id,
                        node = action.node,
                        kind = action.kind.as_str(),
                        why,
                        "drain failed and the node could not be uncordoned; action kept for the next run"
                    );
                    return Err(Error::LeftCordoned {
                        node: action.node.clone(),
                        why,
                    });
                }
                tracing::warn!(
                    decision = "abort_drain",
                    instance = action.instance_id,
                    node = action.node,
                    kind = action.kind.as_str(),
                    why,
                    "drain failed; node uncordoned, instance kept"
                );
                ctx.store.delete_action(lease, &action.instance_id).await?;
                return Ok(Drained::RolledBack(why));
            }
            Err(e) => {
                tracing::warn!(instance = action.instance_id, node = action.node, error = %e, "Spot drain incomplete; terminating anyway");
                return Ok(Drained::Incomplete(e.to_string()));
            }
        }
        Ok(Drained::Done)
    }

    /// The instance (if still ours), then its Node, then the record.
    async fn terminate(&self, action: &Action) -> Result<(), Error> {
        let Remover { ctx, kube, lease } = *self;
        let c = &ctx.config;
        let ids = [action.instance_id.clone()];
        let terminated = ctx.ec2.terminate_owned(&ids, &c.tags).await?;
        cluster::delete_node(kube, &action.node).await?;
        ctx.store.delete_action(lease, &action.instance_id).await?;
        tracing::info!(
            decision = "terminated",
            instance = action.instance_id,
            node = action.node,
            kind = action.kind.as_str(),
            was_running = !terminated.is_empty(),
            "worker removed"
        );
        Ok(())
    }
}

/// Resumes one recorded action under its own lease (the periodic lease, or the Spot
/// handler's lease once that has expired). `None` when another holder is still at it.
pub(super) async fn resume(
    ctx: &Context,
    kube: &kube::Client,
    periodic: &Lease,
    action: &Action,
    now: Timestamp,
) -> Result<Option<Removal>, Error> {
    let own;
    let lease = if action.lease == PERIODIC {
        periodic
    } else {
        match ctx
            .store
            .acquire(&action.lease, &periodic.owner, now, ctx.config.lease)
            .await?
        {
            Some(l) => {
                own = l;
                &own
            }
            None => return Ok(None),
        }
    };
    tracing::info!(
        decision = "resume",
        instance = action.instance_id,
        node = action.node,
        kind = action.kind.as_str(),
        step = action.step,
        "resuming a recorded action"
    );
    let remover = Remover { ctx, kube, lease };
    let outcome = remover.carry_out(action, time_left(action, now)).await;
    if action.lease != PERIODIC {
        let _ = ctx.store.release(lease).await;
    }
    outcome.map(Some)
}

/// What is left of a resumed action's drain deadline, at least `RESUME_MIN`.
fn time_left(action: &Action, now: Timestamp) -> Duration {
    Duration::from_secs((action.deadline - now.as_second()).max(0) as u64).max(RESUME_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_drain_gets_what_is_left_and_at_least_resume_min() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let a = |timeout: i64| {
            let mut a = record(
                "i-1",
                "worker-a",
                ActionKind::ScaleDown,
                PERIODIC,
                "idle".into(),
                now,
                Duration::ZERO,
            );
            a.deadline += timeout;
            a
        };
        let table = [
            (300, 300),
            (31, 31),
            (30, 30),
            (10, 30),
            (0, 30),
            (-600, 30),
        ];
        for (left, want) in table {
            assert_eq!(
                time_left(&a(left), now),
                Duration::from_secs(want),
                "{left}"
            );
        }
    }

    #[test]
    fn a_record_starts_at_the_drain_with_its_deadline() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let a = record(
            "i-1",
            "worker-a",
            ActionKind::Rebalance,
            "spot#i-1",
            "rebalance evt-1".into(),
            now,
            Duration::from_secs(300),
        );
        assert_eq!(a.step, DRAINING);
        assert_eq!((a.started, a.deadline), (1_800_000_000, 1_800_000_300));
        assert_eq!(a.lease, "spot#i-1");
    }

    #[test]
    fn a_failed_drain_is_rolled_back_only_once_the_node_is_uncordoned_or_gone() {
        let refused = || {
            kube::Error::Api(
                kube::core::Status::failure("injected: patch refused", "InternalError")
                    .with_code(500)
                    .boxed(),
            )
        };
        let failed = || DrainError::Api {
            node: "worker-a".into(),
            action: "list pods on",
            source: refused(),
        };
        // The drain's own uncordon succeeded (or the node is gone): rolled back.
        assert!(!failed().left_cordoned());
        assert!(
            !DrainError::NodeNotFound {
                node: "worker-a".into()
            }
            .left_cordoned()
        );
        // It failed: the node stays cordoned, whichever step failed first.
        assert!(
            DrainError::LeftCordoned {
                node: "worker-a".into(),
                cause: Box::new(failed()),
                uncordon_error: refused().to_string(),
            }
            .left_cordoned()
        );
        assert!(
            DrainError::NotDrained {
                node: "worker-a".into(),
                elapsed: Duration::from_secs(20),
                deadline_reached: true,
                remaining: Vec::new(),
                uncordon_error: Some(refused().to_string()),
            }
            .left_cordoned()
        );
    }
}
