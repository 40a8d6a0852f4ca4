//! Nodes as a k3s agent registers them for an EC2 instance ([`Cluster::register_node`]
//! applies them; KWOK keeps them Ready).
//!
//! [`Cluster::register_node`]: super::Cluster::register_node
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A node to register ([`super::Cluster::register_node`], [`super::ClusterConfig::nodes`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    pub name: String,
    /// EC2 instance id; becomes `spec.providerID: aws:///<zone>/<id>`.
    pub instance_id: Option<String>,
    pub zone: String,
    pub instance_type: String,
    /// Allocatable CPU and memory, as quantities (`"2"`, `"4Gi"`).
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub labels: BTreeMap<String, String>,
    /// Node taints (`{"key": .., "value": .., "effect": "NoSchedule"}`).
    pub taints: Vec<Value>,
    pub ready: bool,
    pub unschedulable: bool,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            name: String::new(),
            instance_id: None,
            zone: "us-east-1a".into(),
            instance_type: "t3.medium".into(),
            cpu: "2".into(),
            memory: "4Gi".into(),
            pods: 110,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            ready: true,
            unschedulable: false,
        }
    }
}

impl NodeSpec {
    pub fn new(name: impl Into<String>) -> Self {
        NodeSpec {
            name: name.into(),
            ..Default::default()
        }
    }
    pub fn instance(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }
    pub fn capacity(mut self, cpu: &str, memory: &str) -> Self {
        self.cpu = cpu.into();
        self.memory = memory.into();
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.taints
            .push(json!({"key": key, "value": value, "effect": effect}));
        self
    }
    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self
    }
}

/// The Node object a k3s agent (with the AWS provider id) would register.
pub fn node_object(spec: &NodeSpec, ip: &str, now: &str) -> Value {
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", spec.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        (
            "node.kubernetes.io/instance-type",
            spec.instance_type.as_str(),
        ),
        ("topology.kubernetes.io/zone", spec.zone.as_str()),
        (
            "topology.kubernetes.io/region",
            spec.zone.trim_end_matches(char::is_alphabetic),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.extend(spec.labels.clone());
    let capacity = json!({"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods.to_string(), "ephemeral-storage": "20Gi"});
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {"k3s.io/hostname": spec.name, "k3s.io/internal-ip": ip}},
        "spec": {"podCIDR": format!("10.42.{}.0/24", ip.rsplit('.').next().unwrap_or("0"))},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [ready_condition(spec.ready, now)],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": spec.name}],
            "nodeInfo": {
                "kubeletVersion": "v1.33.1+k3s1", "kubeProxyVersion": "v1.33.1+k3s1",
                "containerRuntimeVersion": "containerd://2.0.5-k3s1", "operatingSystem": "linux",
                "architecture": "amd64", "osImage": "Amazon Linux 2023", "kernelVersion": "6.1.0",
                "machineID": "", "systemUUID": "", "bootID": ""
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    });
    if let Some(id) = &spec.instance_id {
        node["spec"]["providerID"] = json!(format!("aws:///{}/{}", spec.zone, id));
    }
    if spec.unschedulable {
        node["spec"]["unschedulable"] = json!(true);
    }
    if !spec.taints.is_empty() {
        node["spec"]["taints"] = json!(spec.taints);
    }
    node
}

/// The `Ready` condition a kubelet posts, with both timestamps `now`.
pub fn ready_condition(ready: bool, now: &str) -> Value {
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "False",
            "KubeletNotReady",
            "container runtime network not ready",
        )
    };
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastHeartbeatTime": now, "lastTransitionTime": now})
}
