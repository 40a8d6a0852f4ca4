//! What the real control plane cannot do here, as a thin layer in front of it: fault
//! injection ([`FaultConfig`] rules by verb, resource and namespace: an error status, a delay,
//! a dropped connection — on HTTP/2 a reset stream, the connection's other requests going on —,
//! each request and its answer logged), a [`Barrier`] holding
//! concurrent requests until all have arrived, and the EKS API stand-in (`/clusters/…`: DescribeCluster and access
//! entries, which `AWS_ENDPOINT_URL_EKS` points at). Every other byte goes to kube-apiserver
//! unchanged, over one HTTP/2 connection (TLS verified against the cluster CA); the
//! functions reach the cluster through this address, so the faults apply to their calls.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::barrier::{Barrier, BarrierReport, Held};
use super::eks_api::{EksApi, error_type};
use super::faults::{FaultConfig, Faults, Served};
use crate::harness::{Error, Result};
use paths::{Query, parse_target, verb};
use status::{ApiError, error_response, json_response};

mod paths;
mod status;

type Body = BoxBody<Bytes, hyper::Error>;

/// How long kube-apiserver may take to connect or to answer a request's headers (a watch's
/// come at once), unless a test sets another ([`Front::set_upstream_deadline`]). It answers
/// in milliseconds and ends a request itself at 60 s; a request unanswered this long sits on
/// a wedged HTTP/2 connection (clients' reports of such stalls: seanmonstar/reqwest#1323),
/// which the front replaces instead of waiting on it for ever.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(30);

struct Shared {
    upstream: SocketAddr,
    connector: TlsConnector,
    sender: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
    /// [`UPSTREAM_DEADLINE`], or a test's.
    deadline: Mutex<Duration>,
    faults: Mutex<Faults>,
    barrier: Held,
    /// Every bearer token a client sent (to search logs for them).
    bearers: Mutex<std::collections::BTreeSet<String>>,
    /// The protocol of each client connection accepted, in order (`h2`, `http/1.1`).
    connections: Mutex<Vec<String>>,
    eks: EksApi,
}

/// The running front; stops when dropped.
pub struct Front {
    pub url: String,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Front {
    pub fn set_faults(&self, faults: FaultConfig) {
        lock(&self.shared.faults).set(faults);
    }
    pub fn faults_fired(&self) -> Vec<u64> {
        lock(&self.shared.faults).fired().to_vec()
    }
    pub fn pause_faults(&self, paused: bool) {
        lock(&self.shared.faults).pause(paused);
    }
    pub fn fault_log(&self) -> Vec<Served> {
        lock(&self.shared.faults).log().to_vec()
    }
    pub fn set_barrier(&self, barrier: Option<Barrier>) {
        self.shared.barrier.arm(barrier);
    }
    pub fn barrier_report(&self) -> BarrierReport {
        self.shared.barrier.report()
    }
    pub fn connections(&self) -> Vec<String> {
        lock(&self.shared.connections).clone()
    }
    pub fn bearer_tokens(&self) -> Vec<String> {
        lock(&self.shared.bearers).iter().cloned().collect()
    }
    pub fn eks_api(&self) -> &EksApi {
        &self.shared.eks
    }
    pub fn set_upstream_deadline(&self, deadline: Duration) {
        *lock(&self.shared.deadline) = deadline;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Listens on a free loopback port with `server_tls`, forwarding to `upstream`
/// (kube-apiserver, its certificate signed by `ca_der`). `eks(url)` makes the EKS API
/// stand-in once the front's own URL is known (DescribeCluster reports it).
pub fn start(
    server_tls: rustls::ServerConfig,
    upstream: SocketAddr,
    ca_der: &[u8],
    eks: impl FnOnce(&str) -> EksApi,
) -> Result<Front> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::new(format!("front listener: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::new(format!("front listener: {e}")))?;
    let url = format!("https://{addr}");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| Error::new(format!("cluster CA: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(format!("front TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let shared = Arc::new(Shared {
        upstream,
        connector: TlsConnector::from(Arc::new(client)),
        sender: tokio::sync::Mutex::new(None),
        deadline: Mutex::new(UPSTREAM_DEADLINE),
        faults: Mutex::new(Faults::default()),
        barrier: Held::default(),
        bearers: Mutex::default(),
        connections: Mutex::default(),
        eks: eks(&url),
    });
    let acceptor = TlsAcceptor::from(Arc::new(server_tls));
    let serving = shared.clone();
    let stop = super::serve_on_thread("cluster-front", listener, move |listener| {
        accept(listener, acceptor, serving)
    })?;
    Ok(Front {
        url,
        shared,
        _stop: stop,
    })
}

async fn accept(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let protocol = stream.get_ref().1.alpn_protocol().unwrap_or(b"http/1.1");
            lock(&shared.connections).push(String::from_utf8_lossy(protocol).into_owned());
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Body>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| {
        let v = v.to_str().ok()?;
        v.strip_prefix("Bearer ").map(str::to_owned)
    });
    if let Some(token) = bearer {
        lock(&shared.bearers).insert(token);
    }
    if path == "/clusters" || path.starts_with("/clusters/") {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or(path);
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let (code, v) = shared.eks.handle(&method, &pq, &body);
        let mut response = json_response(code.as_u16(), &v);
        if let Some(kind) = error_type(&v).and_then(|t| t.parse().ok()) {
            response.headers_mut().insert("x-amzn-errortype", kind);
        }
        return Ok(response);
    }
    let Some(target) = parse_target(&path) else {
        return Ok(served(&shared, req).await);
    };
    let query = Query::parse(req.uri().query());
    let resource = match &target.subresource {
        Some(s) => format!("{}/{s}", target.resource),
        None => target.resource.clone(),
    };
    let verb = verb(req.method(), &target, &query);
    let ns = target.namespace.as_deref();
    let held = shared.barrier.wait(verb, &resource, ns).await;
    let fault = lock(&shared.faults).decide(verb, &resource, ns);
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    if fault.drop {
        if let Some(ticket) = held {
            shared.barrier.answered(ticket, 0);
        }
        return Err(std::io::Error::other("injected fault: connection dropped"));
    }
    let response = match fault.error {
        Some((code, message)) => error_response(&ApiError::from_code(code, message)),
        None => served(&shared, req).await,
    };
    let status = response.status().as_u16();
    lock(&shared.faults).answered(fault.logged, status);
    if let Some(ticket) = held {
        shared.barrier.answered(ticket, status);
    }
    Ok(response)
}

/// kube-apiserver's answer to `req`, or a 503 saying why there is none.
async fn served(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    match forward(shared, req).await {
        Ok(r) => r.map(|b| b.boxed()),
        Err(e) => error_response(&ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            "ServiceUnavailable",
            format!("front: kube-apiserver unreachable: {e}"),
        )),
    }
}

/// The shared connection to kube-apiserver, or a new one if it is closed or gone, made within
/// `deadline` (read once per request by [`forward`]).
async fn sender(
    shared: &Shared,
    deadline: Duration,
) -> std::result::Result<SendRequest<Full<Bytes>>, String> {
    let mut slot = shared.sender.lock().await;
    if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
        return Ok(s.clone());
    }
    let connect = async {
        let tcp = TcpStream::connect(shared.upstream)
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
        let tls = shared
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())
    };
    let (send, conn) = tokio::time::timeout(deadline, connect)
        .await
        .map_err(|_| format!("no connection to kube-apiserver within {deadline:?}"))??;
    tokio::spawn(conn);
    *slot = Some(send.clone());
    Ok(send)
}

async fn forward(
    shared: &Shared,
    req: Request<Incoming>,
) -> std::result::Result<Response<Incoming>, String> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let what = format!("{} {pq}", parts.method);
    parts.uri = format!("https://{}{pq}", shared.upstream)
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    parts.version = http::Version::HTTP_2;
    // Connection-specific headers are not allowed in HTTP/2.
    for h in [
        header::CONNECTION,
        header::HOST,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        http::HeaderName::from_static("keep-alive"),
        http::HeaderName::from_static("proxy-connection"),
    ] {
        parts.headers.remove(h);
    }
    // The body is read whole first (API requests are small; watches have none): sent with
    // its end at once, an early answer (a 401 before the body was read) cannot cancel the
    // exchange, and a request the connection dropped before sending can be sent again.
    let body = body
        .collect()
        .await
        .map_err(|e| format!("request body: {e}"))?
        .to_bytes();
    let deadline = *lock(&shared.deadline);
    let mut last = String::new();
    for _ in 0..2 {
        let mut send = sender(shared, deadline)
            .await
            .map_err(|e| match last.as_str() {
                "" => e,
                first => format!("{first}; then {e}"),
            })?;
        let request = Request::from_parts(parts.clone(), Full::new(body.clone()));
        // Err(true, _): the connection went away before the request was sent (not ready,
        // canceled); a new one is made on the next turn.
        let answer = tokio::time::timeout(deadline, async {
            send.ready().await.map_err(|e| (true, e))?;
            let sent = send.send_request(request).await;
            sent.map_err(|e| (e.is_canceled() || e.is_closed(), e))
        })
        .await;
        match answer {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err((true, e))) => last = e.to_string(),
            Ok(Err((false, e))) => return Err(e.to_string()),
            Err(_) => {
                // kube-apiserver answers in milliseconds: the connection is wedged. Replace it
                // so that this request's retry and every later one do not wait on it too.
                last = format!("no answer to {what} within {deadline:?}");
                eprintln!("cluster front: {last}; replacing its connection to kube-apiserver");
                *shared.sender.lock().await = None;
                // A GET is safe to send again on the new connection; anything else may have
                // been carried out, and is answered 503, as the API server's own timeout is.
                if parts.method != http::Method::GET {
                    break;
                }
            }
        }
    }
    Err(last)
}
