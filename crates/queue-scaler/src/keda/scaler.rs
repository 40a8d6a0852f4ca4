//! A ScaledObject as the scaler pass judges it: the object (for its name, its Events and the
//! cooldown's start) with its conversion. Its status type is `()`: a ScaledObject's status
//! is KEDA's, and the pass writes a status only when the verdict's differs from the one
//! listed, which for `()` it never does.
use std::borrow::Cow;

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_ops::behavior::History;
use k8s_ops::crd::keda::ScaledObject;
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::convert::Converted;
use crate::decide::State;

/// Where queue-scaler keeps, on a ScaledObject it scales, since when its queue has been
/// inactive (what an SqsQueueScaler keeps in `status.inactiveSince`, and KEDA in
/// `status.lastActiveTime`): the one thing it writes to a ScaledObject, in its own annotation.
pub const INACTIVE_SINCE: &str = "autoscaling.k8s-lambda.dev/inactive-since";

/// Where queue-scaler keeps, on a ScaledObject it scales, what its HPA `behavior` remembers
/// between runs (an SqsQueueScaler's `status.behaviorHistory`), as JSON.
pub const BEHAVIOR_HISTORY: &str = "autoscaling.k8s-lambda.dev/behavior-history";

/// Where queue-scaler counts, on a ScaledObject it scales, the failed reads of its queue in a
/// row (KEDA's `status.health` `numberOfFailures`), for `spec.fallback`; absent when the last
/// read worked.
pub const QUEUE_FAILURES: &str = "autoscaling.k8s-lambda.dev/queue-failures";

#[derive(Clone, Debug)]
pub struct KedaScaler {
    pub object: ScaledObject,
    pub converted: Converted,
    /// Always `None` (see the module's documentation).
    status: Option<()>,
}

impl KedaScaler {
    pub fn new(object: ScaledObject, converted: Converted) -> KedaScaler {
        KedaScaler {
            object,
            converted,
            status: None,
        }
    }

    /// The start of the inactivity the annotation records. One that does not read as a time
    /// (edited by hand) counts as none: the cooldown starts anew, so no replicas go early.
    pub fn inactive_since(&self) -> Option<Timestamp> {
        self.object
            .annotations()
            .get(INACTIVE_SINCE)
            .and_then(|t| t.parse().ok())
    }

    /// What the ScaledObject's behavior remembers. One that does not read (edited by hand)
    /// counts as none: the windows start anew.
    pub fn history(&self) -> History {
        self.object
            .annotations()
            .get(BEHAVIOR_HISTORY)
            .and_then(|h| serde_json::from_str(h).ok())
            .unwrap_or_default()
    }

    /// The failed reads in a row the annotation counts (one that does not read: none).
    pub fn failures(&self) -> i32 {
        self.object
            .annotations()
            .get(QUEUE_FAILURES)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// What the next decision needs from the previous ones.
    pub fn state(&self) -> State {
        State {
            inactive_since: self.inactive_since(),
            history: self.history(),
        }
    }
}

impl Resource for KedaScaler {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        ScaledObject::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        ScaledObject::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        ScaledObject::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        ScaledObject::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.object.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.object.metadata
    }
}

/// The pass's scalers are `DeserializeOwned` because it can list them; a KedaScaler is built
/// from a ScaledObject and the TriggerAuthentication it names, never read as one object, so
/// reading one is refused ([`sqs_depth::pass::run_listed`] never does).
impl<'de> Deserialize<'de> for KedaScaler {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<KedaScaler, D::Error> {
        Err(D::Error::custom(
            "a KedaScaler is converted from a ScaledObject, not read from the API",
        ))
    }
}

impl HasStatus for KedaScaler {
    type Status = ();

    fn status(&self) -> Option<&()> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut Option<()> {
        &mut self.status
    }
}
