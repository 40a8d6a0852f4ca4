//! The periodic run (the schedule), under the `periodic` lease: observe, finish what an
//! earlier run left half done (and observe again), remove the instances that never joined,
//! decide, act; the lease is released with the decision log ([`release`]). In
//! `DRY_RUN` there is no lease: the same steps decide and log, and change nothing.
use jiff::Timestamp;

use super::Context;
use super::action::{self, PERIODIC};
use super::context::ControlPlane;
use super::events;
use super::launch::launch;
use super::observe::{self, Observation, Unjoined};
use super::status;
use crate::answer::{Aborted, Launched, Periodic, Removal, Removed, Resumed, Seen};
use crate::cluster;
use crate::decide::{self, Plan};
use crate::error::Error;
use crate::event::Event;
use crate::store::{Action, ActionKind, Lease, State};

/// The run and the lease it still holds (`None` in `DRY_RUN`), which the caller gives to
/// [`release`] with the decision log. A run that failed has released it already.
pub(super) async fn run(ctx: &Context, event: &Event) -> Result<(Periodic, Option<Lease>), Error> {
    if ctx.config.dry_run {
        let cp = ctx.control_plane().await?;
        return Ok((Box::pin(evaluate(ctx, event, None, &cp)).await?, None));
    }
    let owner = ctx.owner(event);
    // The lease and the control plane at once: finding the control plane only reads (EC2,
    // the cluster CA), and a cold start's first connections to DynamoDB and EC2 then
    // overlap instead of following each other. A run that finds the lease held has looked
    // for nothing, which is rare (runs are minutes apart) and changes nothing.
    let (lease, cp) = tokio::join!(
        ctx.store
            .acquire(PERIODIC, &owner, event.now, ctx.config.lease),
        ctx.control_plane()
    );
    let Some(lease) = lease? else {
        let holder = ctx.store.holder(PERIODIC).await?.map(|(owner, _)| owner);
        tracing::info!(
            decision = "locked",
            holder = holder.as_deref(),
            "another run holds the lease; nothing done"
        );
        return Ok((Periodic::Locked { holder }, None));
    };
    let result = match cp {
        Ok(cp) => Box::pin(evaluate(ctx, event, Some(&lease), &cp)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(periodic) => Ok((periodic, Some(lease))),
        Err(e) => {
            release(ctx, Some(lease)).await;
            Err(e)
        }
    }
}

/// Gives the lease back, if held; a failure is only a warning (it expires by itself).
pub(super) async fn release(ctx: &Context, lease: Option<Lease>) {
    let Some(lease) = lease else { return };
    if let Err(e) = ctx.store.release(&lease).await {
        tracing::warn!(error = %e, "lease not released; it expires by itself");
    }
}

/// One evaluation of the control plane `cp`; `lease` is `None` in `DRY_RUN`.
async fn evaluate(
    ctx: &Context,
    event: &Event,
    lease: Option<&Lease>,
    cp: &ControlPlane,
) -> Result<Periodic, Error> {
    let mut observation = observe::observe(ctx, &cp.kube, &cp.prometheus, event.now).await?;
    // What an earlier run left half done is finished (or rolled back) first; it changed the
    // cluster, which is then seen again. Most runs find nothing recorded and observe once.
    let resumed = match lease {
        Some(lease) if !observation.actions.is_empty() => {
            let recorded = std::mem::take(&mut observation.actions);
            let resumed = resume_recorded(ctx, &cp.kube, lease, recorded, event.now).await?;
            observation = observe::observe(ctx, &cp.kube, &cp.prometheus, event.now).await?;
            resumed
        }
        _ => Vec::new(),
    };
    let unjoined_terminated = remove_unjoined(ctx, &cp.kube, lease, &observation.unjoined).await?;
    let (policy, forecast) = (&ctx.config.policy, &ctx.config.forecast);
    let (observed, now) = (&observation.observed, event.now.as_second());
    let expected = decide::forecast::expected(forecast, &observation.demand, now);
    let decision = decide::decision(policy, observed, expected);
    // The forecast's history: this run's demand recorded, what later runs read kept.
    if let Some(lease) = lease
        && forecast.on()
    {
        let demand = decide::forecast::demand(policy, observed);
        let history = decide::forecast::record(forecast, &observation.demand, now, demand);
        ctx.store.put_demand(lease, &history).await?;
    }
    // When each worker became unneeded: kept for the next run (written when it changed).
    if let Some(lease) = lease
        && decision.unneeded != observation.observed.unneeded
    {
        let since = decision.unneeded.iter();
        let since = since.map(|(id, t)| (id.clone(), t.as_second())).collect();
        ctx.store.put_unneeded(lease, &since).await?;
    }
    let plan = decision.plan;
    let seen = Seen {
        workers: observation.observed.workers.len(),
        cpu: observation.observed.metrics.cpu_percent,
        pending: observation.observed.unschedulable.len() as u32,
        resumed,
        unjoined_terminated,
    };
    let acted = act(ctx, event, lease, cp, &observation, plan, seen).await;
    if lease.is_some() {
        let events = match &acted {
            Ok(periodic) => {
                let launch = match periodic {
                    Periodic::ScaleUp {
                        from,
                        to,
                        launched: Some(l),
                        ..
                    } if !l.launched.is_empty() => Some((*from, *to)),
                    _ => None,
                };
                events::verdicts(&ctx.config.policy, &observation.observed, launch)
            }
            Err(_) => Vec::new(),
        };
        // The Events and what the run saw and did (or the launch that failed) at once: each
        // is written whatever becomes of the other.
        tokio::join!(
            events::record(&cp.kube, events, event.now),
            status::after_periodic(ctx, &cp.kube, &observation, &acted, event.now)
        );
    }
    acted
}

/// Finishes (or rolls back) every action an earlier run recorded.
async fn resume_recorded(
    ctx: &Context,
    kube: &kube::Client,
    lease: &Lease,
    recorded: Vec<Action>,
    now: Timestamp,
) -> Result<Vec<Resumed>, Error> {
    let mut resumed = Vec::new();
    for recorded in recorded {
        if let Some(outcome) = Box::pin(action::resume(ctx, kube, lease, &recorded, now)).await? {
            resumed.push(Resumed {
                instance: recorded.instance_id,
                kind: recorded.kind.as_str(),
                outcome,
            });
        }
    }
    Ok(resumed)
}

/// No orphans: instances that never joined within `JOIN_TIMEOUT_SEC` go, with the Node
/// they registered. The ids terminated.
async fn remove_unjoined(
    ctx: &Context,
    kube: &kube::Client,
    lease: Option<&Lease>,
    unjoined: &[Unjoined],
) -> Result<Vec<String>, Error> {
    if unjoined.is_empty() {
        return Ok(Vec::new());
    }
    let c = &ctx.config;
    let ids: Vec<String> = unjoined.iter().map(|u| u.instance.clone()).collect();
    tracing::info!(decision = "terminate_unjoined", instances = ?ids, join_timeout_s = c.join_timeout.as_secs(), "instances never became Ready nodes");
    if lease.is_none() {
        return Ok(Vec::new());
    }
    let terminated = ctx.ec2.terminate_owned(&ids, &c.tags).await?;
    // Their Node objects, if they registered, would stay NotReady for ever: no cloud
    // controller removes them in a self-managed cluster.
    for u in unjoined {
        if let (Some(node), true) = (&u.node, terminated.contains(&u.instance)) {
            cluster::delete_node(kube, node).await?;
        }
    }
    Ok(terminated)
}

/// Carries out `plan` (only logs it without a lease) and says what was done.
async fn act(
    ctx: &Context,
    event: &Event,
    lease: Option<&Lease>,
    cp: &ControlPlane,
    observation: &Observation,
    plan: Plan,
    seen: Seen,
) -> Result<Periodic, Error> {
    Ok(match plan {
        Plan::Hold { why, reason } => {
            tracing::info!(
                decision = "hold",
                why,
                reason = reason.as_str(),
                workers = seen.workers,
                "hold"
            );
            Periodic::Hold { seen, why, reason }
        }
        Plan::ScaleUp {
            count,
            from,
            to,
            reason,
        } => {
            tracing::info!(
                decision = "scale_up",
                from,
                to,
                count,
                reason = reason.as_str(),
                "scale up"
            );
            let launched = match lease {
                Some(lease) => Some(scale_up(ctx, event, lease, cp, observation, count).await?),
                None => None,
            };
            Periodic::ScaleUp {
                seen,
                from,
                to,
                reason,
                launched,
            }
        }
        Plan::ScaleDown {
            instances: victims,
            from,
            to,
            reason,
        } => {
            tracing::info!(decision = "scale_down", from, to, instances = ?victims, reason = reason.as_str(), "scale down");
            let removed = match lease {
                Some(lease) => Some(
                    scale_down(ctx, event, lease, &cp.kube, observation, &victims, &reason).await?,
                ),
                None => None,
            };
            Periodic::ScaleDown {
                seen,
                from,
                to,
                reason,
                victims,
                removed,
            }
        }
    })
}

async fn scale_up(
    ctx: &Context,
    event: &Event,
    lease: &Lease,
    cp: &ControlPlane,
    observation: &Observation,
    count: u32,
) -> Result<Launched, Error> {
    // Check the fence before acting, not only after: a holder whose lease was taken over
    // stops here, before it launches anything.
    ctx.store.put_state(lease, observation.state).await?;
    let workers = &observation.observed.workers;
    let launched = launch(ctx, &cp.instance, workers, count, &event.id).await?;
    if !launched.launched.is_empty() {
        let state = State {
            last_up: Some(event.now.as_second()),
            ..observation.state
        };
        ctx.store.put_state(lease, state).await?;
    }
    if launched.launched.is_empty() && !launched.errors.is_empty() {
        return Err(Error::NothingLaunched(launched.errors));
    }
    Ok(launched)
}

/// Each victim in turn: recorded, drained, terminated; a failed drain is rolled back and
/// the victim kept.
async fn scale_down(
    ctx: &Context,
    event: &Event,
    lease: &Lease,
    kube: &kube::Client,
    observation: &Observation,
    victims: &[String],
    reason: &str,
) -> Result<Removed, Error> {
    let c = &ctx.config;
    let now = event.now;
    let state = State {
        last_down: Some(now.as_second()),
        ..observation.state
    };
    ctx.store.put_state(lease, state).await?;
    let mut removed = Removed {
        terminated: Vec::new(),
        aborted: Vec::new(),
    };
    for id in victims {
        let Some(node) = observation
            .instances
            .iter()
            .find(|i| &i.id == id)
            .and_then(|i| observation.view.node_of(i))
        else {
            continue;
        };
        let (kind, timeout) = (ActionKind::ScaleDown, c.drain_timeout);
        let record = action::record(id, &node.name, kind, PERIODIC, reason.into(), now, timeout);
        ctx.store.put_action(lease, &record).await?;
        events::record(kube, vec![events::marked(node, now)], now).await;
        let remover = action::Remover { ctx, kube, lease };
        match Box::pin(remover.carry_out(&record, timeout)).await? {
            Removal::Terminated | Removal::Undrained(_) => removed.terminated.push(id.clone()),
            Removal::Aborted(why) => {
                events::record(kube, vec![events::drain_failed(node, now, &why)], now).await;
                removed.aborted.push(Aborted {
                    instance: id.clone(),
                    why,
                });
            }
        }
    }
    Ok(removed)
}
