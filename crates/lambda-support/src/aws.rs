//! The AWS SDK configuration every function loads once at init.
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::{ConfigError, Env};

/// The default chain as in any AWS SDK: credentials from the environment (the Lambda
/// execution role), region from `AWS_REGION`, endpoint overrides from `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` (local stand-ins). One TLS stack for the whole suite:
/// rustls with ring, shared with the Kubernetes client. Calls time out as [`timeouts`] says.
pub async fn load_sdk_config() -> Result<SdkConfig, ConfigError> {
    load_sdk_config_in(None).await
}

/// As [`load_sdk_config`], with the region given instead of resolved from the chain.
pub async fn load_sdk_config_in(region: Option<String>) -> Result<SdkConfig, ConfigError> {
    let mut env = Env::from_pairs(
        std::env::var(ATTEMPT_TIMEOUT)
            .ok()
            .map(|v| (ATTEMPT_TIMEOUT, v)),
    );
    let timeouts = timeouts(&mut env);
    env.finish()?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts);
    // In Lambda the execution role's credentials and the region are environment variables:
    // the first link of each default chain, the one that answers there. Taking them from
    // that link directly spares every cold start building the links after it — a
    // web-identity provider with its own STS client (which parses the endpoint partition
    // table), IMDS clients, profile readers: a third of a function's init instructions
    // (callgrind, `make bench` notes). Anywhere else the full chains are built as usual.
    let region = region.or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.trim().is_empty()))
    });
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let from_env = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var(v).is_ok_and(|k| !k.trim().is_empty()));
    if from_env {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    Ok(loader.load().await)
}

/// How long an AWS call may take. The SDK's defaults bound only the connect (3.1 s): an
/// endpoint that accepts and never answers would hold the invocation until Lambda's own
/// timeout kills it, with no error naming the call. Each attempt is bounded by
/// `AWS_ATTEMPT_TIMEOUT_SECONDS` (default 10 s; a timed-out attempt is retried like any
/// transient error, up to the SDK's 3 attempts) and the whole call, retries included, by
/// 25 s — below the shortest function timeout of the template (30 s), so the invocation
/// fails with the call's name instead of being killed.
pub fn timeouts(env: &mut Env) -> TimeoutConfig {
    let attempt = env
        .optional_with(
            ATTEMPT_TIMEOUT,
            "seconds, more than 0 and at most 600",
            |v| v.parse().ok().filter(|s: &f64| *s > 0.0 && *s <= 600.0),
        )
        .map_or(Duration::from_secs(10), Duration::from_secs_f64);
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100).min(attempt))
        .operation_attempt_timeout(attempt)
        .operation_timeout(OPERATION_TIMEOUT.max(attempt))
        .build()
}

const ATTEMPT_TIMEOUT: &str = "AWS_ATTEMPT_TIMEOUT_SECONDS";
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The HTTP client of every SDK client of the process, also for those built outside
/// [`load_sdk_config`] (per-region clients).
///
/// One HTTPS client, built on the first request rather than at init: aws-smithy-http-client
/// builds and validates a TLS connector (parsing the trust store) whenever an SDK client is
/// constructed, which made each extra client of a function cost its cold start ~0.6 ms. Here
/// the trust store is parsed once per process, when the first AWS call needs it, and every
/// client shares the connectors (cached per timeout settings by the inner client).
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstUse)
}

static HTTPS: OnceLock<SharedHttpClient> = OnceLock::new();

#[derive(Debug)]
struct OnFirstUse;

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let connector = HTTPS
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .tls_context(tls_context())
                    .build_https()
            })
            .http_connector(settings, components);
        // Every AWS request of the process passes here: counted per service (metrics).
        SharedHttpConnector::new(crate::metrics::api::Counting(connector))
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// An SDK client built on its first use, not at init.
///
/// Constructing an SDK client parses its crate's endpoint partition table and compiles the
/// table's region patterns (~0.4 M instructions, callgrind) — for a client the invocation
/// may not even need (node-autoscaler reads SSM only when a worker is launched). Built on
/// the first call through `Deref`, once per process; clones share it.
pub struct LazyClient<C> {
    inner: Arc<LazyInner<C>>,
}

type Build<C> = Box<dyn Fn() -> C + Send + Sync>;

struct LazyInner<C> {
    client: OnceLock<C>,
    build: Option<Build<C>>,
}

impl<C: 'static> LazyClient<C> {
    /// `build` is the SDK's `Client::new`: `LazyClient::new(&sdk, aws_sdk_ec2::Client::new)`.
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        let sdk = sdk.clone();
        let build: Build<C> = Box::new(move || build(&sdk));
        LazyClient {
            inner: Arc::new(LazyInner {
                client: OnceLock::new(),
                build: Some(build),
            }),
        }
    }
}

/// A client already built (tests, clients with their own configuration).
impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        LazyClient {
            inner: Arc::new(LazyInner {
                client: OnceLock::from(client),
                build: None,
            }),
        }
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        LazyClient {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.inner.client.get_or_init(|| {
            let build = self.inner.build.as_ref();
            build.expect("a LazyClient is either built or has a builder")()
        })
    }
}

/// Which roots AWS endpoints are verified against.
///
/// By default Mozilla's root programme as compiled in (`webpki-root-certs`, kept by the
/// rustls project), not the system store: the SDK loads its trust store when a client is
/// built at init, and the system store means reading and parsing every file under the
/// certificate directory — measured as most of a function's start-up (`make bench`). Every
/// AWS endpoint chains to Amazon Trust Services roots, which Mozilla's programme includes.
/// Setting `SSL_CERT_FILE` or `SSL_CERT_DIR` (a proxy with its own CA, say) selects the
/// system store as those variables name it, as for any rustls-native-certs user.
pub fn tls_context() -> TlsContext {
    let system = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let store = if system {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(compiled_in_roots_pem())
    };
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store without extra server names always builds")
}

/// `webpki-root-certs`' DER certificates as one PEM bundle (the form `TrustStore` takes).
fn compiled_in_roots_pem() -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::with_capacity(256 * 1024);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = b64.encode(cert.as_ref());
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_client_is_built_once_on_first_use_and_shared_by_clones() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        fn build(sdk: &SdkConfig) -> Option<String> {
            BUILT.fetch_add(1, Ordering::SeqCst);
            sdk.region().map(|r| r.to_string())
        }
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let client = LazyClient::new(&sdk, build);
        let twin = client.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0);
        assert_eq!(twin.as_deref(), Some("eu-west-1"));
        assert_eq!(client.as_deref(), Some("eu-west-1"));
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        let given = LazyClient::from(Some("built".to_owned()));
        assert_eq!(given.as_deref(), Some("built"));
    }

    #[test]
    fn timeouts_default_to_10_s_per_attempt_and_25_s_per_call() {
        let mut env = Env::from_pairs([("X", "y")]);
        let t = timeouts(&mut env);
        env.finish().unwrap();
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(25)));
        assert_eq!(t.connect_timeout(), Some(Duration::from_millis(3100)));
    }

    #[test]
    fn the_attempt_timeout_is_configurable_and_checked() {
        let mut env = Env::from_pairs([("AWS_ATTEMPT_TIMEOUT_SECONDS", "0.5")]);
        let t = timeouts(&mut env);
        env.finish().unwrap();
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(t.connect_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(25)));
        for bad in ["0", "-1", "ten", "601"] {
            let mut env = Env::from_pairs([("AWS_ATTEMPT_TIMEOUT_SECONDS", bad)]);
            timeouts(&mut env);
            let err = env.finish().unwrap_err().to_string();
            assert!(err.contains("AWS_ATTEMPT_TIMEOUT_SECONDS"), "{bad}: {err}");
            assert!(err.contains("expected seconds"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_compiled_in_bundle_holds_every_root_and_amazons() {
        let pem = String::from_utf8(compiled_in_roots_pem()).unwrap();
        let n = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(n, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(n > 100, "{n} roots");
        // Amazon Root CA 1's DER carries its subject in clear: the bundle is the full set,
        // not a subset that would fail on AWS endpoints.
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|c| c.as_ref().windows(14).any(|w| w == b"Amazon Root CA"))
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }
}
