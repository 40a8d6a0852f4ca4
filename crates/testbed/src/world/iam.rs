//! IAM, enforced: each function's execution role exactly as `infra/template.yaml` deploys it
//! (expanded offline by `scripts/sam-expand.py`), put into moto, and moto's IAM enforcement
//! turned on, so a call the role does not allow is refused as AWS would refuse it.
//!
//! What moto 5.2 checks (read from `moto/core/authorization.py` and `moto/iam/
//! access_control.py`; the README's `## Deploy` section says it for users):
//! - the SigV4 signature, and the Action of every identity-policy statement, explicit Deny
//!   first; for an assumed role, the role's inline and attached policies;
//! - the Resource only for SQS calls naming a QueueUrl (the queue's ARN; not GetQueueUrl,
//!   nor a queue that does not exist), IAM calls naming a RoleName and `sts:AssumeRole` (the
//!   role's ARN, and its trust policy). Every other call is authorized against `*`, which a
//!   statement naming ARNs never matches, so [`moto_view`] widens those actions to `*`:
//!   their ARNs are not checked here;
//! - no Condition of an identity policy (its keys are never given values, so each holds);
//! - the action under the SigV4 signing name, which differs from the IAM prefix for
//!   CloudWatch (`monitoring:`) and the tagging API (`tagging:`): [`moto_view`] renames them;
//! - no action a call implies (`iam:PassRole` at RunInstances, `ec2:CreateTags` of tags given
//!   at launch): those cannot be shown needed here;
//! - TransactWriteItems as one action, `dynamodb:TransactWriteItems`, where AWS authorizes
//!   each item's own action (ConditionCheckItem for a ConditionCheck, PutItem, UpdateItem,
//!   DeleteItem; AWS has no `dynamodb:TransactWriteItems`): [`moto_view`] grants it for
//!   `dynamodb:ConditionCheckItem`, which only a transaction needs, so the writes inside a
//!   transaction are not checked here.
//!
//! [`unnoticed`] withholds one action at a time (the IAM counterpart of [`super::grants`]).
use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::harness::{Error, Moto, Result, http_send, repo};

mod withhold;
pub use withhold::{LAMBDAS_OWN, describe, unnoticed, world_roles};

/// The account and region `sam-expand.py` resolves ARNs in: moto's.
const EXPAND_ARGS: [&str; 4] = [
    "--account",
    crate::harness::moto::ACCOUNT_ID,
    "--region",
    "us-east-1",
];

/// IAM prefix → the signing name moto names the action by.
const SIGNING_NAMES: [(&str, &str); 2] = [("cloudwatch:", "monitoring:"), ("tag:", "tagging:")];

/// IAM action → the action of the only call that needs it, as moto names that call.
const CALLS: [(&str, &str); 1] = [("dynamodb:ConditionCheckItem", "dynamodb:TransactWriteItems")];

/// Actions whose Resource moto compares with the resource's ARN: the SQS calls naming a
/// QueueUrl (GetQueueUrl names a QueueName, which moto does not look at, so it is authorized
/// against `*`), and AssumeRole.
fn resource_checked(action: &str) -> bool {
    (action.starts_with("sqs:") && action != "sqs:GetQueueUrl") || action == "sts:AssumeRole"
}

/// A role's name and its inline policies: [(policy name, document)].
pub type Role = (String, Vec<(String, Value)>);

/// The inline policies of every execution role the template deploys with `parameters`
/// (`NAME=VALUE`, e.g. `ClusterName=demo`).
pub fn template_roles(parameters: &[&str]) -> Result<Vec<Role>> {
    let out = std::process::Command::new("python3")
        .current_dir(repo(""))
        .arg("scripts/sam-expand.py")
        .args(EXPAND_ARGS)
        .args(parameters)
        .output()
        .map_err(|e| Error::new(format!("scripts/sam-expand.py: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "scripts/sam-expand.py: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let expanded: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::new(format!("scripts/sam-expand.py printed no JSON: {e}")))?;
    Ok(roles_of(&expanded))
}

/// The roles of an expanded template (pure part of [`template_roles`]).
pub fn roles_of(expanded: &Value) -> Vec<Role> {
    let resources = expanded["Resources"].as_object().into_iter().flatten();
    resources
        .filter(|(_, r)| r["Type"] == "AWS::IAM::Role")
        .filter_map(|(_, r)| {
            let props = &r["Properties"];
            let name = props["RoleName"].as_str()?.to_owned();
            let policies = props["Policies"].as_array().into_iter().flatten();
            let policies = policies
                .map(|p| {
                    let name = p["PolicyName"].as_str().unwrap_or_default().to_owned();
                    (name, p["PolicyDocument"].clone())
                })
                .collect();
            Some((name, policies))
        })
        .collect()
}

fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(s) => s.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

fn actions_of(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every action the policy allows, as the template names them, sorted.
pub fn actions(policy: &Value) -> Vec<String> {
    let all: BTreeSet<String> = statements(policy).iter().flat_map(actions_of).collect();
    all.into_iter().collect()
}

/// The policy without `action` in any statement (a statement left with none is dropped):
/// one grant withheld, as the RBAC experiments withhold one rule.
pub fn without(policy: &Value, action: &str) -> Value {
    let kept: Vec<Value> = statements(policy)
        .into_iter()
        .filter_map(|mut s| {
            let left: Vec<String> = actions_of(&s).into_iter().filter(|a| a != action).collect();
            if left.is_empty() {
                return None;
            }
            s["Action"] = json!(left);
            Some(s)
        })
        .collect();
    let mut out = policy.clone();
    out["Statement"] = json!(kept);
    out
}

/// `action` as moto names it in a refusal (`cloudwatch:X` → `monitoring:X`,
/// `dynamodb:ConditionCheckItem` → `dynamodb:TransactWriteItems`).
pub fn moto_action(action: &str) -> String {
    if let Some((_, call)) = CALLS.iter().find(|(iam, _)| *iam == action) {
        return (*call).to_owned();
    }
    SIGNING_NAMES
        .iter()
        .find_map(|(iam, signing)| {
            action
                .strip_prefix(iam)
                .map(|rest| format!("{signing}{rest}"))
        })
        .unwrap_or_else(|| action.to_owned())
}

/// The policy as moto can evaluate it: the same statements and actions (renamed to moto's
/// signing names), Conditions kept (moto ignores them), and Resource `*` where moto authorizes
/// against `*` (see the module's notes).
pub fn moto_view(policy: &Value) -> Value {
    // A statement mixing both kinds is split: its checked actions keep its Resource.
    let statements: Vec<Value> = statements(policy)
        .into_iter()
        .flat_map(|s| {
            let (checked, widened): (Vec<String>, Vec<String>) = actions_of(&s)
                .into_iter()
                .partition(|a| resource_checked(a));
            let split = !checked.is_empty();
            let part = |actions: Vec<String>, widen: bool| {
                let mut part = s.clone();
                part["Action"] = json!(actions.iter().map(|a| moto_action(a)).collect::<Vec<_>>());
                if widen {
                    part["Resource"] = json!("*");
                    // A policy's Sids are unique.
                    if let (true, Some(sid)) = (split, s["Sid"].as_str()) {
                        part["Sid"] = json!(format!("{sid}Widened"));
                    }
                }
                (!actions.is_empty()).then_some(part)
            };
            [part(checked, false), part(widened, true)]
        })
        .flatten()
        .collect();
    let mut out = policy.clone();
    out["Statement"] = json!(statements);
    out
}

/// Whether `text` (a function's error or log) is moto's refusal of `action`. The text is
/// read with its line breaks and box-drawing margins folded to single spaces: cargo-lambda
/// wraps an invocation's error message to the terminal's width.
pub fn refused(text: &str, action: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ").contains(&format!(
        "is not authorized to perform: {}",
        moto_action(action)
    ))
}

const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Puts each role in moto (created if missing) with exactly [`moto_view`] of its policies,
/// creates an administrator for the test's own calls, then turns moto's IAM enforcement on.
/// Returns the administrator's SdkConfig: the set-up credentials mean nothing to moto from
/// then on. Call it before anything runs that the test expects to be checked.
pub async fn enforce(moto: &Moto, roles: &[Role]) -> Result<SdkConfig> {
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
    let fail = |what: &str, e: &dyn std::fmt::Debug| Error::new(format!("IAM {what}: {e:?}"));
    for (role, policies) in roles {
        let _ = iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(LAMBDA_TRUST)
            .send()
            .await;
        for (name, document) in policies {
            put_policy(&iam, role, name, document).await?;
        }
    }
    let admin = "testbed-admin";
    iam.create_user()
        .user_name(admin)
        .send()
        .await
        .map_err(|e| fail("CreateUser", &e))?;
    let everything = json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    iam.put_user_policy()
        .user_name(admin)
        .policy_name("admin")
        .policy_document(everything.to_string())
        .send()
        .await
        .map_err(|e| fail("PutUserPolicy", &e))?;
    let key = iam
        .create_access_key()
        .user_name(admin)
        .send()
        .await
        .map_err(|e| fail("CreateAccessKey", &e))?;
    let key = key
        .access_key()
        .ok_or_else(|| Error::new("CreateAccessKey: no key"))?;
    let url = format!("{}/moto-api/reset-auth", moto.endpoint());
    let (status, body) = http_send("POST", &url, &[], b"0")?;
    if status != 200 {
        return Err(Error::new(format!("POST {url}: {status} {body}")));
    }
    let credentials = Credentials::new(
        key.access_key_id(),
        key.secret_access_key(),
        None,
        None,
        "testbed-admin",
    );
    Ok(moto.sdk_config_for(&credentials).await)
}

const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Role `name`, trusted by EC2, in an instance profile of the same name: what a function
/// launching instances passes them (moto's RunInstances refuses a profile that does not
/// exist).
pub async fn instance_profile(aws: &SdkConfig, name: &str) -> Result<()> {
    let iam = aws_sdk_iam::Client::new(aws);
    let fail = |what: &str, e: &dyn std::fmt::Debug| Error::new(format!("IAM {what}: {e:?}"));
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(EC2_TRUST)
        .send()
        .await
        .map_err(|e| fail("CreateRole", &e))?;
    iam.create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| fail("CreateInstanceProfile", &e))?;
    iam.add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(name)
        .send()
        .await
        .map_err(|e| fail("AddRoleToInstanceProfile", &e))?;
    Ok(())
}

/// Replaces inline policy `name` of `role` with [`moto_view`] of `document` (as the
/// administrator, once enforcing): the next call of the role's holders is judged by it.
pub async fn put_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    name: &str,
    document: &Value,
) -> Result<()> {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(moto_view(document).to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::new(format!("PutRolePolicy {role}/{name}: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms", "tag:GetResources"],
             "Resource": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"},
            {"Sid": "Q", "Effect": "Allow", "Action": ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
             "Resource": "arn:aws:sqs:us-east-1:123456789012:*"},
            {"Sid": "P", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "arn:t1"},
            {"Sid": "L", "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "arn:t2"}]})
    }

    #[test]
    fn moto_sees_signing_names_and_arns_only_where_it_checks_them() {
        let view = moto_view(&policy());
        let s = view["Statement"].as_array().unwrap();
        assert_eq!(
            s[0]["Action"],
            json!(["monitoring:DescribeAlarms", "tagging:GetResources"])
        );
        assert_eq!(s[0]["Resource"], "*");
        // GetQueueUrl is split off the queue-scoped statement, widened.
        assert_eq!(s[1]["Action"], json!(["sqs:GetQueueAttributes"]));
        assert_eq!(s[1]["Resource"], "arn:aws:sqs:us-east-1:123456789012:*");
        assert_eq!(s[2]["Action"], json!(["sqs:GetQueueUrl"]));
        assert_eq!(s[2]["Resource"], "*");
        assert_eq!(s[2]["Sid"], "QWidened");
        assert_eq!(s[3]["Resource"], "*");
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn a_condition_check_is_granted_as_the_transaction_moto_checks() {
        let p = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["dynamodb:ConditionCheckItem", "dynamodb:PutItem"], "Resource": "arn:t"}]});
        assert_eq!(
            moto_view(&p)["Statement"][0]["Action"],
            json!(["dynamodb:TransactWriteItems", "dynamodb:PutItem"])
        );
        assert!(refused(
            "User: x is not authorized to perform: dynamodb:TransactWriteItems",
            "dynamodb:ConditionCheckItem"
        ));
        assert!(!refused(
            "User: x is not authorized to perform: dynamodb:TransactWriteItems",
            "dynamodb:DeleteItem"
        ));
        assert!(
            refused(
                "AccessDenied: User:\n      │ arn:aws:sts::1:assumed-role/a/a is not\n      │ authorized to perform: tagging:GetResources",
                "tag:GetResources"
            ),
            "a wrapped refusal is a refusal"
        );
    }

    #[test]
    fn withholding_an_action_removes_it_from_every_statement() {
        let p = without(&policy(), "dynamodb:PutItem");
        assert_eq!(
            actions(&p),
            [
                "cloudwatch:DescribeAlarms",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "tag:GetResources"
            ]
        );
        assert_eq!(actions(&policy()).len(), 5);
        assert!(refused(
            "User: x is not authorized to perform: monitoring:DescribeAlarms",
            "cloudwatch:DescribeAlarms"
        ));
        assert!(!refused("AccessDenied", "cloudwatch:DescribeAlarms"));
    }
}
