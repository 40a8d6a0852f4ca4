//! The real control plane (harness::Cluster): it starts from the binaries built from Go
//! modules, serves the suite's CRDs and RBAC, runs KWOK nodes and pods, and authenticates EKS
//! tokens through aws-iam-authenticator (aws-auth mapping, STS via the moto gateway).
use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use testbed::harness::moto::eks_token;
use testbed::harness::{Cluster, ClusterConfig, Moto, NodeSpec, eventually, manifests};
use testbed::world::repo;

const CLUSTER: &str = "demo";
const ROLE: &str = "arn:aws:iam::123456789012:role/alarm-scaler";

fn shipped_manifests() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["infra/k8s/crds", "infra/k8s/rbac"] {
        let mut in_dir: Vec<_> = std::fs::read_dir(repo(dir))
            .expect(dir)
            .map(|e| e.expect("entry").path())
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    files
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_control_plane_runs_pods_and_verifies_eks_tokens() {
    let moto = Moto::start().expect("moto");
    let cluster = Cluster::start(ClusterConfig {
        cluster_name: CLUSTER.into(),
        sts_gateway: Some(moto.endpoint().to_owned()),
        manifests: shipped_manifests(),
        nodes: vec![NodeSpec::new("ip-10-0-0-1").instance("i-0000000000000001")],
        ..Default::default()
    })
    .await
    .expect("cluster starts");
    eprintln!(
        "cluster: started in {:.1} s, control plane RSS {} MiB",
        cluster.startup_time().as_secs_f64(),
        cluster.rss_kib() / 1024
    );
    let admin = cluster.kube_client_admin();

    // KWOK: a Deployment's pods are scheduled on the node, Running and Ready.
    let deployments = Api::<Deployment>::namespaced(admin.clone(), "default");
    let container = json!({"name": "app", "image": "nginx:1.27"});
    let d: Deployment =
        serde_json::from_value(manifests::deployment("default", "web", 3, container)).unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("deployment");
    let pods = Api::<Pod>::namespaced(admin.clone(), "default");
    eventually(
        "3 pods Running and Ready on the node",
        Duration::from_secs(60),
        || async {
            let list = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?;
            let ready = list
                .items
                .iter()
                .filter(|p| {
                    let s = p.status.as_ref();
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("ip-10-0-0-1")
                        && s.and_then(|s| s.phase.as_deref()) == Some("Running")
                        && s.and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        })
                })
                .count();
            (ready == 3).then_some(())
        },
    )
    .await;

    // EKS token: unmapped → 401; mapped through aws-auth → the username and group the
    // shipped RBAC binds: the function's grants, nothing else.
    let creds = moto.assume_role(ROLE, "fn").await.expect("assume role");
    let as_role = |at: SystemTime| cluster.kube_client_with_token(&eks_token(&creds, CLUSTER, at));
    let unmapped = Api::<Deployment>::namespaced(as_role(SystemTime::now()), "default")
        .get_scale("web")
        .await
        .expect_err("unmapped role");
    assert_eq!(status_code(&unmapped), Some(401), "{unmapped}");
    cluster
        .map_function_roles(&[(ROLE, "alarm-scaler")])
        .expect("aws-auth");
    // A fresh token each try (the API server caches a token's answer).
    let mut attempt = 0;
    let client = eventually("the role's token accepted", Duration::from_secs(30), || {
        attempt += 1;
        let client = as_role(SystemTime::now() - Duration::from_secs(attempt));
        async move {
            Api::<Deployment>::namespaced(client.clone(), "default")
                .get_scale("web")
                .await
                .ok()
                .map(|_| client)
        }
    })
    .await;
    let denied = Api::<Secret>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
        .expect_err("no grant on secrets");
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    assert!(
        denied.to_string().contains("\"alarm-scaler\""),
        "RBAC names the mapped user: {denied}"
    );

    // A token signed for another cluster is refused by the authenticator.
    let other = cluster.kube_client_with_token(&eks_token(&creds, "other", SystemTime::now()));
    let refused = Api::<Deployment>::namespaced(other, "default")
        .get_scale("web")
        .await
        .expect_err("token for another cluster");
    assert_eq!(status_code(&refused), Some(401), "{refused}");
}

/// A request kube-apiserver leaves unanswered (here it is stopped: it accepts connections and
/// answers nothing, as over a wedged connection) is answered by the front, 503 naming it,
/// once the deadline passes, instead of waiting for ever; a GET is tried again on a new
/// connection first. Once the API server runs again, the next request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_answers_what_the_api_server_leaves_unanswered_then_reconnects() {
    let cluster = Cluster::start(ClusterConfig::default())
        .await
        .expect("cluster starts");
    // No retry of a 503 by the client: each answer is the front's own.
    let mut config = cluster.kube_config(Some(cluster.admin_token()));
    config.default_retry = false;
    let namespaces = Api::<Namespace>::all(kube::Client::try_from(config).expect("client"));
    namespaces.get("default").await.expect("served");

    cluster.set_upstream_deadline(Duration::from_millis(500));
    let frozen = cluster.freeze_apiserver();
    let unanswered = namespaces.get("default").await;
    drop(frozen);
    let err = unanswered.expect_err("the API server is stopped");
    assert_eq!(status_code(&err), Some(503), "{err}");
    assert!(
        err.to_string().contains(
            "no answer to GET /api/v1/namespaces/default within 500ms; \
             then no connection to kube-apiserver within 500ms"
        ),
        "{err}"
    );
    namespaces.get("default").await.expect("served again");
}
