//! Figures, printed (not asserted): a periodic run's API time (EC2 DescribeInstances of the
//! workers in moto; nodes, pods and PodDisruptionBudgets listed from the real control plane,
//! KWOK running the nodes and pods) and its decision time (the cluster view with the
//! safe-to-evict review of every node, then `decide`), at 20 and 2,000 workers. (2,000
//! KWOK nodes and 4,000 pods on one 2-core machine take the control plane many minutes to
//! register and schedule; the 2,000 case is for a bigger machine.)
//!
//! Also: from a Spot interruption warning for a worker running 110 pods to every eviction
//! issued, and to the invocation's end (drained, replacement launched, terminated).
//!
//! `cargo test -p node-autoscaler --test it -- bench:: --ignored --nocapture`
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use jiff::Timestamp;
use node_autoscaler::cluster;
use node_autoscaler::decide::{self, Metrics, Observed, Policy, Template, Worker, WorkerState};
use node_autoscaler::ec2::{Ec2, Tags};
use serde_json::json;
use testbed::harness::cluster::KWOK_NODE_ANNOTATION;
use testbed::harness::cluster::nodes::node_object;
use testbed::harness::{Cluster, ClusterConfig, Moto, NodeSpec};
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::t0;

use crate::support::spot_warning;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn decision_and_api_time_at_20_and_2000_workers() {
    // BENCH_WORKERS: the cluster sizes to measure, comma-separated (20,2000).
    let sizes: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "20,2000".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("BENCH_WORKERS: comma-separated worker counts")
        })
        .collect();
    for n in sizes {
        let moto = Moto::start().expect("moto");
        let ec2c = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
        let tag = ("k3s-worker-of".to_owned(), "demo".to_owned());
        let master = ("k3s-role".to_owned(), "master".to_owned());
        let mut ids = Vec::new();
        for chunk in 0..n.div_ceil(500) {
            let count = (n - chunk * 500).min(500) as i32;
            let out = ec2c
                .run_instances()
                .image_id("ami-12c6146b")
                .instance_type(InstanceType::M5Large)
                .min_count(count)
                .max_count(count)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Instance)
                        .tags(Tag::builder().key(&tag.0).value(&tag.1).build())
                        .build(),
                )
                .send()
                .await
                .expect("run instances");
            ids.extend(
                out.instances()
                    .iter()
                    .map(|i| i.instance_id().unwrap().to_owned()),
            );
        }
        let tb = Cluster::start(ClusterConfig::default())
            .await
            .expect("cluster");
        // The nodes in bulk (a kubectl create per hundred), each handed to KWOK as
        // Cluster::register_node does; then every one Ready.
        let now = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string();
        for (c, chunk) in ids.chunks(100).enumerate() {
            let items: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let spec = NodeSpec::new(format!("node-{}", c * 100 + i)).instance(id);
                    let mut node = node_object(&spec, "10.0.0.1", &now);
                    node["metadata"]["annotations"][KWOK_NODE_ANNOTATION] = json!("fake");
                    node["status"]["conditions"] = json!([]);
                    node
                })
                .collect();
            tb.kubectl(
                &["create", "-f", "-"],
                &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
            )
            .expect("nodes");
        }
        tb.kubectl(
            &[
                "wait",
                "--for=condition=Ready",
                "--timeout=1200s",
                "nodes",
                "--all",
            ],
            "",
        )
        .expect("nodes Ready");
        tb.load_yaml(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  replicas: {}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: busybox, resources: {{requests: {{cpu: 300m}}}}}}]\n",
            2 * n
        ))
        .expect("deployment");
        // Every pod scheduled (2 CPU per node, 300m each: two per node fit).
        let until = Instant::now() + Duration::from_secs(1200);
        while tb
            .list("pods", Some("default"))
            .iter()
            .filter(|p| p["spec"]["nodeName"].is_string())
            .count()
            < 2 * n
        {
            assert!(Instant::now() < until, "{} pods not scheduled", 2 * n);
            std::thread::sleep(Duration::from_secs(1));
        }
        let kube = tb.kube_client_admin();
        let ec2 = Ec2::new(ec2c);

        let began = Instant::now();
        let tags = Tags {
            master: master.clone(),
            worker: tag.clone(),
            cluster: None,
        };
        let instances = ec2.workers(&tags).await.expect("describe");
        let ec2_time = began.elapsed();
        let began = Instant::now();
        let lp = kube::api::ListParams::default();
        let nodes = kube::Api::<k8s_openapi::api::core::v1::Node>::all(kube.clone())
            .list(&lp)
            .await
            .unwrap();
        let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::all(kube.clone())
            .list(&lp)
            .await
            .unwrap();
        let pdbs = kube::Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::all(kube)
            .list(&lp)
            .await
            .unwrap();
        let k8s_time = began.elapsed();

        let began = Instant::now();
        let view = cluster::view(nodes.items, pods.items, &pdbs.items);
        let workers: Vec<Worker> = instances
            .iter()
            .filter_map(|i| {
                let node = view.node_of(i)?;
                Some(Worker {
                    instance_id: i.id.clone(),
                    zone: i.zone.clone(),
                    state: WorkerState::Ready,
                    requested_cpu_milli: node.requested_cpu_milli,
                    allocatable_cpu_milli: node.allocatable_cpu_milli,
                    pods: node.pods as u32,
                    blocked: node.blocked.clone(),
                    node: node.detail(),
                })
            })
            .collect();
        let view_time = began.elapsed();
        let s = Duration::from_secs;
        let policy = Policy {
            cpu_up: 70.0,
            cpu_down: 30.0,
            pending_up: s(180),
            idle_down: s(600),
            cpu_guard: true,
            min: 1,
            max: 5000,
            cooldown_up: s(180),
            cooldown_down: s(600),
            cooldown_after_down: s(600),
            batch_up: 3,
            batch_down: 1,
            batch_down_empty: 1,
            pods_per_node: None,
            utilisation_down: 0.5,
            unneeded_down: s(600),
            headroom_pods: 0,
        };
        let observed = Observed {
            now: Timestamp::now(),
            metrics: Metrics {
                cpu_percent: Some(10.0),
                pending_pods: 0,
                idle_sustained: true,
            },
            // Nothing pending; a new worker of the configured size (none learned).
            template: Template::configured(2000, 4 << 30),
            unschedulable: view.unschedulable.clone(),
            workers,
            last_up: None,
            last_down: None,
            disruptions_allowed: view.disruptions_allowed.clone(),
            unneeded: Default::default(),
        };
        let began = Instant::now();
        let plan = decide::decide(&policy, &observed);
        let decide_time = began.elapsed();
        println!(
            "workers={n} matched={} ec2_describe={ec2_time:?} k8s_lists={k8s_time:?} view+review={view_time:?} decide={decide_time:?} plan={}",
            observed.workers.len(),
            match plan {
                decide::Plan::ScaleDown { instances, .. } => format!("scale_down {instances:?}"),
                other => format!("{other:?}"),
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn spot_warning_to_evictions_for_a_110_pod_node() {
    let w = K3s::start(&steady_metrics(0.3, 0)).await;
    let doomed = w.worker(0, "worker-a").await;
    w.cluster.load_yaml(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 110\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 0\n      containers: [{name: app, image: busybox, resources: {requests: {cpu: 5m, memory: 1Mi}}}]\n",
    )
    .expect("deployment");
    w.settle("web", 110);
    let on_a = |w: &K3s| {
        w.pods_by_node("web")
            .iter()
            .filter(|(_, node)| node == "worker-a")
            .count()
    };
    assert_eq!(on_a(&w), 110);
    w.worker(1, "worker-b").await; // room for them to go to
    let _function = w.spawn(FUNCTION, &[]);
    let event = spot_warning(t0(), &doomed);

    // Every pod of the node evicted = none left on it that is not terminating (KWOK
    // finishes them at once). Watched (listed every 5 ms) while the invocation runs.
    let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(w.admin.clone(), "default");
    let on_worker_a = kube::api::ListParams::default().fields("spec.nodeName=worker-a");
    let began = Instant::now();
    let watcher = async {
        while began.elapsed() < Duration::from_secs(60) {
            let left = pods.list(&on_worker_a).await.map(|l| {
                l.items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .count()
            });
            if left.is_ok_and(|n| n == 0) {
                return Some(began.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    };
    let (out, issued) = tokio::join!(w.invoke_http(FUNCTION, &event), watcher);
    let done = began.elapsed();
    let out = out.expect("spot run");
    println!(
        "Spot warning → all 110 evictions issued: {issued:?}; invocation done (drained, replacement launched, instance terminated): {done:?} (in function {} ms); decision {}",
        out["elapsedMs"], out["decision"]
    );
}
