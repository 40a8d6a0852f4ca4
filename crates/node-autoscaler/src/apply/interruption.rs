//! The EC2 events of a Spot worker, under the lease `spot#<instance>`. An interruption
//! warning cordons the worker, then launches its replacement and drains it at once, then
//! terminates it. A rebalance recommendation cordons it (`REBALANCE_MODE=cordon`), or
//! launches the replacement first, then drains and terminates it (`replace`).
use std::time::Duration;

use k8s_ops::drain;

use super::Context;
use super::action;
use super::context::ControlPlane;
use super::launch::{launch, launched_by};
use super::observe::classify;
use crate::answer::{Cordoned, Launched, Removal, Replaced, Spot, SpotDecision};
use crate::cluster::{self, ClusterView};
use crate::config::Config;
use crate::decide::{self, Ownership, SpotAction, SpotKind, Worker, WorkerState};
use crate::ec2::Instance;
use crate::error::Error;
use crate::event::Event;
use crate::store::{Action, ActionKind, Lease};

pub(super) async fn run(
    ctx: &Context,
    event: &Event,
    instance_id: &str,
    kind: SpotKind,
) -> Result<Spot, Error> {
    let c = &ctx.config;
    let trigger = match kind {
        SpotKind::Interruption => "spot_interruption",
        SpotKind::Rebalance => "rebalance",
    };
    let answer = |decision| Spot {
        instance: instance_id.to_owned(),
        decision,
    };
    let instance = ctx.ec2.get(instance_id).await?;
    let action = decide::spot_action(kind, ownership(c, instance.as_ref()), c.rebalance);
    let instance = match (instance, action) {
        (_, SpotAction::Ignore(why)) => {
            tracing::info!(
                decision = "ignored",
                trigger,
                instance = instance_id,
                why,
                "not acting"
            );
            return Ok(answer(SpotDecision::Ignored { why }));
        }
        (Some(i), _) => i,
        (None, _) => unreachable!("a missing instance is Foreign"),
    };
    tracing::info!(
        decision = action.name(),
        trigger,
        instance = instance_id,
        "Spot event for one of our workers"
    );
    if c.dry_run {
        return Ok(answer(planned(action)));
    }
    let key = format!("spot#{instance_id}");
    let Some(lease) = ctx
        .store
        .acquire(&key, &ctx.owner(event), event.now, c.lease)
        .await?
    else {
        return Ok(answer(SpotDecision::InProgress));
    };
    let result = Box::pin(act(ctx, event, &instance, action, kind, &lease)).await;
    let _ = ctx.store.release(&lease).await;
    Ok(answer(result?))
}

fn ownership(c: &Config, instance: Option<&Instance>) -> Ownership {
    match instance {
        // Any cluster's control plane: never touched, whoever's it is.
        Some(i) if i.tagged(&c.tags.master) => Ownership::ControlPlane,
        Some(i) if c.tags.is_worker(i) && matches!(i.state.as_str(), "pending" | "running") => {
            Ownership::Worker
        }
        _ => Ownership::Foreign,
    }
}

/// What `action` is, done nothing of (`DRY_RUN`).
fn planned(action: SpotAction) -> SpotDecision {
    match action {
        SpotAction::Ignore(why) => SpotDecision::Ignored { why },
        SpotAction::Cordon => SpotDecision::Cordon { done: None },
        SpotAction::CordonDrainReplace => SpotDecision::CordonDrainReplace { done: None },
        SpotAction::ReplaceThenDrain => SpotDecision::ReplaceThenDrain { done: None },
    }
}

async fn act(
    ctx: &Context,
    event: &Event,
    instance: &Instance,
    action: SpotAction,
    kind: SpotKind,
    lease: &Lease,
) -> Result<SpotDecision, Error> {
    let c = &ctx.config;
    let cp = ctx.control_plane().await?;
    let view = cluster::observe(&cp.kube).await?;
    let node = view.node_of(instance).map(|n| n.name.clone());
    let (timeout, action_kind) = match kind {
        SpotKind::Interruption => (c.spot_drain_timeout, ActionKind::SpotInterruption),
        SpotKind::Rebalance => (c.drain_timeout, ActionKind::Rebalance),
    };
    // The record goes first, the cordon after it: a run that fails between them leaves an
    // action the next run resumes (drains, or rolls back by uncordoning), never a Node
    // cordoned with nothing tracking it. One DynamoDB write before the cordon.
    let record = node
        .as_deref()
        .filter(|_| action != SpotAction::Cordon)
        .map(|node| {
            let reason = format!("{} {}", action_kind.as_str(), event.id);
            let (id, key) = (&instance.id, &lease.key);
            action::record(id, node, action_kind, key, reason, event.now, timeout)
        });
    if let Some(r) = &record {
        ctx.store.put_action(lease, r).await?;
    }
    // Cordon at once: nothing new lands on a worker about to go.
    if let Some(node) = &node
        && action != SpotAction::ReplaceThenDrain
    {
        drain::cordon(&cp.kube, node).await?;
    }
    if action == SpotAction::Cordon {
        let done = Cordoned { cordoned: node };
        return Ok(SpotDecision::Cordon { done: Some(done) });
    }
    let replacement = replacement(ctx, event, instance, &view).await?;
    let launch = replace(ctx, event, &cp, replacement);
    let removal = remove(ctx, &cp.kube, lease, instance, record.as_ref(), timeout);
    let (launched, outcome) = if action == SpotAction::ReplaceThenDrain {
        let launched = launch.await?;
        (launched, removal.await?)
    } else {
        let (launched, outcome) = futures_util::join!(launch, removal);
        (launched?, outcome?)
    };
    let done = Some(Replaced {
        replacement: launched.launched,
        errors: launched.errors,
        outcome,
    });
    Ok(match action {
        SpotAction::ReplaceThenDrain => SpotDecision::ReplaceThenDrain { done },
        _ => SpotDecision::CordonDrainReplace { done },
    })
}

/// How the leaving worker is replaced.
enum Replacement {
    /// A retried event whose earlier attempt launched the replacement, then failed: that
    /// replacement stands (it carries the event's id); no second one.
    Exists(Vec<String>),
    /// Launch one, spread with the workers that stay.
    Launch(Vec<Worker>),
    AtMax,
}

async fn replacement(
    ctx: &Context,
    event: &Event,
    leaving: &Instance,
    view: &ClusterView,
) -> Result<Replacement, Error> {
    let c = &ctx.config;
    let instances = ctx.ec2.workers(&c.tags).await?;
    let actions = ctx.store.actions().await?;
    let (mut workers, _) = classify(c, &instances, view, &actions, event.now);
    for w in &mut workers {
        if w.instance_id == leaving.id {
            w.state = WorkerState::Leaving;
        }
    }
    let launched_before = launched_by(&instances, &event.id);
    Ok(if !launched_before.is_empty() {
        Replacement::Exists(launched_before)
    } else if decide::may_replace(&c.policy, &workers, &leaving.id) {
        Replacement::Launch(workers)
    } else {
        Replacement::AtMax
    })
}

async fn replace(
    ctx: &Context,
    event: &Event,
    cp: &ControlPlane,
    replacement: Replacement,
) -> Result<Launched, Error> {
    match replacement {
        Replacement::Exists(launched) => {
            tracing::info!(
                decision = "replacement_exists",
                instances = ?launched,
                "launched by an earlier attempt at this event"
            );
            Ok(Launched {
                launched,
                errors: Vec::new(),
            })
        }
        Replacement::Launch(workers) => launch(ctx, &cp.instance, &workers, 1, &event.id).await,
        Replacement::AtMax => Ok(Launched {
            launched: Vec::new(),
            errors: vec!["at MAX_WORKERS: no replacement".to_owned()],
        }),
    }
}

/// The recorded removal carried out; without a record (no node: nothing to drain), the
/// instance goes.
async fn remove(
    ctx: &Context,
    kube: &kube::Client,
    lease: &Lease,
    instance: &Instance,
    record: Option<&Action>,
    timeout: Duration,
) -> Result<Removal, Error> {
    let c = &ctx.config;
    match record {
        Some(r) => {
            action::Remover { ctx, kube, lease }
                .carry_out(r, timeout)
                .await
        }
        None => {
            ctx.ec2
                .terminate_owned(std::slice::from_ref(&instance.id), &c.tags)
                .await?;
            Ok(Removal::Terminated)
        }
    }
}
