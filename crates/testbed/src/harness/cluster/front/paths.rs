//! URL parsing for fault rules: API paths to [`Target`]s, query strings, and the request
//! verb as RBAC sees it.
use percent_encoding::percent_decode_str;

/// The resource a request is for (`/apis/apps/v1/namespaces/default/deployments/web/scale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// A decoded query string. Go clients encode spaces as `+` (`in+%28a%2Cb%29`).
#[derive(Clone, Debug, Default)]
pub struct Query(Vec<(String, String)>);

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    /// `watch=true`, `watch=1`.
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

/// Splits an API path into its resource target; `None` for non-resource paths
/// (`/api`, `/apis/apps/v1`, `/version`, ...).
pub fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segs.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] if !rest.is_empty() => rest,
        _ => return None,
    };
    let (namespace, rest) = match rest {
        // namespaces/{name}/status|finalize is a subresource of a namespace, not a namespace scope.
        ["namespaces", ns, r, ..] if !(rest.len() == 3 && matches!(*r, "status" | "finalize")) => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(n.to_string()), None),
        [r, n, s] => (*r, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Target {
        resource: resource.into(),
        namespace,
        name: name.map(|n| decode(&n)),
        subresource,
    })
}

/// The verb RBAC checks: kubectl-style names from the method and the path.
pub fn verb(method: &http::Method, t: &Target, query: &Query) -> &'static str {
    match (method.as_str(), t.name.is_some()) {
        ("GET" | "HEAD", false) if query.flag("watch") => "watch",
        ("GET" | "HEAD", false) => "list",
        ("GET" | "HEAD", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_target("/apis/apps/v1/namespaces/default/deployments/web/scale").unwrap();
        assert_eq!(
            (
                t.resource.as_str(),
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("deployments", Some("default"), Some("web"), Some("scale"))
        );
        let t = parse_target("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.name.as_deref(), t.namespace),
            ("namespaces", Some("kube-system"), None)
        );
        let t = parse_target("/api/v1/namespaces/foo/status").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let t = parse_target("/api/v1/namespaces/foo/pods").unwrap();
        assert_eq!(
            (t.resource.as_str(), t.namespace.as_deref()),
            ("pods", Some("foo"))
        );
        assert!(parse_target("/apis/apps/v1").is_none());
        assert!(parse_target("/api/v1").is_none());
        let q = Query::parse(Some("labelSelector=app+in+%28a%2Cb%29&watch=1"));
        assert_eq!(q.get("labelSelector"), Some("app in (a,b)"));
        assert!(q.flag("watch"));
    }
}
