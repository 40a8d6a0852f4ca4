//! One invocation: a scaler pass over the SqsQueueScalers and, when `KEDA_SCALED_OBJECTS` is
//! set, one over KEDA's ScaledObjects; one response for both (`scaledObjects` holds the
//! latter's report).
use std::time::Instant;

use jiff::Timestamp;
use sqs_depth::pass::{self, Pass, RunError, Summary};

use crate::apply::{Deployments, Tally};
use crate::{keda, owners};

/// The function's runtime loop: each schedule tick, one run.
pub async fn serve(pass: &Pass, keda: bool) -> Result<(), lambda_runtime::Error> {
    lambda_support::serve(pass.component, |payload| async move {
        let tick = lambda_support::schedule::decode(payload, Timestamp::now())?;
        run(pass, keda, tick.now).await
    })
    .await
}

/// One run. Everything is listed first — the ScaledObjects (and what they need), the
/// SqsQueueScalers, and the owners' check's HPAs and K8sMetricAlarms — so that a list
/// refused fails the run before anything is changed; a status left unwritten fails it after
/// both passes.
pub async fn run(pass: &Pass, keda: bool, now: Timestamp) -> Result<Summary<Tally>, RunError> {
    let began = Instant::now();
    let found = match keda {
        true => Some(keda::list(pass).await?),
        false => None,
    };
    let listed = owners::list(pass).await?;
    let scaled_objects = found.as_ref().map_or(&[][..], |f| &f.scaled_objects);
    let controllers = owners::controllers(&listed, scaled_objects);
    let deployments = Deployments {
        owners: controllers.clone(),
    };
    let queue_scalers = pass::run_listed(pass, &deployments, listed.scalers, now).await;
    let scaled_objects = match found {
        Some(found) => Some(keda::run(pass, found, &listed.hpas, controllers, now).await?),
        None => None,
    };
    let mut summary = queue_scalers?;
    // Listing happened before the pass; its calls count too.
    summary.api_calls.kubernetes += listed.calls;
    if let Some(keda) = scaled_objects {
        summary.api_calls.kubernetes += keda.api_calls.kubernetes;
        summary.api_calls.sqs += keda.api_calls.sqs;
        summary.tally.scaled_objects = Some(keda.tally);
    }
    summary.elapsed_ms = began.elapsed().as_millis() as u64;
    record_metrics(&summary);
    Ok(summary)
}

/// The run's totals, SqsQueueScalers and ScaledObjects together.
fn record_metrics(summary: &Summary<Tally>) {
    use lambda_support::metrics::count;
    let keda = summary.tally.scaled_objects.as_ref();
    count("Scalers", summary.scalers + keda.map_or(0, |k| k.scaled));
    count(
        "Rescaled",
        summary.tally.rescaled + keda.map_or(0, |k| k.rescaled),
    );
    count(
        "ScalerErrors",
        summary.tally.errors + keda.map_or(0, |k| k.errors),
    );
}
