//! `meta.k8s.io/v1` Table answers for kubectl's `get` (server-side printing): the real
//! columns for the kinds the demo shows, CRD `additionalPrinterColumns`, NAME/AGE otherwise.
use jiff::Timestamp;
use serde_json::{Value, json};

use super::nodes::node_ready;
use super::registry::ResourceType;
use super::util::{at, parse_time, str_at};

fn age(obj: &Value, now: Timestamp) -> String {
    let Some(t) = parse_time(str_at(obj, &["metadata", "creationTimestamp"])) else {
        return "<unknown>".into();
    };
    let s = (now - t).get_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn col(name: &str, ty: &str) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0})
}

/// A column kubectl shows only with `-o wide`.
fn wide(name: &str) -> Value {
    let mut c = col(name, "string");
    c["priority"] = json!(1);
    c
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Simple JSONPath (`.spec.replicas`, `.status.items[0].x`) as printer columns use it.
fn json_path(obj: &Value, path: &str) -> Value {
    let mut cur = obj;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (key, idx) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = match cur.get(key) {
            Some(v) => v,
            None => return Value::Null,
        };
        if let Some(i) = idx {
            cur = match cur.get(i) {
                Some(v) => v,
                None => return Value::Null,
            };
        }
    }
    cur.clone()
}

fn columns(rt: &ResourceType, o: &Value, now: Timestamp) -> (Vec<Value>, Vec<Value>) {
    let name = json!(str_at(o, &["metadata", "name"]));
    let a = json!(age(o, now));
    let s = &o["status"];
    match rt.gr().as_str() {
        "nodes" => {
            let mut st = if node_ready(o) {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            };
            if o["spec"]["unschedulable"].as_bool() == Some(true) {
                st.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = o["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            let roles = if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            };
            (
                vec![
                    col("Name", "string"),
                    col("Status", "string"),
                    col("Roles", "string"),
                    col("Age", "string"),
                    col("Version", "string"),
                ],
                vec![
                    name,
                    json!(st),
                    json!(roles),
                    a,
                    s["nodeInfo"]["kubeletVersion"].clone(),
                ],
            )
        }
        "pods" => {
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = s["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["ready"] == true)
                .count();
            let phase = if at(o, &["metadata", "deletionTimestamp"]).is_some() {
                "Terminating".to_string()
            } else {
                str_at(o, &["status", "phase"]).to_string()
            };
            (
                vec![
                    col("Name", "string"),
                    col("Ready", "string"),
                    col("Status", "string"),
                    col("Restarts", "string"),
                    col("Age", "string"),
                    wide("IP"),
                    wide("Node"),
                ],
                vec![
                    name,
                    json!(format!("{ready}/{total}")),
                    json!(phase),
                    json!("0"),
                    a,
                    json!(str_at(o, &["status", "podIP"]).to_string()),
                    json!(str_at(o, &["spec", "nodeName"]).to_string()),
                ],
            )
        }
        "deployments.apps" => (
            vec![
                col("Name", "string"),
                col("Ready", "string"),
                col("Up-to-date", "integer"),
                col("Available", "integer"),
                col("Age", "string"),
            ],
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(&s["readyReplicas"]),
                    n(&o["spec"]["replicas"])
                )),
                json!(n(&s["updatedReplicas"])),
                json!(n(&s["availableReplicas"])),
                a,
            ],
        ),
        "replicasets.apps" => (
            vec![
                col("Name", "string"),
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                col("Age", "string"),
            ],
            vec![
                name,
                json!(n(&o["spec"]["replicas"])),
                json!(n(&s["replicas"])),
                json!(n(&s["readyReplicas"])),
                a,
            ],
        ),
        "statefulsets.apps" => (
            vec![
                col("Name", "string"),
                col("Ready", "string"),
                col("Age", "string"),
            ],
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(&s["readyReplicas"]),
                    n(&o["spec"]["replicas"])
                )),
                a,
            ],
        ),
        "daemonsets.apps" => (
            vec![
                col("Name", "string"),
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                col("Up-to-date", "integer"),
                col("Available", "integer"),
                col("Age", "string"),
            ],
            vec![
                name,
                json!(n(&s["desiredNumberScheduled"])),
                json!(n(&s["currentNumberScheduled"])),
                json!(n(&s["numberReady"])),
                json!(n(&s["updatedNumberScheduled"])),
                json!(n(&s["numberAvailable"])),
                a,
            ],
        ),
        "poddisruptionbudgets.policy" => {
            let show = |v: &Value| match v {
                Value::Null => "N/A".to_string(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            (
                vec![
                    col("Name", "string"),
                    col("Min Available", "string"),
                    col("Max Unavailable", "string"),
                    col("Allowed Disruptions", "integer"),
                    col("Age", "string"),
                ],
                vec![
                    name,
                    json!(show(&o["spec"]["minAvailable"])),
                    json!(show(&o["spec"]["maxUnavailable"])),
                    json!(n(&s["disruptionsAllowed"])),
                    a,
                ],
            )
        }
        "namespaces" => (
            vec![
                col("Name", "string"),
                col("Status", "string"),
                col("Age", "string"),
            ],
            vec![name, json!(str_at(o, &["status", "phase"])), a],
        ),
        _ => {
            let mut defs = vec![col("Name", "string")];
            let mut cells = vec![name];
            let version = str_at(o, &["apiVersion"]).rsplit('/').next().unwrap_or("");
            let printer = rt.crd.as_ref().and_then(|c| c.printer_columns.get(version));
            let mut has_age = false;
            for c in printer.into_iter().flatten() {
                let cname = str_at(c, &["name"]);
                let ty = str_at(c, &["type"]);
                let mut d = col(cname, ty);
                d["priority"] = c["priority"].clone();
                if d["priority"].is_null() {
                    d["priority"] = json!(0);
                }
                defs.push(d);
                let v = json_path(o, str_at(c, &["jsonPath"]));
                cells.push(if ty == "date" {
                    has_age = true;
                    json!(age(&json!({"metadata": {"creationTimestamp": v}}), now))
                } else {
                    v
                });
            }
            if !has_age {
                defs.push(col("Age", "string"));
                cells.push(a);
            }
            (defs, cells)
        }
    }
}

/// A list (or `{"items": [obj]}` for a single get) as a Table.
pub fn from_list(rt: &ResourceType, list: &Value, now: Timestamp) -> Value {
    let mut defs = Vec::new();
    let mut rows = Vec::new();
    for o in list["items"].as_array().into_iter().flatten() {
        let (d, cells) = columns(rt, o, now);
        defs = d;
        rows.push(json!({"cells": cells, "object": {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}));
    }
    if defs.is_empty() {
        defs = columns(rt, &json!({"metadata": {}}), now).0;
    }
    let mut meta = json!({"resourceVersion": list["metadata"]["resourceVersion"]});
    if let Some(c) = list["metadata"].get("continue") {
        meta["continue"] = c.clone();
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}
