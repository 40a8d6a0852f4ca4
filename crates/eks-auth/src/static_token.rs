//! Static service-account tokens for self-managed clusters (k3s on EC2), where there is no
//! EKS authenticator: the token of a service-account token Secret is kept in an SSM
//! SecureString parameter and read with decryption.
//!
//! [`SsmTokenSource`] reads the parameter once and caches the value; concurrent first
//! requests share one read. [`kube_client`](crate::kube_client) invalidates it when the API
//! server answers 401 and retries once, so rotating the token is: write the new token to the
//! parameter, then revoke the old one; the first request refused afterwards re-reads the
//! parameter. (Requests in flight at rotation each see their 401 and re-read, so a burst of
//! `n` concurrent requests costs at most `n` reads, once.)
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ssm::error::DisplayErrorContext;
use lambda_support::aws::LazyClient;

use crate::Secret;
use crate::client::{BearerSource, BoxError};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SsmTokenError {
    #[error("SSM GetParameter {name} (WithDecryption) failed: {message}")]
    Read { name: String, message: String },
    #[error("SSM parameter {name} has no value (expected the service-account token)")]
    Empty { name: String },
}

/// A bearer token read from an SSM SecureString parameter; see the module documentation.
/// `Debug` shows the parameter name and whether a token is cached, never the token.
pub struct SsmTokenSource {
    ssm: LazyClient<aws_sdk_ssm::Client>,
    parameter_name: String,
    cached: tokio::sync::Mutex<Option<Secret>>,
    reads: AtomicU64,
}

impl std::fmt::Debug for SsmTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.cached.try_lock().map(|c| c.is_some()).ok();
        f.debug_struct("SsmTokenSource")
            .field("parameter_name", &self.parameter_name)
            .field("cached", &cached)
            .field("reads", &self.reads())
            .finish_non_exhaustive()
    }
}

impl SsmTokenSource {
    /// Reads `parameter_name` (a name or ARN) through `ssm` on first use.
    pub fn new(ssm: impl Into<LazyClient<aws_sdk_ssm::Client>>, parameter_name: String) -> Self {
        SsmTokenSource {
            ssm: ssm.into(),
            parameter_name,
            cached: tokio::sync::Mutex::new(None),
            reads: AtomicU64::new(0),
        }
    }

    pub fn parameter_name(&self) -> &str {
        &self.parameter_name
    }

    /// The cached token, or the parameter's value read now (whitespace trimmed: token files
    /// often end with a newline).
    pub async fn token(&self) -> Result<Secret, SsmTokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let out = self
            .ssm
            .get_parameter()
            .name(&self.parameter_name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| SsmTokenError::Read {
                name: self.parameter_name.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        let token = out
            .parameter()
            .and_then(|p| p.value())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| SsmTokenError::Empty {
                name: self.parameter_name.clone(),
            })?;
        tracing::debug!(parameter = %self.parameter_name, reads = self.reads(), "read the service-account token from SSM");
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token: the next [`token`](Self::token) reads the parameter again.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// How many times the parameter was read.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl BearerSource for SsmTokenSource {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret, BoxError>> {
        Box::pin(async move { Ok(self.token().await?) })
    }
    fn invalidate(&self) -> BoxFuture<'_, ()> {
        Box::pin(SsmTokenSource::invalidate(self))
    }
}
