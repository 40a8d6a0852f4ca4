//! The reliability suite (issue 9) for node-autoscaler, on its stand-ins (moto behind the
//! fault-injecting gateway, the real control plane with the shipped RBAC behind its
//! fault-injecting front, Prometheus, the Runtime API emulator running the real binary):
//!
//! - [`duplicates`]: one Spot interruption warning delivered 100 times drains, replaces and
//!   terminates once; one scheduled tick (pending pods) delivered 100 times scales up once.
//!   Counted in the run summaries, the function's log, and at the gateway (every
//!   RunInstances / TerminateInstances that reached EC2).
//! - [`faults`]: a scale-up, two scale-downs (drained) and a Spot warning, each delivered five
//!   times with 20 % of the Kubernetes calls and 20 % of the AWS calls failing (500, 429 /
//!   throttling, dropped connections; fixed seeds), then once cleanly (the retry that gets
//!   through), then clean ticks until the cluster settles: the workers stay within
//!   [MIN_WORKERS, MAX_WORKERS] at every observation, no instance is launched without the
//!   cluster's tags or left running without a Node past its join timeout, no Node is ever
//!   cordoned without a recorded action (observed with the faults off, so no observation is
//!   skipped), errors are reported, no injected fault is swallowed (each is retried — a
//!   later call of its operation in the same invocation went through, per the layers' logs
//!   — or the invocation reports errors), and the end state is the one the same scenario
//!   reaches without faults.
//! - [`recovery`]: a scale-down whose drain fails and whose rollback (uncordon) fails too is
//!   reported and keeps its record, so the next run finishes it: no Node is left cordoned
//!   for ever; a Spot warning retried after a failed termination launches one replacement.
//!
mod duplicates;
mod faults;
mod recovery;

use aws_sdk_ec2::types::Instance;
use serde_json::Value;
use testbed::world::k3s::{K3s, MASTER_TAG, WORKER_TAG};

use crate::support::decision_of;

const LAUNCHED_BY: &str = "node-autoscaler/launched-by";

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every instance moto knows, any state.
async fn all_instances(w: &K3s) -> Vec<Instance> {
    let out = w.ec2.describe_instances().send().await.expect("describe");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect()
}

/// The instances launched for `event` (tagged with its id), in any state.
async fn launched_for(w: &K3s, event: &Value) -> Vec<String> {
    all_instances(w)
        .await
        .iter()
        .filter(|i| tag(i, LAUNCHED_BY) == event["id"].as_str())
        .map(|i| i.instance_id().unwrap_or_default().to_owned())
        .collect()
}

fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn state(i: &Instance) -> &str {
    i.state().and_then(|s| s.name()).map_or("", |n| n.as_str())
}

fn live(i: &Instance) -> bool {
    matches!(state(i), "pending" | "running")
}

fn is_worker(i: &Instance) -> bool {
    tag(i, WORKER_TAG.0) == Some(WORKER_TAG.1) && tag(i, MASTER_TAG.0) != Some(MASTER_TAG.1)
}
