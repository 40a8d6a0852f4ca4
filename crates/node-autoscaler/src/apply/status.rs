//! The status ConfigMap written at the end of a run ([`crate::status`] renders it): read the
//! previous one, render, update it (or create it). Best effort, as Cluster Autoscaler's own:
//! the run is done whatever happens here, so a failure is an `error` log line
//! (`status ConfigMap not written`), never a failed run. A ConfigMap of that name without
//! the suite's ownership label is someone else's: never overwritten, reported the same way.
use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use super::Context;
use super::observe::Observation;
use crate::answer::{Periodic, Run, SpotDecision};
use crate::cluster::{ClusterView, NodeInfo};
use crate::config::Config;
use crate::decide::WorkerState;
use crate::ec2::Instance;
use crate::error::Error;
use crate::status::{self, Member, Outcome, Readiness, ScaleUp};

#[derive(Debug, thiserror::Error)]
enum StatusError {
    #[error(
        "ConfigMap {}/{} exists without the label {}={}: not ours, left as it is",
        status::NAMESPACE, status::NAME, status::OWNER_LABEL.0, status::OWNER_LABEL.1
    )]
    NotOurs,
    #[error("{0}")]
    Api(#[from] kube::Error),
}

/// After a periodic run (with the lease): from what it observed, and what it did, or the
/// launch that failed. Another failure writes nothing (the next run does).
pub(super) async fn after_periodic(
    ctx: &Context,
    kube: &kube::Client,
    observation: &Observation,
    acted: &Result<Periodic, Error>,
    now: Timestamp,
) {
    let (outcome, launched, terminated) = match acted {
        Ok(Periodic::ScaleUp {
            launched: Some(l), ..
        }) => {
            let up = if l.launched.is_empty() {
                ScaleUp::Failed(l.errors.join("; "))
            } else {
                ScaleUp::Launched
            };
            (outcome(up, 0), l.launched.len(), Vec::new())
        }
        Ok(Periodic::ScaleDown {
            victims, removed, ..
        }) => {
            let gone = removed.as_ref().map(|r| r.terminated.clone());
            (
                outcome(ScaleUp::None, victims.len()),
                0,
                gone.unwrap_or_default(),
            )
        }
        Ok(_) => (outcome(ScaleUp::None, 0), 0, Vec::new()),
        Err(Error::NothingLaunched(errors)) => (
            outcome(ScaleUp::Failed(errors.join("; ")), 0),
            0,
            Vec::new(),
        ),
        Err(_) => return,
    };
    let leaving: Vec<&str> = observation
        .observed
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Leaving)
        .map(|w| w.instance_id.as_str())
        .collect();
    let instances: Vec<&Instance> = observation
        .instances
        .iter()
        .filter(|i| !terminated.contains(&i.id))
        .collect();
    let seen = Seen {
        instances: &instances,
        view: &observation.view,
        leaving: &leaving,
        launched,
    };
    write(kube, &observed(&ctx.config, &seen, now), &outcome, now).await;
}

/// After an EC2 event's run that acted (not in `DRY_RUN`, not ignored): the cluster as it is
/// now; the scale-down condition as the last periodic run left it.
pub(super) async fn after_event(ctx: &Context, run: &Run, now: Timestamp) {
    let spots = match run {
        Run::Schedule(_) => return,
        Run::SpotInterruption(s) | Run::Rebalance(s) | Run::StateChange(s) => {
            std::slice::from_ref(s)
        }
        Run::ScheduledChange { instances, .. } => instances.as_slice(),
    };
    let mut acted = false;
    let (mut launched, mut errors) = (0, Vec::new());
    for spot in spots {
        match &spot.decision {
            SpotDecision::Cordon { done: Some(_) } | SpotDecision::CleanNode { done: Some(_) } => {
                acted = true;
            }
            SpotDecision::CordonDrainReplace { done: Some(r) }
            | SpotDecision::ReplaceThenDrain { done: Some(r) } => {
                acted = true;
                launched += r.replacement.len();
                errors.extend(r.errors.iter().cloned());
            }
            _ => {}
        }
    }
    if !acted {
        return;
    }
    let up = match (launched, errors.is_empty()) {
        (0, false) => ScaleUp::Failed(errors.join("; ")),
        (0, true) => ScaleUp::None,
        _ => ScaleUp::Launched,
    };
    let outcome = Outcome {
        scale_up: up,
        scale_down_candidates: None,
    };
    let observed = async {
        let c = &ctx.config;
        let cp = ctx.control_plane().await?;
        let (instances, view, actions) = futures_util::try_join!(
            async { ctx.ec2.workers(&c.tags).await.map_err(Error::from) },
            async { crate::cluster::observe(&cp.kube).await.map_err(Error::from) },
            async { ctx.store.actions().await.map_err(Error::from) },
        )?;
        let leaving: Vec<&str> = actions.iter().map(|a| a.instance_id.as_str()).collect();
        let instances: Vec<&Instance> = instances.iter().collect();
        let seen = Seen {
            instances: &instances,
            view: &view,
            leaving: &leaving,
            launched: 0,
        };
        Ok::<_, Error>((cp.kube, observed(c, &seen, now)))
    };
    match observed.await {
        Ok((kube, observed)) => write(&kube, &observed, &outcome, now).await,
        Err(e) => tracing::error!(error = %e, "status ConfigMap not written"),
    }
}

fn outcome(scale_up: ScaleUp, candidates: usize) -> Outcome {
    Outcome {
        scale_up,
        scale_down_candidates: Some(candidates as u32),
    }
}

/// What the counts are made of.
struct Seen<'a> {
    /// The worker instances (pending or running).
    instances: &'a [&'a Instance],
    view: &'a ClusterView,
    /// Instances with a removal recorded.
    leaving: &'a [&'a str],
    /// Instances launched by this run, after the observation.
    launched: usize,
}

fn observed(c: &Config, seen: &Seen, now: Timestamp) -> status::Observed {
    let readiness = |n: &NodeInfo| match (n.ready, n.never_ready) {
        (true, _) => Readiness::Ready,
        (false, true) => Readiness::NotStarted,
        (false, false) => Readiness::Unready,
    };
    let leaving_node = |n: &NodeInfo| {
        seen.instances
            .iter()
            .any(|i| seen.leaving.contains(&i.id.as_str()) && seen.view.node_of(i) == Some(n))
    };
    let mut workers = Vec::new();
    let mut unregistered = Vec::new();
    for i in seen.instances {
        match seen.view.node_of(i) {
            Some(n) => workers.push(Member::Registered {
                state: readiness(n),
                leaving: seen.leaving.contains(&i.id.as_str()),
            }),
            None => unregistered.push(Member::Unregistered {
                overdue: now.as_second() - i.launched >= c.join_timeout.as_secs() as i64,
            }),
        }
    }
    unregistered.extend((0..seen.launched).map(|_| Member::Unregistered { overdue: false }));
    let nodes = seen.view.nodes.iter().map(|n| Member::Registered {
        state: readiness(n),
        leaving: leaving_node(n),
    });
    status::Observed {
        cluster: status::count(nodes.chain(unregistered.iter().copied())),
        workers: status::count(workers.into_iter().chain(unregistered.iter().copied())),
        target: (seen.instances.len() + seen.launched) as u32,
        min: c.policy.min,
        max: c.policy.max,
    }
}

async fn write(
    kube: &kube::Client,
    observed: &status::Observed,
    outcome: &Outcome,
    now: Timestamp,
) {
    // A blip (5xx, 429, a dropped connection) is retried twice from the read, as Event
    // creates are (`k8s_ops::events`): a dropped update may have landed, and the fresh read
    // sees it.
    let mut tries = 0;
    loop {
        tries += 1;
        match try_write(kube, observed, outcome, now).await {
            Err(StatusError::Api(e)) if tries < 3 && k8s_ops::events::transient(&e) => continue,
            Err(e) => tracing::error!(error = %e, "status ConfigMap not written"),
            Ok(()) => {}
        }
        return;
    }
}

async fn try_write(
    kube: &kube::Client,
    observed: &status::Observed,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<(), StatusError> {
    let api = Api::<ConfigMap>::namespaced(kube.clone(), status::NAMESPACE);
    let (owner_key, owner_value) = status::OWNER_LABEL;
    let existing = api.get_opt(status::NAME).await?;
    let owned = |cm: &ConfigMap| {
        cm.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(owner_key))
            .map(String::as_str)
            == Some(owner_value)
    };
    let data = |prev: Option<&status::Status>| {
        let rendered = status::render(prev, observed, outcome, now);
        BTreeMap::from([(status::DATA_KEY.to_owned(), status::to_yaml(&rendered))])
    };
    match existing {
        Some(cm) if !owned(&cm) => Err(StatusError::NotOurs),
        Some(mut cm) => {
            let prev = cm
                .data
                .as_ref()
                .and_then(|d| d.get(status::DATA_KEY))
                .and_then(|y| status::from_yaml(y));
            cm.data = Some(data(prev.as_ref()));
            // The resourceVersion read stays: a concurrent writer's update makes this one
            // fail (logged), never silently undone.
            api.replace(status::NAME, &PostParams::default(), &cm)
                .await?;
            Ok(())
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(status::NAME.to_owned()),
                    namespace: Some(status::NAMESPACE.to_owned()),
                    labels: Some(BTreeMap::from([(
                        owner_key.to_owned(),
                        owner_value.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(data(None)),
                ..ConfigMap::default()
            };
            api.create(&PostParams::default(), &cm).await?;
            Ok(())
        }
    }
}
