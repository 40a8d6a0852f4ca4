//! STS's own HTTPS endpoint, for aws-iam-authenticator: it only sends a token's presigned
//! GetCallerIdentity to a real STS hostname (`sts.<region>.amazonaws.com`, port 443). The
//! cluster resolves that name, for the authenticator alone, to a loopback address of its own
//! where this forwarder ends TLS (a certificate for that name from the cluster's CA) and
//! passes each request to the moto gateway, which verifies the signature as STS does.
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http::header::CONNECTION;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::harness::{Error, Result};

/// Stops the forwarder when dropped.
pub struct StsTls {
    pub ip: Ipv4Addr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A loopback address no other cluster of this machine uses at the same time: from the
/// process id and a counter (the whole 127/8 is loopback on Linux).
fn unique_loopback() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        100 + ((pid >> 16) % 100) as u8,
        (pid >> 8) as u8,
        (pid as u8).wrapping_add((n as u8).wrapping_mul(31)).max(2),
    )
}

/// Listens on `<unique loopback>:443` with `cert_pem`/`key_pem`; every connection is
/// forwarded to `gateway` (`127.0.0.1:PORT`, plain HTTP).
pub fn start(cert_pem: &str, key_pem: &str, gateway: SocketAddr) -> Result<StsTls> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::new(format!("STS certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error::new(format!("STS key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| Error::new(format!("STS TLS: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let mut last = None;
    for _ in 0..8 {
        let ip = unique_loopback();
        match std::net::TcpListener::bind((ip, 443)) {
            Ok(listener) => {
                let stop = super::serve_on_thread("sts-tls", listener, move |listener| {
                    forward(listener, acceptor, gateway)
                })?;
                return Ok(StsTls { ip, _stop: stop });
            }
            Err(e) => last = Some(format!("{ip}:443: {e}")),
        }
    }
    Err(Error::new(format!(
        "no loopback address for STS: {}",
        last.unwrap_or_default()
    )))
}

async fn forward(listener: TcpListener, acceptor: TlsAcceptor, gateway: SocketAddr) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // No Nagle on either side: the gateway writes an answer's head and body apart,
            // and with Nagle on the TLS side the body's record waited for the
            // authenticator's delayed ACK, or for the gateway's close ~10 ms later: half the
            // token verifications took 13-16 ms instead of 3-7 (the cold-start benchmark's
            // second hump, BENCHMARKS.md "The second hump").
            let _ = client.set_nodelay(true);
            let Ok(tls) = acceptor.accept(client).await else {
                return;
            };
            // HTTP/1.1 kept alive towards the authenticator, as STS's endpoints answer: the
            // gateway (werkzeug) closes every connection after its answer, which made the
            // authenticator open a new TCP and TLS connection for every token it verified
            // (~1 ms each, a stand-in cost no EKS cluster pays on a warm connection to STS;
            // BENCHMARKS.md "The stand-ins' share"). Each request gets its own connection to the gateway instead.
            let relay = service_fn(move |request| relay(request, gateway));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), relay)
                .await;
        });
    }
}

/// One request to the gateway and its answer, whole, less the gateway's `Connection: close`
/// (the connection it closes is its own, not the authenticator's).
async fn relay(
    request: Request<Incoming>,
    gateway: SocketAddr,
) -> std::result::Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let upstream = TcpStream::connect(gateway).await?;
    upstream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await?;
    tokio::spawn(connection);
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let answer = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (mut parts, body) = answer.into_parts();
    parts.headers.remove(CONNECTION);
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
