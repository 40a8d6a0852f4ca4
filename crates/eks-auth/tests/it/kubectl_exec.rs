//! kubectl with `eks-token` as its exec plugin, as a user runs it against EKS: a kubeconfig
//! whose user runs `eks-token --cluster-name demo --region us-east-1`, credentials of an
//! assumed role in the environment (and nothing else: no config files, no instance metadata,
//! no STS endpoint override, so the token names the real regional STS host, which
//! aws-iam-authenticator checks), against the real control plane: the role is mapped in
//! `aws-auth` to user `alarm-scaler`, group `lambda:alarm-scaler`, whose RBAC is
//! infra/k8s/rbac/alarm-scaler.yaml.
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use serde_json::json;
use testbed::harness::{Moto, manifests};
use testbed::world::repo;

use crate::support::{ROLE, eks_cluster};

const UNMAPPED_ROLE: &str = "arn:aws:iam::123456789012:role/stranger";

/// A kubectl run: `Ok(stdout)` or `Err(stderr)`.
struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
    region: String,
}

impl Kubectl {
    fn run(&self, credentials: &Credentials, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
            .env("AWS_REGION", &self.region)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", "eks", "--request-timeout", "20s"])
            .args(args);
        if let Some(token) = credentials.session_token() {
            cmd.env("AWS_SESSION_TOKEN", token);
        }
        let out = cmd.output().map_err(|e| format!("kubectl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_authenticates_with_the_eks_token_exec_plugin() {
    let moto = Moto::start().expect("moto");
    let rbac = vec![repo("infra/k8s/rbac/alarm-scaler.yaml")];
    let cluster = eks_cluster(&moto, rbac).await;
    let container = json!({"name": "app", "image": "nginx:1.27"});
    let web = manifests::deployment("default", "web", 2, container);
    cluster.load_yaml(&web.to_string()).expect("deployment");
    let mapped = moto
        .assume_role(ROLE, "kubectl")
        .await
        .expect("assume role");
    let unmapped = moto
        .assume_role(UNMAPPED_ROLE, "kubectl")
        .await
        .expect("assume the unmapped role");

    let dir = std::env::temp_dir().join(format!("kubectl-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        cluster.kubeconfig_yaml(env!("CARGO_BIN_EXE_eks-token")),
    )
    .expect("kubeconfig");
    let kubectl = Kubectl {
        binary: testbed::harness::cluster::binaries()
            .expect("control-plane binaries")
            .join("kubectl"),
        kubeconfig,
        home: dir.clone(),
        region: cluster.region().to_owned(),
    };

    // Allowed by the role's RBAC: get deployments/scale. The aws-auth mapping reaches the
    // authenticator through a watch; until then the token is refused. Each try is a second
    // apart, so each sends a token signed at another second (not a cached answer).
    let args = [
        "get",
        "deployment",
        "web",
        "--subresource=scale",
        "-o",
        "json",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let scale = loop {
        match kubectl.run(&mapped, &args) {
            Ok(out) => break out,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {}", e.trim());
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
            Err(e) => panic!(
                "kubectl {args:?} still refused after 30 s: {e}\n{}",
                cluster.output_tail()
            ),
        }
    };
    let scale: serde_json::Value = serde_json::from_str(&scale).expect("Scale JSON");
    assert_eq!(scale["kind"], "Scale", "{scale}");
    assert_eq!(scale["spec"]["replicas"], 2, "{scale}");

    // Not allowed: listing Deployments (only their scale subresource is granted).
    let refused = kubectl
        .run(&mapped, &["get", "deployments"])
        .expect_err("listing deployments is not granted");
    assert!(
        refused.contains("Forbidden") && refused.contains(r#"User "alarm-scaler""#),
        "{refused}"
    );

    // Who the API server thinks we are.
    let whoami = kubectl
        .run(&mapped, &["auth", "whoami", "-o", "json"])
        .expect("kubectl auth whoami");
    let whoami: serde_json::Value = serde_json::from_str(&whoami).expect("SelfSubjectReview");
    let user = &whoami["status"]["userInfo"];
    assert_eq!(user["username"], "alarm-scaler", "{whoami}");
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(groups.contains(&"lambda:alarm-scaler"), "{groups:?}");

    // A role STS knows but aws-auth does not map: not authenticated at all.
    let err = kubectl
        .run(&unmapped, &["get", "namespaces"])
        .expect_err("an unmapped role is refused");
    assert!(
        err.contains("Unauthorized") || err.contains("You must be logged in"),
        "{err}"
    );

    let _ = std::fs::remove_dir_all(&dir);
}
