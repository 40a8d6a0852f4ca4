//! Step 2 of a notification ([`find`]): the K8sMetricAlarm that owns the alarm, its target and
//! the target's scale, its rivals, its pause, and the policy's plan — what one look found.
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_ops::behavior::{Behavior, History};
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, K8sMetricAlarmStatus, owner_of};
use k8s_ops::pause::{self, Pause};
use k8s_ops::scale::ScaleError;
use kube::{Api, ResourceExt};

use super::target::{Target, describe, is_deployment};
use super::{Context, deployment, held, replicas, rivals};
use crate::attempt::Finding;
use crate::decide::{Plan, Situation, decide};
use crate::error::{Error, KUBERNETES_FAILED};
use crate::event::AlarmNotification;
use crate::grant::forbidden;
use crate::tags;

/// The alarm's tags as the fallback reads them, fetched at most once per notification.
#[derive(Default)]
pub(super) struct Tags(Option<Result<tags::Tagged, String>>);

impl Tags {
    /// Where the tags of `n`'s alarm point, or why they point nowhere.
    pub(super) async fn of(
        &mut self,
        ctx: &Context,
        n: &AlarmNotification,
    ) -> Result<Result<tags::Tagged, String>, Error> {
        if let Some(known) = &self.0 {
            return Ok(known.clone());
        }
        let tagged = match &n.alarm_arn {
            Some(arn) => tags::tagged(&ctx.cloudwatch.tags(&n.region, arn).await?),
            None => Err("the event gives no alarm ARN to read its tags with".into()),
        };
        Ok(self.0.insert(tagged).clone())
    }
}

/// What one look found.
pub(super) enum Found<'r> {
    /// No resource names the alarm, and why its tags lead to none.
    NoOwner(String),
    /// Its target does not exist.
    NoTarget(Owner<'r>),
    /// It writes nothing until this is fixed (or the rival goes): Ready=False for `reason`.
    Refused {
        owner: Owner<'r>,
        reason: &'static str,
        message: String,
    },
    /// Paused by annotation.
    Paused {
        owner: Owner<'r>,
        target: Box<Target>,
        read: Box<Scale>,
        pause: Pause,
    },
    Decided {
        owner: Owner<'r>,
        target: Box<Target>,
        /// The target's scale as read, boxed: the largest part of what is found.
        read: Box<Scale>,
        plan: Plan,
        /// What `spec.behavior` keeps with a step.
        history: Option<History>,
        behavior: Option<Behavior>,
    },
}

impl Found<'_> {
    pub(super) fn finding(&self) -> Finding {
        match self {
            Found::NoOwner(_) => Finding::NoOwner,
            Found::NoTarget(_) => Finding::NoDeployment,
            // Final only on a fresh list, as any hold: memory may predate the fix.
            Found::Refused { .. } | Found::Paused { .. } => Finding::Hold,
            Found::Decided {
                plan: Plan::Step { .. },
                ..
            } => Finding::Step,
            Found::Decided { .. } => Finding::Hold,
        }
    }
}

/// The K8sMetricAlarm that names the alarm, and which of its two alarms it is.
pub(super) struct Owner<'r> {
    pub(super) resource: &'r K8sMetricAlarm,
    pub(super) direction: Direction,
    /// `name` (a config of the resource names the alarm) or `tags` (the alarm's tags led here).
    pub(super) found_by: &'static str,
}

impl<'r> Owner<'r> {
    pub(super) fn namespace(&self) -> String {
        self.resource.namespace().unwrap_or_default()
    }

    /// `namespace/name`.
    pub(super) fn key(&self) -> String {
        format!("{}/{}", self.namespace(), self.resource.name_any())
    }

    pub(super) fn deployments(&self, kube: &kube::Client) -> Api<Deployment> {
        Api::namespaced(kube.clone(), &self.namespace())
    }

    /// What `spec.behavior` remembered, as the status says.
    pub(super) fn history(&self) -> Option<&History> {
        let status = self.resource.status.as_ref();
        status.and_then(|s| s.behavior_history.as_ref())
    }

    pub(super) fn refused(self, reason: &'static str, why: impl ToString) -> Found<'r> {
        Found::Refused {
            owner: self,
            reason,
            message: why.to_string(),
        }
    }
}

/// The owner of `n`'s alarm among `resources`, its Deployment's scale, and the plan. The
/// alarm's tags are read only on a `fresh` list that names the alarm nowhere.
pub(super) async fn find<'r>(
    ctx: &Context,
    resources: &'r [K8sMetricAlarm],
    n: &AlarmNotification,
    now: jiff::Timestamp,
    fresh: bool,
    tags: &mut Tags,
) -> Result<Found<'r>, Error> {
    let owner = match owner_of(resources, &n.alarm_name) {
        Some((resource, direction)) => Owner {
            resource,
            direction,
            found_by: "name",
        },
        None if !fresh => return Ok(Found::NoOwner("not in the remembered list".into())),
        None => match tags.of(ctx, n).await? {
            Err(why) => return Ok(Found::NoOwner(why)),
            Ok(tagged) => {
                let comparison = n.comparison.as_deref();
                let (resource, direction) =
                    tags::resolve(&tagged, resources, &n.alarm_name, comparison)?;
                Owner {
                    resource,
                    direction,
                    found_by: "tags",
                }
            }
        },
    };
    let namespace = owner.namespace();
    let reference = match owner.resource.spec.target() {
        Ok(r) => r,
        Err(e) => return Ok(owner.refused(held::INVALID_TARGET, e)),
    };
    let pause = match pause::read(owner.resource.annotations(), pause::SUITE) {
        Ok(p) => p,
        Err(e) => return Ok(owner.refused(held::INVALID_PAUSE, e)),
    };
    let behavior = owner.resource.spec.behavior.as_ref();
    let behavior = match behavior.map(|b| Behavior::from_spec(Some(b), "spec.behavior")) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Ok(owner.refused(held::INVALID_BEHAVIOR, e)),
    };
    let target = match Target::resolve(&ctx.kube, &namespace, reference.clone()).await {
        Ok(t) => t,
        Err(e @ ScaleError::Unscalable { .. }) => return Ok(owner.refused(held::UNSCALABLE, e)),
        Err(e) => return Err(Error::ReadScale(e)),
    };
    let read = match target.scale.api().get_scale(target.scale.name()).await {
        Ok(read) => read,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Found::NoTarget(owner)),
        Err(source) => {
            return Err(match forbidden(source, target.grant(&["get"])) {
                Ok(refused) => Error::forbidden(KUBERNETES_FAILED, refused),
                Err(source) => {
                    let name = describe(&reference, &namespace);
                    Error::ReadScale(ScaleError::Api { name, source })
                }
            });
        }
    };
    let status = owner.resource.status.as_ref();
    let migrated = if is_deployment(&reference) && records_no_step(status) {
        deployment::trigger_time(ctx, &owner, &reference.name).await?
    } else {
        None
    };
    let (plan, history) = decide(Situation {
        spec: &owner.resource.spec,
        status,
        direction: owner.direction,
        replicas: replicas(&read),
        message_id: &n.message_id,
        published: n.published,
        migrated,
        now,
        behavior: behavior.as_ref(),
    });
    let (target, read) = (Box::new(target), Box::new(read));
    // A redelivered or stale notification holds whoever owns the target and whatever the
    // pause: it costs no list of the other controllers.
    if !plan.redelivered() {
        let others = rivals::controllers(ctx, &namespace, resources).await?;
        let me = rivals::me(&owner, &reference);
        if let Some(rival) = k8s_ops::owner::rival(&me, &others) {
            let (reason, message) = k8s_ops::owner::refusal(&me, rival);
            return Ok(owner.refused(reason, message));
        }
        if pause != Pause::Running {
            return Ok(Found::Paused {
                owner,
                target,
                read,
                pause,
            });
        }
    }
    Ok(Found::Decided {
        owner,
        target,
        read,
        plan,
        history,
        behavior,
    })
}

/// Whether the resource's status records no step in either direction (a resource new to
/// this function, e.g. just migrated from the original).
fn records_no_step(status: Option<&K8sMetricAlarmStatus>) -> bool {
    status.is_none_or(|s| s.last_scale_up.is_none() && s.last_scale_down.is_none())
}
