//! The EKS control-plane API for this cluster (REST-JSON, as `aws-sdk-eks` speaks it with
//! `AWS_ENDPOINT_URL_EKS` pointed at [`super::Cluster::url`], which serves it under
//! `/clusters/…`): DescribeCluster, ListClusters and the access-entry operations moto lacks.
//! Access entries are what aws-iam-authenticator consults before `aws-auth`: every change is
//! passed to the [`EntriesListener`] ([`EksApi::with_listener`]), which feeds them to it.
//!
//! | operation | route |
//! |---|---|
//! | ListClusters | `GET /clusters` |
//! | DescribeCluster | `GET /clusters/{name}` |
//! | CreateAccessEntry | `POST /clusters/{name}/access-entries` |
//! | ListAccessEntries | `GET /clusters/{name}/access-entries?maxResults=&nextToken=` |
//! | DescribeAccessEntry | `GET /clusters/{name}/access-entries/{principalArn}` |
//! | UpdateAccessEntry | `POST /clusters/{name}/access-entries/{principalArn}` |
//! | DeleteAccessEntry | `DELETE /clusters/{name}/access-entries/{principalArn}` |
//!
//! Errors are EKS's: a status, a body `{"__type": "<Code>", "message": ..., "clusterName": ...}`
//! and (added by the front from [`error_type`]) the header `x-amzn-ErrorType: <Code>`;
//! the SDK reads the code from either. Validation reproduced: cluster name, principal ARN
//! (an IAM user or role ARN, not an STS session), one entry per principal
//! (ResourceInUseException), type (STANDARD default; node types take no groups or
//! username), reserved prefixes (`system:`, `eks:`, `aws:`, `amazon:`, `iam:`) refused in
//! usernames and `system:` in group names, `maxResults` 1..=100, and a `clientRequestToken`
//! replayed with the same request returns the first answer.
//! Not reproduced: access policies (Associate/Disassociate/ListAccessPolicies), the
//! cluster's authentication-mode changes, tags API.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::arn::{default_access_entry_username, parse_arn};
use validate::{
    ENTRY_TYPES, check_groups, check_principal, check_username, opt_str, parse_body, string_list,
};

mod validate;

/// The clock for createdAt/modifiedAt.
pub type NowFn = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Kubernetes version DescribeCluster reports (the k8s-openapi feature the testbed uses).
pub const KUBERNETES_VERSION: &str = "1.33";
/// Account the ARNs use unless [`EksApi::with_account`] says otherwise (moto's default).
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

/// An EKS access entry, serialised as the API's `AccessEntry` shape (timestamps in epoch
/// seconds, as REST-JSON sends them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    pub cluster_name: String,
    pub principal_arn: String,
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
    #[serde(default)]
    pub access_entry_arn: String,
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub modified_at: f64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub username: String,
    #[serde(rename = "type", default = "standard")]
    pub entry_type: String,
}

fn standard() -> String {
    "STANDARD".into()
}

/// The code of an error body made here (`__type`), for the `x-amzn-ErrorType` header.
pub fn error_type(body: &Value) -> Option<&str> {
    body.get("__type").and_then(Value::as_str)
}

fn err(code: StatusCode, kind: &str, message: impl Into<String>) -> (StatusCode, Value) {
    (code, json!({"__type": kind, "message": message.into()}))
}

fn not_found(message: impl Into<String>, cluster: &str) -> (StatusCode, Value) {
    let (c, mut v) = err(StatusCode::NOT_FOUND, "ResourceNotFoundException", message);
    v["clusterName"] = json!(cluster);
    (c, v)
}

fn invalid(message: impl Into<String>, cluster: &str) -> (StatusCode, Value) {
    let (c, mut v) = err(
        StatusCode::BAD_REQUEST,
        "InvalidParameterException",
        message,
    );
    v["clusterName"] = json!(cluster);
    (c, v)
}

struct Inner {
    cluster_name: String,
    endpoint: String,
    ca_pem: String,
    region: String,
    account: String,
    created_at: f64,
    /// Keyed by principal ARN (listing order).
    entries: BTreeMap<String, AccessEntry>,
    /// clientRequestToken → (request body, answer) of CreateAccessEntry.
    idempotency: BTreeMap<String, (Value, (StatusCode, Value))>,
    counter: u64,
}

/// The EKS API of the testbed's one cluster.
pub struct EksApi {
    inner: Mutex<Inner>,
    now: NowFn,
    listener: Option<EntriesListener>,
}

/// Told every access entry after each successful change (the real control plane feeds them
/// to aws-iam-authenticator).
pub type EntriesListener = Arc<dyn Fn(&[AccessEntry]) + Send + Sync>;

fn epoch(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Milliseconds, as EKS reports them.
    (d.as_millis() as f64) / 1000.0
}

impl EksApi {
    pub fn new(cluster_name: &str, endpoint: &str, ca_pem: &str) -> Self {
        let now: NowFn = Arc::new(SystemTime::now);
        EksApi {
            inner: Mutex::new(Inner {
                cluster_name: cluster_name.into(),
                endpoint: endpoint.into(),
                ca_pem: ca_pem.into(),
                region: DEFAULT_REGION.into(),
                account: DEFAULT_ACCOUNT.into(),
                created_at: epoch(now()),
                entries: BTreeMap::new(),
                idempotency: BTreeMap::new(),
                counter: 0,
            }),
            now,
            listener: None,
        }
    }

    /// Calls `listener` with every access entry after each change that succeeded.
    pub fn with_listener(mut self, listener: EntriesListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Region and account used in the cluster and access-entry ARNs.
    pub fn with_account(self, region: &str, account: &str) -> Self {
        {
            let mut g = self.lock();
            g.region = region.into();
            g.account = account.into();
        }
        self
    }

    /// The clock for createdAt/modifiedAt (a fixed one in unit tests).
    pub fn with_clock(mut self, now: NowFn) -> Self {
        self.now = now;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn access_entries(&self) -> Vec<AccessEntry> {
        self.lock().entries.values().cloned().collect()
    }

    /// Handles `/clusters/...` as the real EKS API. See the module doc for the routes.
    pub fn handle(
        &self,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let answer = self.route(method, path_and_query, body);
        if let Some(listener) = &self.listener
            && *method != Method::GET
            && answer.0.is_success()
        {
            listener(&self.access_entries());
        }
        answer
    }

    fn route(&self, method: &Method, path_and_query: &str, body: &[u8]) -> (StatusCode, Value) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let mut g = self.lock();
        let now = epoch((self.now)());
        match (method, segs.as_slice()) {
            (&Method::GET, ["clusters"] | ["clusters", ""]) => {
                (StatusCode::OK, json!({"clusters": [g.cluster_name]}))
            }
            (_, ["clusters", name, rest @ ..]) => {
                if *name != g.cluster_name {
                    return not_found(format!("No cluster found for name: {name}."), name);
                }
                match (method, rest) {
                    (&Method::GET, []) => (StatusCode::OK, json!({"cluster": g.describe()})),
                    (&Method::GET, ["access-entries"]) => g.list(query),
                    (&Method::POST, ["access-entries"]) => g.create(body, now),
                    (m, ["access-entries", arn @ ..]) if !arn.is_empty() => {
                        // An unencoded ARN arrives split at its '/'.
                        let arn = arn.join("/");
                        match *m {
                            Method::GET => g.describe_entry(&arn),
                            Method::POST => g.update(&arn, body, now),
                            Method::DELETE => g.delete(&arn),
                            _ => unknown(method, path),
                        }
                    }
                    _ => unknown(method, path),
                }
            }
            _ => unknown(method, path),
        }
    }
}

fn unknown(method: &Method, path: &str) -> (StatusCode, Value) {
    err(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("no EKS operation for {method} {path} in the testbed"),
    )
}

impl Inner {
    fn cluster_arn(&self) -> String {
        format!(
            "arn:aws:eks:{}:{}:cluster/{}",
            self.region, self.account, self.cluster_name
        )
    }

    fn describe(&self) -> Value {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        json!({
            "name": self.cluster_name,
            "arn": self.cluster_arn(),
            "createdAt": self.created_at,
            "version": KUBERNETES_VERSION,
            "endpoint": self.endpoint,
            "roleArn": format!("arn:aws:iam::{}:role/eks-cluster-role", self.account),
            "resourcesVpcConfig": {
                "subnetIds": [], "securityGroupIds": [], "vpcId": "vpc-testbed",
                "endpointPublicAccess": true, "endpointPrivateAccess": false,
                "publicAccessCidrs": ["0.0.0.0/0"]
            },
            "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
            "logging": {"clusterLogging": []},
            "identity": {"oidc": {"issuer": format!("{}/oidc", self.endpoint)}},
            "status": "ACTIVE",
            "certificateAuthority": {"data": ca},
            "platformVersion": "eks.1",
            "tags": {},
            "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": true}
        })
    }

    fn entry_arn(&mut self, principal: &str) -> String {
        self.counter += 1;
        let kind_name = parse_arn(principal)
            .map(|a| {
                let (kind, name) = a.resource.split_once('/').unwrap_or((a.resource, ""));
                let name = name.rsplit('/').next().unwrap_or(name);
                format!("{kind}/{}/{name}", a.account)
            })
            .unwrap_or_default();
        format!(
            "arn:aws:eks:{}:{}:access-entry/{}/{kind_name}/{:08x}-0000-4000-8000-{:012x}",
            self.region, self.account, self.cluster_name, self.counter, self.counter
        )
    }

    fn find(&self, arn: &str) -> Option<&AccessEntry> {
        self.entries.get(arn)
    }

    fn entry_not_found(&self, arn: &str) -> (StatusCode, Value) {
        not_found(
            format!(
                "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'. ({arn})"
            ),
            &self.cluster_name,
        )
    }

    fn create(&mut self, body: &[u8], now: f64) -> (StatusCode, Value) {
        let cluster = self.cluster_name.clone();
        let req = match parse_body(body) {
            Ok(v) => v,
            Err(m) => return invalid(m, &cluster),
        };
        let token = req
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(t) = &token {
            let mut same = req.clone();
            if let Some((prev_req, answer)) = self.idempotency.get(t) {
                if let Some(o) = same.as_object_mut() {
                    o.remove("clientRequestToken");
                }
                return if *prev_req == same {
                    answer.clone()
                } else {
                    invalid(
                        format!(
                            "The clientRequestToken {t} was already used with a different request."
                        ),
                        &cluster,
                    )
                };
            }
        }
        let answer = self.create_inner(&req, now);
        if let Some(t) = token {
            let mut r = req;
            if let Some(o) = r.as_object_mut() {
                o.remove("clientRequestToken");
            }
            self.idempotency.insert(t, (r, answer.clone()));
        }
        answer
    }

    fn create_inner(&mut self, req: &Value, now: f64) -> (StatusCode, Value) {
        let cluster = self.cluster_name.clone();
        let fields = (|| {
            let principal = opt_str(req, "principalArn")?.unwrap_or("").to_string();
            let entry_type = opt_str(req, "type")?.unwrap_or("STANDARD").to_string();
            let username = opt_str(req, "username")?.map(str::to_string);
            let groups = string_list(req, "kubernetesGroups")?.unwrap_or_default();
            let tags: BTreeMap<String, String> = match req.get("tags") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(t) => serde_json::from_value(t.clone())
                    .map_err(|_| "tags must be a map of strings".to_string())?,
            };
            Ok::<_, String>((principal, entry_type, username, groups, tags))
        })();
        let (principal, entry_type, username, groups, tags) = match fields {
            Ok(f) => f,
            Err(m) => return invalid(m, &cluster),
        };
        if principal.is_empty() {
            return invalid("principalArn is required.", &cluster);
        }
        if !ENTRY_TYPES.contains(&entry_type.as_str()) {
            return invalid(
                format!(
                    "The type {entry_type} is invalid. Valid types: {}.",
                    ENTRY_TYPES.join(", ")
                ),
                &cluster,
            );
        }
        if let Err(m) = check_principal(&principal, &entry_type) {
            return invalid(m, &cluster);
        }
        if entry_type != "STANDARD" && (!groups.is_empty() || username.is_some()) {
            return invalid(
                format!(
                    "kubernetesGroups and username cannot be specified for access entries of type {entry_type}."
                ),
                &cluster,
            );
        }
        if let Some(u) = &username
            && let Err(m) = check_username(u)
        {
            return invalid(m, &cluster);
        }
        if let Err(m) = check_groups(&groups) {
            return invalid(m, &cluster);
        }
        if self.find(&principal).is_some() {
            let (c, mut v) = err(
                StatusCode::CONFLICT,
                "ResourceInUseException",
                "The specified access entry resource is already in use on this cluster.",
            );
            v["clusterName"] = json!(cluster);
            return (c, v);
        }
        let mut dedup: Vec<String> = Vec::new();
        for g in groups {
            if !dedup.contains(&g) {
                dedup.push(g);
            }
        }
        let entry = AccessEntry {
            cluster_name: cluster,
            access_entry_arn: self.entry_arn(&principal),
            username: username
                .unwrap_or_else(|| default_access_entry_username(&principal, &entry_type)),
            principal_arn: principal.clone(),
            kubernetes_groups: dedup,
            created_at: now,
            modified_at: now,
            tags,
            entry_type,
        };
        self.entries.insert(principal, entry.clone());
        (StatusCode::OK, json!({"accessEntry": entry}))
    }

    fn describe_entry(&self, arn: &str) -> (StatusCode, Value) {
        match self.find(arn) {
            Some(e) => (StatusCode::OK, json!({"accessEntry": e})),
            None => self.entry_not_found(arn),
        }
    }

    fn update(&mut self, arn: &str, body: &[u8], now: f64) -> (StatusCode, Value) {
        let cluster = self.cluster_name.clone();
        let req = match parse_body(body) {
            Ok(v) => v,
            Err(m) => return invalid(m, &cluster),
        };
        let fields = (|| {
            Ok::<_, String>((
                string_list(&req, "kubernetesGroups")?,
                opt_str(&req, "username")?.map(str::to_string),
            ))
        })();
        let (groups, username) = match fields {
            Ok(f) => f,
            Err(m) => return invalid(m, &cluster),
        };
        let Some(current) = self.find(arn).cloned() else {
            return self.entry_not_found(arn);
        };
        if current.entry_type != "STANDARD"
            && (groups.as_ref().is_some_and(|g| !g.is_empty()) || username.is_some())
        {
            return invalid(
                format!(
                    "kubernetesGroups and username cannot be specified for access entries of type {}.",
                    current.entry_type
                ),
                &cluster,
            );
        }
        if let Some(u) = &username
            && let Err(m) = check_username(u)
        {
            return invalid(m, &cluster);
        }
        if let Some(g) = &groups
            && let Err(m) = check_groups(g)
        {
            return invalid(m, &cluster);
        }
        let e = self.entries.get_mut(arn).expect("found above");
        if let Some(g) = groups {
            // The list replaces the previous one.
            let mut dedup: Vec<String> = Vec::new();
            for x in g {
                if !dedup.contains(&x) {
                    dedup.push(x);
                }
            }
            e.kubernetes_groups = dedup;
        }
        if let Some(u) = username {
            e.username = if u.is_empty() {
                default_access_entry_username(&e.principal_arn, &e.entry_type)
            } else {
                u
            };
        }
        e.modified_at = now;
        (StatusCode::OK, json!({"accessEntry": e}))
    }

    fn delete(&mut self, arn: &str) -> (StatusCode, Value) {
        match self.entries.remove(arn) {
            Some(_) => (StatusCode::OK, json!({})),
            None => self.entry_not_found(arn),
        }
    }

    fn list(&self, query: &str) -> (StatusCode, Value) {
        let cluster = &self.cluster_name;
        let mut max = 100usize;
        let mut next: Option<String> = None;
        for (k, v) in query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
        {
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            match k {
                "maxResults" => match v.parse::<usize>() {
                    Ok(n) if (1..=100).contains(&n) => max = n,
                    _ => {
                        return invalid(
                            format!("maxResults must be between 1 and 100, got {v:?}."),
                            cluster,
                        );
                    }
                },
                "nextToken" => next = Some(v),
                "associatedPolicyArn" => {
                    // Access policies are not modelled: no entry has one.
                    return (StatusCode::OK, json!({"accessEntries": []}));
                }
                _ => {}
            }
        }
        let start = match &next {
            None => None,
            Some(t) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(after) => Some(after),
                None => return invalid("The nextToken is invalid.", cluster),
            },
        };
        let mut page: Vec<&str> = self
            .entries
            .keys()
            .filter(|k| start.as_ref().is_none_or(|s| k.as_str() > s.as_str()))
            .map(String::as_str)
            .take(max + 1)
            .collect();
        let more = page.len() > max;
        page.truncate(max);
        let mut out = json!({"accessEntries": page});
        if more && let Some(last) = page.last() {
            out["nextToken"] =
                json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes()));
        }
        (StatusCode::OK, out)
    }
}

#[cfg(test)]
mod tests;
