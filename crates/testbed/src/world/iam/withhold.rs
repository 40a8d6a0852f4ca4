//! Each action of a role withheld in turn, the IAM counterpart of the RBAC minimality
//! experiments: what the demo's functions and node-autoscaler (its own k3s world) share.
use aws_config::SdkConfig;

use super::{Role, actions, put_policy, refused, template_roles, without};
use crate::harness::Result;
use crate::world::CLUSTER;

/// The template's execution roles for the worlds' cluster ([`CLUSTER`]); the API server and
/// CA parameters are placeholders, as no role depends on them.
pub fn world_roles() -> Result<Vec<Role>> {
    template_roles(&[
        &format!("ClusterName={CLUSTER}"),
        "ApiServer=https://127.0.0.1",
        "CertAuthority=Cg==",
    ])
}

/// Actions of an execution role that Lambda uses for the function, not the function itself,
/// so no local flow makes them (each is still in the template), and why.
pub const LAMBDAS_OWN: [(&str, &str); 5] = [
    (
        "logs:CreateLogStream",
        "Lambda's log agent writes the function's output, not the function",
    ),
    (
        "logs:PutLogEvents",
        "Lambda's log agent writes the function's output, not the function",
    ),
    (
        "xray:PutTraceSegments",
        "the X-Ray daemon Lambda runs beside the function sends them",
    ),
    (
        "xray:PutTelemetryRecords",
        "the X-Ray daemon Lambda runs beside the function sends them",
    ),
    (
        "sqs:SendMessage",
        "Lambda sends a failed asynchronous event to the on-failure queue",
    ),
];

/// Withholds each action of `role` but those in `skip`, one at a time (PutRolePolicy as
/// `admin`, the administrator [`super::enforce`] returned, in the same moto), and runs `flows`
/// once per action, the policy put back after each. `flows` returns what the run answered,
/// failed with and logged; the result is `(action, that text)` for every action whose
/// withholding it did not show refused by moto (see [`refused`]): empty when each is needed.
pub async fn unnoticed(
    admin: &SdkConfig,
    (role, policies): &Role,
    skip: &[&str],
    mut flows: impl AsyncFnMut() -> String,
) -> Result<Vec<(String, String)>> {
    let admin = aws_sdk_iam::Client::new(admin);
    let mut unnoticed = Vec::new();
    for (name, document) in policies {
        for action in actions(document) {
            if skip.contains(&action.as_str()) {
                continue;
            }
            put_policy(&admin, role, name, &without(document, &action)).await?;
            let out = flows().await;
            put_policy(&admin, role, name, document).await?;
            if !refused(&out, &action) {
                unnoticed.push((action, out));
            }
        }
    }
    Ok(unnoticed)
}

/// `unnoticed` as one text per action, for an assertion's message.
pub fn describe(unnoticed: &[(String, String)]) -> String {
    unnoticed
        .iter()
        .map(|(action, out)| format!("{action}:\n{out}"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}
