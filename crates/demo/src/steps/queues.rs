//! queue-scaler scales a Deployment from zero by its SQS queue (KEDA's aws-sqs-queue rule);
//! concurrency-scaler steps a Lambda function's reserved concurrency by the same queue. Then
//! queue-scaler once more in dry-run mode: the plan printed, nothing written.
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::{Value, json};
use testbed::harness::manifests;
use testbed::world::repo;

use crate::show;
use crate::stage::{Error, Stage, sample};

/// An empty zip: moto stores the function without running it.
const EMPTY_ZIP: [u8; 22] = *b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// Queue `orders` with 25 messages, Deployment default/worker at 0 and the sample
/// SqsQueueScaler; queue-scaler deployed. Returns the queue URL.
pub async fn seed_queue(w: &mut Stage) -> Result<String, Error> {
    let sqs = aws_sdk_sqs::Client::new(&w.world.aws);
    let url = sqs
        .create_queue()
        .queue_name("orders")
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    send(&sqs, &url, 25).await?;
    let container = json!({"name": "worker", "image": "busybox:1.36",
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}});
    let worker = manifests::deployment("default", "worker", 0, container);
    w.world.cluster.load_yaml(&worker.to_string())?;
    w.world
        .cluster
        .load_manifests(&[repo("infra/k8s/samples/sqsqueuescaler.yaml")])?;
    w.deploy("queue-scaler", &[])?;
    Ok(url)
}

/// Function `orders-consumer` (reserved concurrency unset) mapped to the queue at `url`,
/// 200 more messages, the sample LambdaConcurrencyScalers; concurrency-scaler deployed.
pub async fn seed_consumer(w: &mut Stage, url: &str) -> Result<(), Error> {
    let sqs = aws_sdk_sqs::Client::new(&w.world.aws);
    let lambda = aws_sdk_lambda::Client::new(&w.world.aws);
    aws_sdk_iam::Client::new(&w.world.aws)
        .create_role()
        .role_name("orders-consumer")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await?;
    lambda
        .create_function()
        .function_name("orders-consumer")
        .runtime(Runtime::Providedal2023)
        .role("arn:aws:iam::123456789012:role/orders-consumer")
        .handler("bootstrap")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    lambda
        .create_event_source_mapping()
        .event_source_arn(queue_arn)
        .function_name("orders-consumer")
        .send()
        .await?;
    send(&sqs, url, 200).await?;
    w.world
        .cluster
        .load_manifests(&[repo("infra/k8s/samples/lambdaconcurrencyscaler.yaml")])?;
    w.deploy("concurrency-scaler", &[])
}

pub async fn run(w: &mut Stage) -> Result<(), Error> {
    let url = seed_queue(w).await?;
    let sqs = aws_sdk_sqs::Client::new(&w.world.aws);
    let lambda = aws_sdk_lambda::Client::new(&w.world.aws);

    show::heading(
        "queue-scaler",
        "EventBridge schedule → SqsQueueScaler: Deployment replicas from SQS depth (KEDA rules)",
    );
    show::event("events/queue-scaler/scheduled.json", "time set to now");
    show::before(&format!(
        "queue orders {} messages; deployment default/worker replicas={}",
        depth(&sqs, &url).await?,
        w.world.replicas("default", "worker").await
    ));
    let response = w.invoke(
        "queue-scaler",
        &scheduled("events/queue-scaler/scheduled.json")?,
    )?;
    show::decided(&response, 24);
    show::after(&format!(
        "deployment default/worker replicas={} (ceil(25 / queueLength 10))",
        w.world.replicas("default", "worker").await
    ));

    show::heading(
        "concurrency-scaler",
        "EventBridge schedule → LambdaConcurrencyScaler: reserved concurrency from SQS depth",
    );
    seed_consumer(w, &url).await?;
    show::event(
        "events/concurrency-scaler/scheduled.json",
        "time set to now",
    );
    show::before(&format!(
        "queue orders {} messages (threshold 200); orders-consumer reserved concurrency {}",
        depth(&sqs, &url).await?,
        reserved(&lambda, "orders-consumer").await?
    ));
    show::note(
        "lambdaconcurrencyscaler-sample names a queue and function that do not exist: its error stays its own",
    );
    let response = w.invoke(
        "concurrency-scaler",
        &scheduled("events/concurrency-scaler/scheduled.json")?,
    )?;
    show::decided(&response, 24);
    show::after(&format!(
        "orders-consumer reserved concurrency {}",
        reserved(&lambda, "orders-consumer").await?
    ));

    show::heading(
        "queue-scaler (DRY_RUN=true)",
        "the plan printed, nothing written",
    );
    w.deploy("queue-scaler", &[("DRY_RUN", "true")])?;
    show::before(&format!(
        "queue orders {} messages; deployment default/worker replicas={}",
        depth(&sqs, &url).await?,
        w.world.replicas("default", "worker").await
    ));
    let response = w.invoke(
        "queue-scaler",
        &scheduled("events/queue-scaler/scheduled.json")?,
    )?;
    show::decided(&response, 24);
    show::after(&format!(
        "deployment default/worker replicas={} (unchanged: dry run)",
        w.world.replicas("default", "worker").await
    ));
    Ok(())
}

/// The sample scheduled event, fired now.
pub fn scheduled(path: &str) -> Result<Value, Error> {
    let mut event = sample(path)?;
    event["time"] = json!(jiff::Timestamp::now().to_string());
    Ok(event)
}

pub async fn send(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Result<(), Error> {
    for start in (0..n).step_by(10) {
        let entries = (start..(start + 10).min(n))
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(format!("order {i}"))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqs.send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, Error> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    Ok(attrs
        .attributes()
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        })
        .unwrap_or_default())
}

pub async fn reserved(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<String, Error> {
    let out = lambda
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await?;
    Ok(out
        .reserved_concurrent_executions()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unset".into()))
}
