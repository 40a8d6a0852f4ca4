//! `kube::Client` for an API server reached with a bearer token and a pinned CA.
//!
//! The token is attached per request from a [`BearerSource`] (cached), never baked into the
//! client, so a long-lived warm container keeps working after the token's 15 minutes. A 401
//! invalidates the source and the request is sent once more with a fresh token.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use kube::client::{Body, ConfigExt};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use crate::{EksTokenProvider, Secret};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where bearer tokens come from: the EKS token provider here; a service-account token read
/// from SSM for self-managed clusters.
pub trait BearerSource: Send + Sync + 'static {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret, BoxError>>;
    /// The server refused the last token: forget it (and whatever it was derived from).
    fn invalidate(&self) -> BoxFuture<'_, ()>;
}

impl BearerSource for EksTokenProvider {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret, BoxError>> {
        Box::pin(async move { Ok(self.token().await?.token) })
    }
    fn invalidate(&self) -> BoxFuture<'_, ()> {
        Box::pin(EksTokenProvider::invalidate(self))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    #[error(
        "API_SERVER: expected an https URL such as https://ABC.gr7.us-west-2.eks.amazonaws.com, got {0:?}"
    )]
    ApiServer(String),
    #[error(
        "CERT_AUTHORITY: expected the base64 of a PEM CA certificate (certificateAuthority.data of `aws eks describe-cluster`): {0}"
    )]
    CertificateAuthority(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// How to reach a cluster's API server.
#[derive(Clone)]
pub struct ClusterAccess {
    pub api_server: http::Uri,
    /// DER certificates of the cluster CA; the only roots trusted.
    pub ca_certs: Vec<Vec<u8>>,
    pub default_namespace: String,
    /// Bound on each attempt's wait for response headers.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for ClusterAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAccess")
            .field("api_server", &self.api_server)
            .field("ca_certs", &self.ca_certs.len())
            .finish_non_exhaustive()
    }
}

impl ClusterAccess {
    /// From `API_SERVER` and `CERT_AUTHORITY` as `aws eks describe-cluster` gives them
    /// (the CA is base64 of PEM).
    pub fn from_base64_ca(api_server: &str, ca_base64: &str) -> Result<Self, KubeClientError> {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca_base64.trim())
            .map_err(|e| KubeClientError::CertificateAuthority(format!("not base64: {e}")))?;
        Self::from_pem_ca(api_server, &pem)
    }

    pub fn from_pem_ca(api_server: &str, ca_pem: &[u8]) -> Result<Self, KubeClientError> {
        let uri: http::Uri = api_server
            .parse()
            .map_err(|_| KubeClientError::ApiServer(api_server.into()))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err(KubeClientError::ApiServer(api_server.into()));
        }
        let ca_certs = CertificateDer::pem_slice_iter(ca_pem)
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KubeClientError::CertificateAuthority(format!("not PEM: {e}")))?;
        if ca_certs.is_empty() {
            return Err(KubeClientError::CertificateAuthority(
                "no CERTIFICATE block found".into(),
            ));
        }
        Ok(Self {
            api_server: uri,
            ca_certs,
            default_namespace: "default".into(),
            request_timeout: Duration::from_secs(10),
        })
    }
}

/// A client that trusts only `access.ca_certs` and authenticates with `source`.
pub fn kube_client(
    access: &ClusterAccess,
    source: Arc<dyn BearerSource>,
) -> Result<kube::Client, KubeClientError> {
    let mut config = kube::Config::new(access.api_server.clone());
    config.root_cert = Some(access.ca_certs.clone());
    config.default_namespace = access.default_namespace.clone();
    let tls = config
        .rustls_client_config()
        .map_err(|e| KubeClientError::Tls(e.to_string()))?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    // HTTP/2 offered first, as client-go does: the API server (kube-apiserver, k3s) answers
    // h2, and a function's concurrent reads share one TLS connection instead of each opening
    // its own; HTTP/1.1 stays the fallback. kube's own connector offers HTTP/1.1 only.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .wrap_connector(tcp);
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(BearerLayer {
            source,
            timeout: access.request_timeout,
            first: Arc::default(),
        })
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

#[derive(Clone)]
struct BearerLayer {
    source: Arc<dyn BearerSource>,
    timeout: Duration,
    first: Arc<FirstAnswer>,
}

/// Until the API server has answered once, requests go one at a time. The pool learns that a
/// connection speaks HTTP/2 only when its handshake ends, so concurrent first requests (a cold
/// node-autoscaler's LISTs of nodes, pods and PDBs) would each open a TLS connection of their
/// own; waiting for the first answer costs the others one round trip and saves those
/// handshakes, on both sides. Afterwards nothing waits.
#[derive(Default)]
struct FirstAnswer {
    answered: AtomicBool,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl FirstAnswer {
    /// The turn to hold while sending, or `None` once the server has answered.
    async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if self.answered.load(Ordering::Acquire) {
            return None;
        }
        let turn = self.turn.clone().lock_owned().await;
        (!self.answered.load(Ordering::Acquire)).then_some(turn)
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;
    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            source: self.source.clone(),
            timeout: self.timeout,
            first: self.first.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Bearer<S> {
    inner: S,
    source: Arc<dyn BearerSource>,
    timeout: Duration,
    first: Arc<FirstAnswer>,
}

impl<S, B> Service<Request<Body>> for Bearer<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The ready service answers this call; a clone serves the possible retry.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        let timeout = self.timeout;
        let first = self.first.clone();
        Box::pin(async move {
            let retry = try_clone(&request);
            let token = source.bearer().await?;
            let turn = first.turn().await;
            let response = send(&mut inner, authorize(request, &token)?, timeout).await;
            if response.is_ok() {
                first.answered.store(true, Ordering::Release);
            }
            drop(turn);
            let response = response?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let Some(retry) = retry else {
                return Ok(response);
            };
            tracing::info!("API server answered 401; refreshing the token and retrying once");
            source.invalidate().await;
            let token = source.bearer().await?;
            inner.ready().await.map_err(Into::into)?;
            send(&mut inner, authorize(retry, &token)?, timeout).await
        })
    }
}

async fn send<S, B>(
    inner: &mut S,
    request: Request<Body>,
    timeout: Duration,
) -> Result<Response<B>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    let result = match tokio::time::timeout(timeout, inner.call(request)).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(format!("Kubernetes API request timed out after {timeout:?}").into()),
    };
    // Every Kubernetes request of the functions passes here: counted for their metrics.
    let failed = result.as_ref().map_or(true, |r| {
        lambda_support::metrics::api::failed(r.status().as_u16())
    });
    lambda_support::metrics::api_call("kubernetes", failed);
    result
}

fn authorize(mut request: Request<Body>, token: &Secret) -> Result<Request<Body>, BoxError> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose()))
        .map_err(|_| "bearer token is not a valid header value")?;
    value.set_sensitive(true);
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, value);
    Ok(request)
}

/// Requests from kube carry in-memory bodies; a streaming body cannot be replayed, and its
/// 401 is returned as is.
fn try_clone(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut clone = Request::new(body);
    *clone.method_mut() = request.method().clone();
    *clone.uri_mut() = request.uri().clone();
    *clone.version_mut() = request.version();
    *clone.headers_mut() = request.headers().clone();
    Some(clone)
}
