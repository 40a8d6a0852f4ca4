//! Local stand-ins started per test process, on free loopback ports, stopped when dropped and
//! when the test process dies (even by SIGKILL: see [`process`]).
//!
//! - [`Moto`]: moto's server behind `tools/moto_gateway.py`, which adds what moto lacks
//!   (CloudWatch over Smithy RPC v2 CBOR, verified presigned STS GetCallerIdentity).
//! - [`Prometheus`]: a real Prometheus, backfilled from OpenMetrics text or scraping a target.
//! - [`Cluster`]: a real Kubernetes control plane (kube-apiserver, etcd, controller manager,
//!   scheduler, KWOK, aws-iam-authenticator as token webhook), built from Go modules.
//! - [`lambda`]: the Lambda Runtime API emulator.
//! - [`manifests`]: the objects tests apply (a Deployment, a role and its binding).
//! - [`rbac`]: RBAC experiments (a function's ClusterRole less one grant at a time).

pub mod cargo;
pub mod cluster;
pub mod lambda;
pub mod manifests;
pub mod moto;
pub mod process;
pub mod prometheus;
pub mod rbac;

pub use cluster::{Cluster, ClusterConfig, FaultAction, FaultConfig, FaultRule, NodeSpec};
pub use lambda::LambdaEmulator;
pub use moto::Moto;
pub use process::Supervised;
pub use prometheus::Prometheus;

/// Why a stand-in could not be started or used; the message says what and includes the
/// process's last output when there is one.
#[derive(Debug, Clone)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A minimal blocking HTTP/1.1 GET for loopback readiness checks and test queries: returns
/// the status code and body. `url` is `http://host:port/path?query`.
pub fn http_get(url: &str) -> Result<(u16, String)> {
    http_get_with(url, &[])
}

/// [`http_get`] with extra request headers; a `Host` among them replaces the URL's authority
/// as the Host header (e.g. to send a presigned STS URL to a local stand-in).
pub fn http_get_with(url: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
    http_send("GET", url, headers, b"")
}

/// [`http_get_with`] for any method, with a body (sent with its Content-Length).
pub fn http_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::new(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let io = |e: std::io::Error| Error::new(format!("{method} {url}: {e}"));
    let mut stream = TcpStream::connect(authority).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(authority, |(_, v)| v);
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::new(format!("{method} {url}: truncated response")))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::new(format!("{method} {url}: bad status line")))?;
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let rest = &body[eol + 2..];
        match size {
            Some(size) if size > 0 && rest.len() >= size => {
                out.extend_from_slice(&rest[..size]);
                body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
            }
            _ => break,
        }
    }
    out
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Polls `f` every 20 ms until it yields `Some`, or panics naming `what` after `within`: how
/// tests wait on a condition of the cluster or the stand-ins, never a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `path` in this workspace (manifests, sample events, tools); `repo("")` is its root.
pub fn repo(path: impl AsRef<std::path::Path>) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}
