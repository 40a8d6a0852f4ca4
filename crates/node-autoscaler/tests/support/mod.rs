//! The stand-ins node-autoscaler runs against: moto (EC2, DynamoDB, SSM, STS), a real
//! Prometheus backfilled with the scenario's series (queried with real PromQL), the real
//! control plane (harness::Cluster: the service-account token of a
//! `kubernetes.io/service-account-token` Secret, as a k3s user makes one; this function's RBAC
//! file only; the real scheduler, controller manager and disruption controller; KWOK's fake
//! kubelets) and the Lambda Runtime API emulator running the real binary.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use aws_sdk_ssm::types::ParameterType;
use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};
use testbed::harness::{
    Cluster, ClusterConfig, LambdaEmulator, Moto, NodeSpec, Prometheus, Supervised,
};

pub const FUNCTION: &str = "node-autoscaler";
pub const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/node-autoscaler";
/// The service account the function's token belongs to, and the token Secret
/// (`infra/k8s/rbac/node-autoscaler.yaml` ships both).
pub const SERVICE_ACCOUNT: (&str, &str) = ("kube-system", "node-autoscaler");
pub const TOKEN_SECRET: &str = "node-autoscaler-token";
pub const JOIN_TOKEN: &str = "K10secretjointoken::server:abcdef";
pub const WORKER_TAG: (&str, &str) = ("k3s-worker-of", "demo");
pub const MASTER_TAG: (&str, &str) = ("k3s-role", "master");
pub const STATE_TABLE: &str = "node-autoscaler-state";
pub const LOGS_TABLE: &str = "node-autoscaler-log";
pub const AMI: &str = "ami-12c6146b";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// OpenMetrics for a steady scenario from an hour before now to an hour after: cluster CPU
/// busy `cpu_busy` (0..1, as node-exporter's idle counter), `pending` pods Pending
/// (kube-state-metrics).
pub fn steady_metrics(cpu_busy: f64, pending: u32) -> String {
    metrics(3600, |_| (cpu_busy, pending))
}

/// OpenMetrics as [`steady_metrics`], from an hour before now to four hours after, in two
/// phases: `before` (cluster CPU busy 0..1, pods Pending) until the Unix second `switch`,
/// `after` from then on (e.g. a burst of pending pods, then an idle cluster).
pub fn phased_metrics(switch: i64, before: (f64, u32), after: (f64, u32)) -> String {
    metrics(4 * 3600, |t| if t < switch { before } else { after })
}

/// The series every 15 s from an hour before now to `ahead` seconds after, with `at(t)` =
/// (CPU busy 0..1, pods Pending) at Unix second `t`.
fn metrics(ahead: i64, at: impl Fn(i64) -> (f64, u32)) -> String {
    let now = Timestamp::now().as_second();
    let (from, to) = (now - 3600, now + ahead);
    let mut cpu = String::from("# TYPE node_cpu_seconds counter\n");
    let mut phase = String::from("# TYPE kube_pod_status_phase gauge\n");
    let mut idle = 0.0;
    for t in (from..=to).step_by(15) {
        let (busy, pending) = at(t);
        cpu.push_str(&format!(
            "node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle} {t}\n"
        ));
        idle += 15.0 * (1.0 - busy);
        phase.push_str(&format!(
            "kube_pod_status_phase{{phase=\"Pending\"}} {pending} {t}\n"
        ));
    }
    format!("{cpu}{phase}# EOF\n")
}

pub struct World {
    pub moto: Moto,
    pub tb: Cluster,
    pub emulator: LambdaEmulator,
    pub prometheus: Prometheus,
    pub ec2: aws_sdk_ec2::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    /// (subnet, zone) of the three worker subnets.
    pub subnets: Vec<(String, String)>,
    pub master: String,
    pub admin: kube::Client,
    /// The function's bearer token (in SSM): the service account's, issued by the cluster.
    pub api_token: String,
    pub env: Vec<(String, String)>,
}

/// How long the real control plane may take to settle what a test set up (pods created and
/// scheduled, a budget's status computed, a node registered) on a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(60);

impl World {
    pub async fn start(metrics: &str) -> World {
        let moto = Moto::start().expect("moto");
        let prometheus = Prometheus::start_backfilled(metrics).expect("prometheus");
        let tb = Cluster::start(ClusterConfig {
            cluster_name: "demo".into(),
            manifests: vec![repo("infra/k8s/rbac/node-autoscaler.yaml")],
            ..Default::default()
        })
        .await
        .expect("cluster");
        // The shipped RBAC binds this service account; its token Secret is filled in by the
        // controller manager.
        let api_token = tb
            .service_account_token(SERVICE_ACCOUNT.0, SERVICE_ACCOUNT.1, TOKEN_SECRET)
            .expect("the service account's token");
        let sdk = moto.sdk_config().await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let subnets: Vec<(String, String)> = {
            let mut all: Vec<(String, String)> = ec2
                .describe_subnets()
                .send()
                .await
                .expect("subnets")
                .subnets()
                .iter()
                .map(|s| {
                    (
                        s.subnet_id().unwrap().to_owned(),
                        s.availability_zone().unwrap().to_owned(),
                    )
                })
                .collect();
            all.sort_by(|a, b| a.1.cmp(&b.1));
            all.truncate(3);
            all
        };
        for (name, keys) in [
            (STATE_TABLE, vec![("pk", KeyType::Hash)]),
            (
                LOGS_TABLE,
                vec![("pk", KeyType::Hash), ("sk", KeyType::Range)],
            ),
        ] {
            let mut t = ddb
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest);
            for (k, kt) in keys {
                t = t
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(k)
                            .key_type(kt)
                            .build()
                            .unwrap(),
                    )
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(k)
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .unwrap(),
                    );
            }
            t.send().await.expect("table");
        }
        ddb.update_time_to_live()
            .table_name(LOGS_TABLE)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("ttl");
        for (name, value) in [
            ("/k3s/api-token", api_token.as_str()),
            ("/k3s/cluster-token", JOIN_TOKEN),
        ] {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(ParameterType::SecureString)
                .send()
                .await
                .expect("parameter");
        }
        let sg = ec2
            .describe_security_groups()
            .send()
            .await
            .unwrap()
            .security_groups()[0]
            .group_id()
            .unwrap()
            .to_owned();
        let creds = moto
            .assume_role(EXECUTION_ROLE, FUNCTION)
            .await
            .expect("execution role");
        let mut env = moto.env_for(&creds);
        let subnet_ids: Vec<&str> = subnets.iter().map(|s| s.0.as_str()).collect();
        env.extend(
            [
                ("MASTER_TAG_KEY", MASTER_TAG.0.to_owned()),
                ("MASTER_TAG_VALUE", MASTER_TAG.1.to_owned()),
                ("WORKER_TAG_KEY", WORKER_TAG.0.to_owned()),
                ("WORKER_TAG_VALUE", WORKER_TAG.1.to_owned()),
                ("WORKER_SUBNET_IDS", subnet_ids.join(",")),
                ("WORKER_SG_ID", sg),
                ("WORKER_AMI_ID", AMI.to_owned()),
                ("WORKER_INSTANCE_TYPES", "m5.large,m5a.large".to_owned()),
                ("K3S_CLUSTER_TOKEN_PARAM", "/k3s/cluster-token".to_owned()),
                ("K8S_API_TOKEN_PARAM", "/k3s/api-token".to_owned()),
                ("API_SERVER", tb.url().to_owned()),
                ("PROMETHEUS_URL", prometheus.url().to_owned()),
                (
                    "CERT_AUTHORITY",
                    base64::engine::general_purpose::STANDARD.encode(tb.ca_pem()),
                ),
                ("STATE_TABLE", STATE_TABLE.to_owned()),
                ("LOGS_TABLE", LOGS_TABLE.to_owned()),
                ("MIN_WORKERS", "1".to_owned()),
                ("MAX_WORKERS", "5".to_owned()),
                ("DRAIN_TIMEOUT_SEC", "20".to_owned()),
                ("SPOT_DRAIN_SEC", "20".to_owned()),
                ("LEASE_SEC", "120".to_owned()),
                ("JOIN_TIMEOUT_SEC", "300".to_owned()),
                ("RUST_LOG", "info".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let mut w = World {
            admin: tb.kube_client_admin(),
            emulator: LambdaEmulator::start().expect("emulator"),
            moto,
            tb,
            prometheus,
            ec2,
            ddb,
            ssm,
            subnets,
            master: String::new(),
            api_token,
            env,
        };
        // The control plane: an instance with the master tag, and its tainted node.
        w.master = w.instance(0, &[MASTER_TAG]).await;
        w.tb.register_node(NodeSpec::new("master").instance(&w.master).taint(
            "node-role.kubernetes.io/control-plane",
            "",
            "NoSchedule",
        ))
        .expect("master node");
        w
    }

    /// An instance in moto in subnet `zone_index`, with `tags`.
    pub async fn instance(&self, zone_index: usize, tags: &[(&str, &str)]) -> String {
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .build();
        self.ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(InstanceType::M5Large)
            .min_count(1)
            .max_count(1)
            .subnet_id(&self.subnets[zone_index].0)
            .tag_specifications(spec)
            .send()
            .await
            .expect("run instance")
            .instances()[0]
            .instance_id()
            .unwrap()
            .to_owned()
    }

    /// A worker that has joined: instance with the worker tag, and its Ready node named
    /// `node` in the subnet's zone.
    pub async fn worker(&self, zone_index: usize, node: &str) -> String {
        let id = self.instance(zone_index, &[WORKER_TAG]).await;
        self.join(&id, node).await;
        id
    }

    /// As [`World::worker`], with `cpu` allocatable.
    pub async fn worker_with(&self, zone_index: usize, node: &str, cpu: &str) -> String {
        let id = self.instance(zone_index, &[WORKER_TAG]).await;
        let zone = self.zone_of(&id).await;
        let mut spec = NodeSpec::new(node).instance(&id).capacity(cpu, "4Gi");
        spec.zone = zone;
        self.tb.register_node(spec).expect("register node");
        id
    }

    /// As [`World::worker_with`], but its kubelet is slow to stop pods: a pod bound to it
    /// stays as it is (bound, never started), and an evicted one stays Terminating (its
    /// grace period running) until [`World::finish_terminating`]. KWOK finishes every
    /// deletion at once, so this node is not KWOK's: the test keeps it Ready, posting its
    /// Ready condition's heartbeat as a kubelet does, until the Node is deleted.
    pub async fn slow_worker(&self, zone_index: usize, node: &str, cpu: &str) -> String {
        let id = self.instance(zone_index, &[WORKER_TAG]).await;
        let zone = self.zone_of(&id).await;
        let mut spec = NodeSpec::new(node).instance(&id).capacity(cpu, "4Gi");
        spec.zone = zone;
        let now = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string();
        let object = testbed::harness::cluster::nodes::node_object(&spec, "10.0.0.1", &now);
        self.tb
            .kubectl(&["create", "-f", "-"], &object.to_string())
            .expect("register node");
        // The heartbeat goes to kube-apiserver itself: faults injected in the front are for
        // the function's calls.
        let mut cfg = self.tb.kube_config(Some(self.tb.admin_token()));
        cfg.cluster_url = self.tb.apiserver_url().parse().expect("url");
        let nodes = kube::Api::<k8s_openapi::api::core::v1::Node>::all(
            kube::Client::try_from(cfg).expect("client"),
        );
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

    /// The kubelets of slow workers finish stopping the evicted pods: every Terminating pod
    /// is gone (deleted with no grace left, as a kubelet does once its containers stopped).
    pub fn finish_terminating(&self) {
        for p in self.tb.list("pods", Some("default")) {
            if p["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            self.tb
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

    /// Registers the node of instance `id`, as its kubelet joining would.
    pub async fn join(&self, id: &str, node: &str) {
        self.join_with(id, node, true).await;
    }

    /// [`World::join`] for a kubelet that registers but is (`ready`) or is not Ready.
    pub async fn join_with(&self, id: &str, node: &str, ready: bool) {
        let zone = self.zone_of(id).await;
        let mut spec = NodeSpec::new(node).instance(id);
        spec.zone = zone;
        spec.ready = ready;
        if !ready {
            // A kubelet registers a node that is not ready with this taint (the scheduler
            // places nothing there).
            spec = spec.taint("node.kubernetes.io/not-ready", "", "NoSchedule");
        }
        self.tb.register_node(spec).expect("register node");
    }

    pub async fn zone_of(&self, id: &str) -> String {
        self.describe(id).await["zone"].as_str().unwrap().to_owned()
    }

    /// `{id, state, zone, subnet, tags: {k: v}, spot}` of one instance.
    pub async fn describe(&self, id: &str) -> Value {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("describe");
        let i = &out.reservations()[0].instances()[0];
        let tags: serde_json::Map<String, Value> = i
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().into()))
            .collect();
        json!({
            "id": id,
            "state": i.state().unwrap().name().unwrap().as_str(),
            "zone": i.placement().unwrap().availability_zone(),
            "subnet": i.subnet_id(),
            "tags": tags,
            "spot": i.instance_lifecycle().map(|l| l.as_str().to_owned()),
            "type": i.instance_type().map(|t| t.as_str().to_owned()),
        })
    }

    /// Ids of the live (pending/running) instances with the worker tag, sorted.
    pub async fn live_workers(&self) -> Vec<String> {
        let out = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", WORKER_TAG.0))
                    .values(WORKER_TAG.1)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await
            .expect("describe");
        let mut ids: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| i.instance_id().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    pub async fn state(&self, id: &str) -> String {
        self.describe(id).await["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn node(&self, name: &str) -> Option<Value> {
        self.tb.get("nodes", "", name)
    }

    pub fn cordoned(&self, name: &str) -> bool {
        self.node(name)
            .is_some_and(|n| n["spec"]["unschedulable"] == true)
    }

    /// Pods of `app` per node name (`""` = pending).
    pub fn pods_by_node(&self, app: &str) -> Vec<(String, String)> {
        let mut pods: Vec<(String, String)> = self
            .tb
            .list("pods", Some("default"))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == app)
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    p["spec"]["nodeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        pods.sort();
        pods
    }

    /// A Deployment of `replicas` pods requesting `cpu` each, ending at once when evicted
    /// (or after `grace` seconds, on a slow worker). Returns once its pods exist and the
    /// scheduler has placed each (bound to a node, or found unschedulable).
    pub fn deployment(&self, name: &str, replicas: u32, cpu: &str, grace: u32) {
        self.tb
            .load_yaml(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: {grace}\n      containers: [{{name: app, image: busybox, resources: {{requests: {{cpu: \"{cpu}\", memory: 256Mi}}}}}}]\n"
            ))
            .expect("deployment");
        self.settle(name, replicas as usize);
    }

    /// Waits until `app` has `replicas` pods (not terminating), each bound to a node or
    /// marked unschedulable by the scheduler.
    pub fn settle(&self, app: &str, replicas: usize) {
        let start = Instant::now();
        loop {
            let pods: Vec<Value> = self
                .tb
                .list("pods", Some("default"))
                .into_iter()
                .filter(|p| p["metadata"]["labels"]["app"] == app)
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .collect();
            let placed = |p: &Value| {
                p["spec"]["nodeName"].is_string()
                    || p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter().any(|c| {
                            c["type"] == "PodScheduled"
                                && c["status"] == "False"
                                && c["reason"] == "Unschedulable"
                        })
                    })
            };
            if pods.len() == replicas && pods.iter().all(placed) {
                return;
            }
            assert!(
                start.elapsed() < SETTLE,
                "{app}: {replicas} pods placed by the scheduler: not within {SETTLE:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PodDisruptionBudget; returns once the disruption controller has computed its status
    /// (until then the Eviction API refuses every eviction it covers).
    pub fn pdb(&self, name: &str, app: &str, min_available: u32) {
        self.tb
            .load_yaml(&format!(
                "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  minAvailable: {min_available}\n  selector: {{matchLabels: {{app: {app}}}}}\n"
            ))
            .expect("pdb");
        let start = Instant::now();
        loop {
            let pdb = self.tb.get("poddisruptionbudgets.policy", "default", name);
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

    pub fn spawn(&self, extra: &[(&str, &str)]) -> Supervised {
        let mut env = self.env.clone();
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.emulator
            .spawn_function(FUNCTION, &binary(), env)
            .expect("function process")
    }

    pub fn invoke(&self, event: &Value) -> Result<Value, String> {
        tokio::task::block_in_place(|| self.emulator.invoke(FUNCTION, event))
            .map_err(|e| e.to_string())
    }

    /// Invokes the function through the emulator's Invoke API (no `cargo lambda invoke`
    /// process per call): for the many invocations of the reliability tests.
    pub async fn invoke_http(&self, event: &Value) -> Result<Value, String> {
        self.emulator
            .invoke_http(FUNCTION, event)
            .await
            .map_err(|e| e.to_string())
    }

    /// Invokes the function with each event at once (one `cargo lambda invoke` per thread).
    pub fn invoke_concurrently(&self, events: &[Value]) -> Vec<Result<Value, String>> {
        let port = self.emulator.port();
        let root = repo("");
        std::thread::scope(|s| {
            let handles: Vec<_> = events
                .iter()
                .map(|e| {
                    let root = root.clone();
                    s.spawn(move || {
                        let out = std::process::Command::new("cargo")
                            .current_dir(root)
                            .args(["lambda", "invoke", "-A", "127.0.0.1", "-P"])
                            .arg(port.to_string())
                            .args(["--output-format", "json", "--data-ascii"])
                            .arg(e.to_string())
                            .arg(FUNCTION)
                            .env("NO_COLOR", "1")
                            .output()
                            .map_err(|e| e.to_string())?;
                        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                        if !out.status.success() {
                            return Err(format!(
                                "{}{stdout}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                        serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// The items of the state table, by `pk`.
    pub async fn items(&self) -> Vec<(String, Value)> {
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

    /// The action records (`action#<instance>`) in the state table: multi-step actions
    /// under way, each resumable by the next run.
    pub async fn actions(&self) -> Vec<(String, Value)> {
        let mut items = self.items().await;
        items.retain(|(k, _)| k.starts_with("action#"));
        items
    }

    pub async fn log_items(&self) -> Vec<Value> {
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

pub fn event(detail_type: &str, source: &str, at: Timestamp, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": format!("evt-{}-{}", at.as_second(), detail_type.len()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": at.to_string(),
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

pub fn scheduled(at: Timestamp) -> Value {
    event("Scheduled Event", "aws.events", at, json!({}))
}

pub fn spot_warning(at: Timestamp, id: &str) -> Value {
    event(
        "EC2 Spot Instance Interruption Warning",
        "aws.ec2",
        at,
        json!({"instance-id": id, "instance-action": "terminate"}),
    )
}

pub fn rebalance(at: Timestamp, id: &str) -> Value {
    event(
        "EC2 Instance Rebalance Recommendation",
        "aws.ec2",
        at,
        json!({"instance-id": id}),
    )
}

/// A minute ahead of the clock, so the event's time is what the function decides with.
/// The function binary: this package's own in its tests; built next to the running
/// executable when this module is reused (`make demo` runs the same scenario).
fn binary() -> PathBuf {
    if let Some(own) = option_env!("CARGO_BIN_EXE_node-autoscaler") {
        return PathBuf::from(own);
    }
    let exe = std::env::current_exe().expect("current executable");
    let mut dir = exe.parent().expect("its directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(FUNCTION)
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 60).unwrap()
}

pub fn at(t: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_second(t.as_second() + seconds).unwrap()
}

/// Waits (bounded) until `cond` holds.
pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, deadline: Duration, mut cond: F) {
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn wait_for_log(
    function: &mut Supervised,
    deadline: Duration,
    matches: impl FnMut(&Value) -> bool,
) -> Result<Value, String> {
    function
        .wait_for_json(deadline, matches)
        .map_err(|e| e.to_string())
}
