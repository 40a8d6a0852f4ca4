//! One invocation: the trigger's run (`periodic` for the schedule, `interruption` for
//! the EC2 events of a Spot worker), its answer, the decision log.
//!
//! - `context`: what is built once at init and shared by warm invocations; where the
//!   cluster is.
//! - `periodic`: take the lease, observe, resume recorded actions, remove the instances
//!   that never joined, decide, act, release the lease.
//! - `interruption`: a Spot worker's interruption warning or rebalance recommendation, an
//!   AWS Health scheduled change, under the lease `spot#<instance>`: cordon, replace, drain,
//!   terminate; a state-change notification (stopping, gone): delete the Node at once.
//! - `observe`: EC2, Kubernetes, Prometheus and DynamoDB at once, and the workers as
//!   `decide` sees them.
//! - `action`: the life of one worker's removal — recorded, drained, terminated, its Node
//!   and record deleted — and its resumption by a later run.
//! - `launch`: new workers, spread over the zones.
//! - `events`: Events as Cluster Autoscaler writes them: `NotTriggerScaleUp` /
//!   `TriggeredScaleUp` on unschedulable pods, `ScaleDown` / `ScaleDownFailed` on a removed
//!   worker's Node.
//! - `status`: the status ConfigMap `kube-system/node-autoscaler-status`, written at the end
//!   of each run that acted (the periodic run writes its own).
//!
//! Safety rules enforced here, whatever `decide` says:
//! - only instances with the worker tag and without the master tag are launched-for,
//!   drained or terminated (`Ec2::terminate_owned` re-checks the tags right before);
//! - every cordon → drain → terminate is recorded (`action#<instance>`) before its first
//!   step and deleted after its last, with fenced writes; a run that finds a record resumes
//!   it (drain again, then terminate) or rolls it back (a drain that fails uncordons);
//! - an instance that never became a Node within `JOIN_TIMEOUT_SEC` is terminated, so a
//!   crash between launch and join leaves no orphan;
//! - `DRY_RUN`: decide and log; no lease, no launch, no drain, no terminate, no write.
use std::time::Instant;

use crate::answer::{Answer, Run};
use crate::decide::SpotKind;
use crate::error::Error;
use crate::event::{Event, Trigger};

mod action;
mod context;
mod events;
mod interruption;
mod launch;
mod metrics;
mod observe;
mod periodic;
mod status;

pub use context::Context;

pub async fn handle(ctx: &Context, event: Event) -> Result<Answer, Error> {
    let began = Instant::now();
    // The periodic run's lease, held until its last write.
    let mut lease = None;
    let run = match &event.trigger {
        Trigger::Schedule => {
            let (periodic, held) = Box::pin(periodic::run(ctx, &event)).await?;
            lease = held;
            Run::Schedule(periodic)
        }
        Trigger::SpotInterruption { instance_id } => Run::SpotInterruption(
            Box::pin(interruption::run(
                ctx,
                &event,
                instance_id,
                SpotKind::Interruption,
            ))
            .await?,
        ),
        Trigger::Rebalance { instance_id } => Run::Rebalance(
            Box::pin(interruption::run(
                ctx,
                &event,
                instance_id,
                SpotKind::Rebalance,
            ))
            .await?,
        ),
        Trigger::StateChange { instance_id, .. } => Run::StateChange(
            Box::pin(interruption::run(ctx, &event, instance_id, SpotKind::Gone)).await?,
        ),
        Trigger::ScheduledChange {
            event_type,
            instance_ids,
            closed,
        } => Run::ScheduledChange {
            event_type: event_type.clone(),
            instances: Box::pin(interruption::scheduled_change(
                ctx,
                &event,
                instance_ids,
                *closed,
            ))
            .await?,
        },
    };
    if !ctx.config.dry_run {
        status::after_event(ctx, &run, event.now).await;
    }
    let answer = Answer {
        run,
        dry_run: ctx.config.dry_run,
        elapsed_ms: began.elapsed().as_millis() as u64,
    };
    if !ctx.config.dry_run {
        // The periodic lease is released as the log is written: both are the run's last
        // writes, and neither needs the other's answer.
        tokio::join!(
            log_decision(ctx, &event, &answer),
            periodic::release(ctx, lease)
        );
    }
    metrics::record(&answer);
    Ok(answer)
}

/// The answer into `LOGS_TABLE`; a failure is only a warning (the run is done).
async fn log_decision(ctx: &Context, event: &Event, answer: &Answer) {
    let written = match serde_json::to_value(answer) {
        Ok(record) => ctx
            .store
            .log(event.now, &event.id, &record)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = written {
        tracing::warn!(error = %error, "decision log not written");
    }
}
