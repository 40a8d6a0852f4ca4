//! The machine's `kubectl` against the testbed (admin context): get, scale, cordon, drain,
//! drain refused by a PodDisruptionBudget; and `testbed serve` standalone.
mod apiserver_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use apiserver_support::{deployment, eventually, pdb, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use testbed::apiserver::Testbed;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

fn scratch(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("testbed-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs kubectl with the kubeconfig's admin context; (success, stdout, stderr).
async fn kubectl(kubeconfig: &PathBuf, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", "admin"])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl finished in time")
    .expect("kubectl runs (is it installed?)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn with_kubeconfig(tb: &Testbed, tag: &str) -> PathBuf {
    let path = scratch(tag).join("kubeconfig");
    std::fs::write(&path, tb.kubeconfig_yaml("eks-token")).unwrap();
    path
}

async fn web(tb: &Testbed, replicas: i32) {
    let mut d = deployment("web", replicas, "100m");
    // A short grace period so drain's wait for deletion is short in real time too.
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .termination_grace_period_seconds = Some(1);
    let api: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    api.create(&PostParams::default(), &d).await.unwrap();
}

async fn live_pods(tb: &Testbed) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(tb.kube_client_admin(), "default");
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn on(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_scale_cordon_drain() {
    let tb = start(&["n1", "n2"]).await;
    let kc = with_kubeconfig(&tb, "kubectl").await;
    // apply -f with kubectl's default validation (the server says it validates fields).
    let manifest = kc.with_file_name("web.yaml");
    std::fs::write(&manifest, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: web, image: \"nginx:1.27\", resources: {requests: {cpu: 100m}}}]\n").unwrap();
    let (ok, out, err) = kubectl(&kc, &["apply", "-f", manifest.to_str().unwrap()]).await;
    assert!(
        ok && out.contains("deployment.apps/web created"),
        "{out}{err}"
    );

    let (ok, out, err) = kubectl(&kc, &["get", "nodes"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("n1 ") && l.contains(" Ready ")),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");

    let (ok, out, err) = kubectl(&kc, &["scale", "deployment", "web", "--replicas=4"]).await;
    assert!(
        ok && out.contains("deployment.apps/web scaled"),
        "{out}{err}"
    );
    eventually("4 pods", WAIT, || async {
        (live_pods(&tb).await.len() == 4).then_some(())
    })
    .await;

    let (ok, _, err) = kubectl(&kc, &["cordon", "n2"]).await;
    assert!(ok, "{err}");
    let nodes: Api<Node> = Api::all(tb.kube_client_admin());
    assert_eq!(
        nodes.get("n2").await.unwrap().spec.unwrap().unschedulable,
        Some(true)
    );

    let on_n2 = live_pods(&tb)
        .await
        .iter()
        .filter(|p| on(p) == "n2")
        .count();
    assert!(on_n2 > 0, "something to drain");
    let (ok, out, err) = kubectl(
        &kc,
        &["drain", "n2", "--ignore-daemonsets", "--timeout=60s"],
    )
    .await;
    assert!(ok, "drain failed:\n{out}\n{err}");
    assert!(out.contains("node/n2 drained"), "{out}");
    let pods = eventually("4 pods on n1", WAIT, || async {
        let p = live_pods(&tb).await;
        (p.len() == 4 && p.iter().all(|p| on(p) == "n1")).then_some(p)
    })
    .await;
    assert_eq!(pods.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_refused_by_pdb() {
    let tb = start(&["n1"]).await;
    let kc = with_kubeconfig(&tb, "kubectl-pdb").await;
    web(&tb, 2).await;
    eventually("2 pods", WAIT, || async {
        (live_pods(&tb).await.len() == 2).then_some(())
    })
    .await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(tb.kube_client_admin(), "default");
    pdbs.create(
        &PostParams::default(),
        &pdb("web", "web", json!({"minAvailable": 2})),
    )
    .await
    .unwrap();

    let (ok, out, err) =
        kubectl(&kc, &["drain", "n1", "--ignore-daemonsets", "--timeout=6s"]).await;
    assert!(!ok, "drain should fail:\n{out}\n{err}");
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert!(err.contains("global timeout reached: 6s"), "{err}");
    assert_eq!(live_pods(&tb).await.len(), 2, "nothing was evicted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testbed_serve_standalone() {
    let dir = scratch("serve");
    let kc = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--cluster-name",
            "demo",
            "--region",
            "eu-west-1",
            "--node",
            "n1=i-0001",
        ])
        .arg("--kubeconfig")
        .arg(&kc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("ready in time")
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let config = std::fs::read_to_string(&kc).unwrap();
    for needle in [
        "command: eks-token",
        "- --cluster-name",
        "- demo",
        "- --region",
        "- eu-west-1",
        "client.authentication.k8s.io/v1beta1",
        "current-context: eks",
    ] {
        assert!(
            config.contains(needle),
            "kubeconfig lacks {needle:?}:\n{config}"
        );
    }
    let (ok, out, err) = kubectl(&kc, &["get", "nodes", "-o", "name"]).await;
    assert!(ok && out.trim() == "node/n1", "{out}{err}");

    // Driven through the admin endpoint, as the demo does.
    let node = dir.join("node.json");
    std::fs::write(
        &node,
        json!({"name": "n2", "instanceId": "i-0002", "cpu": "4"}).to_string(),
    )
    .unwrap();
    let (ok, _, err) = kubectl(
        &kc,
        &[
            "create",
            "--raw",
            "/testbed/v1/nodes",
            "-f",
            node.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = kubectl(
        &kc,
        &["get", "nodes", "-o", "jsonpath={.items[*].spec.providerID}"],
    )
    .await;
    assert!(
        ok && out == "aws:///us-east-1a/i-0001 aws:///us-east-1a/i-0002",
        "{out}{err}"
    );
    let (ok, out, err) = kubectl(&kc, &["get", "--raw", "/testbed/v1/clock"]).await;
    assert!(ok && out.contains("\"now\""), "{out}{err}");

    // Closing stdin stops it cleanly, and it printed nothing but the ready line.
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(stdout.next_line().await.unwrap(), None);
}
