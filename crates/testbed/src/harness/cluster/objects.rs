//! Nodes and objects of a [`Cluster`], as a k3s agent and an administrator with kubectl
//! handle them: synchronous, like the stand-in's helpers, so test worlds read alike.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::components::bin;
use super::nodes::{NodeSpec, node_object, ready_condition};
use super::{Cluster, KWOK_NODE_ANNOTATION, START_DEADLINE, condition_true};

impl Cluster {
    /// Runs the cluster's own kubectl as admin with `args` and `stdin`; its stdout, or an
    /// error with its stderr.
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> std::result::Result<String, String> {
        let mut child = Command::new(bin("kubectl").map_err(|e| e.to_string())?)
            .arg(format!(
                "--kubeconfig={}",
                self.admin_kubeconfig().display()
            ))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("kubectl: {e}"))?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .map_err(|e| format!("kubectl stdin: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Applies YAML manifests (multi-document) as admin with `kubectl apply --server-side`,
    /// waiting for any CustomResourceDefinition among them to be established. Returns how
    /// many objects were applied.
    pub fn load_yaml(&self, text: &str) -> std::result::Result<usize, String> {
        let out = self.kubectl(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=testbed",
                "-o",
                "name",
                "-f",
                "-",
            ],
            text,
        )?;
        let names: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        let crds: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.starts_with("customresourcedefinition"))
            .collect();
        // Polled, not `kubectl wait --for=condition=Established`: that fails at once
        // (".status.conditions accessor error") when it reads the CRD before the API server
        // has written any condition, which a fresh-clone CI run hit.
        for crd in crds {
            let name = crd.rsplit('/').next().unwrap_or(crd);
            poll(&format!("{crd} established"), || {
                self.get("customresourcedefinitions", "", name)
                    .filter(|crd| condition_true(crd, "Established"))
                    .map(|_| ())
            })?;
        }
        Ok(names.len())
    }

    /// [`Cluster::load_yaml`] for files.
    pub fn load_manifests<P: AsRef<Path>>(
        &self,
        paths: &[P],
    ) -> std::result::Result<usize, String> {
        let mut n = 0;
        for p in paths {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.as_ref().display()))?;
            n += self
                .load_yaml(&text)
                .map_err(|e| format!("{}: {e}", p.as_ref().display()))?;
        }
        Ok(n)
    }

    /// Registers a Node as a k3s agent joining does (its capacity, labels, taints, provider
    /// id from `spec`). A ready node is handed to KWOK, which keeps it Ready; returns once the
    /// API server shows it Ready. A node that is not ready is left to nobody (NotReady).
    pub fn register_node(&self, spec: NodeSpec) -> std::result::Result<Value, String> {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_err(|e| e.to_string())?;
        let mut node = node_object(&spec, "10.0.0.1", &now.to_string());
        node["status"]["addresses"] = json!([{"type": "Hostname", "address": spec.name}]);
        if spec.ready {
            node["metadata"]["annotations"][KWOK_NODE_ANNOTATION] = json!("fake");
            // KWOK writes the conditions of the nodes it runs.
            node["status"]["conditions"] = json!([]);
        }
        self.kubectl(&["create", "-f", "-"], &node.to_string())?;
        if spec.ready {
            self.kubectl(
                &[
                    "wait",
                    "--for=condition=Ready",
                    "--timeout=60s",
                    &format!("node/{}", spec.name),
                ],
                "",
            )?;
        }
        self.get("nodes", "", &spec.name)
            .ok_or_else(|| format!("node {} gone after registering", spec.name))
    }

    /// Deletes a Node, as when its instance is gone: the pods bound to it are collected by
    /// the controller manager (pod GC) and their controllers make replacements.
    pub fn remove_node(&self, name: &str) -> std::result::Result<(), String> {
        self.kubectl(&["delete", "node", name, "--wait=false"], "")
            .map(|_| ())
    }

    /// Makes a node Ready (KWOK runs it) or NotReady (KWOK lets go of it and its Ready
    /// condition turns False, as when a kubelet reports its runtime down).
    pub fn set_node_ready(&self, name: &str, ready: bool) -> std::result::Result<(), String> {
        let node = format!("node/{name}");
        if ready {
            self.kubectl(
                &[
                    "annotate",
                    "--overwrite",
                    &node,
                    &format!("{KWOK_NODE_ANNOTATION}=fake"),
                ],
                "",
            )?;
            self.kubectl(
                &["wait", "--for=condition=Ready", "--timeout=60s", &node],
                "",
            )?;
            return Ok(());
        }
        self.kubectl(
            &["annotate", &node, &format!("{KWOK_NODE_ANNOTATION}-")],
            "",
        )?;
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_err(|e| e.to_string())?;
        let patch = json!({"status": {"conditions": [ready_condition(false, &now.to_string())]}});
        self.kubectl(
            &[
                "patch",
                &node,
                "--subresource=status",
                "--type=strategic",
                "-p",
                &patch.to_string(),
            ],
            "",
        )
        .map(|_| ())
    }

    /// Reads an object as admin, e.g. `get("deployments.apps", "default", "web")`; `ns` is ""
    /// for cluster-scoped kinds. `None` when it does not exist.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let mut args = vec!["get", resource, name, "-o", "json", "--ignore-not-found"];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl(&args, "").ok()?;
        serde_json::from_str(&out).ok()
    }

    /// Lists objects as admin, in one namespace or all (`None`).
    pub fn list(&self, resource: &str, ns: Option<&str>) -> Vec<Value> {
        let mut args = vec!["get", resource, "-o", "json"];
        match ns {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("-A"),
        }
        self.kubectl(&args, "")
            .ok()
            .and_then(|out| serde_json::from_str::<Value>(&out).ok())
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default()
    }

    /// A bearer token of service account `ns/name` (created if missing), as a k3s user makes
    /// one for a program outside the cluster: a `kubernetes.io/service-account-token` Secret
    /// named `secret`, filled in by the controller manager. Deleting the Secret revokes it.
    pub fn service_account_token(
        &self,
        ns: &str,
        name: &str,
        secret: &str,
    ) -> std::result::Result<String, String> {
        self.load_yaml(&format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: {ns}}}\n---\napiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n  name: {secret}\n  namespace: {ns}\n  annotations: {{kubernetes.io/service-account.name: {name}}}\n"
        ))?;
        let token = poll(&format!("a token in secret {ns}/{secret}"), || {
            self.get("secrets", ns, secret)
                .and_then(|s| s["data"]["token"].as_str().map(str::to_owned))
        })?;
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|e| format!("token of {ns}/{secret}: {e}"))?;
        String::from_utf8(raw).map_err(|e| e.to_string())
    }

    /// Whether kube-apiserver authenticates `token` now (a TokenReview, as admin).
    pub fn token_authenticates(&self, token: &str) -> bool {
        let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}});
        self.kubectl(&["create", "-o", "json", "-f", "-"], &review.to_string())
            .ok()
            .and_then(|out| serde_json::from_str::<Value>(&out).ok())
            .is_some_and(|v| v["status"]["authenticated"] == true)
    }

    /// Waits until `token` is (`true`) or is not authenticated, as a revocation or a new
    /// identity reaches the API server's caches.
    pub fn wait_token_authenticates(&self, token: &str, authenticated: bool) -> Result<(), String> {
        let what = if authenticated { "accepted" } else { "refused" };
        poll(&format!("token {what}"), || {
            (self.token_authenticates(token) == authenticated).then_some(())
        })
    }
}

/// Calls `check` every 50 ms until it yields `Some`, or fails naming `what` after the
/// cluster's start deadline (the synchronous helpers' wait).
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> Result<T, String> {
    let until = Instant::now() + START_DEADLINE;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= until {
            return Err(format!("{what}: not within {START_DEADLINE:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crd_is_established_only_by_its_established_condition_true() {
        let cases = [
            (json!({}), false),
            (json!({"status": {}}), false),
            (json!({"status": {"conditions": null}}), false),
            (
                json!({"status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}}),
                false,
            ),
            (
                json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}}),
                false,
            ),
            (
                json!({"status": {"conditions": [
                    {"type": "NamesAccepted", "status": "True"},
                    {"type": "Established", "status": "True"}
                ]}}),
                true,
            ),
        ];
        for (crd, want) in cases {
            assert_eq!(condition_true(&crd, "Established"), want, "{crd}");
        }
    }
}
