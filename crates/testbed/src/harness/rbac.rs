//! RBAC experiments: is a function's shipped ClusterRole minimal? Read the rules its RBAC
//! file grants ([`rules_of`]), split them into one-verb grants ([`grants`]), and put all but
//! one of them in place of the ClusterRole's rules ([`all_but`], [`set_rules`]); then run the
//! function's flow and see it break on exactly the missing grant ([`Grant::denial`]).
use std::path::Path;

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

use super::{Error, Result};

/// The rules of the ClusterRole in the RBAC manifest at `path` (a multi-document YAML file
/// such as `infra/k8s/rbac/<function>.yaml`).
pub fn rules_of(path: impl AsRef<Path>) -> Result<Vec<Value>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
    docs.into_iter()
        .find(|d| d["kind"] == "ClusterRole")
        .and_then(|d| d["rules"].as_array().cloned())
        .ok_or_else(|| Error::new(format!("{}: no ClusterRole with rules", path.display())))
}

/// One verb on one resource of one rule: the unit a minimal role must need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The index of the rule in the file it came from.
    pub rule: usize,
    pub api_groups: Vec<String>,
    /// `deployments/scale`, `pods/eviction`, ...
    pub resource: String,
    pub verb: String,
    /// The rule's `resourceNames`, if it has any (kept as they are).
    pub resource_names: Option<Value>,
}

impl Grant {
    /// The grant as a one-verb, one-resource policy rule.
    pub fn to_rule(&self) -> Value {
        let mut rule = json!({
            "apiGroups": self.api_groups,
            "resources": [self.resource],
            "verbs": [self.verb],
        });
        if let Some(names) = &self.resource_names {
            rule["resourceNames"] = names.clone();
        }
        rule
    }

    /// What the API server says when this grant is missing, as it words it
    /// (`... cannot get resource "deployments/scale" in API group "apps" ...`).
    pub fn denial(&self) -> String {
        format!("cannot {} resource \"{}\"", self.verb, self.resource)
    }

    /// Whether `text` (an invocation error, a status message, a log line) reports this
    /// grant's [`denial`](Grant::denial), however it was wrapped (see [`mentions`]).
    pub fn denied_in(&self, text: &str) -> bool {
        mentions(text, &self.denial())
    }

    /// `get deployments/scale (apps)`, for assertion messages.
    pub fn describe(&self) -> String {
        let group = match self.api_groups.as_slice() {
            [g] if g.is_empty() => "core".to_owned(),
            groups => groups.join(","),
        };
        format!("{} {} ({group})", self.verb, self.resource)
    }

    /// Waits (10 s) for `function`'s log line saying an Event went unrecorded, and checks it
    /// names this grant's denial: Events are best effort in every function, so a missing
    /// `create events` shows only there. Fails with the line when it names something else.
    pub fn unrecorded_event_logged(&self, function: &mut super::Supervised) -> Result<Value> {
        let line = function.wait_for_json(std::time::Duration::from_secs(10), |v| {
            v["fields"]["message"] == "event not recorded"
        })?;
        let error = line["fields"]["error"].as_str().unwrap_or_default();
        if self.denied_in(error) {
            Ok(line)
        } else {
            Err(Error::new(format!(
                "{}: the unrecorded Event's error is not its denial: {line}",
                self.describe()
            )))
        }
    }

    /// Whether this is `verb` on `resource`.
    pub fn is(&self, verb: &str, resource: &str) -> bool {
        self.verb == verb && self.resource == resource
    }
}

/// Whether `text` contains `needle`, ignoring whitespace and the box-drawing bars an error
/// report wraps long lines with (the emulator renders a function's error that way, breaking
/// lines at spaces and after hyphens).
pub fn mentions(text: &str, needle: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '|'))
            .collect()
    };
    squash(text).contains(&squash(needle))
}

/// Every (resource, verb) of `rules` as a separate grant, in the rules' order. Rules with
/// non-resource URLs have no resources and yield nothing.
pub fn grants(rules: &[Value]) -> Vec<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let api_groups = strings(&rule["apiGroups"]);
        for resource in strings(&rule["resources"]) {
            for verb in strings(&rule["verbs"]) {
                out.push(Grant {
                    rule: i,
                    api_groups: api_groups.clone(),
                    resource: resource.clone(),
                    verb,
                    resource_names: rule.get("resourceNames").cloned(),
                });
            }
        }
    }
    out
}

/// The rules granting every one of `grants` (one rule each).
pub fn all(grants: &[Grant]) -> Value {
    Value::Array(grants.iter().map(Grant::to_rule).collect())
}

/// The rules granting every one of `grants` but the `i`th (one rule each).
pub fn all_but(grants: &[Grant], i: usize) -> Value {
    Value::Array(
        grants
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, g)| g.to_rule())
            .collect(),
    )
}

/// Replaces the rules of ClusterRole `cluster_role` with `rules` (a JSON array of policy
/// rules), as an administrator would. The testbed authorizes every request against the
/// stored roles, so the next request sees the change.
pub async fn set_rules(admin: &kube::Client, cluster_role: &str, rules: Value) -> Result<()> {
    let api = Api::<ClusterRole>::all(admin.clone());
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(format!("ClusterRole {cluster_role}: {what}: {e}"))
    };
    let mut role = api.get(cluster_role).await.map_err(|e| failed("get", &e))?;
    role.rules = Some(serde_json::from_value(rules).map_err(|e| failed("rules", &e))?);
    api.replace(cluster_role, &PostParams::default(), &role)
        .await
        .map_err(|e| failed("replace", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_split_into_one_verb_grants_and_all_but_one_leaves_one_out() {
        let rules = vec![
            json!({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "update"]}),
            json!({"apiGroups": [""], "resources": ["events", "pods"], "verbs": ["create"]}),
        ];
        let g = grants(&rules);
        let described: Vec<String> = g.iter().map(Grant::describe).collect();
        assert_eq!(
            described,
            [
                "get deployments/scale (apps)",
                "update deployments/scale (apps)",
                "create events (core)",
                "create pods (core)"
            ]
        );
        assert_eq!(g[1].rule, 0);
        assert_eq!(g[3].rule, 1);
        assert_eq!(
            g[0].denial(),
            "cannot get resource \"deployments/scale\"".to_owned()
        );
        assert_eq!(
            all_but(&g, 1),
            json!([
                {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]},
            ])
        );
        assert_eq!(all(&g).as_array().unwrap().len(), 4);
        let wrapped = "  × deployments.apps \"w\" is forbidden: User \"x\" cannot get\n  │ resource \"deployments/scale\" in API group \"apps\"";
        assert!(g[0].denied_in(wrapped));
        assert!(!g[1].denied_in(wrapped));
    }

    #[test]
    fn the_cluster_role_of_a_shipped_file() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/k8s/rbac/alarm-scaler.yaml");
        let rules = rules_of(&path).unwrap();
        assert!(
            grants(&rules)
                .iter()
                .any(|g| g.is("update", "deployments/scale"))
        );
        assert!(rules_of(Path::new("/nonexistent.yaml")).is_err());
    }
}
