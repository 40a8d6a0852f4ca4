//! node-autoscaler's stand-ins — a self-managed k3s cluster on EC2, not the EKS one: moto
//! for EC2 (a tagged control plane, workers in three subnets), SSM (the function's API token
//! and the k3s join token) and DynamoDB (its lease and state table, its decision log), a
//! Prometheus backfilled with the scenario's series (queried with real PromQL), and the real
//! control plane (the real scheduler, controller manager and disruption controller, KWOK's
//! kubelets) that the function reaches with the token of a service account bound by its
//! RBAC file only. node-autoscaler's tests and `make demo` run on it.
use std::ops::Deref;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use aws_sdk_ssm::types::ParameterType;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::World;
use crate::harness::NodeSpec;

pub const FUNCTION: &str = "node-autoscaler";
/// The service account the function's token belongs to, and its token Secret
/// (`infra/k8s/rbac/node-autoscaler.yaml` ships both).
pub const SERVICE_ACCOUNT: (&str, &str) = ("kube-system", "node-autoscaler");
pub const TOKEN_SECRET: &str = "node-autoscaler-token";
pub const JOIN_TOKEN: &str = "K10secretjointoken::server:abcdef";
pub const WORKER_TAG: (&str, &str) = ("k3s-worker-of", "demo");
pub const MASTER_TAG: (&str, &str) = ("k3s-role", "master");
pub const STATE_TABLE: &str = "node-autoscaler-state";
pub const LOGS_TABLE: &str = "node-autoscaler-log";
pub const AMI: &str = "ami-12c6146b";
/// How long the real control plane may take to settle what a test set up (pods created and
/// scheduled, a budget's status computed, a node registered) on a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(60);

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

/// The [`World`] with node-autoscaler deployed on a k3s cluster: what it adds is its AWS
/// side. Reads as the world it extends (`k3s.cluster`, `k3s.spawn(FUNCTION, …)`).
pub struct K3s {
    world: World,
    pub ec2: aws_sdk_ec2::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    /// (subnet, zone) of the three worker subnets.
    pub subnets: Vec<(String, String)>,
    /// The control plane's instance.
    pub master: String,
    /// The function's bearer token (in SSM): the service account's, issued by the cluster.
    pub api_token: String,
}

impl Deref for K3s {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl K3s {
    /// Everything started and seeded, Prometheus backfilled with `metrics`; the control
    /// plane's instance and node registered, no worker yet.
    pub async fn start(metrics: &str) -> K3s {
        let mut world = World::builder()
            .function(FUNCTION)
            .own_cluster_auth()
            .manifests(["infra/k8s/rbac/node-autoscaler.yaml"])
            .prometheus(metrics)
            .start()
            .await;
        // The shipped RBAC binds this service account; its token Secret is filled in by the
        // controller manager.
        let api_token = world
            .cluster
            .service_account_token(SERVICE_ACCOUNT.0, SERVICE_ACCOUNT.1, TOKEN_SECRET)
            .expect("the service account's token");
        let ec2 = aws_sdk_ec2::Client::new(&world.aws);
        let ddb = aws_sdk_dynamodb::Client::new(&world.aws);
        let subnets = subnets(&ec2).await;
        tables(&ddb).await;
        let ssm = aws_sdk_ssm::Client::new(&world.aws);
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
            .expect("security groups")
            .security_groups()[0]
            .group_id()
            .expect("a group id")
            .to_owned();
        let subnet_ids: Vec<&str> = subnets.iter().map(|s| s.0.as_str()).collect();
        let prometheus = world.prometheus.as_ref().expect("started").url().to_owned();
        for (key, value) in [
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
            ("PROMETHEUS_URL", prometheus),
            ("STATE_TABLE", STATE_TABLE.to_owned()),
            ("LOGS_TABLE", LOGS_TABLE.to_owned()),
            ("MIN_WORKERS", "1".to_owned()),
            ("MAX_WORKERS", "5".to_owned()),
            ("DRAIN_TIMEOUT_SEC", "20".to_owned()),
            ("SPOT_DRAIN_SEC", "20".to_owned()),
            ("LEASE_SEC", "120".to_owned()),
            ("JOIN_TIMEOUT_SEC", "300".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ] {
            world.set_env(FUNCTION, key, value);
        }
        let mut k3s = K3s {
            world,
            ec2,
            ddb,
            subnets,
            master: String::new(),
            api_token,
        };
        // The control plane: an instance with the master tag, and its tainted node.
        k3s.master = k3s.instance(0, &[MASTER_TAG]).await;
        let master = NodeSpec::new("master").instance(&k3s.master).taint(
            "node-role.kubernetes.io/control-plane",
            "",
            "NoSchedule",
        );
        k3s.cluster.register_node(master).expect("master node");
        k3s
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
            .expect("an instance id")
            .to_owned()
    }

    /// A worker that has joined: an instance with the worker tag, and its Ready node named
    /// `node` in the subnet's zone.
    pub async fn worker(&self, zone_index: usize, node: &str) -> String {
        let id = self.instance(zone_index, &[WORKER_TAG]).await;
        self.join(&id, node).await;
        id
    }

    /// Registers the node of instance `id`, as its kubelet joining would.
    pub async fn join(&self, id: &str, node: &str) {
        self.join_with(id, node, true).await;
    }

    /// [`K3s::join`] for a kubelet that registers but is (`ready`) or is not Ready.
    pub async fn join_with(&self, id: &str, node: &str, ready: bool) {
        let mut spec = NodeSpec::new(node).instance(id);
        spec.zone = self.zone_of(id).await;
        spec.ready = ready;
        if !ready {
            // A kubelet registers a node that is not ready with this taint (the scheduler
            // places nothing there).
            spec = spec.taint("node.kubernetes.io/not-ready", "", "NoSchedule");
        }
        self.cluster.register_node(spec).expect("register node");
    }

    pub async fn zone_of(&self, id: &str) -> String {
        self.describe(id).await["zone"]
            .as_str()
            .expect("a zone")
            .to_owned()
    }

    /// Instance `id` as EC2 describes it.
    pub async fn instance_of(&self, id: &str) -> aws_sdk_ec2::types::Instance {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("describe");
        out.reservations()[0].instances()[0].clone()
    }

    /// `{id, state, zone, subnet, tags: {k: v}, spot, type}` of one instance.
    pub async fn describe(&self, id: &str) -> Value {
        let i = &self.instance_of(id).await;
        let tags: serde_json::Map<String, Value> = i
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().into()))
            .collect();
        json!({
            "id": id,
            "state": i.state().and_then(|s| s.name()).map(|n| n.as_str()),
            "zone": i.placement().and_then(|p| p.availability_zone()),
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
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The EC2 state of instance `id` (`running`, `terminated`, …).
    pub async fn state(&self, id: &str) -> String {
        self.describe(id).await["state"]
            .as_str()
            .expect("a state")
            .to_owned()
    }

    pub fn node(&self, name: &str) -> Option<Value> {
        self.cluster.get("nodes", "", name)
    }

    pub fn cordoned(&self, name: &str) -> bool {
        self.node(name)
            .is_some_and(|n| n["spec"]["unschedulable"] == true)
    }

    /// Pods of `app` per node name (`""` = pending), terminating ones left out.
    pub fn pods_by_node(&self, app: &str) -> Vec<(String, String)> {
        let mut pods: Vec<(String, String)> = self
            .cluster
            .list("pods", Some("default"))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == app)
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (text(&p["metadata"]["name"]), text(&p["spec"]["nodeName"]))
            })
            .collect();
        pods.sort();
        pods
    }

    /// A Deployment of `replicas` pods requesting `cpu` each, ending at once when evicted
    /// (or after `grace` seconds, on a slow worker). Returns once its pods exist and the
    /// scheduler has placed each (bound to a node, or found unschedulable).
    pub fn deployment(&self, name: &str, replicas: u32, cpu: &str, grace: u32) {
        self.cluster
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
                .cluster
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
}

/// (subnet, zone) of the first three subnets by zone: the workers' subnets.
async fn subnets(ec2: &aws_sdk_ec2::Client) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = ec2
        .describe_subnets()
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .filter_map(|s| Some((s.subnet_id()?.to_owned(), s.availability_zone()?.to_owned())))
        .collect();
    all.sort_by(|a, b| a.1.cmp(&b.1));
    all.truncate(3);
    all
}

/// The state table (`pk`) and the decision log (`pk`, `sk`, expiring by `expires_at`).
async fn tables(ddb: &aws_sdk_dynamodb::Client) {
    for (name, keys) in [
        (STATE_TABLE, vec![("pk", KeyType::Hash)]),
        (
            LOGS_TABLE,
            vec![("pk", KeyType::Hash), ("sk", KeyType::Range)],
        ),
    ] {
        let mut table = ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest);
        for (key, key_type) in keys {
            let schema = KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(key_type)
                .build()
                .expect("a key");
            let attribute = AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("an attribute");
            table = table.key_schema(schema).attribute_definitions(attribute);
        }
        table.send().await.expect("table");
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires_at")
        .build()
        .expect("a TTL");
    ddb.update_time_to_live()
        .table_name(LOGS_TABLE)
        .time_to_live_specification(ttl)
        .send()
        .await
        .expect("ttl");
}
