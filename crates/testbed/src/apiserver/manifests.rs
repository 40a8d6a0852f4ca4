//! Loading YAML manifests (multi-document, `kind: List` expanded): namespaces and CRDs
//! first so that objects depending on them in the same files load, then everything else,
//! each created or, if it exists, updated with the manifest merged in.
use jiff::Timestamp;
use serde_json::{Value, json};

use super::handlers;
use super::patch;
use super::routes::Query;
use super::state::State;
use super::util::{name_of, namespace_of, str_at};

pub fn parse(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for d in docs {
        if d.is_null() {
            continue;
        }
        if str_at(&d, &["kind"]).ends_with("List") && d["items"].is_array() {
            out.extend(d["items"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

fn rank(doc: &Value) -> u8 {
    match str_at(doc, &["kind"]) {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ => 2,
    }
}

/// Creates or updates each object; namespaces that objects name but no document creates
/// are created too. Returns how many objects were applied.
pub fn load(state: &mut State, now: Timestamp, mut docs: Vec<Value>) -> Result<usize, String> {
    docs.sort_by_key(rank);
    let q = Query::default();
    for doc in &docs {
        let (av, kind) = (str_at(doc, &["apiVersion"]), str_at(doc, &["kind"]));
        let rt = state
            .registry
            .by_kind(av, kind)
            .cloned()
            .ok_or_else(|| format!("no matches for kind \"{kind}\" in version \"{av}\""))?;
        let version = av.rsplit('/').next().unwrap_or(av).to_string();
        let mut obj = doc.clone();
        let ns = if rt.namespaced {
            let ns = match namespace_of(doc) {
                "" => "default".to_string(),
                n => n.to_string(),
            };
            obj["metadata"]["namespace"] = json!(ns);
            if state.store.get("namespaces", "", &ns).is_none() {
                let nsrt = state.rt("namespaces").map_err(|e| e.message)?;
                handlers::create(
                    state,
                    &nsrt,
                    "v1",
                    None,
                    json!({"metadata": {"name": ns}}),
                    &q,
                    now,
                )
                .map_err(|e| e.message)?;
            }
            Some(ns)
        } else {
            None
        };
        let name = name_of(doc).to_string();
        let what = format!(
            "{kind} {}{name}",
            ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default()
        );
        match state
            .store
            .get(&rt.gr(), ns.as_deref().unwrap_or(""), &name)
            .cloned()
        {
            Some(mut existing) => {
                patch::apply(&mut existing, &obj).map_err(|e| format!("{what}: {e}"))?;
                handlers::update(state, &rt, ns.as_deref(), &name, existing, false, now)
                    .map_err(|e| format!("{what}: {}", e.message))?;
            }
            None => {
                handlers::create(state, &rt, &version, ns.as_deref(), obj, &q, now)
                    .map_err(|e| format!("{what}: {}", e.message))?;
            }
        }
    }
    Ok(docs.len())
}
