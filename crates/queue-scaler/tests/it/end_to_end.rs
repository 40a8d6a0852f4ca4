//! queue-scaler end to end: the real binary under the Lambda emulator, moto for SQS and STS
//! (two accounts), the testbed API server authenticating the function's EKS token and
//! authorizing it with `infra/k8s/rbac/queue-scaler.yaml` only.
use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_ops::crd::sqs_queue::SqsQueueScalerStatus;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use testbed::harness::rbac::Grant;
use testbed::world::grants::Run;
use testbed::world::scaler_pass::{self, ScalerPass};
use testbed::world::{World, repo, t0};

use crate::support::{self, FUNCTION, KEDA_ON, Scalers, create_queue, send};

const PARTNER_ROLE: &str = "arn:aws:iam::999999999999:role/jobs-reader";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_semantics_from_and_to_zero_with_status_events_and_per_scaler_errors() {
    let w = support::world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    // A queue in another account, readable only through the role the scaler names.
    let partner_sqs = w.sqs_as(PARTNER_ROLE).await;
    let partner_jobs = create_queue(&partner_sqs, "partner-jobs").await;
    for (name, replicas) in [("worker", 0), ("twin", 1), ("partner", 1), ("lone", 1)] {
        w.create_deployment("default", name, replicas).await;
    }
    let keda = |target: &str, queue: &str| json!({"scaleTargetRef": {"name": target}, "queueURL": queue, "queueLength": 10, "maxReplicaCount": 5});
    w.create_scaler("worker", keda("worker", &jobs)).await;
    w.create_scaler("twin", keda("twin", &jobs)).await; // same queue: read once
    w.create_scaler("ghost", keda("ghost", &jobs)).await; // no such Deployment yet
    // Not in our account. (Its own Deployment: one target has one owner.)
    w.create_scaler("no-role", keda("lone", "partner-jobs"))
        .await;
    w.create_scaler(
        "partner",
        json!({"scaleTargetRef": {"name": "partner"}, "queueURL": "partner-jobs", "roleArn": PARTNER_ROLE,
               "queueLength": 5, "minReplicaCount": 1, "maxReplicaCount": 10}),
    )
    .await;
    send(&w.sqs(), &jobs, 30).await;
    send(&partner_sqs, &partner_jobs, 12).await;
    let t0 = t0();

    // DRY_RUN decides and logs, writes nothing.
    {
        let mut dry = w.spawn(FUNCTION, &[("DRY_RUN", "true")]);
        let summary = w.run(t0).expect("dry run");
        assert_eq!(
            (summary["dryRun"].as_bool(), summary["rescaled"].as_u64()),
            (Some(true), Some(3)),
            "{summary}"
        );
        let line = dry
            .wait_for_json(Duration::from_secs(10), |v| {
                v["fields"]["scaler"] == "default/worker"
                    && v["fields"]["decision"] == "scale_from_zero"
            })
            .expect("a decision line for worker");
        assert_eq!(line["fields"]["to"].as_i64(), Some(3), "{line}");
        assert_eq!(w.replicas("default", "worker").await, 0);
        assert_eq!(w.status("worker").await, Default::default());
        assert!(w.events("default", "worker").await.is_empty());
        dry.kill();
    }
    let _function = w.spawn(FUNCTION, &[]);

    // Run 1: KEDA's example, 30 messages / 10 per replica → 3, straight from zero.
    let summary = w.run(t0).expect("run 1");
    assert_eq!(
        (
            summary["scalers"].as_u64(),
            summary["rescaled"].as_u64(),
            summary["errors"].as_u64()
        ),
        (Some(5), Some(3), Some(2)),
        "{summary}"
    );
    // jobs once for worker, twin and ghost; partner-jobs: GetQueueUrl + attributes as the
    // role; partner-jobs by name in our account: GetQueueUrl, refused.
    assert_eq!(summary["apiCalls"]["sqs"].as_u64(), Some(4), "{summary}");
    assert_eq!(
        (
            w.replicas("default", "worker").await,
            w.replicas("default", "twin").await,
            w.replicas("default", "partner").await
        ),
        (3, 3, 3)
    );
    let s = w.status("worker").await;
    assert_eq!(
        (s.current_replicas, s.desired_replicas, s.queue_length),
        (Some(3), Some(3), Some(30))
    );
    assert_eq!(
        (
            s.last_scale_time.map(|t| t.0),
            s.inactive_since,
            s.observed_generation
        ),
        (Some(t0), None, Some(1))
    );
    assert_eq!(w.condition("worker", "Active").await.0, "True");
    assert_eq!(w.condition("worker", "Ready").await.0, "True");
    assert_eq!(
        w.events("default", "worker").await,
        [(
            "Normal".into(),
            "SuccessfulRescale".into(),
            "New size: 3; reason: queue length 30 above activation 0 at zero replicas".into()
        )]
    );
    let (_, _, message) = w
        .events("default", "partner")
        .await
        .pop()
        .expect("partner event");
    assert_eq!(
        message,
        "New size: 3; reason: queue length 12 / target 5 per replica"
    );
    for (name, reason, message) in [
        (
            "ghost",
            "FailedGetScale",
            "Deployment ghost not found".to_owned(),
        ),
        (
            "no-role",
            "FailedGetQueueLength",
            "queue partner-jobs: does not exist".to_owned(),
        ),
    ] {
        let ready = w.condition(name, "Ready").await;
        assert_eq!(
            ready,
            ("False".into(), reason.into(), message.clone()),
            "{name}"
        );
        assert_eq!(
            w.events("default", name).await,
            [("Warning".into(), reason.into(), message)],
            "{name}"
        );
    }

    // The queue drains: inactive from now on; HPA's default 300 s scale-down window holds
    // the 3 replicas recommended at t0 until they leave it.
    w.sqs().purge_queue().queue_url(&jobs).send().await.unwrap();
    w.run(t0 + 60.seconds()).expect("run 2");
    assert_eq!(w.replicas("default", "worker").await, 3);
    let (_, _, ready) = w.condition("worker", "Ready").await;
    assert!(ready.contains("ScaleDownStabilized"), "{ready}");
    let s = w.status("worker").await;
    assert_eq!(s.inactive_since.map(|t| t.0), Some(t0 + 60.seconds()));
    assert_eq!(w.condition("worker", "Active").await.0, "False");
    assert_eq!(
        w.events("default", "ghost").await.len(),
        1,
        "a lasting error is not re-announced"
    );

    // 4 of the 5 cooldown minutes, t0's recommendation out of the window: down to one.
    w.run(t0 + 300.seconds()).expect("run 3");
    assert_eq!(w.replicas("default", "worker").await, 1);
    assert_eq!(
        w.status("worker").await.inactive_since.map(|t| t.0),
        Some(t0 + 60.seconds())
    );

    // The cooldown is over: zero.
    w.run(t0 + 360.seconds()).expect("run 4");
    assert_eq!(w.replicas("default", "worker").await, 0);
    assert_eq!(
        w.events("default", "worker").await.pop().unwrap().2,
        "New size: 0; reason: queue inactive (length 0 ≤ activation 0) for the cooldown of 300s"
    );
    assert_eq!(
        w.replicas("default", "partner").await,
        3,
        "partner's queue still has 12 messages"
    );

    // Messages again: from zero at the next run; the errors' causes are fixed meanwhile.
    send(&w.sqs(), &jobs, 3).await;
    w.create_deployment("default", "ghost", 0).await;
    w.scalers()
        .patch(
            "no-role",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"roleArn": PARTNER_ROLE}})),
        )
        .await
        .unwrap();
    let summary = w.run(t0 + 420.seconds()).expect("run 5");
    assert_eq!(summary["errors"].as_u64(), Some(0), "{summary}");
    assert_eq!(
        (
            w.replicas("default", "worker").await,
            w.replicas("default", "ghost").await
        ),
        (1, 1)
    );
    let s = w.status("worker").await;
    assert_eq!(
        (s.inactive_since, s.last_scale_time.map(|t| t.0)),
        (None, Some(t0 + 420.seconds()))
    );
    for name in ["ghost", "no-role"] {
        let (status, reason, _) = w.condition(name, "Ready").await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("True", "ScalerReady"),
            "{name} recovered"
        );
    }
    assert_eq!(w.status("no-role").await.observed_generation, Some(2));
}

/// The sample applies to the generated CRD, and the API server fills in KEDA's defaults from
/// the schema for a minimal scaler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_applies_and_keda_defaults_are_filled_in() {
    use testbed::harness::{Cluster, ClusterConfig};
    let tb = Cluster::start(ClusterConfig {
        manifests: vec![
            repo("infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml"),
            repo("infra/k8s/samples/sqsqueuescaler.yaml"),
        ],
        ..Default::default()
    })
    .await
    .expect("cluster with the sample");
    tb.load_yaml("apiVersion: autoscaling.k8s-lambda.dev/v1alpha1\nkind: SqsQueueScaler\nmetadata: {name: minimal, namespace: default}\nspec: {scaleTargetRef: {name: w}, queueURL: jobs}\n")
        .unwrap();
    let sample = tb
        .get(
            "sqsqueuescalers.autoscaling.k8s-lambda.dev",
            "default",
            "worker",
        )
        .unwrap();
    assert_eq!(
        sample["spec"]["roleArn"],
        "arn:aws:iam::123456789012:role/orders-queue-reader"
    );
    let minimal = tb
        .get(
            "sqsqueuescalers.autoscaling.k8s-lambda.dev",
            "default",
            "minimal",
        )
        .unwrap();
    assert_eq!(
        minimal["spec"],
        json!({"scaleTargetRef": {"name": "w", "kind": "Deployment", "apiVersion": "apps/v1"}, "queueURL": "jobs",
               "queueLength": 5, "activationQueueLength": 0, "scaleOnInFlight": true, "scaleOnDelayed": false,
               "minReplicaCount": 0, "maxReplicaCount": 100, "cooldownPeriod": 300})
    );
}

/// The Deployment `worker` of the scaler of that name: every run from one replica (30
/// messages, 10 per replica) rescales it to 3. Beside it, KEDA ScaledObject [`IDLE_SO`]
/// (`KEDA_SCALED_OBJECTS=true`), whose queue is empty and whose StatefulSet is at one replica,
/// below its minReplicaCount of 2: every run from [`reset`](ScalerPass::reset) rescales it to
/// 2 and records when its queue went inactive.
struct Worker<'w>(&'w World);

const IDLE_SO: &str = "keda-idle";
const INACTIVE_SINCE: &str = "autoscaling.k8s-lambda.dev/inactive-since";

impl ScalerPass for Worker<'_> {
    type Target = i32;
    type Status = SqsQueueScalerStatus;
    const KINDS: &'static str = "SqsQueueScalers";
    const CHANGES: &'static str = "rescaled";
    const REASON: &'static str = "SuccessfulRescale";

    async fn reset(&self) {
        self.0
            .deployments("default")
            .patch(
                "worker",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 1}})),
            )
            .await
            .expect("replicas back to 1");
        Api::<StatefulSet>::namespaced(self.0.admin.clone(), "default")
            .patch(
                IDLE_SO,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 1}})),
            )
            .await
            .expect("StatefulSet back to 1");
        self.0
            .annotate_so("default", IDLE_SO, &[(INACTIVE_SINCE, None)])
            .await;
    }

    async fn target(&self) -> i32 {
        self.0.replicas("default", "worker").await
    }

    fn changed(&self) -> i32 {
        3
    }

    async fn status(&self) -> SqsQueueScalerStatus {
        self.0.status("worker").await
    }

    async fn records_change(&self, status: &SqsQueueScalerStatus, at: Timestamp, what: &str) {
        assert_eq!(
            status.last_scale_time.as_ref().map(|t| t.0),
            Some(at),
            "{what}"
        );
        assert_eq!(
            self.0.condition("worker", "Ready").await.0,
            "True",
            "{what}"
        );
    }
}

/// Each grant of `infra/k8s/rbac/queue-scaler.yaml` — one verb on one resource — is needed,
/// with `KEDA_SCALED_OBJECTS=true` (its KEDA grants go unused without): with the ClusterRole
/// holding every grant but that one, a run that would rescale the Deployment fails on
/// exactly that grant, as the function's failure behaviour says (the run fails; or the
/// scaler's status says so; or, for Events, which are best effort, the rescale happens
/// unrecorded; or, for a ScaledObject, the response and a Warning say so), and changes
/// nothing it should not. With every grant back, the run rescales and records it
/// ([`scaler_pass::every_grant_is_needed`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rbac_grant_is_needed() {
    let w = support::keda_world().await;
    let jobs = create_queue(&w.sqs(), "jobs").await;
    let idle = create_queue(&w.sqs(), "idle").await;
    w.create_deployment("default", "worker", 1).await;
    w.create_scaler(
        "worker",
        json!({"scaleTargetRef": {"name": "worker"}, "queueURL": jobs, "queueLength": 10, "maxReplicaCount": 5}),
    )
    .await;
    let mut statefulset = testbed::harness::manifests::deployment(
        "default",
        IDLE_SO,
        1,
        json!({"name": "app", "image": "busybox"}),
    );
    statefulset["kind"] = json!("StatefulSet");
    statefulset["spec"]["serviceName"] = json!(IDLE_SO);
    w.cluster
        .load_yaml(&statefulset.to_string())
        .expect("StatefulSet");
    let so = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                    "metadata": {"name": IDLE_SO, "namespace": "default"},
                    "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": IDLE_SO}, "minReplicaCount": 2,
                             "triggers": [{"type": "aws-sqs-queue",
                                           "metadata": {"queueURL": idle, "awsRegion": "us-east-1"}}]}});
    w.cluster.load_yaml(&so.to_string()).expect("ScaledObject");
    // 30 messages, 10 per replica: every run wants 3 replicas; each run starts from 1.
    send(&w.sqs(), &jobs, 30).await;
    let mut function = w.spawn(FUNCTION, &[KEDA_ON]);
    let experiment = w.grants_of(FUNCTION, ("default", "worker"), t0() + 3600.seconds());
    assert_eq!(experiment.grants.len(), 12, "{:?}", experiment.grants);
    let other = async |grant: &Grant, run: &Run| {
        let what = &run.what;
        let keda_errors = |run: &Run| {
            run.result
                .as_ref()
                .map(|s| s["scaledObjects"]["errors"].as_u64())
                .ok()
                .flatten()
        };
        if let Some(kinds) = [
            ("scaledobjects", "ScaledObjects"),
            ("triggerauthentications", "TriggerAuthentications"),
            ("horizontalpodautoscalers", "HorizontalPodAutoscalers"),
            ("k8smetricalarms", "K8sMetricAlarms"),
        ]
        .into_iter()
        .find_map(|(resource, kinds)| grant.is("list", resource).then_some(kinds))
        {
            // Listed before anything is decided: the run fails and nothing changes.
            run.refused(&format!("listing {kinds}"));
            assert_eq!(w.replicas("default", "worker").await, 1, "{what}");
            let since = w.so_annotation("default", IDLE_SO, INACTIVE_SINCE).await;
            assert_eq!(since, None, "{what}");
            run.recorded(&[]);
            return;
        }
        // The ScaledObject cannot keep what the next run needs (patch), or its StatefulSet
        // cannot be rescaled: its problem, reported in the response and a Warning naming
        // the denied grant; the SqsQueueScaler is rescaled as usual.
        let keda_problem = if grant.is("patch", "scaledobjects") {
            Some("FailedRecordInactivity")
        } else if grant.is("get", "statefulsets/scale") || grant.is("update", "statefulsets/scale")
        {
            Some("FailedRescale")
        } else {
            None
        };
        if let Some(reason) = keda_problem {
            run.counted(&[("rescaled", 1), ("errors", 0)]);
            assert_eq!(keda_errors(run), Some(1), "{what}");
            assert_eq!(w.replicas("default", "worker").await, 3, "{what}");
            let warning = w.events("default", IDLE_SO).await.pop().expect("a Warning");
            assert_eq!(
                (warning.0.as_str(), warning.1.as_str()),
                ("Warning", reason)
            );
            assert!(grant.denied_in(&warning.2), "{what}: {warning:?}");
            return;
        }
        // Without reading or writing the scale, the scaler fails alone, by design: its
        // status says why (Ready=False) and a Warning Event too; the replicas stay.
        assert!(
            grant.is("get", "deployments/scale") || grant.is("update", "deployments/scale"),
            "{what}: a grant this test has no flow for; add its case"
        );
        run.counted(&[("rescaled", 0), ("errors", 1)]);
        assert_eq!(w.replicas("default", "worker").await, 1, "{what}");
        let (ready, reason, message) = w.condition("worker", "Ready").await;
        assert_eq!(
            (ready.as_str(), reason.as_str()),
            ("False", "FailedRescale")
        );
        assert!(grant.denied_in(&message), "{what}: {message}");
        run.recorded(&["FailedRescale"]);
        assert_eq!(run.events[0].0, "Warning", "{what}");
        assert!(
            grant.denied_in(&run.events[0].2),
            "{what}: {:?}",
            run.events
        );
        // The ScaledObject's target is a StatefulSet: not affected.
        assert_eq!(keda_errors(run), Some(0), "{what}");
    };
    scaler_pass::every_grant_is_needed(&experiment, &Worker(&w), &mut function, other).await;
    // The last run had every grant: it recorded the ScaledObject's inactivity.
    assert!(
        w.so_annotation("default", IDLE_SO, INACTIVE_SINCE)
            .await
            .is_some()
    );
}
