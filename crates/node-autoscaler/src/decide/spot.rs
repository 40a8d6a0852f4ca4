//! What an EC2 event about one instance does, pure: ignore it, cordon, replace and remove
//! the worker, or clean the Node of one that is gone; and whether a replacement stays
//! within `MAX_WORKERS`.
use super::{Policy, Worker, WorkerState};

/// Whose instance an EC2 event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged as this cluster's worker, running.
    Worker,
    ControlPlane,
    /// Not ours (no worker tag), or not found.
    Foreign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpotKind {
    Interruption,
    Rebalance,
    /// An AWS Health scheduled change (retirement, maintenance): certain, days ahead.
    ScheduledChange,
    /// An EC2 state-change notification: stopping, shutting-down or terminated. Ownership
    /// is then judged by the tags alone (the instance is no longer running).
    Gone,
}

/// What an "EC2 Instance Rebalance Recommendation" does to one of our workers
/// (`REBALANCE_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebalanceMode {
    /// Cordon only: no new pods land there; the interruption warning, if it comes, drains.
    Cordon,
    /// Launch a replacement, then cordon and drain the instance and terminate it (default).
    Replace,
}

/// What an EC2 Spot event does, at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpotAction {
    Ignore(&'static str),
    /// Cordon now; launch a replacement and drain in parallel; terminate.
    CordonDrainReplace,
    /// Cordon only (REBALANCE_MODE=cordon).
    Cordon,
    /// Launch a replacement first, then cordon, drain, terminate (REBALANCE_MODE=replace,
    /// and an AWS Health scheduled change).
    ReplaceThenDrain,
    /// The instance is stopping or gone: delete its Node now (nothing left to drain).
    CleanNode,
}

impl SpotAction {
    /// The `decision` logged and answered for it.
    pub fn name(self) -> &'static str {
        match self {
            SpotAction::Ignore(_) => "ignored",
            SpotAction::CordonDrainReplace => "cordon_drain_replace",
            SpotAction::Cordon => "cordon",
            SpotAction::ReplaceThenDrain => "replace_then_drain",
            SpotAction::CleanNode => "clean_node",
        }
    }
}

pub fn spot_action(kind: SpotKind, owner: Ownership, mode: RebalanceMode) -> SpotAction {
    match (owner, kind, mode) {
        (Ownership::Foreign, _, _) => SpotAction::Ignore("not_ours"),
        (Ownership::ControlPlane, _, _) => SpotAction::Ignore("control_plane"),
        (Ownership::Worker, SpotKind::Interruption, _) => SpotAction::CordonDrainReplace,
        (Ownership::Worker, SpotKind::Rebalance, RebalanceMode::Cordon) => SpotAction::Cordon,
        (Ownership::Worker, SpotKind::Rebalance, RebalanceMode::Replace) => {
            SpotAction::ReplaceThenDrain
        }
        // Unlike a rebalance recommendation, the change will happen: never cordon only.
        (Ownership::Worker, SpotKind::ScheduledChange, _) => SpotAction::ReplaceThenDrain,
        (Ownership::Worker, SpotKind::Gone, _) => SpotAction::CleanNode,
    }
}

/// Whether a replacement for `leaving` may be launched: the workers that stay (and those
/// joining) are below `MAX_WORKERS`.
pub fn may_replace(policy: &Policy, workers: &[Worker], leaving: &str) -> bool {
    let staying = workers
        .iter()
        .filter(|w| w.state != WorkerState::Leaving && w.instance_id != leaving)
        .count() as u32;
    staying < policy.max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{policy, w};

    #[test]
    fn the_spot_table() {
        use Ownership::*;
        use SpotKind::*;
        let table = [
            (
                Interruption,
                Foreign,
                RebalanceMode::Replace,
                SpotAction::Ignore("not_ours"),
            ),
            (
                Rebalance,
                Foreign,
                RebalanceMode::Cordon,
                SpotAction::Ignore("not_ours"),
            ),
            (
                Interruption,
                ControlPlane,
                RebalanceMode::Replace,
                SpotAction::Ignore("control_plane"),
            ),
            (
                Interruption,
                Worker,
                RebalanceMode::Cordon,
                SpotAction::CordonDrainReplace,
            ),
            (Rebalance, Worker, RebalanceMode::Cordon, SpotAction::Cordon),
            (
                Rebalance,
                Worker,
                RebalanceMode::Replace,
                SpotAction::ReplaceThenDrain,
            ),
            (
                ScheduledChange,
                Worker,
                RebalanceMode::Cordon,
                SpotAction::ReplaceThenDrain,
            ),
            (
                ScheduledChange,
                Foreign,
                RebalanceMode::Replace,
                SpotAction::Ignore("not_ours"),
            ),
            (
                ScheduledChange,
                ControlPlane,
                RebalanceMode::Replace,
                SpotAction::Ignore("control_plane"),
            ),
            (Gone, Worker, RebalanceMode::Cordon, SpotAction::CleanNode),
            (
                Gone,
                Foreign,
                RebalanceMode::Replace,
                SpotAction::Ignore("not_ours"),
            ),
            (
                Gone,
                ControlPlane,
                RebalanceMode::Replace,
                SpotAction::Ignore("control_plane"),
            ),
        ];
        for (kind, owner, mode, want) in table {
            assert_eq!(
                spot_action(kind, owner, mode),
                want,
                "{kind:?} {owner:?} {mode:?}"
            );
        }
    }

    #[test]
    fn replacements_never_exceed_max() {
        let p = policy();
        let mut workers: Vec<Worker> = (0..5)
            .map(|i| w(&format!("i-{i}"), "z", WorkerState::Ready, 0))
            .collect();
        assert!(may_replace(&p, &workers, "i-0"));
        workers.push(w("i-5", "z", WorkerState::Joining, 0));
        assert!(!may_replace(&p, &workers, "i-0"));
    }
}
