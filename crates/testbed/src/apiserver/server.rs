//! The HTTPS server and the request pipeline: TLS → EKS control-plane routes (`/clusters/…`,
//! no Kubernetes auth) → authentication (static admin token, else EKS token) → testbed
//! admin routes → RBAC (skipped for system:masters) → fault injection → handler, then the
//! simulation, all under one lock.
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::authn::Authenticator;
use super::discovery;
use super::eks_api::EksApi;
use super::handlers::{self, Reply};
use super::rbac;
use super::routes::{self, Query};
use super::security;
use super::sim;
use super::state::State;
use super::status::ApiError;
use super::util::Clock;

pub type Body = BoxBody<Bytes, Infallible>;

/// Request bodies above this are refused (the real limit is 3 MiB for etcd objects).
const MAX_BODY: usize = 8 << 20;

pub struct Shared {
    pub state: Mutex<State>,
    pub clock: Clock,
    pub authn: Authenticator,
    pub eks: EksApi,
    pub admin_token: String,
    pub url: String,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    /// host:port, for `/api`'s serverAddressByClientCIDRs.
    pub address: String,
}

impl Shared {
    /// The state lock. A panic while holding it (a bug) must not wedge every later request.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the simulation at the current sim time.
    pub fn reconcile(&self) {
        let now = self.clock.now();
        sim::reconcile(&mut self.lock(), now);
    }

    /// The background ticker's pass: a reconcile only when time or a skipped write can
    /// have changed something.
    pub fn tick(&self) {
        let now = self.clock.now();
        sim::tick(&mut self.lock(), now);
    }
}

pub fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .expect("valid response")
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, s.to_string().parse().expect("digits"));
    }
    r
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::new(413, "RequestEntityTooLarge", format!("request body: {e}")))
}

fn non_resource(shared: &Shared, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return error_response(&ApiError::method_not_allowed());
    }
    let st = shared.lock();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let doc = match segs.as_slice() {
        ["version"] => Some(discovery::version()),
        ["api"] => Some(discovery::api_versions(&shared.address)),
        ["api", v] => discovery::resource_list(&st.registry, "", v),
        ["apis"] => Some(discovery::group_list(&st.registry)),
        ["apis", g] => discovery::group(&st.registry, g),
        ["apis", g, v] => discovery::resource_list(&st.registry, g, v),
        ["openapi", "v3"] => Some(discovery::openapi_v3_root(&st.registry)),
        ["openapi", "v3", "api", v] => discovery::openapi_v3_group_version(&st.registry, "", v),
        ["openapi", "v3", "apis", g, v] => discovery::openapi_v3_group_version(&st.registry, g, v),
        _ => None,
    };
    match doc {
        Some(d) => json_response(200, &d),
        None => error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

fn mutating(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// One request through the pipeline. `Err` makes hyper drop the connection (the injected
/// "dropped connection" fault).
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());

    if path == "/clusters" || path.starts_with("/clusters/") {
        let bytes = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return Ok(error_response(&e)),
        };
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(&path);
        let (code, v) = shared.eks.handle(&parts.method, pq, &bytes);
        return Ok(json_response(code.as_u16(), &v));
    }
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return Ok(Response::new(Full::new(Bytes::from_static(b"ok")).boxed()));
    }

    let bearer = header_str(&parts.headers, header::AUTHORIZATION)
        .strip_prefix("Bearer ")
        .map(str::trim);
    let user = if bearer == Some(shared.admin_token.as_str()) {
        security::admin_user()
    } else {
        let sources = security::identity_sources(&shared.lock(), &shared.eks);
        match shared.authn.authenticate(bearer, &sources).await {
            Ok(u) => u,
            Err(e) => return Ok(error_response(&ApiError::unauthorized(e.message))),
        }
    };

    if path.starts_with("/testbed/") {
        if bearer != Some(shared.admin_token.as_str()) {
            return Ok(error_response(&ApiError::forbidden(format!(
                "forbidden: User \"{}\" cannot use the testbed admin API (admin token only)",
                user.username
            ))));
        }
        let bytes = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return Ok(error_response(&e)),
        };
        return Ok(super::admin::handle(&shared, &parts.method, &path, &bytes));
    }

    let target = routes::parse_target(&path);
    let attrs = security::attributes(&parts.method, &path, target.as_ref(), &query);
    if !security::privileged(&user) {
        let decision = {
            let mut st = shared.lock();
            rbac::authorize(&user, &attrs, st.rbac_snapshot())
        };
        if let Err(reason) = decision {
            let msg = security::forbidden_message(&user, &attrs, &reason);
            return Ok(error_response(&ApiError::forbidden(msg)));
        }
    }

    let Some(target) = target else {
        return Ok(non_resource(&shared, &parts.method, &path));
    };

    let resource = match &target.subresource {
        Some(s) => format!("{}/{s}", target.resource),
        None => target.resource.clone(),
    };
    let fault = shared
        .lock()
        .faults
        .decide(&attrs.verb, &resource, target.namespace.as_deref());
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    if fault.drop {
        return Err(std::io::Error::other("injected fault: connection dropped"));
    }
    if let Some((code, message)) = fault.error {
        return Ok(error_response(&ApiError::from_code(code, message)));
    }

    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return Ok(error_response(&e)),
    };
    // kubectl's typed clients send protobuf bodies for built-in kinds: the ones that matter
    // here (Eviction, DeleteOptions) are decoded, the others refused as unsupported.
    let mut content_type = header_str(&parts.headers, header::CONTENT_TYPE);
    let bytes = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        match super::proto::decode(&bytes) {
            Ok(v) => {
                content_type = "application/json";
                Bytes::from(v.to_string())
            }
            Err(e) => {
                return Ok(error_response(&ApiError::unsupported_media(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"
                ))));
            }
        }
    } else {
        bytes
    };
    let now = shared.clock.now();
    let result = {
        let mut st = shared.lock();
        let req = handlers::Request {
            method: &parts.method,
            target: &target,
            query: &query,
            body: &bytes,
            content_type,
            as_table: header_str(&parts.headers, header::ACCEPT).contains("as=Table"),
        };
        let r = handlers::dispatch(&mut st, now, &req);
        if mutating(&parts.method) && r.is_ok() && simulated(&parts.method, &target.resource) {
            sim::reconcile(&mut st, now);
        }
        r
    };
    Ok(match result {
        Ok(Reply::Json(code, v)) => json_response(code, &v),
        Ok(Reply::Watch(spec)) => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(BodyExt::boxed(spec.spawn()))
            .expect("valid response"),
        Err(e) => error_response(&e),
    })
}

/// Accepts connections until `shutdown` flips; each connection is served (HTTP/1.1 or h2
/// by ALPN) until it closes or shutdown.
pub async fn serve(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => continue,
            },
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let shared = shared.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Whether a successful write can change what the simulation does: writes to the kinds its
/// controllers read, and deletes (owners going away collect their dependents). Writes to
/// ConfigMaps, Events or custom resources skip the reconcile pass, which walks every object
/// (the periodic tick still runs it).
fn simulated(method: &Method, resource: &str) -> bool {
    *method == Method::DELETE
        || matches!(
            resource,
            "pods"
                | "nodes"
                | "namespaces"
                | "deployments"
                | "replicasets"
                | "statefulsets"
                | "daemonsets"
                | "poddisruptionbudgets"
        )
}
