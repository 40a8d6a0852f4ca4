//! The comparison functions (a) and (b) of the cold-start bench: each makes one function's
//! first remote calls — its first AWS call ([`FirstCall`]) and its first Kubernetes request,
//! authenticated as the function's is ([`Kubernetes`]) — its clients built at init and its
//! parameters read from the environment, and answers with what the calls returned. One
//! binary per service and kind (`src/bin/cold-<floor|defaults>-<service>.rs`, a line each),
//! so that each links only its own SDK crate: a binary linking every SDK would be larger and
//! slower to load than the function it is compared with. Never shipped.
use std::future::Future;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// A function's first AWS call: its client built from `sdk` at init, then made once per
/// invocation.
pub trait FirstCall: Sized {
    fn new(sdk: &SdkConfig) -> Result<Self, Error>;
    fn call(&self) -> impl Future<Output = Result<Value, Error>>;
}

/// A function's cluster and how its first request is authenticated: the client is built
/// at init, the credential fetched on first use, as the functions do it.
pub trait Kubernetes {
    fn client(sdk: &SdkConfig) -> impl Future<Output = Result<kube::Client, Error>>;
}

/// The EKS functions': `eks-auth`'s client as they build it (`CLUSTER_NAME`, `API_SERVER`,
/// `CERT_AUTHORITY`), a token presigned with the execution role's credentials.
pub struct Eks;

impl Kubernetes for Eks {
    async fn client(sdk: &SdkConfig) -> Result<kube::Client, Error> {
        let mut env = lambda_support::Env::from_process();
        let cluster = eks_auth::EksCluster::from_env(&mut env);
        env.finish()?;
        let cluster = cluster.ok_or("CLUSTER_NAME, API_SERVER, CERT_AUTHORITY")?;
        Ok(cluster.kube_client(sdk).await?)
    }
}

/// node-autoscaler's: the k3s API server (`API_SERVER`, `CERT_AUTHORITY`) with the
/// service-account token it reads from the SSM SecureString `K8S_API_TOKEN_PARAM`: the
/// `eks-auth` pieces node-autoscaler's `KubeClients` puts together (testbed cannot call it:
/// node-autoscaler's tests depend on testbed).
pub struct K3s;

impl Kubernetes for K3s {
    async fn client(sdk: &SdkConfig) -> Result<kube::Client, Error> {
        let access =
            eks_auth::ClusterAccess::from_base64_ca(&var("API_SERVER")?, &var("CERT_AUTHORITY")?)?;
        let ssm = lambda_support::aws::LazyClient::new(sdk, aws_sdk_ssm::Client::new);
        let token = eks_auth::SsmTokenSource::new(ssm, var("K8S_API_TOKEN_PARAM")?);
        Ok(eks_auth::kube_client(&access, Arc::new(token))?)
    }
}

/// (a): the floor (`lambda-floor`) extended with the suite's SDK loader
/// (`lambda_support::aws`) and the calls.
pub async fn floor<C: FirstCall, K: Kubernetes>() -> Result<(), Error> {
    lambda_support::init_tracing();
    let sdk = lambda_support::aws::load_sdk_config().await?;
    let kube = K::client(&sdk).await?;
    serve(C::new(&sdk)?, kube).await
}

/// (b): a straightforward Rust function making the calls, as the SDK's examples write it:
/// aws-config's `defaults(...).load()` with the HTTPS client its `default-https-client`
/// feature would add (rustls; here on ring, the workspace's one TLS stack, since that
/// feature would bring aws-lc into the workspace's feature resolution), and the same
/// Kubernetes client on those credentials.
pub async fn defaults<C: FirstCall, K: Kubernetes>() -> Result<(), Error> {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await;
    let kube = K::client(&sdk).await?;
    serve(C::new(&sdk)?, kube).await
}

/// Each invocation: the AWS call, then the function's first Kubernetes request
/// (`KUBE_FIRST_REQUEST`, a GET path: the LIST or GET the function starts with, under the
/// function's identity and so its RBAC), answered with the size of what it returned.
async fn serve<C: FirstCall>(call: C, kube: kube::Client) -> Result<(), Error> {
    let path = var("KUBE_FIRST_REQUEST")?;
    let (call, kube, path) = (&call, &kube, &path);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
        let mut answer = call.call().await?;
        let request = http::Request::get(path).body(Vec::new())?;
        answer["kubernetesBytes"] = json!(kube.request_text(request).await?.len());
        Ok::<_, Error>(answer)
    }))
    .await
}

fn var(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|e| format!("{name}: {e}").into())
}

/// queue-scaler's: SQS GetQueueAttributes on `QUEUE_URL`, the attributes `sqs_depth` reads.
/// With `QUEUE_NAME` instead (concurrency-scaler's scalers name their queue), the URL is
/// looked up with GetQueueUrl on the first call and kept, as `sqs_depth` does.
pub struct GetQueueAttributes {
    sqs: aws_sdk_sqs::Client,
    url: tokio::sync::OnceCell<String>,
    name: Option<String>,
}

impl FirstCall for GetQueueAttributes {
    fn new(sdk: &SdkConfig) -> Result<Self, Error> {
        let (url, name) = match var("QUEUE_URL") {
            Ok(url) => (tokio::sync::OnceCell::from(url), None),
            Err(_) => (tokio::sync::OnceCell::new(), Some(var("QUEUE_NAME")?)),
        };
        Ok(GetQueueAttributes {
            sqs: aws_sdk_sqs::Client::new(sdk),
            url,
            name,
        })
    }

    async fn call(&self) -> Result<Value, Error> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let url = self
            .url
            .get_or_try_init(|| async {
                let name = self.name.as_deref().unwrap_or_default();
                let out = self.sqs.get_queue_url().queue_name(name).send().await?;
                Ok::<_, Error>(out.queue_url().unwrap_or_default().to_owned())
            })
            .await?;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .attribute_names(A::QueueArn)
            .send()
            .await?;
        let messages = out
            .attributes()
            .and_then(|a| a.get(&A::ApproximateNumberOfMessages))
            .and_then(|n| n.parse::<u64>().ok());
        Ok(json!({ "messages": messages }))
    }
}

/// concurrency-scaler's: the queue's GetQueueUrl (first call only) and GetQueueAttributes,
/// then its first Lambda call, GetFunctionConcurrency of `FUNCTION_NAME` (a pass reads both
/// before it decides).
pub struct GetQueueAttributesThenConcurrency {
    queue: GetQueueAttributes,
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl FirstCall for GetQueueAttributesThenConcurrency {
    fn new(sdk: &SdkConfig) -> Result<Self, Error> {
        Ok(GetQueueAttributesThenConcurrency {
            queue: GetQueueAttributes::new(sdk)?,
            lambda: aws_sdk_lambda::Client::new(sdk),
            function: var("FUNCTION_NAME")?,
        })
    }

    async fn call(&self) -> Result<Value, Error> {
        // Boxed: nested in the runtime's service future, the layout otherwise overflows
        // rustc's query depth.
        let mut answer = Box::pin(self.queue.call()).await?;
        let out = self
            .lambda
            .get_function_concurrency()
            .function_name(&self.function)
            .send()
            .await?;
        answer["reserved"] = json!(out.reserved_concurrent_executions());
        Ok(answer)
    }
}

/// alarm-scaler's and alarm-sync's, by `CLOUDWATCH_CALL`: `set-alarm-state` is
/// alarm-scaler's re-arm (SetAlarmState OK on `ALARM_NAMES`' one alarm), `describe-alarms`
/// alarm-sync's first look (DescribeAlarms of the metric alarms `ALARM_NAMES` lists).
pub struct CloudWatch {
    cloudwatch: aws_sdk_cloudwatch::Client,
    set_alarm_state: bool,
    alarms: Vec<String>,
}

impl FirstCall for CloudWatch {
    fn new(sdk: &SdkConfig) -> Result<Self, Error> {
        let set_alarm_state = match var("CLOUDWATCH_CALL")?.as_str() {
            "set-alarm-state" => true,
            "describe-alarms" => false,
            other => return Err(format!("CLOUDWATCH_CALL: unknown call {other}").into()),
        };
        Ok(CloudWatch {
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            set_alarm_state,
            alarms: var("ALARM_NAMES")?.split(',').map(Into::into).collect(),
        })
    }

    async fn call(&self) -> Result<Value, Error> {
        if self.set_alarm_state {
            self.cloudwatch
                .set_alarm_state()
                .alarm_name(&self.alarms[0])
                .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
                .state_reason("re-armed")
                .send()
                .await?;
            return Ok(json!({ "rearmed": true }));
        }
        let out = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(self.alarms.clone()))
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .send()
            .await?;
        Ok(json!({ "alarms": out.metric_alarms().len() }))
    }
}

/// iam-sync's: IAM GetGroup of the mapped group `GROUP_NAME` (its members).
pub struct GetGroup {
    iam: aws_sdk_iam::Client,
    group: String,
}

impl FirstCall for GetGroup {
    fn new(sdk: &SdkConfig) -> Result<Self, Error> {
        Ok(GetGroup {
            iam: aws_sdk_iam::Client::new(sdk),
            group: var("GROUP_NAME")?,
        })
    }

    async fn call(&self) -> Result<Value, Error> {
        let out = self.iam.get_group().group_name(&self.group).send().await?;
        Ok(json!({ "members": out.users().len() }))
    }
}

/// node-autoscaler's: DynamoDB UpdateItem taking a lease in `STATE_TABLE` with the function's
/// condition and update, on an item of its own (`lease#bench`, so the function's
/// `lease#periodic` is never held by it), for no time (expiring at once), so that the next
/// process takes it again.
pub struct TakeLease {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl FirstCall for TakeLease {
    fn new(sdk: &SdkConfig) -> Result<Self, Error> {
        Ok(TakeLease {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            table: var("STATE_TABLE")?,
        })
    }

    async fn call(&self) -> Result<Value, Error> {
        use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
        let now = jiff::Timestamp::now().as_second().to_string();
        let n = |v: &str| AttributeValue::N(v.to_owned());
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("lease#bench".into()))
            .update_expression(
                "SET #owner = :owner, expires_at = :expires, fence = if_not_exists(fence, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S("bench".into()))
            .expression_attribute_values(":expires", n(&now))
            .expression_attribute_values(":now", n(&now))
            .expression_attribute_values(":zero", n("0"))
            .expression_attribute_values(":one", n("1"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await?;
        let fence = out.attributes().and_then(|a| a.get("fence")).cloned();
        Ok(json!({ "fence": fence.and_then(|f| f.as_n().ok().cloned()) }))
    }
}
