//! Request checks of the EKS API stand-in, with EKS's messages.
use serde_json::{Value, json};

use crate::harness::cluster::arn::{PARTITIONS, parse_arn};

pub(super) const ENTRY_TYPES: [&str; 7] = [
    "STANDARD",
    "EC2_LINUX",
    "EC2_WINDOWS",
    "FARGATE_LINUX",
    "EC2",
    "HYBRID_LINUX",
    "HYPERPOD_LINUX",
];
const RESERVED_PREFIXES: [&str; 5] = ["system:", "eks:", "aws:", "amazon:", "iam:"];

/// Checks a principal ARN for an access entry: an IAM user or role.
pub(super) fn check_principal(arn: &str, entry_type: &str) -> Result<(), String> {
    let a = parse_arn(arn).map_err(|_| format!("The principalArn {arn} is not a valid ARN."))?;
    let ok_partition = PARTITIONS.contains(&a.partition);
    let is_role = a.service == "iam" && a.resource.starts_with("role/") && a.resource.len() > 5;
    let is_user = a.service == "iam" && a.resource.starts_with("user/") && a.resource.len() > 5;
    if !ok_partition
        || a.account.len() != 12
        || !a.account.bytes().all(|c| c.is_ascii_digit())
        || !(is_role || is_user)
    {
        return Err(format!(
            "The principalArn {arn} is not a valid IAM user or role ARN (STS session ARNs cannot be used for access entries)."
        ));
    }
    if entry_type != "STANDARD" && !is_role {
        return Err(format!(
            "Access entries of type {entry_type} must have an IAM role as principalArn."
        ));
    }
    Ok(())
}

pub(super) fn check_username(username: &str) -> Result<(), String> {
    match RESERVED_PREFIXES.iter().find(|p| username.starts_with(*p)) {
        Some(p) => Err(format!(
            "The username {username} is invalid, it cannot start with {p}"
        )),
        None => Ok(()),
    }
}

pub(super) fn check_groups(groups: &[String]) -> Result<(), String> {
    for g in groups {
        if g.starts_with("system:") {
            return Err(format!(
                "The kubernetes group name {g} is invalid, it cannot start with system:"
            ));
        }
        if g.is_empty() {
            return Err("Kubernetes group names cannot be empty.".into());
        }
    }
    Ok(())
}

pub(super) fn string_list(v: &Value, key: &str) -> Result<Option<Vec<String>>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{key} must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{key} must be a list of strings")),
    }
}

pub(super) fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

pub(super) fn parse_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("The request body must be a JSON object.".into()),
        Err(e) => Err(format!("The request body is not valid JSON: {e}")),
    }
}
