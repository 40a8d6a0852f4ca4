//! From the ARN STS answered with to a Kubernetes user, as an EKS cluster maps it.
//!
//! 1. Canonicalisation (aws-iam-authenticator `pkg/arn.Canonicalize`):
//!    `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` → `arn:aws:iam::ACCT:role/ROLE`; IAM
//!    users, roles and root stay as they are; `sts` federated users stay as they are. The
//!    session name comes from STS's `UserId` (`AROA…:SESSION`).
//! 2. Mapping, first match wins:
//!    - EKS access entries ([`AccessEntry`], served by [`super::eks_api`]): `principalArn`
//!      equal (ignoring case) to the canonical ARN. Username: the entry's (EKS fills the
//!      default at creation: `arn:<p>:sts::ACCT:assumed-role/ROLE/{{SessionName}}` for a role,
//!      the user ARN for a user), groups: `kubernetesGroups`.
//!    - `aws-auth` `mapRoles` (`rolearn`), then `mapUsers` (`userarn`), both compared ignoring
//!      case, the last of several equal entries winning (the real mapper keys a map by ARN);
//!      then `mapAccounts` (username = canonical ARN, no groups). The YAML keys are matched
//!      ignoring case, as Go's `encoding/json` does after `yaml.ToJSON`.
//!    - Templates in usernames and groups: `{{AccountID}}`, `{{SessionName}}` (`@` → `-`),
//!      `{{SessionNameRaw}}`, `{{AccessKeyID}}`. `{{EC2PrivateDNSName}}` needs an EC2 lookup
//!      the testbed does not make: such a mapping fails authentication, saying so.
//!    - Nothing matched → `ARN is not mapped`. `system:authenticated` is added to the groups.
//!
//! Role ARNs with a path (`arn:aws:iam::ACCT:role/team/dev/ROLE`): an assumed-role ARN never
//! carries the path, so the canonical ARN is `…:role/ROLE`.
//! - `aws-auth`: the open-source configmap mapper compares the canonical ARN with `rolearn`
//!   as written, so a `rolearn` *with* a path never matches; the EKS user guide says the same
//!   ("the role ARN can't include a path"). The testbed reproduces that (the entry is
//!   skipped) so that tooling writing aws-auth is tested against the real pitfall.
//! - Access entries: EKS takes the role's real ARN, path included, and matches it; the
//!   authenticator's EKS mapper does it by stripping the path from the mapping ARN
//!   (`arn.StripPath`, `role/team/dev/ROLE` → `role/ROLE`). The testbed does the same.
use serde_json::Value;

use super::authn::UserInfo;
pub use super::eks_api::AccessEntry;

/// What identity mapping reads on each request.
#[derive(Clone, Debug, Default)]
pub struct IdentitySources {
    /// The `kube-system/aws-auth` ConfigMap object, if any.
    pub aws_auth: Option<Value>,
    pub access_entries: Vec<AccessEntry>,
}

/// Kinds of principal STS can answer with (aws-iam-authenticator's `arn.PrincipalType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalType {
    Role,
    User,
    Root,
    FederatedUser,
    AssumedRole,
}

/// Partitions the authenticator recognises.
pub const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// The six sections of an ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// aws-sdk-go-v2's `arn.Parse`.
pub fn parse_arn(arn: &str) -> Result<Arn<'_>, String> {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return Err(format!("arn '{arn}' is invalid: 'arn: invalid prefix'"));
    };
    let s: Vec<&str> = rest.splitn(5, ':').collect();
    if s.len() != 5 {
        return Err(format!(
            "arn '{arn}' is invalid: 'arn: not enough sections'"
        ));
    }
    Ok(Arn {
        partition: s[0],
        service: s[1],
        region: s[2],
        account: s[3],
        resource: s[4],
    })
}

/// aws-iam-authenticator's `arn.Canonicalize`: (type, canonical ARN).
pub fn canonicalize(arn: &str) -> Result<(PrincipalType, String), String> {
    let a = parse_arn(arn)?;
    if !PARTITIONS.contains(&a.partition) {
        return Err(format!("arn '{arn}' does not have a recognized partition"));
    }
    let parts: Vec<&str> = a.resource.split('/').collect();
    match (a.service, parts[0]) {
        ("sts", "federated-user") => Ok((PrincipalType::FederatedUser, arn.to_string())),
        ("sts", "assumed-role") => {
            if parts.len() < 3 {
                return Err(format!("assumed-role arn '{arn}' does not have a role"));
            }
            let role = parts[1..parts.len() - 1].join("/");
            Ok((
                PrincipalType::AssumedRole,
                format!("arn:{}:iam::{}:role/{role}", a.partition, a.account),
            ))
        }
        ("sts", _) => Err(format!(
            "unrecognized resource {} for service sts",
            a.resource
        )),
        ("iam", "role") => Ok((PrincipalType::Role, arn.to_string())),
        ("iam", "user") => Ok((PrincipalType::User, arn.to_string())),
        ("iam", "root") => Ok((PrincipalType::Root, arn.to_string())),
        ("iam", _) => Err(format!(
            "unrecognized resource {} for service iam",
            a.resource
        )),
        (svc, _) => Err(format!(
            "service {svc} in arn {arn} is not a valid service for identities"
        )),
    }
}

/// aws-iam-authenticator's `arn.StripPath`: `…:role/a/b/NAME` → `…:role/NAME`; anything
/// else unchanged.
pub fn strip_path(arn: &str) -> String {
    let Ok(a) = parse_arn(arn) else {
        return arn.to_string();
    };
    let parts: Vec<&str> = a.resource.split('/').collect();
    if parts[0] == "role" && parts.len() > 2 {
        format!(
            "arn:{}:iam::{}:role/{}",
            a.partition,
            a.account,
            parts[parts.len() - 1]
        )
    } else {
        arn.to_string()
    }
}

/// Who the token belongs to, as STS said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    /// As STS answered (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`).
    pub arn: String,
    /// What mappings are matched against (`arn:aws:iam::ACCT:role/ROLE`).
    pub canonical_arn: String,
    pub principal_type: PrincipalType,
    pub account_id: String,
    /// STS `UserId` without the session part for roles (`AROA…`), whole otherwise.
    pub user_id: String,
    /// Session of an assumed role ("" otherwise).
    pub session_name: String,
    /// From the token's `X-Amz-Credential`.
    pub access_key_id: String,
}

impl CallerIdentity {
    /// From STS's `{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn","UserId","Account"}}}`.
    pub fn from_sts_json(body: &[u8], access_key_id: &str) -> Result<CallerIdentity, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(200).collect();
            format!("response is not JSON ({e}): {excerpt}")
        })?;
        let r = &v["GetCallerIdentityResponse"]["GetCallerIdentityResult"];
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        Self::from_parts(&s("Arn"), &s("Account"), &s("UserId"), access_key_id)
    }

    /// aws-iam-authenticator's `getIdentityFromSTSResponse`.
    pub fn from_parts(
        arn: &str,
        account: &str,
        user_id: &str,
        access_key_id: &str,
    ) -> Result<CallerIdentity, String> {
        let (principal_type, canonical_arn) = canonicalize(arn)?;
        let account_id = if account.is_empty() {
            parse_arn(arn)
                .map(|a| a.account.to_string())
                .unwrap_or_default()
        } else {
            account.to_string()
        };
        let (user_id, session_name) = match principal_type {
            PrincipalType::User | PrincipalType::Root | PrincipalType::FederatedUser => {
                (user_id.to_string(), String::new())
            }
            PrincipalType::Role | PrincipalType::AssumedRole => {
                let parts: Vec<&str> = user_id.split(':').collect();
                match parts.as_slice() {
                    [id, session] => (id.to_string(), session.to_string()),
                    // Lenient where the real code refuses ("malformed UserID"): the session
                    // is also the ARN's last segment.
                    _ if principal_type == PrincipalType::AssumedRole => (
                        user_id.to_string(),
                        arn.rsplit('/').next().unwrap_or("").to_string(),
                    ),
                    _ => return Err(format!("malformed UserID {user_id:?}")),
                }
            }
        };
        Ok(CallerIdentity {
            arn: arn.to_string(),
            canonical_arn,
            principal_type,
            account_id,
            user_id,
            session_name,
            access_key_id: access_key_id.to_string(),
        })
    }
}

/// One `mapRoles` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleMapping {
    pub rolearn: String,
    pub username: String,
    pub groups: Vec<String>,
}

/// One `mapUsers` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMapping {
    pub userarn: String,
    pub username: String,
    pub groups: Vec<String>,
}

/// The parsed `aws-auth` ConfigMap. Bad entries are skipped and reported in `errors`, as
/// the real mapper keeps the good ones.
#[derive(Clone, Debug, Default)]
pub struct AwsAuth {
    pub map_roles: Vec<RoleMapping>,
    pub map_users: Vec<UserMapping>,
    pub map_accounts: Vec<String>,
    pub errors: Vec<String>,
}

fn skippable(data: &str) -> bool {
    matches!(data.trim(), "" | "``" | "\"\"" | "''")
}

/// A field of a mapping entry, the key matched ignoring case.
fn field<'a>(entry: &'a Value, key: &str) -> Option<&'a Value> {
    entry
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn string_field(entry: &Value, key: &str) -> Result<String, String> {
    match field(entry, key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{key}: expected a string, got {other}")),
    }
}

fn groups_field(entry: &Value) -> Result<Vec<String>, String> {
    match field(entry, "groups") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| {
                g.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("groups: expected strings, got {g}"))
            })
            .collect(),
        Some(other) => Err(format!("groups: expected a list, got {other}")),
    }
}

fn yaml_list(data: &str, what: &str, errors: &mut Vec<String>) -> Vec<Value> {
    if skippable(data) {
        return Vec::new();
    }
    match serde_saphyr::from_str::<Value>(data) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Null) => Vec::new(),
        Ok(other) => {
            errors.push(format!("{what}: expected a YAML list, got {other}"));
            Vec::new()
        }
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            Vec::new()
        }
    }
}

/// Parses the ConfigMap's `data.mapRoles`, `data.mapUsers` and `data.mapAccounts`.
pub fn parse_aws_auth(configmap: &Value) -> AwsAuth {
    let mut out = AwsAuth::default();
    let data = &configmap["data"];
    let text = |k: &str| data[k].as_str().unwrap_or("").to_string();
    for (i, e) in yaml_list(&text("mapRoles"), "mapRoles", &mut out.errors)
        .iter()
        .enumerate()
    {
        let parsed = (|| {
            let rolearn = string_field(e, "rolearn")?;
            if rolearn.is_empty() {
                return Err(if field(e, "sso").is_some() {
                    "sso role mappings are not supported by the testbed".to_string()
                } else {
                    "one of rolearn or SSO must be supplied".to_string()
                });
            }
            Ok(RoleMapping {
                rolearn,
                username: string_field(e, "username")?,
                groups: groups_field(e)?,
            })
        })();
        match parsed {
            Ok(m) => out.map_roles.push(m),
            Err(err) => out.errors.push(format!("mapRoles[{i}]: {err}")),
        }
    }
    for (i, e) in yaml_list(&text("mapUsers"), "mapUsers", &mut out.errors)
        .iter()
        .enumerate()
    {
        let parsed = (|| {
            let userarn = string_field(e, "userarn")?;
            if userarn.is_empty() {
                return Err("value for userarn must be supplied".to_string());
            }
            Ok(UserMapping {
                userarn,
                username: string_field(e, "username")?,
                groups: groups_field(e)?,
            })
        })();
        match parsed {
            Ok(m) => out.map_users.push(m),
            Err(err) => out.errors.push(format!("mapUsers[{i}]: {err}")),
        }
    }
    for a in yaml_list(&text("mapAccounts"), "mapAccounts", &mut out.errors) {
        match a {
            Value::String(s) => out.map_accounts.push(s),
            Value::Number(n) => out.map_accounts.push(n.to_string()),
            other => out
                .errors
                .push(format!("mapAccounts: expected account ids, got {other}")),
        }
    }
    out
}

/// Where a mapping came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingSource {
    /// The access entry's principalArn.
    AccessEntry(String),
    MapRoles(String),
    MapUsers(String),
    MapAccounts(String),
}

/// A mapping before its templates are rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub username: String,
    pub groups: Vec<String>,
    pub source: MappingSource,
}

fn is_role_arn(arn: &str) -> bool {
    parse_arn(arn).is_ok_and(|a| a.service == "iam" && a.resource.starts_with("role/"))
}

/// The username EKS gives an access entry created without one.
pub fn default_access_entry_username(principal_arn: &str, entry_type: &str) -> String {
    match entry_type {
        "EC2_LINUX" | "EC2_WINDOWS" | "EC2" | "HYBRID_LINUX" => {
            "system:node:{{EC2PrivateDNSName}}".into()
        }
        "FARGATE_LINUX" => "system:node:{{SessionName}}".into(),
        _ => match parse_arn(principal_arn) {
            Ok(a) if is_role_arn(principal_arn) => {
                let name = a.resource.rsplit('/').next().unwrap_or("");
                format!(
                    "arn:{}:sts::{}:assumed-role/{name}/{{{{SessionName}}}}",
                    a.partition, a.account
                )
            }
            _ => principal_arn.to_string(),
        },
    }
}

/// Groups an access entry of a node type implies (EKS sets them; kubernetesGroups must be
/// empty for those types).
fn implied_groups(entry_type: &str) -> &'static [&'static str] {
    match entry_type {
        "EC2_LINUX" | "EC2_WINDOWS" | "EC2" | "HYBRID_LINUX" => &["system:nodes"],
        "FARGATE_LINUX" => &["system:nodes", "system:node-proxier"],
        _ => &[],
    }
}

/// Does an access entry's principal ARN designate this canonical ARN?
pub fn access_entry_matches(principal_arn: &str, canonical_arn: &str) -> bool {
    let principal = if is_role_arn(principal_arn) {
        strip_path(principal_arn)
    } else {
        principal_arn.to_string()
    };
    principal.eq_ignore_ascii_case(canonical_arn)
}

/// The first mapping that applies, in EKS's order; `None` if the ARN is not mapped.
pub fn find_mapping(id: &CallerIdentity, sources: &IdentitySources) -> Option<Mapping> {
    if let Some(e) = sources
        .access_entries
        .iter()
        .find(|e| access_entry_matches(&e.principal_arn, &id.canonical_arn))
    {
        let username = if e.username.is_empty() {
            default_access_entry_username(&e.principal_arn, &e.entry_type)
        } else {
            e.username.clone()
        };
        let mut groups: Vec<String> = implied_groups(&e.entry_type)
            .iter()
            .map(|g| g.to_string())
            .collect();
        groups.extend(e.kubernetes_groups.iter().cloned());
        return Some(Mapping {
            username,
            groups,
            source: MappingSource::AccessEntry(e.principal_arn.clone()),
        });
    }
    let cm = sources.aws_auth.as_ref()?;
    let auth = parse_aws_auth(cm);
    let canonical = &id.canonical_arn;
    if let Some(m) = auth
        .map_roles
        .iter()
        .rev()
        .find(|m| m.rolearn.eq_ignore_ascii_case(canonical))
    {
        return Some(Mapping {
            username: m.username.clone(),
            groups: m.groups.clone(),
            source: MappingSource::MapRoles(m.rolearn.clone()),
        });
    }
    if let Some(m) = auth
        .map_users
        .iter()
        .rev()
        .find(|m| m.userarn.eq_ignore_ascii_case(canonical))
    {
        return Some(Mapping {
            username: m.username.clone(),
            groups: m.groups.clone(),
            source: MappingSource::MapUsers(m.userarn.clone()),
        });
    }
    if auth.map_accounts.contains(&id.account_id) {
        return Some(Mapping {
            username: canonical.clone(),
            groups: Vec::new(),
            source: MappingSource::MapAccounts(id.account_id.clone()),
        });
    }
    None
}

/// The authenticator's `renderTemplate`.
pub fn render_template(template: &str, id: &CallerIdentity) -> Result<String, String> {
    if template.contains("{{EC2PrivateDNSName}}") {
        return Err(format!(
            "template {template:?} uses {{{{EC2PrivateDNSName}}}}, which needs an EC2 lookup the testbed does not make"
        ));
    }
    Ok(template
        .replace("{{AccountID}}", &id.account_id)
        .replace("{{SessionName}}", &id.session_name.replace('@', "-"))
        .replace("{{SessionNameRaw}}", &id.session_name)
        .replace("{{AccessKeyID}}", &id.access_key_id))
}

/// Maps a caller to the Kubernetes user; `Err` is the 401 message.
pub fn map_identity(id: &CallerIdentity, sources: &IdentitySources) -> Result<UserInfo, String> {
    let Some(m) = find_mapping(id, sources) else {
        return Err(format!(
            "ARN is not mapped: {} (from {}): no EKS access entry, no aws-auth mapRoles/mapUsers entry and account not in mapAccounts",
            id.canonical_arn, id.arn
        ));
    };
    let username = render_template(&m.username, id)
        .map_err(|e| format!("mapping of {} failed: {e}", id.canonical_arn))?;
    if username.is_empty() {
        return Err(format!(
            "ARN {} is mapped ({:?}) with an empty username",
            id.canonical_arn, m.source
        ));
    }
    let mut groups = Vec::with_capacity(m.groups.len() + 1);
    for g in &m.groups {
        let g = render_template(g, id)
            .map_err(|e| format!("mapping of {} failed: {e}", id.canonical_arn))?;
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    Ok(UserInfo {
        username,
        uid: format!("aws-iam-authenticator:{}:{}", id.account_id, id.user_id),
        groups,
        extra_arn: Some(id.arn.clone()),
    })
}

#[cfg(test)]
mod tests;
