//! The scaler pass both queue-driven scalers run every minute: list the scalers, read each
//! queue once, judge each scaler (decide, and carry the decision out), record each verdict
//! (status, Event), summarise. What differs between the two — the custom resource, how a
//! decision is carried out (a Deployment's scale, a Lambda function's reserved concurrency),
//! what the summary counts — is the [`Scaling`] each implements.
//!
//! Failure behaviour: a problem with one scaler (its spec, its queue or role, its target) is
//! that scaler's verdict: its status says why and a Warning Event too; the others carry on
//! and the next run retries it. The pass fails (Lambda reports an error, the schedule's next
//! tick retries) only when the scalers cannot be listed, or when a scaler's status — the one
//! place its outcome is recorded — could not be written.
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_config::SdkConfig;
use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_ops::events::{self, EventSpec};
use k8s_ops::status::{StatusError, merge_status};
use kube::core::NamespaceResourceScope;
use kube::core::object::HasStatus;
use kube::{Api, Resource, ResourceExt};
use lambda_support::Env;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{QueueReading, QueueRef, SqsDepth, SqsError};

mod summary;

pub use summary::{Calls, RunError, Summary, Tally};

/// Scalers judged at once: each waits on a few API round trips.
const PARALLEL_SCALERS: usize = 16;

/// Which scalers a pass judges, and whether it may write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Decide and log; write nothing (no target, no status, no Events).
    pub dry_run: bool,
    /// Only this namespace's scalers (`None`: every namespace).
    pub namespace: Option<String>,
}

impl Options {
    /// `DRY_RUN` and `WATCH_NAMESPACE`, their problems into `env`'s one report.
    pub fn from_env(env: &mut Env) -> Options {
        Options {
            dry_run: env.flag("DRY_RUN", false),
            namespace: env.optional("WATCH_NAMESPACE", "a namespace name"),
        }
    }
}

/// What every pass of a function uses: built once at init, shared by warm invocations.
pub struct Pass {
    pub kube: kube::Client,
    pub sqs: SqsDepth,
    pub options: Options,
    /// The component name on Events, and the session name of the roles assumed to read
    /// queues (CloudTrail shows it): the function's name.
    pub component: &'static str,
    kube_calls: AtomicU64,
}

impl Pass {
    pub fn new(
        kube: kube::Client,
        sdk: &SdkConfig,
        component: &'static str,
        options: Options,
    ) -> Pass {
        Pass {
            kube,
            // Per-scaler roles are assumed with the execution role's credentials, cached
            // per role.
            sqs: SqsDepth::new(sdk, component),
            options,
            component,
            kube_calls: AtomicU64::new(0),
        }
    }

    /// Counts `n` Kubernetes API calls made for this pass (the summary reports them).
    pub fn count_kube_calls(&self, n: u64) {
        self.kube_calls.fetch_add(n, Ordering::Relaxed);
    }

    /// Kubernetes API calls counted so far, in total (a function that makes calls outside
    /// a pass adds their share to its summary).
    pub fn kube_calls(&self) -> u64 {
        self.kube_calls.load(Ordering::Relaxed)
    }
}

/// What one scaler function does differently from the other.
pub trait Scaling {
    /// The custom resource, as the pass lists it (or the caller, see [`run_listed`]) and
    /// writes its status.
    type Scaler: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + HasStatus<Status: Serialize + Default + PartialEq>
        + Clone
        + DeserializeOwned
        + Debug;
    /// What the summary counts, from each scaler's outcome.
    type Tally: Tally;

    /// The queue a scaler reads.
    fn queue(scaler: &Self::Scaler) -> QueueRef;

    /// Decides for one scaler from its queue's reading and carries the decision out (in a
    /// dry run, decides only), logging the decision. A problem is a verdict too: the status
    /// says why.
    fn judge(
        &self,
        pass: &Pass,
        scaler: &Self::Scaler,
        reading: Result<QueueReading, SqsError>,
        now: Timestamp,
    ) -> impl Future<Output = Verdict<Self>>;

    /// Calls to other services so far, in total, by service (the summary reports this
    /// pass's share next to `kubernetes` and `sqs`).
    fn other_calls(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// The pass's `run complete` log line: [`run_complete!`](crate::run_complete) with the
    /// tally's fields.
    fn log(summary: &Summary<Self::Tally>);
}

/// Logs a pass's `run complete` line: the fields every pass logs, with the function's own
/// (its tally, its other services' calls) after `elapsed_ms`. A macro, since a log line's
/// fields are named where it is written.
#[macro_export]
macro_rules! run_complete {
    ($summary:expr, $($fields:tt)+) => {{
        let summary = $summary;
        ::tracing::info!(
            scalers = summary.scalers,
            elapsed_ms = summary.elapsed_ms,
            $($fields)+,
            kubernetes_calls = summary.api_calls.kubernetes,
            sqs_calls = summary.api_calls.sqs,
            dry_run = summary.dry_run,
            "run complete"
        )
    }};
}

/// A scaler's status.
pub type Status<S> = <<S as Scaling>::Scaler as HasStatus>::Status;

/// What became of one scaler this pass.
pub struct Verdict<S: Scaling + ?Sized> {
    /// Its status from now on (written when it differs from the one listed).
    pub status: Status<S>,
    /// The Event that tells of it (best effort).
    pub event: Option<EventSpec>,
    /// What the summary counts.
    pub outcome: <S::Tally as Tally>::Outcome,
}

/// The function's runtime loop: each schedule tick, one pass.
pub async fn serve<S: Scaling>(pass: &Pass, scaling: &S) -> Result<(), lambda_runtime::Error> {
    lambda_support::serve(pass.component, |payload| async move {
        let tick = lambda_support::schedule::decode(payload, Timestamp::now())?;
        run(pass, scaling, tick.now).await
    })
    .await
}

/// One pass over every scaler.
pub async fn run<S: Scaling>(
    pass: &Pass,
    scaling: &S,
    now: Timestamp,
) -> Result<Summary<S::Tally>, RunError> {
    let began = Instant::now();
    let before = Calls::so_far(pass, scaling);
    let scalers = list::<S>(pass).await?;
    judge_all(pass, scaling, scalers, now, began, before).await
}

/// One pass over `scalers`, listed by the caller: for scalers that are not one custom
/// resource as listed (queue-scaler's KEDA ScaledObjects, each with what its
/// TriggerAuthentication says). A scaler whose status type is `()` never has a status
/// written: its verdict's status always equals the one it was listed with.
pub async fn run_listed<S: Scaling>(
    pass: &Pass,
    scaling: &S,
    scalers: Vec<S::Scaler>,
    now: Timestamp,
) -> Result<Summary<S::Tally>, RunError> {
    let began = Instant::now();
    let before = Calls::so_far(pass, scaling);
    judge_all(pass, scaling, scalers, now, began, before).await
}

async fn judge_all<S: Scaling>(
    pass: &Pass,
    scaling: &S,
    scalers: Vec<S::Scaler>,
    now: Timestamp,
    began: Instant,
    before: Calls,
) -> Result<Summary<S::Tally>, RunError> {
    let readings = pass.sqs.read_all(scalers.iter().map(S::queue)).await;
    let results: Vec<(<S::Tally as Tally>::Outcome, Option<String>)> =
        futures_util::stream::iter(&scalers)
            .map(|scaler| reconcile(pass, scaling, scaler, &readings, now))
            .buffer_unordered(PARALLEL_SCALERS)
            .collect()
            .await;
    let (outcomes, unrecorded): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let summary = Summary {
        scalers: scalers.len(),
        tally: outcomes
            .into_iter()
            .fold(S::Tally::default(), |mut tally, outcome| {
                tally.add(outcome);
                tally
            }),
        dry_run: pass.options.dry_run,
        api_calls: Calls::so_far(pass, scaling).since(&before),
        elapsed_ms: began.elapsed().as_millis() as u64,
    };
    S::log(&summary);
    summary.unless_unrecorded(unrecorded.into_iter().flatten().collect())
}

async fn list<S: Scaling>(pass: &Pass) -> Result<Vec<S::Scaler>, RunError> {
    let api: Api<S::Scaler> = match pass.options.namespace.as_deref() {
        Some(ns) => Api::namespaced(pass.kube.clone(), ns),
        None => Api::all(pass.kube.clone()),
    };
    Ok(k8s_ops::list::all(&api, || pass.count_kube_calls(1)).await?)
}

/// One scaler: its verdict, recorded unless this is a dry run. Returns what the summary
/// counts, and why its status could not be written, if it could not.
async fn reconcile<S: Scaling>(
    pass: &Pass,
    scaling: &S,
    scaler: &S::Scaler,
    readings: &HashMap<QueueRef, Result<QueueReading, SqsError>>,
    now: Timestamp,
) -> (<S::Tally as Tally>::Outcome, Option<String>) {
    let reading = readings
        .get(&S::queue(scaler))
        .expect("every scaler's queue was read")
        .clone();
    let verdict = scaling.judge(pass, scaler, reading, now).await;
    if pass.options.dry_run {
        return (verdict.outcome, None);
    }
    let unrecorded = write_status::<S>(pass, scaler, &verdict.status).await.err();
    if let Some(event) = verdict.event {
        publish(pass, scaler, event, now).await;
    }
    (verdict.outcome, unrecorded)
}

/// Writes `status` when it differs from the one listed: a merge patch of the status alone,
/// with no resourceVersion, so a spec edit made meanwhile does not fail it, and `null`s clear
/// what no longer applies.
async fn write_status<S: Scaling>(
    pass: &Pass,
    scaler: &S::Scaler,
    status: &Status<S>,
) -> Result<(), String> {
    let listed = scaler.status();
    if listed.map_or(*status == Status::<S>::default(), |listed| listed == status) {
        return Ok(());
    }
    let api: Api<S::Scaler> =
        Api::namespaced(pass.kube.clone(), &scaler.namespace().unwrap_or_default());
    let status = serde_json::to_value(status).expect("a status is plain data");
    pass.count_kube_calls(1);
    match merge_status(&api, &scaler.name_any(), status, None).await {
        // Deleted since the list: nothing left to record.
        Ok(_) | Err(StatusError::NotFound { .. }) => Ok(()),
        Err(e) => {
            let name = name(scaler);
            tracing::error!(scaler = %name, error = %e, "status not written");
            Err(format!("{name}: {e}"))
        }
    }
}

/// Events are best effort, as client-go's recorder: the status holds the outcome.
async fn publish(
    pass: &Pass,
    scaler: &impl Resource<DynamicType = ()>,
    event: EventSpec,
    now: Timestamp,
) {
    pass.count_kube_calls(1);
    let regarding = scaler.object_ref(&());
    if let Err(e) = events::publish(&pass.kube, &regarding, pass.component, event, now).await {
        tracing::warn!(scaler = %name(scaler), error = %kube_message(&e), "event not recorded");
    }
}

/// A scaler as its log lines name it: `namespace/name`.
pub fn name(scaler: &impl Resource) -> String {
    format!(
        "{}/{}",
        scaler.meta().namespace.as_deref().unwrap_or_default(),
        scaler.meta().name.as_deref().unwrap_or_default()
    )
}

/// An API error as the API server worded it (kube's Display adds the whole Status).
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}
