//! A KEDA ScaledObject with one `aws-sqs-queue` trigger, and the TriggerAuthentication it
//! names, converted into the spec an SqsQueueScaler has, so that both kinds have one policy
//! ([`Policy`]). Pure: the values as KEDA reads them (metadata strings, its defaults, its
//! checks), and one error naming the field for anything queue-scaler cannot do as KEDA would.
use jiff::SignedDuration;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;
use k8s_ops::behavior::Behavior;
use k8s_ops::crd::keda::{ScaleTrigger, ScaledObject, TriggerAuthentication};
use k8s_ops::crd::sqs_queue::{Fallback, ScaleTargetRef, SqsQueueScalerSpec};
use kube::ResourceExt;

use crate::decide::Policy;

/// The one trigger type queue-scaler reads.
pub const SQS_TRIGGER: &str = "aws-sqs-queue";

/// KEDA's defaults (ScaledObject spec and aws-sqs-queue metadata).
const DEFAULT_QUEUE_LENGTH: i64 = 5;
const DEFAULT_MAX_REPLICAS: i32 = 100;
const DEFAULT_COOLDOWN: i32 = 300;

/// What a ScaledObject asks, as an SqsQueueScaler would ask it.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// The same spec an SqsQueueScaler has (its `roleArn` from the TriggerAuthentication).
    pub spec: SqsQueueScalerSpec,
    /// Checked from `spec`, with what only a ScaledObject has (`idleReplicaCount`,
    /// `initialCooldownPeriod`).
    pub policy: Policy,
}

/// A ScaledObject (or its TriggerAuthentication) queue-scaler cannot scale as KEDA would:
/// `<where>: <what was expected, and what was found>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct KedaError {
    pub at: String,
    pub problem: String,
}

fn error(at: impl Into<String>, problem: impl Into<String>) -> KedaError {
    KedaError {
        at: at.into(),
        problem: problem.into(),
    }
}

/// Converts `so`, whose one trigger is `aws-sqs-queue` (the caller has checked), with the
/// TriggerAuthentications of the cluster (`auths`) to find the one it names.
pub fn convert(so: &ScaledObject, auths: &[TriggerAuthentication]) -> Result<Converted, KedaError> {
    let [trigger] = so.spec.triggers.as_slice() else {
        return Err(error(
            "spec.triggers",
            format!(
                "expected one {SQS_TRIGGER} trigger, got {}",
                so.spec.triggers.len()
            ),
        ));
    };
    let at = "spec.triggers[0]";
    if trigger.type_ != SQS_TRIGGER {
        return Err(error(
            format!("{at}.type"),
            format!("expected {SQS_TRIGGER}, got {}", trigger.type_),
        ));
    }
    if let Some(kind) = trigger
        .metric_type
        .as_deref()
        .filter(|k| *k != "AverageValue")
    {
        return Err(error(
            format!("{at}.metricType"),
            format!(
                "expected AverageValue (the aws-sqs-queue default: messages per replica), got {kind}"
            ),
        ));
    }
    let meta = Metadata(trigger);
    let target = target(so)?;
    let queue_url = meta.queue_url()?;
    let queue_length = meta.integer("queueLength", DEFAULT_QUEUE_LENGTH, 1)?;
    let activation = meta.integer("activationQueueLength", 0, 0)?;
    let scale_on_in_flight = meta.flag("scaleOnInFlight", true)?;
    let scale_on_delayed = meta.flag("scaleOnDelayed", false)?;
    let aws_region = meta.region()?;
    meta.no_endpoint()?;
    meta.no_static_keys()?;
    let role_arn = role(so, trigger, auths)?;
    let replicas = Replicas::of(so)?;
    let behavior = behavior(so)?;
    let fallback = fallback(so)?;
    let spec = SqsQueueScalerSpec {
        scale_target_ref: target,
        queue_url,
        queue_length,
        activation_queue_length: activation,
        scale_on_in_flight,
        scale_on_delayed,
        min_replica_count: replicas.min,
        max_replica_count: replicas.max,
        cooldown_period: i64::from(replicas.cooldown),
        aws_region: Some(aws_region),
        role_arn,
        behavior,
        fallback,
    };
    // Every value is checked above with the ScaledObject's own field names; this is the
    // check both kinds share.
    let checked = Policy::from_spec(&spec).map_err(|e| error("spec", e.to_string()))?;
    let zero_not_before = match so.spec.initial_cooldown_period {
        Some(secs) if secs > 0 => so
            .creation_timestamp()
            .and_then(|t| t.0.checked_add(SignedDuration::from_secs(secs.into())).ok()),
        _ => None,
    };
    Ok(Converted {
        spec,
        policy: Policy {
            idle_to_zero: replicas.idle_to_zero,
            zero_not_before,
            ..checked
        },
    })
}

/// What `so` scales: KEDA's `scaleTargetRef`, whose `apiVersion` and `kind` default to an
/// `apps/v1` Deployment; any kind with a scale subresource.
pub fn target(so: &ScaledObject) -> Result<ScaleTargetRef, KedaError> {
    let target = &so.spec.scale_target_ref;
    if target.name.trim().is_empty() {
        return Err(error(
            "spec.scaleTargetRef.name",
            "expected the target's name, got nothing",
        ));
    }
    Ok(ScaleTargetRef {
        name: target.name.clone(),
        kind: nonempty(&target.kind).unwrap_or("Deployment").to_owned(),
        api_version: nonempty(&target.api_version)
            .unwrap_or("apps/v1")
            .to_owned(),
    })
}

/// The HPA `behavior` KEDA gives its HPA (`advanced.horizontalPodAutoscalerConfig.behavior`),
/// checked as the API server would check it there.
fn behavior(so: &ScaledObject) -> Result<Option<HorizontalPodAutoscalerBehavior>, KedaError> {
    const AT: &str = "spec.advanced.horizontalPodAutoscalerConfig.behavior";
    let written = so
        .spec
        .advanced
        .as_ref()
        .and_then(|a| a.horizontal_pod_autoscaler_config.as_ref())
        .and_then(|c| c.behavior.clone())
        .filter(|b| !b.is_null());
    let Some(written) = written else {
        return Ok(None);
    };
    let behavior: HorizontalPodAutoscalerBehavior = serde_json::from_value(written)
        .map_err(|e| error(AT, format!("expected HPA's behavior: {e}")))?;
    Behavior::from_spec(Some(&behavior), AT).map_err(|e| error(e.field, e.expected))?;
    Ok(Some(behavior))
}

/// KEDA's `fallback`: both numbers, neither negative (KEDA's own check).
fn fallback(so: &ScaledObject) -> Result<Option<Fallback>, KedaError> {
    let Some(written) = so.spec.fallback.clone().filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let f: Fallback = serde_json::from_value(written).map_err(|e| {
        error(
            "spec.fallback",
            format!("expected {{failureThreshold, replicas}}: {e}"),
        )
    })?;
    for (field, value) in [
        ("failureThreshold", f.failure_threshold),
        ("replicas", f.replicas),
    ] {
        if value < 0 {
            return Err(error(
                format!("spec.fallback.{field}"),
                format!("expected at least 0, got {value}"),
            ));
        }
    }
    Ok(Some(f))
}

/// KEDA's replica bounds, defaults and checks (`CheckReplicaCountBoundsAreValid`).
struct Replicas {
    min: i32,
    max: i32,
    cooldown: i32,
    idle_to_zero: bool,
}

impl Replicas {
    fn of(so: &ScaledObject) -> Result<Replicas, KedaError> {
        let spec = &so.spec;
        let min = spec.min_replica_count.unwrap_or(0);
        let max = spec.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICAS);
        let cooldown = spec.cooldown_period.unwrap_or(DEFAULT_COOLDOWN);
        let least = |field: &str, least: i32, value: i32| {
            (value < least).then(|| {
                error(
                    format!("spec.{field}"),
                    format!("expected at least {least}, got {value}"),
                )
            })
        };
        for problem in [
            least("minReplicaCount", 0, min),
            least("maxReplicaCount", 1, max),
            least("cooldownPeriod", 0, cooldown),
        ] {
            problem.map_or(Ok(()), Err)?;
        }
        // KEDA compares with the HPA's minimum: a minReplicaCount given (even 0) is at
        // least 1 there; an unset one is 0.
        let hpa_min = spec.min_replica_count.map_or(0, |m| m.max(1));
        if hpa_min > max {
            return Err(error(
                "spec.minReplicaCount",
                format!("expected at most maxReplicaCount ({max}), got {min}"),
            ));
        }
        let idle_to_zero = match spec.idle_replica_count {
            None => false,
            Some(idle) if idle >= hpa_min => {
                return Err(error(
                    "spec.idleReplicaCount",
                    format!("expected less than minReplicaCount ({hpa_min} to KEDA), got {idle}"),
                ));
            }
            Some(0) => true,
            Some(idle) => {
                return Err(error(
                    "spec.idleReplicaCount",
                    format!(
                        "expected 0, the one value KEDA supports (the HPA would undo any other), got {idle}"
                    ),
                ));
            }
        };
        Ok(Replicas {
            min,
            max,
            cooldown,
            idle_to_zero,
        })
    }
}

/// A trigger's metadata as KEDA reads it: values trimmed, an empty value as unset.
struct Metadata<'a>(&'a ScaleTrigger);

impl Metadata<'_> {
    fn at(key: &str) -> String {
        format!("spec.triggers[0].metadata.{key}")
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .metadata
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn queue_url(&self) -> Result<String, KedaError> {
        if let Some(url) = self.get("queueURL") {
            return Ok(url.to_owned());
        }
        if self.get("queueURLFromEnv").is_some() {
            return Err(error(
                Self::at("queueURLFromEnv"),
                "not supported (it reads the target's container environment): give queueURL",
            ));
        }
        Err(error(
            Self::at("queueURL"),
            "expected the queue's URL or name, got nothing",
        ))
    }

    /// An integer written as a string, at least `least`.
    fn integer(&self, key: &str, default: i64, least: i64) -> Result<i64, KedaError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        let value: i64 = text.parse().map_err(|_| {
            error(
                Self::at(key),
                format!("expected an integer as a string, got {text:?}"),
            )
        })?;
        if value < least {
            return Err(error(
                Self::at(key),
                format!("expected at least {least}, got {value}"),
            ));
        }
        Ok(value)
    }

    /// A boolean written as a string, as Go's `strconv.ParseBool` reads it (KEDA's parser).
    fn flag(&self, key: &str, default: bool) -> Result<bool, KedaError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        k8s_ops::pause::go_bool(text).ok_or_else(|| {
            error(
                Self::at(key),
                format!("expected true or false as a string, got {text:?}"),
            )
        })
    }

    /// KEDA requires it; it may also come from a TriggerAuthentication's secrets there, which
    /// queue-scaler does not read, so the function's own region is never guessed instead.
    fn region(&self) -> Result<String, KedaError> {
        self.get("awsRegion").map(str::to_owned).ok_or_else(|| {
            error(
                Self::at("awsRegion"),
                "expected the queue's region (KEDA requires it), got nothing",
            )
        })
    }

    fn no_endpoint(&self) -> Result<(), KedaError> {
        match self.get("awsEndpoint") {
            None => Ok(()),
            Some(_) => Err(error(
                Self::at("awsEndpoint"),
                "not supported: queue-scaler reads SQS at its own endpoint; leave it empty",
            )),
        }
    }

    fn no_static_keys(&self) -> Result<(), KedaError> {
        const KEYS: [&str; 4] = [
            "awsAccessKeyID",
            "awsAccessKeyIDFromEnv",
            "awsSecretAccessKeyFromEnv",
            "awsSessionToken",
        ];
        match KEYS.into_iter().find(|k| self.get(k).is_some()) {
            None => Ok(()),
            Some(key) => Err(error(Self::at(key), NO_STATIC_KEYS)),
        }
    }
}

const NO_STATIC_KEYS: &str = "static keys are not used (queue-scaler reads a queue as its execution role or a role it assumes): use a TriggerAuthentication with podIdentity {provider: aws, roleArn}";

/// The role to read the queue as (`None`: the function's execution role, as KEDA's operator
/// reads with its own identity), from the TriggerAuthentication the trigger names.
fn role(
    so: &ScaledObject,
    trigger: &ScaleTrigger,
    auths: &[TriggerAuthentication],
) -> Result<Option<String>, KedaError> {
    let owner = trigger
        .metadata
        .get("identityOwner")
        .map(|o| o.trim())
        .unwrap_or("");
    if !matches!(owner, "" | "pod" | "operator") {
        return Err(error(
            Metadata::at("identityOwner"),
            format!("expected pod or operator, got {owner:?}"),
        ));
    }
    let Some(reference) = &trigger.authentication_ref else {
        return Ok(None);
    };
    let at = "spec.triggers[0].authenticationRef";
    if let Some(kind) = reference
        .kind
        .as_deref()
        .filter(|k| *k != "TriggerAuthentication")
    {
        return Err(error(
            format!("{at}.kind"),
            format!(
                "expected TriggerAuthentication (one in the ScaledObject's namespace), got {kind}"
            ),
        ));
    }
    let namespace = so.namespace().unwrap_or_default();
    let name = &reference.name;
    let auth = auths
        .iter()
        .find(|a| a.namespace().as_deref() == Some(&namespace) && a.name_any() == *name)
        .ok_or_else(|| {
            error(
                format!("{at}.name"),
                format!("TriggerAuthentication {namespace}/{name} not found"),
            )
        })?;
    let at = |field: &str| format!("TriggerAuthentication {namespace}/{name} spec.{field}");
    let others = || auth.spec.other.keys().next().cloned();
    let Some(identity) = &auth.spec.pod_identity else {
        return match others() {
            Some(field) => Err(error(at(&field), NOT_READ)),
            None if owner == "operator" => Ok(None),
            None => Err(error(
                at("podIdentity"),
                "expected {provider: aws}, got nothing",
            )),
        };
    };
    match identity.provider.as_str() {
        "aws" => {
            if nonempty(&identity.external_id).is_some() {
                return Err(error(
                    at("podIdentity.externalID"),
                    "not supported: queue-scaler assumes roles without an external id",
                ));
            }
            if let Some(role) = nonempty(&identity.role_arn) {
                return Ok(Some(role.to_owned()));
            }
            if identity.identity_owner.as_deref() == Some("workload") {
                return Err(error(
                    at("podIdentity.identityOwner"),
                    "workload (the role of the workload's service account) is not supported: give podIdentity.roleArn",
                ));
            }
            // Without a roleArn KEDA may take one from the TriggerAuthentication's secrets.
            match others() {
                Some(field) => Err(error(at(&field), NOT_READ)),
                None => Ok(None),
            }
        }
        "aws-eks" if owner == "operator" => Ok(None),
        "aws-eks" => Err(error(
            at("podIdentity.provider"),
            "aws-eks reads the role from the workload's service account, which queue-scaler does not read: use {provider: aws, roleArn: <the role>} (KEDA 2.13+), or identityOwner: operator in the trigger",
        )),
        other => Err(error(
            at("podIdentity.provider"),
            format!("expected aws or aws-eks, got {other:?}"),
        )),
    }
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

const NOT_READ: &str = "not supported (queue-scaler reads no Secrets, environments or vaults): use podIdentity {provider: aws, roleArn}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// KEDA's documented sample (keda.sh, scalers/aws-sqs), with `patch` merged into its spec.
    fn so(patch: Value) -> ScaledObject {
        let mut v = json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "aws-sqs-queue-scaledobject", "namespace": "keda-test",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"name": "nginx-deployment"},
                     "triggers": [{"type": "aws-sqs-queue",
                                   "authenticationRef": {"name": "keda-trigger-auth-aws-credentials"},
                                   "metadata": {"queueURL": "myQueue", "queueLength": "5", "awsRegion": "eu-west-1"}}]}
        });
        merge(&mut v["spec"], patch);
        serde_json::from_value(v).unwrap()
    }

    fn merge(into: &mut Value, patch: Value) {
        match patch {
            Value::Object(fields) => {
                for (k, v) in fields {
                    if v.is_null() {
                        into.as_object_mut().unwrap().remove(&k);
                    } else {
                        merge(&mut into[&k], v);
                    }
                }
            }
            v => *into = v,
        }
    }

    /// The sample with its trigger's metadata changed by `metadata`.
    fn with_metadata(metadata: Value) -> ScaledObject {
        let mut s = so(json!({}));
        let mut m = serde_json::to_value(&s.spec.triggers[0].metadata).unwrap();
        merge(&mut m, metadata);
        s.spec.triggers[0].metadata = serde_json::from_value(m).unwrap();
        s
    }

    fn ta(spec: Value) -> TriggerAuthentication {
        serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": "keda-trigger-auth-aws-credentials", "namespace": "keda-test"},
            "spec": spec
        }))
        .unwrap()
    }

    fn docs_auth() -> Vec<TriggerAuthentication> {
        vec![ta(json!({"podIdentity": {"provider": "aws"}}))]
    }

    #[test]
    fn kedas_docs_sample_converts_with_kedas_defaults() {
        let c = convert(&so(json!({})), &docs_auth()).unwrap();
        assert_eq!(
            serde_json::to_value(&c.spec).unwrap(),
            json!({"scaleTargetRef": {"name": "nginx-deployment", "kind": "Deployment", "apiVersion": "apps/v1"},
                   "queueURL": "myQueue", "queueLength": 5, "activationQueueLength": 0,
                   "scaleOnInFlight": true, "scaleOnDelayed": false, "minReplicaCount": 0,
                   "maxReplicaCount": 100, "cooldownPeriod": 300, "awsRegion": "eu-west-1",
                   "roleArn": null})
        );
        assert_eq!(
            (c.policy.idle_to_zero, c.policy.zero_not_before),
            (false, None)
        );
        assert_eq!(c.policy, Policy::from_spec(&c.spec).unwrap());
    }

    /// The repo's side-by-side sample: every field given, the role from podIdentity.roleArn.
    #[test]
    fn every_field_is_read() {
        let s = so(json!({
            "minReplicaCount": 1, "maxReplicaCount": 20, "cooldownPeriod": 60,
            "idleReplicaCount": 0, "initialCooldownPeriod": 120, "pollingInterval": 15,
            "fallback": {"failureThreshold": 3, "replicas": 2},
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}},
            "triggers": [{"type": "aws-sqs-queue", "authenticationRef": {"name": "keda-trigger-auth-aws-credentials"},
                          "metadata": {"queueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
                                       "awsRegion": "us-east-1", "queueLength": " 10 ", "activationQueueLength": "3",
                                       "scaleOnInFlight": "false", "scaleOnDelayed": "True", "identityOwner": "pod"}}]
        }));
        let auths = [ta(
            json!({"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::123456789012:role/orders-queue-reader"}}),
        )];
        let c = convert(&s, &auths).unwrap();
        let spec = &c.spec;
        assert_eq!(
            (
                spec.queue_length,
                spec.activation_queue_length,
                spec.scale_on_in_flight,
                spec.scale_on_delayed
            ),
            (10, 3, false, true)
        );
        assert_eq!(
            (
                spec.min_replica_count,
                spec.max_replica_count,
                spec.cooldown_period
            ),
            (1, 20, 60)
        );
        assert_eq!(
            spec.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/orders-queue-reader")
        );
        assert_eq!(
            spec.fallback,
            Some(Fallback {
                failure_threshold: 3,
                replicas: 2
            })
        );
        assert_eq!(
            c.policy.behavior.scale_down.stabilization_window_seconds,
            60
        );
        assert!(c.policy.idle_to_zero);
        assert_eq!(
            c.policy.zero_not_before,
            Some("2026-01-01T00:02:00Z".parse().unwrap())
        );
    }

    #[test]
    fn who_reads_the_queue() {
        let role = |s: &ScaledObject, auths: &[TriggerAuthentication]| {
            convert(s, auths).map(|c| c.spec.role_arn)
        };
        let no_ref = so(json!({"triggers": [{"type": "aws-sqs-queue",
            "metadata": {"queueURL": "q", "awsRegion": "eu-west-1"}}]}));
        assert_eq!(
            role(&no_ref, &[]),
            Ok(None),
            "no authenticationRef: own role"
        );
        let operator = with_metadata(json!({"identityOwner": "operator"}));
        for (name, auth, want) in [
            (
                "aws, no role: own",
                json!({"podIdentity": {"provider": "aws"}}),
                None,
            ),
            (
                "aws, identityOwner keda: own",
                json!({"podIdentity": {"provider": "aws", "identityOwner": "keda"}}),
                None,
            ),
            (
                "aws with roleArn",
                json!({"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::1:role/r"}}),
                Some("arn:aws:iam::1:role/r".to_owned()),
            ),
            (
                "roleArn wins over secrets",
                json!({"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::1:role/r"},
                       "secretTargetRef": [{"parameter": "awsRegion", "name": "s", "key": "k"}]}),
                Some("arn:aws:iam::1:role/r".to_owned()),
            ),
        ] {
            assert_eq!(role(&so(json!({})), &[ta(auth)]), Ok(want), "{name}");
        }
        assert_eq!(
            role(
                &operator,
                &[ta(json!({"podIdentity": {"provider": "aws-eks"}}))]
            ),
            Ok(None),
            "aws-eks with identityOwner operator: own role"
        );
    }

    /// Each bad value or unsupported setting: one error naming the field, with what was
    /// expected and what was found.
    #[test]
    fn what_cannot_be_scaled_as_keda_would_names_the_field() {
        let sample_auth = docs_auth();
        let cases: Vec<(ScaledObject, Vec<TriggerAuthentication>, String)> = vec![
            (with_metadata(json!({"queueLength": "abc"})), sample_auth.clone(),
             r#"spec.triggers[0].metadata.queueLength: expected an integer as a string, got "abc""#.into()),
            (with_metadata(json!({"queueLength": "0"})), sample_auth.clone(),
             "spec.triggers[0].metadata.queueLength: expected at least 1, got 0".into()),
            (with_metadata(json!({"activationQueueLength": "-1"})), sample_auth.clone(),
             "spec.triggers[0].metadata.activationQueueLength: expected at least 0, got -1".into()),
            (with_metadata(json!({"scaleOnInFlight": "yes"})), sample_auth.clone(),
             r#"spec.triggers[0].metadata.scaleOnInFlight: expected true or false as a string, got "yes""#.into()),
            (with_metadata(json!({"awsRegion": " "})), sample_auth.clone(),
             "spec.triggers[0].metadata.awsRegion: expected the queue's region (KEDA requires it), got nothing".into()),
            (with_metadata(json!({"queueURL": null})), sample_auth.clone(),
             "spec.triggers[0].metadata.queueURL: expected the queue's URL or name, got nothing".into()),
            (with_metadata(json!({"queueURL": null, "queueURLFromEnv": "QUEUE_URL"})), sample_auth.clone(),
             "spec.triggers[0].metadata.queueURLFromEnv: not supported (it reads the target's container environment): give queueURL".into()),
            (with_metadata(json!({"awsEndpoint": "http://localstack:4566"})), sample_auth.clone(),
             "spec.triggers[0].metadata.awsEndpoint: not supported: queue-scaler reads SQS at its own endpoint; leave it empty".into()),
            (with_metadata(json!({"awsAccessKeyID": "AKIA"})), sample_auth.clone(),
             format!("spec.triggers[0].metadata.awsAccessKeyID: {NO_STATIC_KEYS}")),
            (with_metadata(json!({"identityOwner": "me"})), sample_auth.clone(),
             r#"spec.triggers[0].metadata.identityOwner: expected pod or operator, got "me""#.into()),
            (so(json!({"scaleTargetRef": {"name": " "}})), sample_auth.clone(),
             "spec.scaleTargetRef.name: expected the target's name, got nothing".into()),
            (so(json!({"minReplicaCount": 5, "maxReplicaCount": 2})), sample_auth.clone(),
             "spec.minReplicaCount: expected at most maxReplicaCount (2), got 5".into()),
            (so(json!({"idleReplicaCount": 0})), sample_auth.clone(),
             "spec.idleReplicaCount: expected less than minReplicaCount (0 to KEDA), got 0".into()),
            (so(json!({"idleReplicaCount": 1, "minReplicaCount": 3})), sample_auth.clone(),
             "spec.idleReplicaCount: expected 0, the one value KEDA supports (the HPA would undo any other), got 1".into()),
            (so(json!({"triggers": [{"type": "aws-sqs-queue", "metricType": "Value", "metadata": {"queueURL": "q", "awsRegion": "r"}}]})),
             sample_auth.clone(),
             "spec.triggers[0].metricType: expected AverageValue (the aws-sqs-queue default: messages per replica), got Value".into()),
            (so(json!({})), vec![],
             "spec.triggers[0].authenticationRef.name: TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials not found".into()),
            (so(json!({"triggers": [{"type": "aws-sqs-queue", "authenticationRef": {"name": "x", "kind": "ClusterTriggerAuthentication"},
                                     "metadata": {"queueURL": "q", "awsRegion": "r"}}]})), sample_auth.clone(),
             "spec.triggers[0].authenticationRef.kind: expected TriggerAuthentication (one in the ScaledObject's namespace), got ClusterTriggerAuthentication".into()),
            (so(json!({})), vec![ta(json!({"secretTargetRef": [{"parameter": "awsRoleArn", "name": "s", "key": "k"}]}))],
             format!("TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.secretTargetRef: {NOT_READ}")),
            (so(json!({})), vec![ta(json!({"podIdentity": {"provider": "aws"}, "env": [{"parameter": "awsRoleArn", "name": "ROLE"}]}))],
             format!("TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.env: {NOT_READ}")),
            (so(json!({})), vec![ta(json!({"podIdentity": {"provider": "aws", "identityOwner": "workload"}}))],
             "TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.podIdentity.identityOwner: workload (the role of the workload's service account) is not supported: give podIdentity.roleArn".into()),
            (so(json!({})), vec![ta(json!({"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::1:role/r", "externalID": "x"}}))],
             "TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.podIdentity.externalID: not supported: queue-scaler assumes roles without an external id".into()),
            (so(json!({})), vec![ta(json!({"podIdentity": {"provider": "aws-eks"}}))],
             "TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.podIdentity.provider: aws-eks reads the role from the workload's service account, which queue-scaler does not read: use {provider: aws, roleArn: <the role>} (KEDA 2.13+), or identityOwner: operator in the trigger".into()),
            (so(json!({})), vec![ta(json!({"podIdentity": {"provider": "gcp"}}))],
             r#"TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.podIdentity.provider: expected aws or aws-eks, got "gcp""#.into()),
            (so(json!({"fallback": {"failureThreshold": 3}})), sample_auth.clone(),
             "spec.fallback: expected {failureThreshold, replicas}: missing field `replicas`".into()),
            (so(json!({"fallback": {"failureThreshold": -1, "replicas": 2}})), sample_auth.clone(),
             "spec.fallback.failureThreshold: expected at least 0, got -1".into()),
            (so(json!({"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"selectPolicy": "Sometimes"}}}}})), sample_auth.clone(),
             r#"spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.selectPolicy: Max, Min or Disabled, got "Sometimes""#.into()),
            (so(json!({})), vec![ta(json!({}))],
             "TriggerAuthentication keda-test/keda-trigger-auth-aws-credentials spec.podIdentity: expected {provider: aws}, got nothing".into()),
        ];
        for (s, auths, want) in cases {
            assert_eq!(convert(&s, &auths).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn min_zero_given_allows_idle_zero_as_keda_does() {
        // KEDA compares idleReplicaCount with the HPA's minimum, 1 for a minReplicaCount of 0.
        let c = convert(
            &so(json!({"minReplicaCount": 0, "idleReplicaCount": 0})),
            &docs_auth(),
        )
        .unwrap();
        assert!(c.policy.idle_to_zero);
        assert_eq!(c.policy.min, 0);
    }
}
