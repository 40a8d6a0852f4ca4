//! One scheduled pass: list the LambdaConcurrencyScalers, find which are refused as another
//! owns their function ([`crate::owners`], which needs them all at once), then the shared
//! scaler pass over them ([`sqs_depth::pass::run_listed`]).
use jiff::Timestamp;
use k8s_ops::crd::lambda_concurrency::LambdaConcurrencyScaler;
use kube::Api;
use sqs_depth::pass::{self, Pass, RunError, Summary};

use crate::apply::{Concurrency, Judge, Tally};
use crate::owners;

/// The function's runtime loop: each schedule tick, one pass.
pub async fn serve(pass: &Pass, concurrency: &Concurrency) -> Result<(), lambda_runtime::Error> {
    lambda_support::serve(pass.component, |payload| async move {
        let tick = lambda_support::schedule::decode(payload, Timestamp::now())?;
        run(pass, concurrency, tick.now).await
    })
    .await
}

/// One pass over every scaler (of `WATCH_NAMESPACE`, when set: owners are then judged
/// among its scalers only).
pub async fn run(
    pass: &Pass,
    concurrency: &Concurrency,
    now: Timestamp,
) -> Result<Summary<Tally>, RunError> {
    let before = pass.kube_calls();
    let api: Api<LambdaConcurrencyScaler> = match pass.options.namespace.as_deref() {
        Some(ns) => Api::namespaced(pass.kube.clone(), ns),
        None => Api::all(pass.kube.clone()),
    };
    let scalers = k8s_ops::list::all(&api, || pass.count_kube_calls(1)).await?;
    let judge = Judge {
        concurrency,
        refused: owners::refused(&scalers),
    };
    let listing = pass.kube_calls() - before;
    let mut summary = pass::run_listed(pass, &judge, scalers, now).await?;
    // The listing happened before the pass; its calls count too.
    summary.api_calls.kubernetes += listing;
    Ok(summary)
}
