//! Carrying out the notifications of one event. Each notification runs these steps, named
//! below in the order they run:
//!
//! 1. [`look`]: the resources, as remembered by a warm container or listed afresh;
//! 2. [`find`]: the K8sMetricAlarm that owns the alarm (by name; on a fresh list that names
//!    it nowhere, through the alarm's tags, `crate::tags`, one ListTagsForResource per
//!    notification), its target (`target`: `spec.deployment` or `spec.scaleTargetRef`; a
//!    discovery call for a kind other than the apps workloads) and the target's scale, the
//!    other controllers of that target (`rivals`: HPAs and SqsQueueScalers listed in the
//!    namespace), its pause annotations (`k8s_ops::pause`), (while the resource records no
//!    step, a Deployment's trigger-time annotation: `deployment`), and the policy's plan
//!    (`crate::decide`, with `spec.behavior`);
//! 3. `crate::attempt` (pure) says what that leads to: look again, [`report`] the finding
//!    (unknown alarm, missing target, a refusal or a pause (`held`), a hold, a dry run's
//!    step), or claim the step;
//! 4. [`step::claim`]: merge the step's record into the resource's status, guarded by the
//!    resourceVersion the decision read. Of two deliveries of one message racing, one claim
//!    fails with 409, and its retry sees the record and holds as a duplicate;
//! 5. [`step::take`]: write the scale subresource with the resourceVersion read (on 409, start
//!    over from a fresh read through `k8s_ops::scale::rescale`; if the write fails, the claim
//!    is undone, so the failed step neither blocks the next alarm with a cooldown nor counts
//!    as done), annotate the Deployment as the original did, record an Event on it, HPA
//!    style, and re-arm the alarm (SetAlarmState OK in its region), so a lasting breach steps
//!    again.
//!
//! Kubernetes calls per step: warm, get scale, list HPAs, list SqsQueueScalers, patch status,
//! put scale, patch Deployment (annotations; Deployments only), create Event (7); cold, one
//! list more; the first step of a resource, one get of the Deployment more; a target other
//! than an apps workload, one discovery call more. A redelivered or stale notification lists
//! no other controller. Plus SetAlarmState (and ListTagsForResource for an alarm no
//! resource names). A call refused with 403 fails with the grant it lacks (`crate::grant`).
use aws_config::SdkConfig;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_ops::crd::metric_alarm::K8sMetricAlarm;
use k8s_ops::events::{self, EventSpec};
use kube::{Api, Resource};
use serde::Serialize;

use crate::attempt::{Attempts, Next};
use crate::cloudwatch::{CloudWatch, CloudWatchError};
use crate::config::Config;
use crate::decide::{Plan, step_to};
use crate::error::{Error, KUBERNETES_FAILED};
use crate::event::{AlarmNotification, AlarmState};
use crate::grant::{Grant, forbidden};
use crate::readiness::State;

mod deployment;
mod find;
mod held;
mod memory;
mod outcome;
mod rivals;
mod step;
mod target;

use find::{Found, Owner, Tags, find};
use memory::Memory;
pub use outcome::Outcome;
use target::{describe, is_deployment};

/// The component named in Events.
pub const COMPONENT: &str = "alarm-scaler";

pub struct Context {
    pub kube: kube::Client,
    pub cloudwatch: CloudWatch,
    /// Decide and log, write nothing (no status, scale, Event or alarm state).
    pub dry_run: bool,
    memory: Memory,
}

impl Context {
    pub fn new(kube: kube::Client, sdk: &SdkConfig, config: &Config) -> Context {
        Context {
            kube,
            cloudwatch: CloudWatch::new(sdk),
            dry_run: config.dry_run,
            memory: Memory::default(),
        }
    }
}

/// The function's answer: one outcome per notification, in the event's order.
#[derive(Debug, Serialize)]
pub struct Response {
    pub outcomes: Vec<Outcome>,
}

/// Every notification of the event, in order; the first that fails fails the invocation
/// (Lambda retries it: those already done hold as duplicates).
pub async fn handle(
    ctx: &Context,
    notifications: Vec<AlarmNotification>,
) -> Result<Response, Error> {
    let mut outcomes = Vec::with_capacity(notifications.len());
    for n in &notifications {
        // Boxed: the steps' futures nest deeper than the compiler's layout limit allows.
        let outcome = Box::pin(notification(ctx, n, jiff::Timestamp::now()));
        outcomes.push(outcome.await?);
    }
    let response = Response { outcomes };
    response.record_metrics(notifications.len());
    Ok(response)
}

impl Response {
    /// The invocation's metrics: its notifications, and each step's replicas.
    fn record_metrics(&self, notifications: usize) {
        use lambda_support::metrics::{count, put};
        count("Notifications", notifications);
        let paused = self.outcomes.iter().filter(|o| o.decision == "paused");
        count("Paused", paused.count());
        let steps: Vec<(i32, i32)> = self
            .outcomes
            .iter()
            .filter_map(|o| o.from.zip(o.to))
            .collect();
        count("Steps", steps.len());
        for (from, to) in steps {
            put("ReplicasBefore", f64::from(from));
            put("ReplicasAfter", f64::from(to));
            put("Step", f64::from(to - from));
        }
    }
}

/// One notification; its outcome is logged as one line.
pub async fn notification(
    ctx: &Context,
    n: &AlarmNotification,
    now: jiff::Timestamp,
) -> Result<Outcome, Error> {
    let outcome = if n.state == AlarmState::Alarm {
        act(ctx, n, now).await?
    } else {
        let reason = format!("the alarm went to {:?}, not ALARM", n.state);
        Outcome::of(n, ctx.dry_run, "ignored", reason)
    };
    outcome.log();
    Ok(outcome)
}

/// Looks until the finding is final or its step claimed, then reports it or takes the step.
async fn act(ctx: &Context, n: &AlarmNotification, now: jiff::Timestamp) -> Result<Outcome, Error> {
    let mut attempts = Attempts::default();
    let mut tags = Tags::default();
    loop {
        let resources = look(ctx, &mut attempts).await?;
        let found = find(ctx, &resources, n, now, attempts.fresh, &mut tags).await?;
        match (attempts.next(found.finding(), ctx.dry_run), found) {
            (Next::LookAgain, _) => attempts.look_again(),
            (
                Next::Claim,
                Found::Decided {
                    owner,
                    target,
                    read,
                    plan: Plan::Step { from, to },
                    history,
                    behavior,
                },
            ) => {
                let extra = held::with_step(&owner, history, now);
                match step::claim(ctx, &owner, n, (from, to), extra, now).await? {
                    Some(claimed) => {
                        let kept = owner.history();
                        let retarget = |current| {
                            let (spec, d) = (&owner.resource.spec, owner.direction);
                            let to = step_to(spec, behavior.as_ref(), kept, d, now, current);
                            to.ok().map(|(to, _)| to)
                        };
                        let step = step::Step {
                            target: &target,
                            read: *read,
                            claimed: &claimed,
                        };
                        return step::take(ctx, n, &owner, step, retarget, now).await;
                    }
                    None if attempts.claim_lost() => {}
                    None => return Err(Error::Contended(owner.key())),
                }
            }
            // Next::Report (attempt::next claims nothing but a step).
            (_, found) => return report(ctx, n, found, now).await,
        }
    }
}

/// The resources: as remembered, unless this notification looks afresh by now or nothing is
/// remembered. A fresh list is remembered.
async fn look(ctx: &Context, attempts: &mut Attempts) -> Result<Vec<K8sMetricAlarm>, Error> {
    if !attempts.fresh
        && let Some(known) = ctx.memory.recall()
    {
        return Ok(known);
    }
    attempts.look_again();
    let listed = k8s_ops::list::all(&Api::<K8sMetricAlarm>::all(ctx.kube.clone()), || ())
        .await
        .map_err(|e| {
            let grant = Grant::new(
                &["list"],
                "k8smetricalarms",
                "containerinsights.eks.com",
                None,
            );
            match forbidden(e.source, grant) {
                Ok(refused) => Error::forbidden(KUBERNETES_FAILED, refused),
                Err(source) => Error::List(k8s_ops::list::ListError {
                    kind: e.kind,
                    source,
                }),
            }
        })?;
    ctx.memory.keep(&listed);
    Ok(listed)
}

/// A final finding that takes no step (in a dry run, none is taken): its outcome, the alarm
/// re-armed unless in a dry run.
async fn report(
    ctx: &Context,
    n: &AlarmNotification,
    found: Found<'_>,
    now: jiff::Timestamp,
) -> Result<Outcome, Error> {
    let dry_run = ctx.dry_run;
    let (mut outcome, why) = match found {
        Found::NoOwner(why) => {
            let reason = format!("no K8sMetricAlarm names this alarm, and {why}");
            return Ok(Outcome::of(n, dry_run, "unknown_alarm", reason));
        }
        Found::NoTarget(owner) => {
            let reference = owner.resource.spec.target().unwrap_or_default();
            let reason = format!("{} not found", describe(&reference, &owner.namespace()));
            if !dry_run {
                let regarding = owner.resource.object_ref(&());
                ctx.publish(&regarding, true, "FailedGetScale", &reason, now)
                    .await;
            }
            let decision = if is_deployment(&reference) {
                "no_deployment"
            } else {
                "no_target"
            };
            let outcome = Outcome::of(n, dry_run, decision, &reason).about(&owner);
            (outcome, reason)
        }
        Found::Refused {
            owner,
            reason,
            message,
        } => {
            let outcome = held::refused(ctx, n, &owner, reason, &message, now).await;
            (outcome, message)
        }
        Found::Paused {
            owner,
            target,
            read,
            pause,
        } => {
            let outcome = held::paused(ctx, n, &owner, &target, &read, pause, now).await?;
            let why = outcome.reason.clone();
            (outcome, why)
        }
        Found::Decided {
            owner, read, plan, ..
        } => {
            // Not for a redelivery: its owner and pause were not checked.
            if !dry_run && !plan.redelivered() {
                held::write_conditions(ctx, &owner, State::Scaling, now).await;
            }
            let decision = plan.decision(owner.direction);
            let mut outcome = Outcome::of(n, dry_run, decision, plan.to_string()).about(&owner);
            outcome.from = Some(replicas(&read));
            if let Plan::Step { to, .. } = plan {
                outcome.to = Some(to);
            }
            // Re-armed even when held: CloudWatch notifies only on a state change, so an
            // alarm left in ALARM would never fire again while its breach lasts (a stale or
            // duplicate notification may be a retry of an invocation that failed before
            // re-arming). At worst this costs one more notification.
            (outcome, format!("held: {plan}"))
        }
    };
    if !dry_run {
        outcome.rearmed = ctx.rearm(n, &why).await?;
    }
    Ok(outcome)
}

fn replicas(read: &Scale) -> i32 {
    read.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

impl Context {
    async fn rearm(&self, n: &AlarmNotification, why: &str) -> Result<bool, CloudWatchError> {
        self.cloudwatch
            .rearm(&n.region, &n.alarm_name, why)
            .await
            .map(|()| true)
    }

    /// Events are for people reading `kubectl describe`; failing to write one fails nothing.
    async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
    ) {
        let spec = EventSpec {
            warning,
            reason: reason.into(),
            message: message.into(),
            action: "Rescale".into(),
        };
        if let Err(e) = events::publish(&self.kube, regarding, COMPONENT, spec, now).await {
            tracing::warn!(error = %e, reason, "event not recorded");
        }
    }
}
