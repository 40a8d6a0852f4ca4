//! A cached EKS token source.
//!
//! Tokens are reused until `min(signed + 14 min, credentials expiry)` minus a margin, so a
//! warm invocation neither signs nor calls STS, and a token never outlives the assumed-role
//! session it was signed with (aws-iam-authenticator #401/#590). A 401 from the API server
//! drops both the token and the credentials ([`EksTokenProvider::invalidate`]).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::{EksToken, StsEndpoint, TokenError, presign};

/// Refresh this long before the token's expiry, so a request never leaves with a token that
/// expires in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Fetch new credentials this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(5 * 60);

pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

pub struct EksTokenProvider {
    cluster_id: String,
    region: String,
    endpoint: StsEndpoint,
    credentials: SharedCredentialsProvider,
    clock: Clock,
    state: tokio::sync::Mutex<State>,
    signatures: AtomicU64,
    credential_fetches: AtomicU64,
}

#[derive(Default)]
struct State {
    credentials: Option<Credentials>,
    token: Option<EksToken>,
}

impl std::fmt::Debug for EksTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksTokenProvider")
            .field("cluster_id", &self.cluster_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl EksTokenProvider {
    pub fn new(
        cluster_id: impl Into<String>,
        region: impl Into<String>,
        endpoint: StsEndpoint,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            region: region.into(),
            endpoint,
            credentials,
            clock: Arc::new(SystemTime::now),
            state: Default::default(),
            signatures: AtomicU64::new(0),
            credential_fetches: AtomicU64::new(0),
        }
    }

    /// A provider for `cluster_id` from the SDK config: its region, its credentials chain, or
    /// the role `assumed_role` assumed with them (cached and renewed before it expires), and the
    /// STS endpoint override from the environment if any.
    pub async fn from_sdk_config(
        sdk: &SdkConfig,
        cluster_id: &str,
        assumed_role: Option<&str>,
    ) -> Result<Self, ProviderError> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or(TokenError::EmptyRegion)?;
        let endpoint = StsEndpoint::from_env_or_regional(&region)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        let base = sdk.credentials_provider().ok_or_else(|| {
            ProviderError::Credentials("the SDK config has no credentials provider".into())
        })?;
        let credentials = match assumed_role {
            None => base,
            Some(role) => SharedCredentialsProvider::new(
                aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name("k8s-autoscaling-suite")
                    .configure(sdk)
                    .build()
                    .await,
            ),
        };
        Ok(Self::new(cluster_id, region, endpoint, credentials))
    }

    /// Replaces the wall clock (tests; the signing time and cache decisions use it).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// A token valid for at least another minute.
    pub async fn token(&self) -> Result<EksToken, ProviderError> {
        let now = (self.clock)();
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token
            && now + TOKEN_MARGIN < token.expires_at
            && now >= token.signed_at
        {
            return Ok(token.clone());
        }
        let stale = match &state.credentials {
            None => true,
            Some(c) => c.expiry().is_some_and(|e| now + CREDENTIALS_MARGIN >= e),
        };
        if stale {
            self.credential_fetches.fetch_add(1, Ordering::Relaxed);
            let fresh = self
                .credentials
                .provide_credentials()
                .await
                .map_err(|e| ProviderError::Credentials(error_chain(&e)))?;
            state.credentials = Some(fresh);
        }
        let credentials = state.credentials.as_ref().expect("set above");
        let token = presign(
            credentials,
            &self.cluster_id,
            &self.region,
            &self.endpoint,
            now,
        )?;
        self.signatures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            cluster = %self.cluster_id,
            expires_in_s = token.expires_at.duration_since(now).unwrap_or_default().as_secs(),
            "signed a new EKS token"
        );
        state.token = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token and the credentials: the next [`token`](Self::token) re-reads the
    /// credentials and signs again. Called when the API server answers 401.
    pub async fn invalidate(&self) {
        *self.state.lock().await = State::default();
    }

    /// How many tokens this provider has signed (a warm invocation adds none).
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    /// How many times credentials were asked of the chain (each may be an STS call).
    pub fn credential_fetches(&self) -> u64 {
        self.credential_fetches.load(Ordering::Relaxed)
    }
}

/// `e` and its sources, `: `-separated: the SDK puts the reason a credential source failed in a source.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn provider(expiry: Option<SystemTime>, now: Arc<Mutex<SystemTime>>) -> EksTokenProvider {
        let creds = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), expiry, "test");
        EksTokenProvider::new(
            "demo",
            "us-west-2",
            StsEndpoint::regional("us-west-2"),
            SharedCredentialsProvider::new(creds),
        )
        .with_clock(move || *now.lock().unwrap())
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[tokio::test]
    async fn warm_calls_reuse_the_token_until_the_margin() {
        let now = Arc::new(Mutex::new(t0()));
        let p = provider(None, now.clone());
        let first = p.token().await.unwrap();
        *now.lock().unwrap() = t0() + Duration::from_secs(12 * 60);
        let second = p.token().await.unwrap();
        assert_eq!(first.token, second.token);
        assert_eq!((p.signatures(), p.credential_fetches()), (1, 1));

        // 13 min 1 s: inside the one-minute margin of the 14-minute lifetime.
        *now.lock().unwrap() = t0() + Duration::from_secs(13 * 60 + 1);
        let third = p.token().await.unwrap();
        assert_ne!(first.token, third.token);
        // Credentials without an expiry (the Lambda environment) are not fetched again.
        assert_eq!((p.signatures(), p.credential_fetches()), (2, 1));
    }

    #[tokio::test]
    async fn token_never_outlives_the_credentials() {
        let now = Arc::new(Mutex::new(t0()));
        let p = provider(Some(t0() + Duration::from_secs(10 * 60)), now.clone());
        let token = p.token().await.unwrap();
        assert_eq!(token.expires_at, t0() + Duration::from_secs(10 * 60));
        // Still cached at +8 min; at +9.5 min the token is inside its margin, and the
        // credentials (expiring at +10 min) inside theirs: both are renewed.
        *now.lock().unwrap() = t0() + Duration::from_secs(8 * 60);
        p.token().await.unwrap();
        assert_eq!((p.signatures(), p.credential_fetches()), (1, 1));
        *now.lock().unwrap() = t0() + Duration::from_secs(9 * 60 + 30);
        p.token().await.unwrap();
        assert_eq!((p.signatures(), p.credential_fetches()), (2, 2));
    }

    #[tokio::test]
    async fn invalidate_forces_new_credentials_and_signature() {
        let now = Arc::new(Mutex::new(t0()));
        let p = provider(None, now);
        p.token().await.unwrap();
        p.invalidate().await;
        p.token().await.unwrap();
        assert_eq!((p.signatures(), p.credential_fetches()), (2, 2));
    }

    #[tokio::test]
    async fn clock_going_backwards_re_signs() {
        let now = Arc::new(Mutex::new(t0()));
        let p = provider(None, now.clone());
        p.token().await.unwrap();
        *now.lock().unwrap() = t0() - Duration::from_secs(60);
        let token = p.token().await.unwrap();
        assert_eq!(token.signed_at, t0() - Duration::from_secs(60));
    }
}
