//! One owner per function, pure: of the LambdaConcurrencyScalers naming one function, the
//! oldest (creationTimestamp, then namespace/name) scales it and the others are refused
//! (`k8s_ops::owner`'s rule: the target is the function, a cluster-wide "LambdaFunction"; no
//! HPA can control one). A function named by ARN and by name is the same function.
use std::collections::HashMap;

use k8s_ops::crd::lambda_concurrency::LambdaConcurrencyScaler;
use k8s_ops::owner::{Controller, Target, refusal, rival};
use sqs_depth::pass;

pub const KIND: &str = "LambdaConcurrencyScaler";

/// Each refused scaler (`namespace/name`) with why: the shared refusal message, naming the
/// scaler that owns its function.
pub fn refused(scalers: &[LambdaConcurrencyScaler]) -> HashMap<String, String> {
    let controllers: Vec<Controller> = scalers.iter().map(controller).collect();
    controllers
        .iter()
        .filter_map(|me| rival(me, &controllers).map(|r| (me.name.clone(), refusal(me, r).1)))
        .collect()
}

/// A scaler as a controller of its function. Its name is `namespace/name`: every target is
/// in the same (empty) namespace, so the name must tell two namespaces' scalers apart.
fn controller(scaler: &LambdaConcurrencyScaler) -> Controller {
    Controller {
        kind: KIND.into(),
        name: pass::name(scaler),
        created: scaler.metadata.creation_timestamp.as_ref().map(|t| t.0),
        target: Target::new(
            "",
            "lambda.amazonaws.com/v1",
            "LambdaFunction",
            function_name(&scaler.spec.aws_lambda_name),
        ),
    }
}

/// The function's name, whether given as a name or an (unqualified, qualified or partial)
/// ARN: `arn:aws:lambda:us-east-1:123456789012:function:f:live` → `f`.
pub fn function_name(given: &str) -> &str {
    let given = given.trim();
    match given.split_once("function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => given,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn scaler(
        namespace: &str,
        name: &str,
        created: &str,
        function: &str,
    ) -> LambdaConcurrencyScaler {
        let spec = serde_json::from_value(serde_json::json!({
            "awsSQSName": "q", "awsSQSMsgCountThreshold": 10, "awsLambdaName": function,
            "awsLambdaMinConcurrency": 1, "awsLambdaMaxConcurrency": 9, "awsLambdaStepConcurrency": 1
        }))
        .unwrap();
        let mut s = LambdaConcurrencyScaler::new(name, spec);
        s.metadata.namespace = Some(namespace.into());
        s.metadata.creation_timestamp = Some(Time(created.parse().unwrap()));
        s
    }

    #[test]
    fn the_oldest_owns_then_namespace_and_name_decide() {
        const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders";
        let scalers = [
            scaler("b", "newer", "2026-01-02T00:00:00Z", "orders"),
            scaler("b", "oldest", "2026-01-01T00:00:00Z", ARN),
            scaler("a", "newer", "2026-01-02T00:00:00Z", "orders"),
            scaler("a", "alone", "2025-01-01T00:00:00Z", "billing"),
            // Same second as b/oldest: a/ sorts first, so a/tie owns "tied", b/tie does not.
            scaler("b", "tie", "2026-01-01T00:00:00Z", "tied"),
            scaler("a", "tie", "2026-01-01T00:00:00Z", "tied"),
        ];
        let refused = refused(&scalers);
        let mut got: Vec<(&str, &str)> = refused
            .iter()
            .map(|(me, why)| (me.as_str(), why.as_str()))
            .collect();
        got.sort();
        let owned = |function: &str, owner: &str| {
            format!(
                "LambdaFunction {function} is already scaled by LambdaConcurrencyScaler {owner}; \
                 this LambdaConcurrencyScaler writes nothing while it does"
            )
        };
        let (orders, tied) = (owned("orders", "b/oldest"), owned("tied", "a/tie"));
        assert_eq!(
            got,
            [
                ("a/newer", orders.as_str()),
                ("b/newer", orders.as_str()),
                ("b/tie", tied.as_str())
            ]
        );
    }

    #[test]
    fn a_function_is_named_by_name_or_any_arn() {
        for given in [
            "f",
            " f ",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:live",
            "123456789012:function:f",
        ] {
            assert_eq!(function_name(given), "f", "{given}");
        }
    }
}
