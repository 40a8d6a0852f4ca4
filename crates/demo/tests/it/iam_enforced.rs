//! IAM, enforced: the demo's functions run their flows against moto with its IAM enforcement
//! on, each with credentials of its execution role holding exactly the template's policy
//! (`scripts/sam-expand.py`, as moto can evaluate it: `testbed::world::iam`). Every flow
//! passes with it; withholding any one action (PutRolePolicy between runs, in the same moto)
//! makes a flow fail with moto's AccessDenied naming that action, in the function's error or
//! log — the IAM counterpart of the RBAC minimality tests.
use demo::FUNCTIONS;
use demo::stage::{Stage, sample};
use demo::steps::{alarms, iam as iam_steps, queues};
use serde_json::{Value, json};
use testbed::harness::manifests;
use testbed::world::CLUSTER;
use testbed::world::iam;

/// An alarm only its tags tie to the sample K8sMetricAlarm web/web-http-rate.
const LEGACY_ALARM: &str = "web-legacy-high";
const LEGACY_TAGS: [(&str, &str); 2] = [
    ("kubernetes-namespace", "web"),
    ("kubernetes-name", "web-http-rate"),
];

/// The queue reader role the sample SqsQueueScaler names: trusted by any principal of the
/// account (moto compares a trust policy's principal with the session ARN, not the role's).
const READER_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;

/// The sample SqsQueueScaler without `roleArn`, naming its queue by name: queue-scaler reads
/// the queue as itself, its URL from GetQueueUrl.
const DIRECT_SCALER: &str = "
apiVersion: autoscaling.k8s-lambda.dev/v1alpha1
kind: SqsQueueScaler
metadata: {name: direct, namespace: default}
spec:
  scaleTargetRef: {name: direct}
  queueURL: orders
  queueLength: 10
  maxReplicaCount: 20
";

/// One run of `function`'s flows on a process of its own (a new deployment: nothing a warm
/// process remembers, such as a queue's URL or an assumed role's credentials, saves a call):
/// what it answered or failed with, and what it logged.
async fn run_flows(w: &mut Stage, function: &str, message: &mut u32) -> String {
    let events: Vec<Value> = match function {
        "alarm-sync" => {
            reset_alarms(w).await;
            vec![sample("events/alarm-sync/scheduled.json").unwrap()]
        }
        "alarm-scaler" => {
            w.world.breach("web-http-rate-high").await;
            *message += 1;
            let id = format!("iam-enforced-{message}");
            // An alarm in the original operator's style, found through its tags (one
            // ListTagsForResource) as no K8sMetricAlarm names it.
            put_alarm(w, LEGACY_ALARM, &LEGACY_TAGS).await;
            vec![
                alarms::fired(w, "web-http-rate-high", &id).await.unwrap(),
                alarms::fired(w, LEGACY_ALARM, &format!("{id}-tags"))
                    .await
                    .unwrap(),
            ]
        }
        "concurrency-scaler" => {
            let lambda = aws_sdk_lambda::Client::new(&w.world.aws);
            let _ = lambda
                .delete_function_concurrency()
                .function_name("orders-consumer")
                .send()
                .await;
            // The sample scales Both: its mapping's maximum concurrency is unset too, so each
            // run writes the mapping (UpdateEventSourceMapping) as well.
            let listed = lambda
                .list_event_source_mappings()
                .function_name("orders-consumer")
                .send()
                .await;
            for m in listed.iter().flat_map(|l| l.event_source_mappings()) {
                let _ = lambda
                    .update_event_source_mapping()
                    .uuid(m.uuid().unwrap_or_default())
                    .scaling_config(aws_sdk_lambda::types::ScalingConfig::builder().build())
                    .send()
                    .await;
            }
            vec![queues::scheduled("events/concurrency-scaler/scheduled.json").unwrap()]
        }
        "queue-scaler" => vec![queues::scheduled("events/queue-scaler/scheduled.json").unwrap()],
        "iam-sync" => vec![
            sample("events/iam-sync/add-user-to-group.json").unwrap(),
            sample("events/iam-sync/scheduled.json").unwrap(),
        ],
        other => panic!("no flow for {other}"),
    };
    w.deploy(function, &[]).unwrap();
    let mut out = String::new();
    for event in &events {
        match w.invoke(function, event) {
            Ok((response, _)) => out.push_str(&format!("ok: {response}\n")),
            Err(e) => out.push_str(&format!("error: {e}\n")),
        }
    }
    out + &w.logs(function)
}

/// No alarm but an orphan alarm-sync marked (its K8sMetricAlarm is gone) and the sample's
/// scale-up alarm unmarked: a run creates and tags the sample's other alarm, updates and tags
/// (TagResource: PutMetricAlarm leaves an existing alarm's tags) the unmarked one, and
/// deletes the orphan.
async fn reset_alarms(w: &Stage) {
    let names = w.world.alarm_names().await;
    if !names.is_empty() {
        let cw = w.world.cloudwatch();
        cw.delete_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .unwrap();
    }
    let marks = [
        ("k8s-lambda-autoscalers:cluster", CLUSTER),
        ("k8s-lambda-autoscalers:k8smetricalarm", "web/gone"),
    ];
    put_alarm(w, "orphan-high", &marks).await;
    put_alarm(w, "web-http-rate-high", &[]).await;
}

/// Alarm `name`, named by no K8sMetricAlarm, with `tags`.
async fn put_alarm(w: &Stage, name: &str, tags: &[(&str, &str)]) {
    let cw = w.world.cloudwatch();
    cw.put_metric_alarm()
        .alarm_name(name)
        .metric_name("x")
        .namespace("ContainerInsights")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}");
    if tags.is_empty() {
        // moto keeps a deleted alarm's tags for the next alarm of its name (and answers
        // ResourceNotFound when there are none, the first time).
        let _ = cw
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("k8s-lambda-autoscalers:cluster")
            .tag_keys("k8s-lambda-autoscalers:k8smetricalarm")
            .send()
            .await;
        return;
    }
    let tags = tags.iter().map(|(k, v)| {
        aws_sdk_cloudwatch::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
    });
    cw.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .unwrap();
}

/// The demo's seeds for every function, done with moto's set-up credentials (before
/// enforcement): the alarm, queue, consumer and IAM fixtures, and the queue reader role.
async fn seed(w: &mut Stage) {
    alarms::seed(w).unwrap();
    let url = queues::seed_queue(w).await.unwrap();
    queues::seed_consumer(w, &url).await.unwrap();
    let container = json!({"name": "direct", "image": "busybox:1.36",
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}});
    let direct = manifests::deployment("default", "direct", 0, container);
    w.world.cluster.load_yaml(&direct.to_string()).unwrap();
    w.world.cluster.load_yaml(DIRECT_SCALER).unwrap();
    // The original's sample names queue `sqsName`, which does not exist: its error (the
    // demo shows it) would stand in every run, beside what this test looks for.
    w.world
        .cluster
        .kubectl(
            &[
                "delete",
                "lambdaconcurrencyscalers",
                "lambdaconcurrencyscaler-sample",
            ],
            "",
        )
        .unwrap();
    iam_steps::seed_membership(w).await.unwrap();
    // The original's opt-in: every other IAM group mapped by its name, from ListGroups.
    let same_names = json!({"data": {"sameNameGroups": "true"}}).to_string();
    w.world
        .cluster
        .kubectl(
            &[
                "patch",
                "configmap",
                "iam-sync-groups",
                "-n",
                "kube-system",
                "--type=merge",
                "-p",
                &same_names,
            ],
            "",
        )
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&w.world.aws);
    iam.create_role()
        .role_name("orders-queue-reader")
        .assume_role_policy_document(READER_TRUST)
        .send()
        .await
        .unwrap();
    let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
        "Resource": "arn:aws:sqs:us-east-1:123456789012:orders"}]});
    iam.put_role_policy()
        .role_name("orders-queue-reader")
        .policy_name("read")
        .policy_document(read.to_string())
        .send()
        .await
        .unwrap();
}

/// The flows of `function` pass with its exact role: no refusal, no error.
async fn passes(w: &mut Stage, function: &str, message: &mut u32) {
    let out = run_flows(w, function, message).await;
    assert!(
        !out.contains("is not authorized") && !out.contains("error:"),
        "{function} with its exact role:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_passes_with_the_exact_role_and_each_action_is_needed() {
    let roles = iam::world_roles().unwrap();
    let mut w = Stage::start(&FUNCTIONS).await.unwrap();
    seed(&mut w).await;
    let ours: Vec<_> = roles
        .into_iter()
        .filter(|(r, _)| FUNCTIONS.contains(&r.as_str()))
        .collect();
    assert_eq!(ours.len(), FUNCTIONS.len(), "a role per function: {ours:?}");
    let admin = iam::enforce(&w.world.moto, &ours).await.unwrap();
    w.world.aws = admin.clone();
    let mut message = 0;
    let mut unexercised = Vec::new();
    let skip = iam::LAMBDAS_OWN.map(|(a, _)| a);
    // In the demo's order: alarm-scaler steps on the alarms alarm-sync makes.
    for function in FUNCTIONS {
        let role = ours.iter().find(|(r, _)| r == function).unwrap();
        passes(&mut w, function, &mut message).await;
        let unnoticed = iam::unnoticed(&admin, role, &skip, async || {
            run_flows(&mut w, function, &mut message).await
        })
        .await
        .unwrap();
        unexercised.extend(
            unnoticed
                .into_iter()
                .map(|(a, out)| (format!("{function} {a}"), out)),
        );
        // The exact role back: the flows pass again (and leave what the next function needs).
        passes(&mut w, function, &mut message).await;
    }
    assert!(
        unexercised.is_empty(),
        "actions whose withholding no flow noticed:\n{}",
        iam::describe(&unexercised)
    );
}
