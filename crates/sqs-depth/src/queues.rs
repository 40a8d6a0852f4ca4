//! Reading queue depth: `GetQueueAttributes` once per queue per run, even when several
//! scalers share a queue, with one SQS client per (role, region) kept across warm invocations.
//!
//! A scaler may name a role to read its queue with (the Pod Identity / TriggerAuthentication
//! idea: access to a queue is granted per scaler, not to the function). Two scalers share a
//! read only when they name the same queue, region *and* role: reading a queue with another
//! scaler's role would lend that role's access to a scaler that was never given it.
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;
use futures_util::StreamExt;

/// Queues read at the same time; SQS answers each in milliseconds, so a run over hundreds of
/// queues is bounded by this rather than by the Lambda timeout.
const PARALLEL_READS: usize = 16;

/// The three approximate counts SQS keeps for a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub visible: i64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted.
    pub in_flight: i64,
    /// `ApproximateNumberOfMessagesDelayed`: sent with a delay that has not passed.
    pub delayed: i64,
}

impl QueueDepth {
    /// Visible messages, plus in-flight and delayed ones when asked (KEDA's `scaleOnInFlight`,
    /// `scaleOnDelayed`).
    pub fn length(&self, in_flight: bool, delayed: bool) -> i64 {
        self.visible
            + if in_flight { self.in_flight } else { 0 }
            + if delayed { self.delayed } else { 0 }
    }
}

/// A queue as a scaler names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueRef {
    /// The queue URL, or its name (resolved with `GetQueueUrl`, then remembered).
    pub queue: String,
    /// `None`: the function's own region.
    pub region: Option<String>,
    /// `None`: the function's own credentials.
    pub role_arn: Option<String>,
}

impl QueueRef {
    pub fn named(queue: impl Into<String>) -> QueueRef {
        QueueRef {
            queue: queue.into(),
            region: None,
            role_arn: None,
        }
    }
}

/// What one read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueReading {
    pub url: String,
    pub arn: String,
    pub depth: QueueDepth,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqsError {
    #[error("queue {queue}: does not exist{}", as_role(role))]
    NotFound { queue: String, role: Option<String> },
    #[error("queue {queue}: access denied{}: {message}", as_role(role))]
    AccessDenied {
        queue: String,
        role: Option<String>,
        message: String,
    },
    #[error("queue {queue}: attribute {attribute} missing or not a number")]
    BadAttribute { queue: String, attribute: String },
    #[error("queue {queue}{}: {message}", as_role(role))]
    Api {
        queue: String,
        role: Option<String>,
        message: String,
    },
}

fn as_role(role: &Option<String>) -> String {
    role.as_deref()
        .map(|r| format!(" (read as {r})"))
        .unwrap_or_default()
}

type ClientKey = (Option<String>, Option<String>);

/// Reads queue depths; build once at init and reuse across invocations.
pub struct SqsDepth {
    sdk: SdkConfig,
    session_name: String,
    clients: tokio::sync::Mutex<HashMap<ClientKey, aws_sdk_sqs::Client>>,
    urls: Mutex<HashMap<(ClientKey, String), String>>,
    calls: AtomicU64,
}

impl SqsDepth {
    /// `session_name` names the sessions of assumed roles (CloudTrail shows it).
    pub fn new(sdk: &SdkConfig, session_name: &str) -> SqsDepth {
        SqsDepth {
            sdk: sdk.clone(),
            session_name: session_name.into(),
            clients: Default::default(),
            urls: Default::default(),
            calls: AtomicU64::new(0),
        }
    }

    /// SQS API calls made so far (GetQueueUrl and GetQueueAttributes).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Reads every distinct queue once, several at a time.
    pub async fn read_all(
        &self,
        queues: impl IntoIterator<Item = QueueRef>,
    ) -> HashMap<QueueRef, Result<QueueReading, SqsError>> {
        let mut distinct: Vec<QueueRef> = queues.into_iter().collect();
        distinct.sort_by(|a, b| {
            (&a.queue, &a.region, &a.role_arn).cmp(&(&b.queue, &b.region, &b.role_arn))
        });
        distinct.dedup();
        futures_util::stream::iter(distinct)
            .map(|queue| async move {
                let reading = self.read(&queue).await;
                (queue, reading)
            })
            .buffer_unordered(PARALLEL_READS)
            .collect()
            .await
    }

    /// One queue: its URL (cached), ARN and the three counts, in one GetQueueAttributes.
    pub async fn read(&self, queue: &QueueRef) -> Result<QueueReading, SqsError> {
        let key = (queue.role_arn.clone(), queue.region.clone());
        let client = self.client(&key).await;
        let url = self.url(&client, &key, queue).await?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                // A deleted queue's URL must not stay cached: it may be recreated under a name.
                self.urls
                    .lock()
                    .expect("url cache")
                    .remove(&(key, queue.queue.clone()));
                return Err(classify(queue, e));
            }
        };
        let attributes = out.attributes();
        let get = |name: QueueAttributeName| -> Result<&str, SqsError> {
            attributes
                .and_then(|a| a.get(&name))
                .map(String::as_str)
                .ok_or_else(|| SqsError::BadAttribute {
                    queue: queue.queue.clone(),
                    attribute: name.as_str().into(),
                })
        };
        let count = |name: QueueAttributeName| -> Result<i64, SqsError> {
            let attribute = name.as_str().to_owned();
            get(name)?.parse().map_err(|_| SqsError::BadAttribute {
                queue: queue.queue.clone(),
                attribute,
            })
        };
        Ok(QueueReading {
            arn: get(QueueAttributeName::QueueArn)?.to_owned(),
            depth: QueueDepth {
                visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
                in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
                delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
            },
            url,
        })
    }

    async fn client(&self, key: &ClientKey) -> aws_sdk_sqs::Client {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(key) {
            return client.clone();
        }
        let (role, region) = key;
        let mut config = aws_sdk_sqs::config::Builder::from(&self.sdk);
        if let Some(region) = region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        if let Some(role) = role {
            // The assumed role's credentials are cached by the client's identity cache and
            // renewed before they expire, so a warm function assumes each role about hourly.
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(&self.session_name)
                .configure(&self.sdk)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        let client = aws_sdk_sqs::Client::from_conf(config.build());
        clients.insert(key.clone(), client.clone());
        client
    }

    async fn url(
        &self,
        client: &aws_sdk_sqs::Client,
        key: &ClientKey,
        queue: &QueueRef,
    ) -> Result<String, SqsError> {
        if queue.queue.starts_with("https://") || queue.queue.starts_with("http://") {
            return Ok(queue.queue.clone());
        }
        let cache_key = (key.clone(), queue.queue.clone());
        if let Some(url) = self.urls.lock().expect("url cache").get(&cache_key) {
            return Ok(url.clone());
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out = client
            .get_queue_url()
            .queue_name(&queue.queue)
            .send()
            .await
            .map_err(|e| classify(queue, e))?;
        let url = out.queue_url().unwrap_or_default().to_owned();
        self.urls
            .lock()
            .expect("url cache")
            .insert(cache_key, url.clone());
        Ok(url)
    }
}

fn classify<E, R>(queue: &QueueRef, e: SdkError<E, R>) -> SqsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let name = queue.queue.clone();
    let role = queue.role_arn.clone();
    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
    match code {
        "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" => {
            SqsError::NotFound { queue: name, role }
        }
        "AccessDenied" | "AccessDeniedException" => SqsError::AccessDenied {
            queue: name,
            role,
            message: e
                .as_service_error()
                .and_then(|s| s.message())
                .unwrap_or("")
                .to_owned(),
        },
        _ => SqsError::Api {
            queue: name,
            role,
            message: DisplayErrorContext(&e).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_what_it_is_asked_to() {
        let d = QueueDepth {
            visible: 30,
            in_flight: 4,
            delayed: 2,
        };
        assert_eq!(d.length(false, false), 30);
        assert_eq!(d.length(true, false), 34);
        assert_eq!(d.length(true, true), 36);
        assert_eq!(d.length(false, true), 32);
    }

    #[test]
    fn errors_name_the_queue_and_the_role() {
        let e = SqsError::NotFound {
            queue: "orders".into(),
            role: Some("arn:aws:iam::1:role/r".into()),
        };
        assert_eq!(
            e.to_string(),
            "queue orders: does not exist (read as arn:aws:iam::1:role/r)"
        );
    }
}
