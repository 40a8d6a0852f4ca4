//! The demo's stage: the shared [`World`] (moto, the real control plane with every CRD and
//! every function's RBAC from `infra/k8s`, the Lambda emulator) with the suite's functions
//! deployed on it — each with its own execution role mapped in `aws-auth` exactly as
//! `infra/k8s` documents for a real cluster — and what the demo shows of them: the decisions
//! each invocation logged, and that no credential reached a log.
use std::path::PathBuf;

use serde_json::Value;
use testbed::harness::Supervised;
use testbed::world::cloudwatch::TOPIC;
use testbed::world::{World, repo};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Stage {
    pub world: World,
    /// The function processes running, one per function.
    running: Vec<(String, Supervised)>,
    /// Logs of the processes replaced by a redeploy.
    past_logs: Vec<String>,
}

impl Stage {
    /// Starts the world with `functions` (and every CRD and RBAC file of `infra/k8s`);
    /// nothing runs yet.
    pub async fn start(functions: &[&str]) -> Result<Stage, Error> {
        let mut manifests: Vec<PathBuf> = Vec::new();
        for dir in ["infra/k8s/crds", "infra/k8s/rbac"] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            files.sort();
            manifests.extend(files);
        }
        let mut builder = World::builder()
            .manifests(manifests)
            .env("SNS_TOPIC_ARN", TOPIC);
        for function in functions {
            builder = builder.function(function);
        }
        Ok(Stage {
            world: builder.try_start().await?,
            running: Vec::new(),
            past_logs: Vec::new(),
        })
    }

    /// Starts `function` (the binary next to this one) under the emulator with its
    /// environment and `extra`; a running process of the same function is stopped first (a
    /// new deployment of it).
    pub fn deploy(&mut self, function: &str, extra: &[(&str, &str)]) -> Result<(), Error> {
        if let Some(i) = self.running.iter().position(|(f, _)| f == function) {
            let (_, old) = self.running.remove(i);
            self.past_logs.push(old.output());
        }
        let process = self.world.try_spawn(function, extra)?;
        self.running.push((function.to_owned(), process));
        Ok(())
    }

    /// The whole output of `function`'s running process so far (for tests that look for one
    /// error in it).
    pub fn logs(&self, function: &str) -> String {
        self.running
            .iter()
            .find(|(f, _)| f == function)
            .map(|(_, p)| p.output())
            .unwrap_or_default()
    }

    /// One invocation through the Runtime API emulator (`cargo lambda invoke`): the
    /// function's response and the decision lines it logged meanwhile.
    pub fn invoke(&self, function: &str, event: &Value) -> Result<(Value, Vec<String>), Error> {
        let tail = || {
            self.running
                .iter()
                .find(|(f, _)| f == function)
                .map(|(_, p)| p.output_tail())
                .unwrap_or_default()
        };
        let before = tail();
        let response = self.world.invoke(function, event)?;
        let seen: std::collections::HashSet<&str> = before.lines().collect();
        let after = tail();
        let fresh: String = after
            .lines()
            .filter(|l| !seen.contains(l))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((response, decision_lines(&fresh)))
    }

    /// (log lines searched, secrets handed out, secrets found): every function's logs so
    /// far searched literally for every secret access key and session token it was given.
    pub fn secrets_in_logs(&self) -> (usize, usize, usize) {
        let mut logs: Vec<String> = self.running.iter().map(|(_, p)| p.output()).collect();
        logs.extend(self.past_logs.iter().cloned());
        let lines = logs.iter().map(|l| l.lines().count()).sum();
        let secrets = self.world.secrets();
        let found = secrets
            .iter()
            .filter(|s| logs.iter().any(|l| l.contains(s.as_str())))
            .count();
        (lines, secrets.len(), found)
    }
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
