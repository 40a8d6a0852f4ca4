//! One fixture per function on the stand-ins, set up so that its first invocation does its
//! real work and, after one unmeasured run, every run does the same (steady): what it is
//! invoked with, the environment it runs with, and the parameters of (a), (b) and (c).
use std::any::Any;
use std::time::Duration;

use serde_json::{Value, json};

use crate::world::cloudwatch::{TOPIC, notification};
use crate::world::k3s::{self, K3s};
use crate::world::{ACCOUNT, World, scheduled};

type Env = Vec<(String, String)>;

/// A function's stand-ins, running until dropped.
pub(super) struct Stand {
    _world: Box<dyn Any>,
    /// The function's environment, as the world deploys it.
    pub function_env: Env,
    /// What (a), (b) and (c) read besides it: where their call goes.
    pub call_env: Env,
    /// The event of the `n`th run.
    pub event: Box<dyn Fn(usize) -> Value>,
}

impl Stand {
    fn new(world: impl Any, function_env: Env, call_env: &[(&str, &str)]) -> Stand {
        Stand {
            _world: Box::new(world),
            function_env,
            call_env: owned(call_env),
            event: Box::new(|_| scheduled(jiff::Timestamp::now())),
        }
    }
}

fn owned(env: &[(&str, &str)]) -> Env {
    env.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `function`'s world with its CRD and RBAC file; the webhook's token cache off, so that a new
/// token is verified anew (each process signs a new one: `bench::NEW_TOKEN_SECOND`),
/// as a new sandbox's would be.
fn world(function: &str, crd: &str) -> crate::world::Builder {
    World::builder()
        .function(function)
        .manifests([
            format!("infra/k8s/crds/{crd}.yaml"),
            format!("infra/k8s/rbac/{function}.yaml"),
        ])
        .token_cache_ttl(Duration::ZERO)
}

pub(super) async fn start(function: &str) -> Result<Stand, String> {
    match function {
        "queue-scaler" => queue_scaler().await,
        "alarm-scaler" => alarm_scaler().await,
        "alarm-sync" => alarm_sync().await,
        "iam-sync" => iam_sync().await,
        "concurrency-scaler" => concurrency_scaler().await,
        "node-autoscaler" => Ok(node_autoscaler().await),
        other => Err(format!("no cold-start fixture for {other}")),
    }
}

/// One SqsQueueScaler over 12 messages, 5 per replica: its Deployment at 3 already.
async fn queue_scaler() -> Result<Stand, String> {
    const F: &str = "queue-scaler";
    let crd = "sqsqueuescalers.autoscaling.k8s-lambda.dev";
    let w = world(F, crd).try_start().await.map_err(|e| e.to_string())?;
    let sqs = aws_sdk_sqs::Client::new(&w.aws);
    let queue = crate::world::sqs::create_queue(&sqs, "jobs").await;
    crate::world::sqs::send(&sqs, &queue, 12).await;
    w.create_deployment("default", "worker", 3).await;
    let scaler = json!({
        "apiVersion": "autoscaling.k8s-lambda.dev/v1alpha1", "kind": "SqsQueueScaler",
        "metadata": {"name": "worker", "namespace": "default"},
        "spec": {"scaleTargetRef": {"name": "worker"}, "queueURL": queue,
                 "queueLength": 5, "maxReplicaCount": 5},
    });
    w.cluster.load_yaml(&scaler.to_string())?;
    let env = w.env_of(F).map_err(|e| e.to_string())?;
    Ok(Stand::new(w, env, &[("QUEUE_URL", &queue)]))
}

/// The sample K8sMetricAlarm, its Deployment at its maximum (10), its scale-up alarm in
/// moto: each run is a new notification of that alarm, held at the maximum and re-armed.
async fn alarm_scaler() -> Result<Stand, String> {
    const F: &str = "alarm-scaler";
    let w = world(F, "k8smetricalarms.containerinsights.eks.com")
        .try_start()
        .await
        .map_err(|e| e.to_string())?;
    w.create_deployment("web", "web", 10).await;
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    let name = "web-http-rate-high";
    w.cloudwatch()
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("ContainerInsights/Prometheus")
        .metric_name("http_requests_total")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(5)
        .threshold(10.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .map_err(|e| format!("PutMetricAlarm: {e:?}"))?;
    let alarm = w.alarm(name).await.ok_or("the alarm just put")?;
    let env = w.env_of(F).map_err(|e| e.to_string())?;
    let call = [
        ("CLOUDWATCH_CALL", "set-alarm-state"),
        ("ALARM_NAMES", name),
    ];
    let mut stand = Stand::new(w, env, &call);
    stand.event = Box::new(move |n| notification(&alarm, &format!("bench-{n}"), "ALARM"));
    Ok(stand)
}

/// The sample K8sMetricAlarm: the first run creates its two alarms, later ones find them
/// as they should be.
async fn alarm_sync() -> Result<Stand, String> {
    const F: &str = "alarm-sync";
    let w = world(F, "k8smetricalarms.containerinsights.eks.com")
        .env("SNS_TOPIC_ARN", TOPIC)
        .try_start()
        .await
        .map_err(|e| e.to_string())?;
    w.create_deployment("web", "web", 4).await;
    w.apply("infra/k8s/samples/k8smetricalarm-web.yaml");
    let env = w.env_of(F).map_err(|e| e.to_string())?;
    let call = [
        ("CLOUDWATCH_CALL", "describe-alarms"),
        ("ALARM_NAMES", "web-cpu-low,web-http-rate-high"),
    ];
    Ok(Stand::new(w, env, &call))
}

/// IAM group `developers` (two users) mapped to `dev-readers` in the group mapping, aws-auth
/// as a resync: the first run adds the users, later ones find them.
async fn iam_sync() -> Result<Stand, String> {
    const F: &str = "iam-sync";
    let mapping = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: iam-sync-groups, namespace: kube-system}\ndata:\n  mapGroups: |\n    - iamGroup: developers\n      kubernetesGroups: [dev-readers]\n";
    let w = world(F, "iamusergroups.octank.com")
        .yaml(mapping)
        .try_start()
        .await
        .map_err(|e| e.to_string())?;
    let iam = aws_sdk_iam::Client::new(&w.aws);
    let error = |e: &dyn std::fmt::Debug| format!("IAM set-up: {e:?}");
    iam.create_group()
        .group_name("developers")
        .send()
        .await
        .map_err(|e| error(&e))?;
    for user in ["alice", "bob"] {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| error(&e))?;
        iam.add_user_to_group()
            .group_name("developers")
            .user_name(user)
            .send()
            .await
            .map_err(|e| error(&e))?;
    }
    let env = w.env_of(F).map_err(|e| e.to_string())?;
    Ok(Stand::new(w, env, &[("GROUP_NAME", "developers")]))
}

/// One LambdaConcurrencyScaler of function `consumer` fed by an empty queue through a
/// mapping at its minimum (2): every run reads the queue and the function and holds.
async fn concurrency_scaler() -> Result<Stand, String> {
    const F: &str = "concurrency-scaler";
    let w = world(F, "lambdaconcurrencyscalers.aws.operators.jittakal.io")
        // moto enforces the account's unreserved-concurrency floor only when told the quota.
        .moto_env("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
        .try_start()
        .await
        .map_err(|e| e.to_string())?;
    let error = |e: &dyn std::fmt::Debug| format!("Lambda set-up: {e:?}");
    crate::world::consumers::create_role(&w.aws).await?;
    crate::world::consumers::create_function(&w.aws, "consumer").await?;
    let lambda = aws_sdk_lambda::Client::new(&w.aws);
    let sqs = aws_sdk_sqs::Client::new(&w.aws);
    crate::world::sqs::create_queue(&sqs, "jobs").await;
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:jobs");
    let scaling = aws_sdk_lambda::types::ScalingConfig::builder()
        .maximum_concurrency(2)
        .build();
    lambda
        .create_event_source_mapping()
        .event_source_arn(&arn)
        .function_name("consumer")
        .scaling_config(scaling)
        .send()
        .await
        .map_err(|e| error(&e))?;
    let scaler = json!({
        "apiVersion": "aws.operators.jittakal.io/v1alpha1", "kind": "LambdaConcurrencyScaler",
        "metadata": {"name": "consumer", "namespace": "default"},
        "spec": {"awsSQSName": "jobs", "awsSQSMsgCountThreshold": 10,
                 "awsLambdaName": "consumer", "awsLambdaMinConcurrency": 2,
                 "awsLamndaMaxConcurrency": 20, "awsLambdaStepConcurrency": 2},
    });
    w.cluster.load_yaml(&scaler.to_string())?;
    let env = w.env_of(F).map_err(|e| e.to_string())?;
    // The scaler names its queue (`awsSQSName`), so the function's first SQS call is
    // GetQueueUrl, kept for the warm run: (a), (b), (c) look it up too.
    let call = [("QUEUE_NAME", "jobs"), ("FUNCTION_NAME", "consumer")];
    Ok(Stand::new(w, env, &call))
}

/// The k3s world with one worker (the minimum), its CPU 30 % busy and nothing pending: each
/// run takes the lease, observes EC2, the cluster, Prometheus and its state, decides to hold,
/// releases the lease and logs its decision.
async fn node_autoscaler() -> Stand {
    let k = K3s::start(&k3s::steady_metrics(0.3, 0)).await;
    k.worker(0, "worker-1").await;
    let env = k.env_of(k3s::FUNCTION).expect("deployed");
    // (a), (b) and (c) take a lease of their own in the function's STATE_TABLE.
    Stand::new(k, env, &[])
}
