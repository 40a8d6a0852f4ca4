//! Every metric the suite emits, per function: its name, unit, dimensions and meaning. The
//! one list: the EMF writer takes units from it (a name missing here is not emitted), the
//! deploy checks hold the template's dashboard and alarms and the emitting sources to it, and
//! the README's metrics section follows it.

/// The CloudWatch namespace of every metric of the suite.
pub const NAMESPACE: &str = "K8sLambdaAutoscalers";

/// Units the suite uses; each is one of the EMF specification's allowed units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    Percent,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Percent => "Percent",
        }
    }
}

/// What one value describes, and so the dimensions it is emitted with (besides `Function`,
/// which every record has, and `Cluster` on the invocation's record when `CLUSTER_NAME` is
/// set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// The invocation: dimension sets `[Function]` and `[Function, Cluster]`.
    Invocation,
    /// One AWS service or the Kubernetes API: `[Function, Service]`.
    Service,
    /// One custom resource: `[Function, Namespace, Name]`, for at most
    /// [`MAX_RESOURCES`](super::MAX_RESOURCES) resources per invocation.
    Resource,
}

impl Per {
    /// The dimension names of a record of this kind, `Function` first.
    pub fn dimensions(self) -> &'static [&'static str] {
        match self {
            Per::Invocation => &["Function"],
            Per::Service => &["Function", "Service"],
            Per::Resource => &["Function", "Namespace", "Name"],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub per: Per,
    pub about: &'static str,
}

const fn m(name: &'static str, unit: Unit, per: Per, about: &'static str) -> Metric {
    Metric {
        name,
        unit,
        per,
        about,
    }
}

use Per::{Invocation as I, Resource as R, Service as S};
use Unit::{Count as N, Milliseconds as MS, Percent as PCT, Seconds as SEC};

/// What every function emits for each invocation.
pub const COMMON: &[Metric] = &[
    m("Runs", N, I, "1 when the invocation succeeded, else 0"),
    m(
        "Failures",
        N,
        I,
        "1 when the invocation failed (its errorType is in the log), else 0",
    ),
    m(
        "Duration",
        MS,
        I,
        "time spent handling the event, init excluded",
    ),
    m(
        "ApiCalls",
        N,
        S,
        "requests sent to the service (each attempt and each page counts)",
    ),
    m(
        "ApiErrors",
        N,
        S,
        "requests that got no answer or an answer ≥ 400 other than 404 and 409",
    ),
];

pub const ALARM_SCALER: &[Metric] = &[
    m("Notifications", N, I, "alarm notifications in the event"),
    m(
        "Steps",
        N,
        I,
        "scaling steps taken (or, in a dry run, decided)",
    ),
    m(
        "ReplicasBefore",
        N,
        I,
        "a stepped Deployment's replicas before the step",
    ),
    m("ReplicasAfter", N, I, "its replicas after the step"),
    m("Step", N, I, "after − before: positive up, negative down"),
    m(
        "Paused",
        N,
        I,
        "notifications consumed by a paused K8sMetricAlarm",
    ),
];

pub const ALARM_SYNC: &[Metric] = &[
    m("Resources", N, I, "K8sMetricAlarms reconciled"),
    m("AlarmsCreated", N, I, "CloudWatch alarms created"),
    m(
        "AlarmsUpdated",
        N,
        I,
        "CloudWatch alarms updated (settings or tags)",
    ),
    m("AlarmsDeleted", N, I, "CloudWatch alarms deleted"),
    m(
        "ResourceErrors",
        N,
        I,
        "K8sMetricAlarms with a problem (their status says which)",
    ),
];

pub const CONCURRENCY_SCALER: &[Metric] = &[
    m("Scalers", N, I, "LambdaConcurrencyScalers judged"),
    m(
        "Adjusted",
        N,
        I,
        "functions whose reserved concurrency was set",
    ),
    m(
        "ScalerErrors",
        N,
        I,
        "scalers with a problem (their status says which)",
    ),
    m(
        "QueueDepth",
        N,
        R,
        "the scaler's queue depth as it counts it",
    ),
    m(
        "Concurrency",
        N,
        R,
        "the reserved concurrency the policy wants",
    ),
];

pub const QUEUE_SCALER: &[Metric] = &[
    m(
        "Scalers",
        N,
        I,
        "SqsQueueScalers (and ScaledObjects) judged",
    ),
    m("Rescaled", N, I, "Deployments rescaled"),
    m(
        "ScalerErrors",
        N,
        I,
        "scalers with a problem (their status says which)",
    ),
    m(
        "QueueDepth",
        N,
        R,
        "the scaler's queue length as KEDA counts it",
    ),
    m("DesiredReplicas", N, R, "replicas the policy wants"),
    m(
        "ActualReplicas",
        N,
        R,
        "replicas the Deployment had before this run",
    ),
];

pub const IAM_SYNC: &[Metric] = &[
    m(
        "IdentitiesCreated",
        N,
        I,
        "mapUsers entries or access entries created",
    ),
    m("IdentitiesUpdated", N, I, "entries updated"),
    m("IdentitiesDeleted", N, I, "entries deleted"),
    m(
        "RecordsWritten",
        N,
        I,
        "IamUserGroup records written or deleted",
    ),
    m("InvalidRecords", N, I, "hand-applied IamUserGroups refused"),
];

pub const NODE_AUTOSCALER: &[Metric] = &[
    m("Workers", N, I, "workers seen by a periodic run"),
    m(
        "PendingPods",
        N,
        I,
        "unschedulable pending pods seen by a periodic run",
    ),
    m(
        "ClusterCpu",
        PCT,
        I,
        "cluster CPU from Prometheus (absent without data)",
    ),
    m("Launches", N, I, "workers launched"),
    m("LaunchErrors", N, I, "launches that failed"),
    m(
        "Terminations",
        N,
        I,
        "workers terminated (scale-down, Spot, unjoined)",
    ),
    m(
        "DrainAborts",
        N,
        I,
        "scale-down drains that failed: the node was kept",
    ),
    m(
        "DrainDuration",
        SEC,
        I,
        "time to drain one node, per drained node",
    ),
    m(
        "LeaseConflicts",
        N,
        I,
        "runs that found another run holding the lease",
    ),
    m(
        "SpotEvents",
        N,
        I,
        "Spot interruption warnings and rebalance recommendations handled",
    ),
];

/// Each function's own metrics, by crate name (the name `serve` is given).
pub const FUNCTIONS: &[(&str, &[Metric])] = &[
    ("alarm-scaler", ALARM_SCALER),
    ("alarm-sync", ALARM_SYNC),
    ("concurrency-scaler", CONCURRENCY_SCALER),
    ("queue-scaler", QUEUE_SCALER),
    ("iam-sync", IAM_SYNC),
    ("node-autoscaler", NODE_AUTOSCALER),
];

/// Everything `function` emits: the common metrics, then its own.
pub fn of(function: &str) -> impl Iterator<Item = &'static Metric> {
    let own = FUNCTIONS
        .iter()
        .find(|(f, _)| *f == function)
        .map_or(&[][..], |(_, list)| list);
    COMMON.iter().chain(own)
}

/// `name` as `function` emits it.
pub fn find(function: &str, name: &str) -> Option<&'static Metric> {
    of(function).find(|m| m.name == name)
}

/// One graph of the suite's dashboard (`infra/template.yaml`, one row per function), also
/// drawn by `make demo` for its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graph {
    pub title: &'static str,
    pub metrics: &'static [&'static str],
}

/// The graphs every function's row starts with.
pub const COMMON_GRAPHS: &[Graph] = &[
    Graph {
        title: "Runs and failures",
        metrics: &["Runs", "Failures"],
    },
    Graph {
        title: "Duration",
        metrics: &["Duration"],
    },
    Graph {
        title: "API calls and errors",
        metrics: &["ApiCalls", "ApiErrors"],
    },
];

/// Each function's own graph, the last of its row.
pub const GRAPHS: &[(&str, Graph)] = &[
    (
        "alarm-scaler",
        Graph {
            title: "Replicas stepped",
            metrics: &["ReplicasBefore", "ReplicasAfter", "Step"],
        },
    ),
    (
        "alarm-sync",
        Graph {
            title: "Alarms changed",
            metrics: &[
                "AlarmsCreated",
                "AlarmsUpdated",
                "AlarmsDeleted",
                "ResourceErrors",
            ],
        },
    ),
    (
        "concurrency-scaler",
        Graph {
            title: "Queue depth and concurrency",
            metrics: &["QueueDepth", "Concurrency"],
        },
    ),
    (
        "queue-scaler",
        Graph {
            title: "Queue depth and replicas",
            metrics: &["QueueDepth", "DesiredReplicas", "ActualReplicas"],
        },
    ),
    (
        "iam-sync",
        Graph {
            title: "Identity changes",
            metrics: &[
                "IdentitiesCreated",
                "IdentitiesUpdated",
                "IdentitiesDeleted",
            ],
        },
    ),
    (
        "node-autoscaler",
        Graph {
            title: "Workers",
            metrics: &["Workers", "PendingPods", "Launches", "Terminations"],
        },
    ),
];

/// `function`'s row of the dashboard, left to right.
pub fn graphs(function: &str) -> Vec<Graph> {
    let own = GRAPHS
        .iter()
        .filter(|(f, _)| *f == function)
        .map(|(_, g)| *g);
    COMMON_GRAPHS.iter().copied().chain(own).collect()
}
