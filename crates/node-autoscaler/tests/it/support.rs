//! What only node-autoscaler's scenarios need beyond the shared k3s stand-ins
//! ([`testbed::world::k3s`]): kubelets slow to stop pods, PodDisruptionBudgets, the state
//! table's records, and the EC2 events it handles.
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde_json::{Value, json};
use testbed::harness::NodeSpec;
use testbed::harness::cluster::nodes::node_object;
use testbed::world::event;
use testbed::world::k3s::{K3s, LOGS_TABLE, SETTLE, STATE_TABLE, WORKER_TAG};

/// What node-autoscaler's scenarios do with the stand-ins.
pub trait Scenarios {
    /// A worker with `cpu` allocatable whose kubelet is slow to stop pods: a pod bound to it
    /// stays as it is (bound, never started), and an evicted one stays Terminating (its
    /// grace period running) until [`Scenarios::finish_terminating`]. KWOK finishes every
    /// deletion at once, so this node is not KWOK's: the test keeps it Ready, posting its
    /// Ready condition's heartbeat as a kubelet does, until the Node is deleted.
    async fn slow_worker(&self, zone_index: usize, node: &str, cpu: &str) -> String;
    /// The kubelets of slow workers finish stopping the evicted pods: every Terminating pod
    /// is gone (deleted with no grace left, as a kubelet does once its containers stopped).
    fn finish_terminating(&self);
    /// Makes `app`'s pods one per node of `nodes` (the scheduler may pack two on one node
    /// when it places them before it has seen every node): a pod beside another is deleted
    /// at once and its replacement placed again, until each node runs one.
    fn one_per_node(&self, app: &str, nodes: &[&str]);
    /// A PodDisruptionBudget; returns once the disruption controller has computed its status
    /// (until then the Eviction API refuses every eviction it covers).
    fn pdb(&self, name: &str, app: &str, min_available: u32);
    /// The items of the state table, by `pk`.
    async fn items(&self) -> Vec<(String, Value)>;
    /// The action records (`action#<instance>`) in the state table: multi-step actions
    /// under way, each resumable by the next run.
    async fn actions(&self) -> Vec<(String, Value)>;
    /// The items of the decision log, each attribute as its value's debug text.
    async fn log_items(&self) -> Vec<Value>;
    /// Adds `tags` to each of the instances `ids` (as an operator tagging a cluster would).
    async fn tag(&self, ids: &[&str], tags: &[(&str, &str)]);
    /// A bare pod `name` (label `app=<name>`) requesting `cpu`, with `spec` (YAML lines of
    /// its spec at two spaces, e.g. `  nodeSelector: {pool: gpu}`); returns once the
    /// scheduler has bound it or found it unschedulable.
    fn pod(&self, name: &str, cpu: &str, spec: &str);
    /// The Events about pod `name` in `default`: (reason, type, message).
    fn pod_events(&self, name: &str) -> Vec<(String, String, String)> {
        self.events_about("Pod", name)
    }
    /// The Events about the `kind` object `name` recorded in `default` (a pod there, or a
    /// Node): (reason, type, message); those naming a uid only.
    fn events_about(&self, kind: &str, name: &str) -> Vec<(String, String, String)>;
}

/// Scenarios invoke at `t0()` (now + 60 s) with pods the scheduler has just found
/// unschedulable: with PENDING_UP_SEC at 60 they are due at `t0`.
pub const DUE_AT_T0: (&str, &str) = ("PENDING_UP_SEC", "60");

impl Scenarios for K3s {
    async fn slow_worker(&self, zone_index: usize, node: &str, cpu: &str) -> String {
        let id = self.instance(zone_index, &[WORKER_TAG]).await;
        let zone = self.zone_of(&id).await;
        let mut spec = NodeSpec::new(node).instance(&id).capacity(cpu, "4Gi");
        spec.zone = zone;
        let now = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string();
        let object = node_object(&spec, "10.0.0.1", &now);
        self.cluster
            .kubectl(&["create", "-f", "-"], &object.to_string())
            .expect("register node");
        // The heartbeat goes to kube-apiserver itself: faults injected in the front are for
        // the function's calls.
        let nodes =
            kube::Api::<k8s_openapi::api::core::v1::Node>::all(self.cluster.kube_client_direct());
        let name = node.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let now = Timestamp::now().round(jiff::Unit::Second).unwrap();
                let patch = json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": now.to_string()}
                ]}});
                match nodes
                    .patch_status(
                        &name,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Strategic(patch),
                    )
                    .await
                {
                    Err(kube::Error::Api(e)) if e.code == 404 => return,
                    _ => {}
                }
            }
        });
        id
    }

    fn finish_terminating(&self) {
        for p in self.cluster.list("pods", Some("default")) {
            if p["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            self.cluster
                .kubectl(
                    &[
                        "delete",
                        "pod",
                        name,
                        "-n",
                        "default",
                        "--grace-period=0",
                        "--force",
                        "--ignore-not-found",
                    ],
                    "",
                )
                .expect("pod finished");
        }
    }

    fn one_per_node(&self, app: &str, nodes: &[&str]) {
        let start = Instant::now();
        loop {
            let placed = self.pods_by_node(app);
            let on = |node: &str| placed.iter().filter(|(_, n)| n == node).count();
            if nodes.iter().all(|n| on(n) == 1) {
                return;
            }
            assert!(
                start.elapsed() < SETTLE,
                "{app}: one pod per node of {nodes:?}: not within {SETTLE:?}: {placed:?}"
            );
            if let Some((pod, _)) = placed.iter().find(|(_, n)| on(n) > 1) {
                self.cluster
                    .kubectl(
                        &[
                            "delete",
                            "pod",
                            pod,
                            "-n",
                            "default",
                            "--grace-period=0",
                            "--force",
                        ],
                        "",
                    )
                    .expect("pod deleted");
            }
            self.settle(app, placed.len());
        }
    }

    fn pdb(&self, name: &str, app: &str, min_available: u32) {
        self.cluster
            .load_yaml(&format!(
                "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  minAvailable: {min_available}\n  selector: {{matchLabels: {{app: {app}}}}}\n"
            ))
            .expect("pdb");
        let start = Instant::now();
        loop {
            let pdb = self
                .cluster
                .get("poddisruptionbudgets.policy", "default", name);
            if pdb.as_ref().is_some_and(|p| {
                p["status"]["observedGeneration"].as_i64().is_some()
                    && p["status"]["observedGeneration"] == p["metadata"]["generation"]
            }) {
                return;
            }
            assert!(
                start.elapsed() < SETTLE,
                "PodDisruptionBudget {name}: status not computed within {SETTLE:?}: {pdb:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    async fn items(&self) -> Vec<(String, Value)> {
        let out = self
            .ddb
            .scan()
            .table_name(STATE_TABLE)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        let mut items: Vec<(String, Value)> = out
            .items()
            .iter()
            .map(|i| {
                let fields: serde_json::Map<String, Value> = i
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            AttributeValue::S(s) => Value::from(s.as_str()),
                            AttributeValue::N(n) => Value::from(n.parse::<i64>().unwrap_or(0)),
                            other => Value::from(format!("{other:?}")),
                        };
                        (k.clone(), v)
                    })
                    .collect();
                (
                    fields["pk"].as_str().unwrap().to_owned(),
                    Value::Object(fields),
                )
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }

    async fn actions(&self) -> Vec<(String, Value)> {
        let mut items = self.items().await;
        items.retain(|(k, _)| k.starts_with("action#"));
        items
    }

    async fn tag(&self, ids: &[&str], tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
        self.ec2
            .create_tags()
            .set_resources(Some(ids.iter().map(|id| id.to_string()).collect()))
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .expect("tagged");
    }

    fn pod(&self, name: &str, cpu: &str, spec: &str) {
        self.cluster
            .load_yaml(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default, labels: {{app: {name}}}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{{name: app, image: busybox, resources: {{requests: {{cpu: \"{cpu}\", memory: 256Mi}}}}}}]\n{spec}\n"
            ))
            .expect("pod");
        self.settle(name, 1);
    }

    fn events_about(&self, kind: &str, name: &str) -> Vec<(String, String, String)> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        self.cluster
            .list("events", Some("default"))
            .into_iter()
            .filter(|e| e["involvedObject"]["kind"] == kind && e["involvedObject"]["name"] == name)
            .filter(|e| !text(&e["involvedObject"]["uid"]).is_empty())
            .map(|e| (text(&e["reason"]), text(&e["type"]), text(&e["message"])))
            .collect()
    }

    async fn log_items(&self) -> Vec<Value> {
        let out = self
            .ddb
            .scan()
            .table_name(LOGS_TABLE)
            .send()
            .await
            .expect("scan");
        out.items()
            .iter()
            .map(|i| {
                Value::Object(
                    i.iter()
                        .map(|(k, v)| (k.clone(), Value::from(format!("{v:?}"))))
                        .collect(),
                )
            })
            .collect()
    }
}

/// `decision`, or `decision/why` for holds and ignored events.
pub fn decision_of(out: &Value) -> String {
    match (out["decision"].as_str(), out["why"].as_str()) {
        (Some(d @ ("hold" | "ignored")), Some(why)) => format!("{d}/{why}"),
        (Some(d), _) => d.to_owned(),
        _ => panic!("no decision in the summary: {out}"),
    }
}

/// Holds the first `parties` lease writes (the periodic run's conditional UpdateItem of
/// `lease#periodic`, its first write) at the moto gateway until all have arrived: proof
/// that that many runs were past their start-up at once, and racing for the lease.
pub fn hold_lease_writes(w: &K3s, parties: usize) {
    w.moto
        .set_barrier("UpdateItem", &["lease#periodic"], parties)
        .expect("barrier armed");
}

/// EC2's Spot interruption warning for instance `id`, at `at`.
pub fn spot_warning(at: Timestamp, id: &str) -> Value {
    event(
        "EC2 Spot Instance Interruption Warning",
        "aws.ec2",
        at,
        json!({"instance-id": id, "instance-action": "terminate"}),
    )
}

/// EC2's rebalance recommendation for instance `id`, at `at`.
pub fn rebalance(at: Timestamp, id: &str) -> Value {
    event(
        "EC2 Instance Rebalance Recommendation",
        "aws.ec2",
        at,
        json!({"instance-id": id}),
    )
}
