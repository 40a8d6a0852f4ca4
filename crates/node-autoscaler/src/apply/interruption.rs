//! The EC2 events about one worker, under the lease `spot#<instance>`. A Spot interruption
//! warning cordons the worker, then launches its replacement and drains it at once, then
//! terminates it. A rebalance recommendation cordons it (`REBALANCE_MODE=cordon`), or
//! launches the replacement first, then drains and terminates it (`replace`); an AWS Health
//! scheduled change (retirement, maintenance) does the latter for each instance it names. A
//! state-change notification (stopping, shutting-down, terminated) deletes the worker's Node
//! at once and finishes a removal recorded under this lease.
use std::time::Duration;

use k8s_ops::drain;

use super::Context;
use super::action;
use super::context::ControlPlane;
use super::launch::{launch, launched_by};
use super::observe::classify;
use crate::answer::{Cleaned, Cordoned, Launched, Removal, Replaced, Spot, SpotDecision};
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
    let trigger = trigger_of(kind);
    let answer = |decision| Spot {
        instance: instance_id.to_owned(),
        decision,
    };
    let instance = ctx.ec2.get(instance_id).await?;
    let owner = ownership(c, instance.as_ref(), kind == SpotKind::Gone);
    let action = decide::spot_action(kind, owner, c.rebalance);
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
        "EC2 event about one of our workers"
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
    let result = if action == SpotAction::CleanNode {
        Box::pin(clean(ctx, &instance, &lease)).await
    } else {
        Box::pin(act(ctx, event, &instance, action, kind, &lease)).await
    };
    let _ = ctx.store.release(&lease).await;
    Ok(answer(result?))
}

/// The trigger's name in logs, answers and the reasons of recorded actions.
fn trigger_of(kind: SpotKind) -> &'static str {
    match kind {
        SpotKind::Interruption => "spot_interruption",
        SpotKind::Rebalance => "rebalance",
        SpotKind::ScheduledChange => "scheduled_change",
        SpotKind::Gone => "state_change",
    }
}

/// An AWS Health scheduled change: each instance it names in turn, as a rebalance
/// recommendation in `replace` mode. A closed event (the change is over) does nothing.
pub(super) async fn scheduled_change(
    ctx: &Context,
    event: &Event,
    instance_ids: &[String],
    closed: bool,
) -> Result<Vec<Spot>, Error> {
    let mut answers = Vec::new();
    for id in instance_ids {
        answers.push(if closed {
            tracing::info!(decision = "ignored", trigger = "scheduled_change", instance = %id, why = "event_closed", "not acting");
            Spot {
                instance: id.clone(),
                decision: SpotDecision::Ignored {
                    why: "event_closed",
                },
            }
        } else {
            Box::pin(run(ctx, event, id, SpotKind::ScheduledChange)).await?
        });
    }
    Ok(answers)
}

/// Whose instance it is. `any_state`: judged by the tags alone (a state-change notification
/// is about an instance that is no longer running); else a worker must be pending or running.
fn ownership(c: &Config, instance: Option<&Instance>, any_state: bool) -> Ownership {
    match instance {
        // Any cluster's control plane: never touched, whoever's it is.
        Some(i) if i.tagged(&c.tags.master) => Ownership::ControlPlane,
        Some(i)
            if c.tags.is_worker(i)
                && (any_state || matches!(i.state.as_str(), "pending" | "running")) =>
        {
            Ownership::Worker
        }
        _ => Ownership::Foreign,
    }
}

/// The worker is stopping or gone: its Node goes now (it would stay NotReady for ever; no
/// cloud controller removes it in a self-managed cluster), and a removal recorded under this
/// lease is finished (the drain finds no node; the instance is terminated as recorded). A
/// removal recorded by the periodic run is left to that run, which resumes it the same way.
async fn clean(ctx: &Context, instance: &Instance, lease: &Lease) -> Result<SpotDecision, Error> {
    let cp = ctx.control_plane().await?;
    let view = cluster::observe(&cp.kube).await?;
    let node = view.node_of(instance).map(|n| n.name.clone());
    if let Some(node) = &node {
        cluster::delete_node(&cp.kube, node).await?;
    }
    let recorded = ctx
        .store
        .actions()
        .await?
        .into_iter()
        .find(|a| a.instance_id == instance.id && a.lease == lease.key);
    if let Some(record) = recorded {
        let remover = action::Remover {
            ctx,
            kube: &cp.kube,
            lease,
        };
        let outcome = remover.carry_out(&record, ctx.config.drain_timeout).await?;
        tracing::info!(instance = instance.id, outcome = ?outcome, "recorded removal finished");
    }
    tracing::info!(
        decision = "clean_node",
        instance = instance.id,
        state = instance.state,
        node = node.as_deref(),
        "worker stopping or gone: Node deleted"
    );
    Ok(SpotDecision::CleanNode {
        done: Some(Cleaned { node_deleted: node }),
    })
}

/// What `action` is, done nothing of (`DRY_RUN`).
fn planned(action: SpotAction) -> SpotDecision {
    match action {
        SpotAction::Ignore(why) => SpotDecision::Ignored { why },
        SpotAction::Cordon => SpotDecision::Cordon { done: None },
        SpotAction::CordonDrainReplace => SpotDecision::CordonDrainReplace { done: None },
        SpotAction::ReplaceThenDrain => SpotDecision::ReplaceThenDrain { done: None },
        SpotAction::CleanNode => SpotDecision::CleanNode { done: None },
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
        // A scheduled change is days ahead: the unhurried drain of a rebalance.
        SpotKind::Rebalance | SpotKind::ScheduledChange | SpotKind::Gone => {
            (c.drain_timeout, ActionKind::Rebalance)
        }
    };
    // What the replacement is tagged with, so a retried event finds it: the event's id; with
    // the instance's for a Health event, which may name several.
    let attempt = match kind {
        SpotKind::ScheduledChange => format!("{}/{}", event.id, instance.id),
        _ => event.id.clone(),
    };
    // The record goes first, the cordon after it: a run that fails between them leaves an
    // action the next run resumes (drains, or rolls back by uncordoning), never a Node
    // cordoned with nothing tracking it. One DynamoDB write before the cordon.
    let record = node
        .as_deref()
        .filter(|_| action != SpotAction::Cordon)
        .map(|node| {
            let reason = format!("{} {attempt}", trigger_of(kind));
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
    let replacement = replacement(ctx, event, &attempt, instance, &view).await?;
    let launch = replace(ctx, &attempt, &cp, replacement);
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
    attempt: &str,
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
    let launched_before = launched_by(&instances, attempt);
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
    attempt: &str,
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
        Replacement::Launch(workers) => launch(ctx, &cp.instance, &workers, 1, attempt).await,
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
