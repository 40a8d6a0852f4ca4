//! Label selectors (string and LabelSelector forms) and field selectors.
use serde_json::{Map, Value};

use super::util::{at, str_at};

#[derive(Clone, Debug, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector. `Selector::nothing()` matches no object (a nil LabelSelector);
/// the empty selector matches every object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    reqs: Vec<Requirement>,
    nothing: bool,
}

/// Splits on commas that are not inside parentheses (`a in (x,y),b`).
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn values(list: &str) -> Result<Vec<String>, String> {
    let inner = list
        .trim()
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set of values, found {list:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl Selector {
    pub fn nothing() -> Self {
        Selector {
            reqs: Vec::new(),
            nothing: true,
        }
    }

    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let req = if let Some(key) = p.strip_prefix('!') {
                Requirement {
                    key: key.trim().into(),
                    op: Op::DoesNotExist,
                }
            } else if let Some((k, v)) = p.split_once("!=") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::NotIn(vec![v.trim().into()]),
                }
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Requirement {
                    key: k.trim().into(),
                    op: Op::In(vec![v.trim().into()]),
                }
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::NotIn(values(rest)?),
                }
            } else if let Some((k, rest)) = p.split_once(" in ") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::In(values(rest)?),
                }
            } else if p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement {
                    key: p.into(),
                    op: Op::Exists,
                }
            } else {
                return Err(format!("unable to parse requirement: {p:?}"));
            };
            if req.key.is_empty() {
                return Err(format!("unable to parse requirement: {p:?}"));
            }
            reqs.push(req);
        }
        Ok(Selector {
            reqs,
            nothing: false,
        })
    }

    /// From a metav1.LabelSelector object (matchLabels + matchExpressions); null matches
    /// nothing, `{}` everything.
    pub fn from_object(sel: Option<&Value>) -> Result<Self, String> {
        let Some(sel) = sel.filter(|s| !s.is_null()) else {
            return Ok(Self::nothing());
        };
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Requirement {
                    key: k.clone(),
                    op: Op::In(vec![v.as_str().unwrap_or("").into()]),
                });
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let vals: Vec<String> = e["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let op = match str_at(e, &["operator"]) {
                "In" => Op::In(vals),
                "NotIn" => Op::NotIn(vals),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                o => return Err(format!("{o:?} is not a valid label selector operator")),
            };
            reqs.push(Requirement {
                key: str_at(e, &["key"]).into(),
                op,
            });
        }
        Ok(Selector {
            reqs,
            nothing: false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty() && !self.nothing
    }

    pub fn matches_labels(&self, labels: Option<&Map<String, Value>>) -> bool {
        if self.nothing {
            return false;
        }
        self.reqs.iter().all(|r| {
            let v = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::In(vs) => v.is_some_and(|v| vs.iter().any(|x| x == v)),
                Op::NotIn(vs) => v.is_none_or(|v| !vs.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
            }
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_labels(at(obj, &["metadata", "labels"]).and_then(Value::as_object))
    }

    /// The string form, as `Scale.status.selector` carries it.
    pub fn to_string_form(&self) -> String {
        self.reqs
            .iter()
            .map(|r| match &r.op {
                Op::In(v) if v.len() == 1 => format!("{}={}", r.key, v[0]),
                Op::In(v) => format!("{} in ({})", r.key, v.join(",")),
                Op::NotIn(v) if v.len() == 1 => format!("{}!={}", r.key, v[0]),
                Op::NotIn(v) => format!("{} notin ({})", r.key, v.join(",")),
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A field selector: `a=b`, `a==b`, `a!=b`, comma-separated.
#[derive(Clone, Debug, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// The fields the real server lets a client select on, per group-resource (metadata.name
/// and metadata.namespace work everywhere).
fn supported(gr: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match gr {
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "nodes" => &["spec.unschedulable"],
        "events" | "events.events.k8s.io" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid",
        ],
        "secrets" => &["type"],
        "namespaces" => &["status.phase"],
        "replicasets.apps" => &["status.replicas"],
        _ => &[],
    };
    extra.contains(&field)
}

impl FieldSelector {
    pub fn parse(gr: &str, s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, neg, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                (k, false, v)
            } else {
                return Err(format!("invalid selector: '{p}'; can't understand '{p}'"));
            };
            let k = k.trim();
            if !supported(gr, k) {
                return Err(format!("field label not supported: {k}"));
            }
            reqs.push((k.to_string(), neg, v.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(k, neg, want)| {
            let path: Vec<&str> = k.split('.').collect();
            let have = match at(obj, &path) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                // The real server compares a missing bool field (spec.unschedulable) as "".
                _ => String::new(),
            };
            (have == *want) != *neg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        for (s, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (db,web)", true),
            ("app notin (db,web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app=web", true),
            ("app=web,tier=be", false),
            ("", true),
        ] {
            assert_eq!(Selector::parse(s).unwrap().matches(&o), want, "{s}");
        }
        assert!(Selector::parse("a in b").is_err());
    }

    #[test]
    fn label_selector_object() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]});
        let s = Selector::from_object(Some(&sel)).unwrap();
        assert!(s.matches(&json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}})));
        assert!(!s.matches(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert_eq!(s.to_string_form(), "app=web,tier=fe");
        assert!(!Selector::from_object(None).unwrap().matches(&json!({})));
        assert!(
            Selector::from_object(Some(&json!({})))
                .unwrap()
                .matches(&json!({}))
        );
    }

    #[test]
    fn field_selector() {
        let p = json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}});
        assert!(
            FieldSelector::parse("pods", "spec.nodeName=n1")
                .unwrap()
                .matches(&p)
        );
        assert!(
            !FieldSelector::parse("pods", "spec.nodeName!=n1")
                .unwrap()
                .matches(&p)
        );
        assert!(FieldSelector::parse("pods", "spec.bogus=x").is_err());
        assert!(FieldSelector::parse("configmaps", "spec.nodeName=x").is_err());
    }
}
