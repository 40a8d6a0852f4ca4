//! What the demo runs on — moto (AWS), the real Kubernetes control plane (kube-apiserver,
//! etcd, controller manager, scheduler and KWOK nodes; EKS tokens verified by
//! aws-iam-authenticator against moto's STS; the suite's CRDs and RBAC from `infra/k8s`),
//! the Lambda Runtime API emulator — and the function processes, each with its own execution
//! role mapped in `aws-auth` exactly as `infra/k8s` documents for a real cluster.
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use testbed::harness::{Cluster, ClusterConfig, LambdaEmulator, Moto, Supervised};

pub const CLUSTER: &str = "demo";
pub const ACCOUNT: &str = "123456789012";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:k8s-alarm-scaler";

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The workspace root (the emulator and `infra/` are found from it).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn execution_role(function: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{function}")
}

pub struct World {
    pub moto: Moto,
    pub tb: Cluster,
    pub emulator: LambdaEmulator,
    pub aws: aws_config::SdkConfig,
    pub kube: kube::Client,
    functions: Vec<(String, Supervised)>,
    ca: String,
    /// Every credential handed to a function, to prove none reaches a log.
    secrets: Vec<String>,
    /// Logs of the processes replaced by a redeploy.
    past_logs: Vec<String>,
}

impl World {
    /// Starts moto, the API server (with every CRD, every function's RBAC and its
    /// `aws-auth` mapping) and the emulator.
    pub async fn start(functions: &[&str]) -> Result<World, Error> {
        let moto = Moto::start()?;
        let mut manifests: Vec<PathBuf> = Vec::new();
        for dir in ["infra/k8s/crds", "infra/k8s/rbac"] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            files.sort();
            manifests.extend(files);
        }
        let tb = Cluster::start(ClusterConfig {
            cluster_name: CLUSTER.into(),
            sts_gateway: Some(moto.endpoint().to_owned()),
            manifests,
            ..Default::default()
        })
        .await?;
        let roles: Vec<(String, &str)> =
            functions.iter().map(|f| (execution_role(f), *f)).collect();
        let roles: Vec<(&str, &str)> = roles.iter().map(|(r, f)| (r.as_str(), *f)).collect();
        tb.map_function_roles(&roles)?;
        let ca = base64::engine::general_purpose::STANDARD.encode(tb.ca_pem());
        Ok(World {
            aws: moto.sdk_config().await,
            kube: tb.kube_client_admin(),
            emulator: LambdaEmulator::start()?,
            moto,
            tb,
            functions: Vec::new(),
            ca,
            secrets: Vec::new(),
            past_logs: Vec::new(),
        })
    }

    /// Starts `function` (the binary next to this one) under the emulator with its
    /// execution role's credentials, the cluster's address and `extra`; a running process of
    /// the same function is stopped first (a new deployment of it).
    pub async fn deploy(&mut self, function: &str, extra: &[(&str, &str)]) -> Result<(), Error> {
        if let Some(i) = self.functions.iter().position(|(f, _)| f == function) {
            let (_, old) = self.functions.remove(i);
            self.past_logs.push(old.output_tail());
        }
        let creds = self
            .moto
            .assume_role(&execution_role(function), function)
            .await?;
        self.secrets.push(creds.secret_access_key().to_owned());
        self.secrets
            .extend(creds.session_token().map(str::to_owned));
        let mut env = self.moto.env_for(&creds);
        for (k, v) in [
            ("CLUSTER_NAME", CLUSTER),
            ("API_SERVER", self.tb.url()),
            ("CERT_AUTHORITY", self.ca.as_str()),
            ("SNS_TOPIC_ARN", TOPIC),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.push((k.to_owned(), v.to_owned()));
        }
        let binary = binary(function)?;
        if !binary.exists() {
            return Err(format!(
                "{} is not built: run `make demo` (it builds every function)",
                binary.display()
            )
            .into());
        }
        let process = self.emulator.spawn_function(function, &binary, env)?;
        self.functions.push((function.to_owned(), process));
        Ok(())
    }

    /// One invocation through the Runtime API emulator (`cargo lambda invoke`): the
    /// function's response and the decision lines it logged meanwhile.
    pub fn invoke(&self, function: &str, event: &Value) -> Result<(Value, Vec<String>), Error> {
        let tail = |w: &World| {
            w.functions
                .iter()
                .find(|(f, _)| f == function)
                .map(|(_, p)| p.output_tail())
                .unwrap_or_default()
        };
        let before = tail(self);
        let response = tokio::task::block_in_place(|| self.emulator.invoke(function, event))?;
        let seen: std::collections::HashSet<&str> = before.lines().collect();
        let after = tail(self);
        let fresh: String = after
            .lines()
            .filter(|l| !seen.contains(l))
            .collect::<Vec<_>>()
            .join("\n");
        let decisions = decision_lines(&fresh);
        Ok((response, decisions))
    }

    /// One invocation through the emulator's Invoke API directly (no `cargo lambda invoke`
    /// process): for tests that invoke hundreds of times.
    pub async fn invoke_direct(&self, function: &str, event: &Value) -> Result<Value, Error> {
        Ok(self.emulator.invoke_http(function, event).await?)
    }

    /// (log lines searched, secrets found): every function's logs so far searched literally
    /// for every secret access key and session token the demo handed out.
    pub fn secrets_in_logs(&self) -> (usize, usize, usize) {
        let mut logs: Vec<String> = self
            .functions
            .iter()
            .map(|(_, p)| p.output_tail())
            .collect();
        logs.extend(self.past_logs.iter().cloned());
        let lines = logs.iter().map(|l| l.lines().count()).sum();
        let found = self
            .secrets
            .iter()
            .filter(|s| logs.iter().any(|l| l.contains(s.as_str())))
            .count();
        (lines, self.secrets.len(), found)
    }
}

/// The function binary built next to this executable (`target/<profile>/`; a test runs
/// from `target/<profile>/deps/`).
fn binary(function: &str) -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().ok_or("no executable directory")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir.join(function))
}

/// A sample event from `events/`.
pub fn sample(path: &str) -> Result<Value, Error> {
    let text = std::fs::read_to_string(repo(path)).map_err(|e| format!("{path}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// The decision lines among a function's JSON log lines, as `key=value …`.
pub fn decision_lines(logs: &str) -> Vec<String> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["decision"].is_string())
        .map(|v| decision_line(&v["fields"]))
        .collect()
}

/// A decision log line as `key=value …`, decision first, message last.
fn decision_line(fields: &Value) -> String {
    let mut parts = vec![format!(
        "decision={}",
        fields["decision"].as_str().unwrap_or("")
    )];
    if let Some(map) = fields.as_object() {
        for (k, v) in map {
            if k == "decision" || k == "message" {
                continue;
            }
            match v {
                Value::String(s) => parts.push(format!("{k}={s}")),
                other => parts.push(format!("{k}={other}")),
            }
        }
    }
    parts.join(" ")
}
