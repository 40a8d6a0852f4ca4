//! The kubeconfig `testbed serve` writes: context `eks` (current) whose user runs the
//! `eks-token` exec plugin as `aws eks update-kubeconfig` would set up `aws eks get-token`,
//! and context `admin` with the static admin token.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

pub struct KubeconfigParams<'a> {
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub cluster_name: &'a str,
    pub region: &'a str,
    pub admin_token: &'a str,
    /// The exec plugin command, `eks-token` unless a path is wanted.
    pub exec_command: &'a str,
}

pub fn kubeconfig(p: &KubeconfigParams) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": "eks",
        "clusters": [{"name": p.cluster_name, "cluster": {
            "server": p.server,
            "certificate-authority-data": STANDARD.encode(p.ca_pem),
        }}],
        "users": [
            {"name": "eks", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": p.exec_command,
                "args": ["--cluster-name", p.cluster_name, "--region", p.region],
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }}},
            {"name": "admin", "user": {"token": p.admin_token}},
        ],
        "contexts": [
            {"name": "eks", "context": {"cluster": p.cluster_name, "user": "eks", "namespace": "default"}},
            {"name": "admin", "context": {"cluster": p.cluster_name, "user": "admin", "namespace": "default"}},
        ],
    })
}

/// As YAML, the way kubeconfigs are usually read by people.
pub fn render(p: &KubeconfigParams) -> String {
    let v = kubeconfig(p);
    serde_saphyr::to_string(&v)
        .unwrap_or_else(|_| serde_json::to_string_pretty(&v).unwrap_or_default())
}
