//! A kubeconfig for people and kubectl ([`Cluster::kubeconfig_yaml`]): context `eks`
//! (current) whose user runs the `eks-token` exec plugin as `aws eks update-kubeconfig` would
//! set up `aws eks get-token`, and context `admin` with the static admin token.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::Cluster;

struct Params<'a> {
    server: &'a str,
    ca_pem: &'a str,
    cluster_name: &'a str,
    region: &'a str,
    admin_token: &'a str,
    exec_command: &'a str,
}

fn kubeconfig(p: &Params) -> Value {
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
fn render(p: &Params) -> String {
    let v = kubeconfig(p);
    serde_saphyr::to_string(&v)
        .unwrap_or_else(|_| serde_json::to_string_pretty(&v).unwrap_or_default())
}

impl Cluster {
    /// A kubeconfig for this cluster (server [`Cluster::url`], CA [`Cluster::ca_pem`]) with
    /// two contexts: `eks` (current), whose user runs `exec_command` (`eks-token`, or a path
    /// to it) with `--cluster-name <name> --region <region>`, and `admin` (static token).
    pub fn kubeconfig_yaml(&self, exec_command: &str) -> String {
        render(&Params {
            server: self.url(),
            ca_pem: self.ca_pem(),
            cluster_name: self.cluster_name(),
            region: self.region(),
            admin_token: self.admin_token(),
            exec_command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_context_runs_the_exec_plugin_and_admin_uses_the_token() {
        let yaml = render(&Params {
            server: "https://127.0.0.1:6443",
            ca_pem: "PEM",
            cluster_name: "demo",
            region: "eu-west-1",
            admin_token: "admin-t",
            exec_command: "/bin/eks-token",
        });
        let v: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(v["current-context"], "eks");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            STANDARD.encode("PEM")
        );
        let exec = &v["users"][0]["user"]["exec"];
        assert_eq!(exec["command"], "/bin/eks-token");
        assert_eq!(
            exec["args"],
            json!(["--cluster-name", "demo", "--region", "eu-west-1"])
        );
        assert_eq!(v["users"][1]["user"]["token"], "admin-t");
        assert_eq!(v["contexts"][1]["context"]["user"], "admin");
    }
}
