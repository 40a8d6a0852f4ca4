//! One owner per scale target. Two controllers writing one target's replicas undo each other
//! (the classic HPA + KEDA on one Deployment); so before writing, a scaler asks whether
//! something else already controls its target, and if so refuses (a status condition and a
//! Warning Event, no write).
//!
//! Who wins: an HPA always (it is the cluster's own controller, and KEDA's ScaledObjects act
//! through one); among the suite's resources the oldest (creationTimestamp, then kind,
//! namespace and name, so two functions judging the same pair agree without talking).
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::ObjectMeta;
use kube::{Api, ResourceExt};

use crate::list::{self, ListError};

/// What a controller scales: `scaleTargetRef` in its namespace. The API version's group is
/// compared, not its version (`apps/v1` and `apps/v1beta2` name the same Deployment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    /// The API group (`apps`; empty for the core group).
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl Target {
    /// A `scaleTargetRef` (`apiVersion`, `kind`, `name`) in `namespace`.
    pub fn new(namespace: &str, api_version: &str, kind: &str, name: &str) -> Target {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Target {
            namespace: namespace.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// A resource that writes a target's replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// Its kind (`HorizontalPodAutoscaler`, `SqsQueueScaler`, `K8sMetricAlarm`, …).
    pub kind: String,
    pub name: String,
    pub created: Option<Timestamp>,
    pub target: Target,
}

impl Controller {
    /// One of the suite's resources (or any other kind), from its metadata and target.
    pub fn new(kind: &str, meta: &ObjectMeta, target: Target) -> Controller {
        Controller {
            kind: kind.to_owned(),
            name: meta.name.clone().unwrap_or_default(),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            target,
        }
    }

    /// An HPA, by its `scaleTargetRef`.
    pub fn from_hpa(hpa: &HorizontalPodAutoscaler) -> Controller {
        let r = hpa.spec.as_ref().map(|s| &s.scale_target_ref);
        let (api_version, kind, name) = r.map_or(("", "", ""), |r| {
            (
                r.api_version.as_deref().unwrap_or(""),
                r.kind.as_str(),
                r.name.as_str(),
            )
        });
        let namespace = hpa.namespace().unwrap_or_default();
        Controller::new(
            HPA,
            &hpa.metadata,
            Target::new(&namespace, api_version, kind, name),
        )
    }

    /// `Kind namespace/name`, for conditions and Events (`Kind name` for a target outside
    /// any namespace, such as a Lambda function).
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.kind,
            qualified(&self.target.namespace, &self.name)
        )
    }

    /// The order of precedence over a target: an HPA first, then the oldest (a resource not
    /// yet stamped — never, from the API server — last), then kind, namespace and name.
    fn rank(&self) -> (bool, Timestamp, &str, &str, &str) {
        (
            self.kind != HPA,
            self.created.unwrap_or(Timestamp::MAX),
            &self.kind,
            &self.target.namespace,
            &self.name,
        )
    }
}

/// `namespace/name`, or `name` alone when there is no namespace.
fn qualified(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

const HPA: &str = "HorizontalPodAutoscaler";

/// Every HPA `api` lists, as controllers (`on_call` counts the calls, as [`list::all`]).
pub async fn hpas(
    api: &Api<HorizontalPodAutoscaler>,
    on_call: impl FnMut(),
) -> Result<Vec<Controller>, ListError> {
    Ok(list::all(api, on_call)
        .await?
        .iter()
        .map(Controller::from_hpa)
        .collect())
}

/// The controller among `others` that owns `me`'s target instead of `me`, if any (`me`
/// itself in `others` is ignored). `None`: `me` may write.
pub fn rival<'a>(me: &Controller, others: &'a [Controller]) -> Option<&'a Controller> {
    let same = |c: &Controller| c.target == me.target && !(c.kind == me.kind && c.name == me.name);
    others
        .iter()
        .filter(|c| same(c) && c.rank() < me.rank())
        .min_by_key(|&c| c.rank())
}

/// The condition's reason and message when `rival` owns the target (the HPA's
/// `AmbiguousSelector`-style wording: what conflicts, with whom).
pub fn refusal(me: &Controller, rival: &Controller) -> (&'static str, String) {
    let t = &me.target;
    (
        "AmbiguousOwner",
        format!(
            "{} {} is already scaled by {}; this {} writes nothing while it does",
            t.kind,
            qualified(&t.namespace, &t.name),
            rival.describe(),
            me.kind
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::{
        CrossVersionObjectReference, HorizontalPodAutoscalerSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(namespace: &str, name: &str, created: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            creation_timestamp: Some(Time(created.parse().unwrap())),
            ..ObjectMeta::default()
        }
    }

    fn deployment(name: &str) -> Target {
        Target::new("shop", "apps/v1", "Deployment", name)
    }

    fn suite(kind: &str, name: &str, created: &str, target: Target) -> Controller {
        Controller::new(kind, &meta("shop", name, created), target)
    }

    fn hpa(name: &str, created: &str, api_version: &str, target: &str) -> Controller {
        Controller::from_hpa(&HorizontalPodAutoscaler {
            metadata: meta("shop", name, created),
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some(api_version.into()),
                    kind: "Deployment".into(),
                    name: target.into(),
                },
                max_replicas: 3,
                ..HorizontalPodAutoscalerSpec::default()
            }),
            status: None,
        })
    }

    #[test]
    fn the_owner_is_the_hpa_else_the_oldest() {
        let me = suite(
            "SqsQueueScaler",
            "q",
            "2026-01-02T00:00:00Z",
            deployment("web"),
        );
        let older = suite(
            "K8sMetricAlarm",
            "a",
            "2026-01-01T00:00:00Z",
            deployment("web"),
        );
        let newer = suite(
            "K8sMetricAlarm",
            "b",
            "2026-01-03T00:00:00Z",
            deployment("web"),
        );
        let other_target = suite(
            "K8sMetricAlarm",
            "c",
            "2025-01-01T00:00:00Z",
            deployment("api"),
        );
        let hpa_newest = hpa("web", "2026-06-01T00:00:00Z", "apps/v1beta2", "web");
        let elsewhere = Controller {
            target: Target::new("other", "apps/v1", "Deployment", "web"),
            ..older.clone()
        };
        let cases: Vec<(&str, Vec<Controller>, Option<&str>)> = vec![
            ("alone", vec![], None),
            ("itself listed", vec![me.clone()], None),
            ("another target", vec![other_target.clone()], None),
            ("same name, another namespace", vec![elsewhere], None),
            ("a newer resource", vec![newer.clone()], None),
            (
                "an older resource",
                vec![older.clone(), newer.clone()],
                Some("a"),
            ),
            (
                "an HPA, however new",
                vec![newer, hpa_newest.clone(), older],
                Some("web"),
            ),
        ];
        for (case, others, expected) in cases {
            let got = rival(&me, &others).map(|c| c.name.as_str());
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn two_resources_judging_each_other_agree() {
        let a = suite(
            "SqsQueueScaler",
            "a",
            "2026-01-01T00:00:00Z",
            deployment("web"),
        );
        let b = suite(
            "K8sMetricAlarm",
            "b",
            "2026-01-01T00:00:00Z",
            deployment("web"),
        );
        let all = vec![a.clone(), b.clone()];
        // Same second: the kind decides (K8sMetricAlarm < SqsQueueScaler), the same way
        // from both sides.
        assert_eq!(rival(&a, &all).map(|c| c.name.as_str()), Some("b"));
        assert_eq!(rival(&b, &all), None);
    }

    #[test]
    fn a_group_is_compared_not_its_version_and_core_has_none() {
        assert_eq!(
            Target::new("ns", "apps/v1", "Deployment", "x"),
            Target::new("ns", "apps/v1beta1", "Deployment", "x")
        );
        assert_eq!(
            Target::new("ns", "v1", "ReplicationController", "x").group,
            ""
        );
        assert_ne!(
            Target::new("ns", "apps/v1", "StatefulSet", "x"),
            Target::new("ns", "apps/v1", "Deployment", "x")
        );
    }

    #[test]
    fn the_refusal_names_the_target_and_its_owner() {
        let me = suite(
            "K8sMetricAlarm",
            "b",
            "2026-01-03T00:00:00Z",
            deployment("web"),
        );
        let owner = hpa("web-hpa", "2026-01-01T00:00:00Z", "apps/v1", "web");
        let (reason, message) = refusal(&me, &owner);
        assert_eq!(reason, "AmbiguousOwner");
        assert_eq!(
            message,
            "Deployment shop/web is already scaled by HorizontalPodAutoscaler shop/web-hpa; this K8sMetricAlarm writes nothing while it does"
        );
    }
}
