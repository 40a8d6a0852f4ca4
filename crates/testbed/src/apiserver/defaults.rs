//! Create-time defaults and status resets of the real create strategies, for the kinds the
//! suite uses.
use serde_json::{Value, json};

use super::registry::ResourceType;
use super::util::str_at;

/// Defaults and status resets of the real create strategies, for the kinds the suite uses.
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) {
    match rt.gr().as_str() {
        "pods" => {
            pod_defaults(&mut obj["spec"]);
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "deployments.apps" | "replicasets.apps" | "statefulsets.apps" | "daemonsets.apps" => {
            let spec = &mut obj["spec"];
            if rt.resource != "daemonsets" && spec.get("replicas").is_none_or(Value::is_null) {
                spec["replicas"] = json!(1);
            }
            if spec.get("revisionHistoryLimit").is_none() {
                spec["revisionHistoryLimit"] = json!(10);
            }
            if rt.resource == "deployments" {
                if spec.get("strategy").is_none() {
                    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
                }
                if spec.get("progressDeadlineSeconds").is_none() {
                    spec["progressDeadlineSeconds"] = json!(600);
                }
            }
            pod_defaults(&mut spec["template"]["spec"]);
            obj["status"] = json!({});
        }
        "namespaces" => obj["status"] = json!({"phase": "Active"}),
        // Nodes (registered by their kubelet) keep the status they are created with.
        "nodes" => {}
        "poddisruptionbudgets.policy" => {
            obj["status"] = json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
        }
        "customresourcedefinitions.apiextensions.k8s.io" => {
            let names = obj["spec"]["names"].clone();
            let stored: Vec<Value> = obj["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect();
            obj["status"] = json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ]
            });
        }
        _ => {
            if rt.status
                && let Some(m) = obj.as_object_mut()
            {
                m.remove("status");
            }
        }
    }
}

pub fn pod_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
    ] {
        if spec.get(k).is_none_or(Value::is_null) {
            spec[k] = v;
        }
    }
    if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs {
            if c.get("imagePullPolicy").is_none() {
                let latest = str_at(c, &["image"]).ends_with(":latest")
                    || !str_at(c, &["image"]).contains(':');
                c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let cs: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let has = |c: &Value, k: &str| c["resources"][k].as_object().is_some_and(|m| !m.is_empty());
    if cs.iter().all(|c| !has(c, "requests") && !has(c, "limits")) {
        "BestEffort"
    } else if cs.iter().all(|c| {
        has(c, "limits")
            && ["cpu", "memory"].iter().all(|r| {
                let l = &c["resources"]["limits"][r];
                let q = &c["resources"]["requests"][r];
                !l.is_null() && (q.is_null() || q == l)
            })
    }) {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
