//! Requests per second of the testbed API server through kube-rs (TLS, admin token), for
//! get and merge-patch of a Deployment, sequential and with 8 concurrent clients. Prints
//! figures; asserts nothing. Bounded: a fixed number of requests, each loop also capped
//! at 20 s. `cargo bench -p testbed --bench apiserver`
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use testbed::apiserver::{NodeSpec, Testbed, TestbedConfig};

const REQUESTS: usize = 2000;
const CONCURRENCY: usize = 8;
const CAP: Duration = Duration::from_secs(20);

async fn run(api: &Api<Deployment>, n: usize, patch: bool, offset: usize) -> usize {
    let began = Instant::now();
    let mut done = 0;
    for i in 0..n {
        if began.elapsed() > CAP {
            break;
        }
        if patch {
            let p = Patch::Merge(
                json!({"metadata": {"annotations": {"bench": (offset + i).to_string()}}}),
            );
            api.patch("web", &PatchParams::default(), &p)
                .await
                .expect("patch");
        } else {
            api.get("web").await.expect("get");
        }
        done += 1;
    }
    done
}

async fn measure(tb: &Testbed, patch: bool, clients: usize) -> f64 {
    let per = REQUESTS / clients;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let api: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
        tasks.push(tokio::spawn(
            async move { run(&api, per, patch, c * per).await },
        ));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / began.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo nextest run --all-targets` asks every binary for its tests: this one has none.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tb = Testbed::start(TestbedConfig {
        nodes: vec![NodeSpec::new("n1"), NodeSpec::new("n2")],
        ..Default::default()
    })
    .await
    .expect("testbed");
    // A realistic background: the deployment has pods, so every write runs the simulation.
    let api: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 10,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}))
    .expect("deployment");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
    run(&api, 50, false, 0).await; // warm up connections

    println!("| testbed apiserver | requests/s |");
    println!("|---|---|");
    for (label, patch, clients) in [
        ("get deployment, 1 client", false, 1),
        ("get deployment, 8 clients", false, CONCURRENCY),
        ("merge-patch deployment, 1 client", true, 1),
        ("merge-patch deployment, 8 clients", true, CONCURRENCY),
    ] {
        let rps = measure(&tb, patch, clients).await;
        println!("| {label} | {rps:.0} |");
    }
}
