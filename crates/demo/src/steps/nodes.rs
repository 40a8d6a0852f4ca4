//! node-autoscaler on its own stand-ins — a self-managed k3s cluster is not the EKS one: moto
//! EC2 (a tagged control plane and one worker), SSM (the service-account and join tokens),
//! DynamoDB (lease, state, decision log), a real Prometheus (CPU), the real control plane and
//! scheduler (five pods it cannot place) with the function's RBAC: the
//! stand-ins node-autoscaler's own end-to-end tests run on ([`testbed::world::k3s`]).
use testbed::world::k3s::{FUNCTION, JOIN_TOKEN, K3s, steady_metrics};
use testbed::world::{scheduled, t0};

use crate::show;
use crate::stage::{Error, decision_lines};

pub async fn run() -> Result<Vec<String>, Error> {
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    let _first = w.worker(0, "worker-a").await;
    // Six pods of 1.5 CPU on one 2-CPU worker: one runs, five pend.
    w.deployment("web", 6, "1500m", 0);
    // The pods turn unschedulable as the world starts; t0 is a minute on, so a 60 s delay
    // (rather than the default 180 s) makes them due at the run.
    let mut function = w.try_spawn(FUNCTION, &[("PENDING_UP_SEC", "60")])?;

    show::heading(
        "node-autoscaler",
        "EventBridge schedule → EC2 workers of a k3s cluster for the pods the scheduler could not place",
    );
    show::event(
        "events/node-autoscaler/scheduled.json",
        "5 pods unschedulable for PENDING_UP_SEC (60 s here), packed onto the worker template",
    );
    let pending = w
        .pods_by_node("web")
        .iter()
        .filter(|p| p.1.is_empty())
        .count();
    show::before(&format!(
        "workers {:?}, {pending} web pods pending (1.5 CPU each, 2-CPU workers)",
        w.live_workers().await
    ));
    let response = w.invoke(FUNCTION, &scheduled(t0()))?;
    let decisions = decision_lines(&function.output_tail());
    show::decided(&(response.clone(), decisions), 20);
    let launched: Vec<String> =
        serde_json::from_value(response["launched"].clone()).unwrap_or_default();
    let mut after = Vec::new();
    for id in &launched {
        let i = w.describe(id).await;
        after.push(format!("{id} {} {} {}", i["type"], i["spot"], i["subnet"]));
    }
    show::after(&format!(
        "{} workers; launched: {}",
        w.live_workers().await.len(),
        after.join("; ")
    ));
    show::note("the control plane and instances without the worker tag are never candidates");
    function.kill();
    Ok(vec![
        w.api_token.clone(),
        JOIN_TOKEN.to_owned(),
        function.output(),
    ])
}
