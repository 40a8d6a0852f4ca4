//! Bearer-token authentication the way an EKS cluster does it.
//!
//! Two kinds of token are accepted:
//! - the testbed's static admin token (test setup only) → `testbed-admin` in `system:masters`;
//! - an EKS token (`k8s-aws-v1.` + base64url of a presigned STS `GetCallerIdentity` URL),
//!   verified with the rules of aws-iam-authenticator's server (`pkg/token/token.go`,
//!   `tokenVerifier.Verify`), in the same order and with the same messages:
//!   1. at most 4096 bytes;
//!   2. prefix `k8s-aws-v1.`;
//!   3. base64url *without* padding (Go's `base64.RawURLEncoding`: a padded token is
//!      refused);
//!   4. a parsable URL;
//!   5. scheme `https`;
//!   6. host: a real STS endpoint of the configured region's partition (`sts.amazonaws.com`
//!      in `aws` only, `sts[-fips].<region>.<partition domain>` or its dual-stack domain; the
//!      host's region may differ from ours, as in the real verifier), or exactly the
//!      authority of the configured local `sts_endpoint` (whose own scheme is then accepted
//!      too);
//!   7. path `/`;
//!   8. a parsable query (a raw `;` is refused, as Go's `url.ParseQuery` does);
//!   9. no key twice ignoring case;
//!   10. only whitelisted keys;
//!   11. no key with several values;
//!   12. `Action=GetCallerIdentity`;
//!   13. `X-Amz-SignedHeaders` contains `x-k8s-aws-id`;
//!   14. `X-Amz-Expires` an integer in 0..=900;
//!   15. `X-Amz-Date` present;
//!   16. `X-Amz-Date` is `YYYYMMDDTHHMMSSZ`;
//!   17. now ≤ date + 15 min. Like the real verifier there is no "date in the future"
//!       check: STS itself refuses such a signature.
//!
//!   Then the presigned GET is re-sent (path and query unchanged) to the configured local
//!   `sts_endpoint` (moto behind the project's gateway), with `Host:` set to the token's host
//!   so that the SigV4 signature still verifies, `x-k8s-aws-id: <our cluster id>` (a token
//!   signed for another cluster fails there, as on real STS), `accept: application/json`, a
//!   10 s timeout and no redirects. The JSON answer's ARN is canonicalised and mapped to a
//!   Kubernetes identity by [`identity`](super::identity).
//!
//! Every rejection is an [`AuthnError`] whose message names the failed rule: format errors
//! start with `input token was not properly formatted: `, STS errors with
//! `sts getCallerIdentity failed: ` (or `... was throttled: `), mapping errors with
//! `ARN is not mapped`. (Real EKS answers all of them with a bare `Unauthorized`; the
//! testbed is more talkative on purpose.)
//!
//! STS's answer for a token is remembered for `STS_CACHE_TTL` (kube-apiserver's webhook
//! token cache, `--authentication-token-webhook-cache-ttl`, defaults to 2 minutes), so a
//! client reusing its token costs one STS round trip, not one per request. The format rules
//! and the mapping still run on every request: an aged-out token or a removed mapping is
//! refused at once.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use super::identity::{self, CallerIdentity, IdentitySources};
use super::static_tokens::StaticTokens;

/// Token prefix of the v1 EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// Longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// A presigned STS URL is valid this long after its `X-Amz-Date`, whatever `X-Amz-Expires` says.
pub const PRESIGNED_URL_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// The header carrying the cluster id, which the client must sign.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// Timeout of the re-sent GetCallerIdentity request.
pub const STS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a successful STS answer for a token is reused.
pub const STS_CACHE_TTL: Duration = Duration::from_secs(120);
/// Username of the static admin token.
pub const ADMIN_USERNAME: &str = "testbed-admin";

const WHITELIST: [&str; 9] = [
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

/// The authenticated user, as the authorizer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// The ARN STS answered with (e.g. `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`).
    pub extra_arn: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AuthnConfig {
    /// The cluster id clients sign into `x-k8s-aws-id` (the cluster name on EKS).
    pub cluster_id: String,
    /// The cluster's region; decides the partition whose STS hosts are accepted.
    pub region: String,
    /// `http://127.0.0.1:PORT` of the STS stand-in. Tokens are always re-sent there; a token
    /// whose URL names exactly this authority is accepted besides the real STS hosts.
    pub sts_endpoint: Option<String>,
    pub admin_token: String,
}

/// Becomes a 401 `Status` with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthnError {
    pub message: String,
}

impl AuthnError {
    fn new(message: impl Into<String>) -> Self {
        AuthnError {
            message: message.into(),
        }
    }
    /// `input token was not properly formatted: <m>` (aws-iam-authenticator's FormatError).
    fn format(m: impl std::fmt::Display) -> Self {
        Self::new(format!("input token was not properly formatted: {m}"))
    }
    /// `sts getCallerIdentity failed: <m>` (aws-iam-authenticator's STSError).
    fn sts(m: impl std::fmt::Display) -> Self {
        Self::new(format!("sts getCallerIdentity failed: {m}"))
    }
}

impl std::fmt::Display for AuthnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthnError {}

/// The clock the expiry rule reads. The server core passes its simulated clock.
pub type NowFn = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A token that passed every format rule: what to re-send to STS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedToken {
    /// The URL's authority (`sts.us-east-1.amazonaws.com`, or the local endpoint's).
    pub host: String,
    /// Path and query exactly as in the token.
    pub path_and_query: String,
    /// The access key id from `X-Amz-Credential` (for `{{AccessKeyID}}`).
    pub access_key_id: String,
    /// `global`, the region named by the host, or `local`.
    pub sts_region: String,
}

/// scheme + authority of the configured STS stand-in.
#[derive(Clone, Debug)]
struct LocalSts {
    scheme: String,
    /// As written: `127.0.0.1:5000`, `localhost:5000`, `[::1]:5000`.
    authority: String,
    /// What to connect to (`authority` with the scheme's default port if it had none).
    connect: String,
}

fn parse_local(endpoint: &str) -> Option<LocalSts> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    let connect = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    };
    Some(LocalSts {
        scheme,
        authority: authority.to_string(),
        connect,
    })
}

pub struct Authenticator {
    cfg: AuthnConfig,
    partition: &'static str,
    local: Option<LocalSts>,
    now: NowFn,
    sts_timeout: Duration,
    static_tokens: StaticTokens,
    /// Token → (when STS answered, who it said).
    sts_answers: Mutex<HashMap<String, (Instant, CallerIdentity)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cluster_id", &self.cfg.cluster_id)
            .field("region", &self.cfg.region)
            .field("partition", &self.partition)
            .field("sts_endpoint", &self.cfg.sts_endpoint)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Reads real time.
    pub fn new(cfg: AuthnConfig) -> Self {
        Self::with_clock(cfg, Arc::new(SystemTime::now))
    }

    /// Reads `now` for the token-age rule (the server core's simulated clock).
    pub fn with_clock(cfg: AuthnConfig, now: NowFn) -> Self {
        let local = cfg.sts_endpoint.as_deref().and_then(parse_local);
        Authenticator {
            partition: partition_of_region(&cfg.region),
            local,
            cfg,
            now,
            sts_timeout: STS_TIMEOUT,
            static_tokens: StaticTokens::default(),
            sts_answers: Mutex::default(),
        }
    }

    /// Timeout of the re-sent GetCallerIdentity (10 s, as the real verifier; tests shorten it).
    pub fn with_sts_timeout(mut self, timeout: Duration) -> Self {
        self.sts_timeout = timeout;
        self
    }

    pub fn config(&self) -> &AuthnConfig {
        &self.cfg
    }

    /// Static service-account tokens, checked after the admin token.
    pub fn static_tokens(&self) -> &StaticTokens {
        &self.static_tokens
    }

    /// The static admin identity.
    pub fn admin_user() -> UserInfo {
        UserInfo {
            username: ADMIN_USERNAME.into(),
            uid: ADMIN_USERNAME.into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            extra_arn: None,
        }
    }

    /// `bearer`: the value after "Bearer " (None if no Authorization header).
    pub async fn authenticate(
        &self,
        bearer: Option<&str>,
        identities: &IdentitySources,
    ) -> Result<UserInfo, AuthnError> {
        let Some(token) = bearer else {
            return Err(AuthnError::new("Unauthorized: no bearer token"));
        };
        if !self.cfg.admin_token.is_empty() && token == self.cfg.admin_token {
            return Ok(Self::admin_user());
        }
        if let Some(user) = self.static_tokens.lookup(token) {
            return Ok(user);
        }
        let checked = self.check_token(token)?;
        let id = match self.remembered(token) {
            Some(id) => id,
            None => {
                let body = self.get_caller_identity(&checked).await?;
                let id = CallerIdentity::from_sts_json(&body, &checked.access_key_id)
                    .map_err(AuthnError::sts)?;
                self.remember(token, &id);
                id
            }
        };
        identity::map_identity(&id, identities).map_err(AuthnError::new)
    }

    fn remembered(&self, token: &str) -> Option<CallerIdentity> {
        let answers = self.sts_answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(token)
            .filter(|(at, _)| at.elapsed() < STS_CACHE_TTL)
            .map(|(_, id)| id.clone())
    }

    fn remember(&self, token: &str, id: &CallerIdentity) {
        let mut answers = self.sts_answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.retain(|_, (at, _)| at.elapsed() < STS_CACHE_TTL);
        answers.insert(token.to_string(), (Instant::now(), id.clone()));
    }

    /// Every format rule, without network. `Ok` is what to re-send to STS.
    pub fn check_token(&self, token: &str) -> Result<CheckedToken, AuthnError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthnError::format(format_args!(
                "token is too large ({} bytes, at most {MAX_TOKEN_LEN})",
                token.len()
            )));
        }
        let Some(encoded) = token.strip_prefix(TOKEN_PREFIX) else {
            return Err(AuthnError::format(format_args!(
                "token is missing expected {TOKEN_PREFIX:?} prefix"
            )));
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|e| {
                AuthnError::format(format_args!("token is not base64url without padding: {e}"))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| AuthnError::format("decoded token is not UTF-8"))?;
        let url = ParsedUrl::parse(&text).map_err(AuthnError::format)?;

        let local_match = self
            .local
            .as_ref()
            .is_some_and(|l| url.host.eq_ignore_ascii_case(&l.authority));
        let scheme_ok = url.scheme == "https"
            || (local_match && self.local.as_ref().is_some_and(|l| l.scheme == url.scheme));
        if !scheme_ok {
            return Err(AuthnError::format(format_args!(
                "unexpected scheme {:?} in pre-signed URL",
                url.scheme
            )));
        }
        let sts_region = if local_match {
            "local".to_string()
        } else {
            verify_sts_host(&url.host, self.partition).map_err(AuthnError::format)?
        };
        let path = percent_encoding::percent_decode_str(&url.path).decode_utf8_lossy();
        if path != "/" {
            return Err(AuthnError::format(format_args!(
                "unexpected path in pre-signed URL: {:?} (must be \"/\")",
                url.path
            )));
        }

        let params = parse_query(&url.query)
            .map_err(|e| AuthnError::format(format_args!("malformed query parameter: {e}")))?;
        // Distinct keys, in order of first appearance, with all their values.
        let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
        for (k, v) in &params {
            match keys.iter_mut().find(|(key, _)| key == k) {
                Some((_, vals)) => vals.push(v),
                None => keys.push((k, vec![v])),
            }
        }
        for (i, (k, _)) in keys.iter().enumerate() {
            if keys[..i]
                .iter()
                .any(|(prev, _)| prev.eq_ignore_ascii_case(k))
            {
                return Err(AuthnError::format(format_args!(
                    "duplicate query parameter found: {k:?}"
                )));
            }
        }
        let mut lower: Vec<(String, &str)> = Vec::new();
        for (k, vals) in &keys {
            let lk = k.to_ascii_lowercase();
            if !WHITELIST.contains(&lk.as_str()) {
                return Err(AuthnError::format(format_args!(
                    "non-whitelisted query parameter {k:?}"
                )));
            }
            if vals.len() != 1 {
                return Err(AuthnError::format(format_args!(
                    "query parameter with multiple values not supported ({k:?} given {} times)",
                    vals.len()
                )));
            }
            lower.push((lk, vals[0]));
        }
        let get = |k: &str| {
            lower
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| *v)
                .unwrap_or("")
        };

        if get("action") != "GetCallerIdentity" {
            return Err(AuthnError::format(format_args!(
                "unexpected action parameter in pre-signed URL: {:?} (must be \"GetCallerIdentity\")",
                get("action")
            )));
        }
        if !get("x-amz-signedheaders")
            .split(';')
            .any(|h| h.eq_ignore_ascii_case(CLUSTER_ID_HEADER))
        {
            return Err(AuthnError::format(format_args!(
                "client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL"
            )));
        }
        let expires = get("x-amz-expires");
        if !expires.parse::<i64>().is_ok_and(|e| (0..=900).contains(&e)) {
            return Err(AuthnError::format(format_args!(
                "invalid X-Amz-Expires parameter in pre-signed URL: {expires:?} (must be an integer between 0 and 900)"
            )));
        }
        let date = get("x-amz-date");
        if date.is_empty() {
            return Err(AuthnError::format(
                "X-Amz-Date parameter must be present in pre-signed URL",
            ));
        }
        let signed_at = parse_amz_date(date).ok_or_else(|| {
            AuthnError::format(format_args!(
                "error parsing X-Amz-Date parameter {date:?} into format YYYYMMDDTHHMMSSZ"
            ))
        })?;
        let now = (self.now)();
        if now > signed_at + PRESIGNED_URL_VALIDITY {
            return Err(AuthnError::format(format_args!(
                "X-Amz-Date parameter is expired (15 minute expiration) {date}"
            )));
        }
        let access_key_id = get("x-amz-credential")
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let path_and_query = if url.query.is_empty() {
            url.path.clone()
        } else {
            format!("{}?{}", url.path, url.query)
        };
        Ok(CheckedToken {
            host: url.host,
            path_and_query,
            access_key_id,
            sts_region,
        })
    }

    /// Re-sends the presigned GET to the local STS stand-in; the body of a 200.
    async fn get_caller_identity(&self, t: &CheckedToken) -> Result<Bytes, AuthnError> {
        let Some(local) = &self.local else {
            return Err(AuthnError::sts(format_args!(
                "no STS endpoint configured for the testbed (sts_endpoint); cannot re-send the pre-signed request for {}",
                t.host
            )));
        };
        if local.scheme != "http" {
            return Err(AuthnError::sts(format_args!(
                "the testbed re-sends tokens over http only; sts_endpoint {:?} is {}",
                self.cfg.sts_endpoint.as_deref().unwrap_or(""),
                local.scheme
            )));
        }
        let region = &t.sts_region;
        let call = async {
            let stream = tokio::net::TcpStream::connect(&local.connect)
                .await
                .map_err(|e| format!("error during GET: {e} on {region} endpoint"))?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("error during GET: {e} on {region} endpoint"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let req = http::Request::get(t.path_and_query.as_str())
                .header(http::header::HOST, t.host.as_str())
                .header(CLUSTER_ID_HEADER, self.cfg.cluster_id.as_str())
                .header(http::header::ACCEPT, "application/json")
                .body(Empty::<Bytes>::new())
                .map_err(|e| format!("error creating HTTP request: {e}"))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("error during GET: {e} on {region} endpoint"))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), 1 << 20)
                .collect()
                .await
                .map_err(|e| format!("error reading HTTP result: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.sts_timeout, call).await {
            Err(_) => {
                return Err(AuthnError::sts(format_args!(
                    "error during GET: timeout after {:?} on {region} endpoint",
                    self.sts_timeout
                )));
            }
            Ok(Err(m)) => return Err(AuthnError::sts(m)),
            Ok(Ok(r)) => r,
        };
        if status != http::StatusCode::OK {
            let text = String::from_utf8_lossy(&body);
            let excerpt: String = text.chars().take(512).collect();
            if text.contains("Throttling") {
                return Err(AuthnError::new(format!(
                    "sts getCallerIdentity was throttled: {excerpt}"
                )));
            }
            return Err(AuthnError::sts(format_args!(
                "error from AWS (expected 200, got {}) on {region} endpoint. Body: {excerpt}",
                status.as_u16()
            )));
        }
        Ok(body)
    }
}

/// The partition a region belongs to (the SDK's partitions.json region regexes, by prefix;
/// anything unknown is `aws`, as the SDK resolver falls back to it).
pub fn partition_of_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
        ("cn-", "aws-cn"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map(|(_, part)| *part)
        .unwrap_or("aws")
}

/// STS domain and dual-stack domain of a partition (aws-iam-authenticator's
/// `pkg/endpoints`).
fn partition_domains(partition: &str) -> (&'static str, Option<&'static str>) {
    match partition {
        "aws-cn" => ("amazonaws.com.cn", Some("api.amazonwebservices.com.cn")),
        "aws-us-gov" => ("amazonaws.com", Some("api.aws")),
        "aws-iso" => ("c2s.ic.gov", None),
        "aws-iso-b" => ("sc2s.sgov.gov", None),
        "aws-iso-e" => ("cloud.adc-e.uk", None),
        "aws-iso-f" => ("csp.hci.ic.gov", None),
        "aws-eusc" => ("amazonaws.eu", Some("api.amazonwebservices.eu")),
        _ => ("amazonaws.com", Some("api.aws")),
    }
}

fn valid_region_label(r: &str) -> bool {
    let b = r.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// The STS host rule: `Ok(region of the host)` or the reason it is refused.
pub fn verify_sts_host(host: &str, partition: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("could not parse region for pre-signed URL: host is empty".into());
    }
    if host == "sts.amazonaws.com" {
        return if partition == "aws" {
            Ok("global".into())
        } else {
            Err(format!(
                "global endpoint unsupported in partition {partition}"
            ))
        };
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() < 3 {
        return Err(format!(
            "could not parse region for pre-signed URL {host}, invalid host format"
        ));
    }
    let region = parts[1];
    if !valid_region_label(region) {
        return Err(format!(
            "invalid region identifier format provided: {region}"
        ));
    }
    let domain = parts[2..].join(".");
    // The hosts the SDK resolves for that region (FIPS and dual-stack variants included).
    let (home, dual) = partition_domains(partition_of_region(region));
    let known =
        matches!(parts[0], "sts" | "sts-fips") && (domain == home || Some(domain.as_str()) == dual);
    if !known {
        return Err(format!("unexpected hostname {host:?} in pre-signed URL"));
    }
    let (ours, our_dual) = partition_domains(partition);
    if domain != ours && Some(domain.as_str()) != our_dual {
        return Err(format!(
            "partition {{{partition}}} does not support hostname {host}"
        ));
    }
    Ok(region.to_string())
}

/// `YYYYMMDDTHHMMSSZ` (Go layout `20060102T150405Z`), UTC.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let dt = jiff::civil::DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(se).ok()?,
        0,
    )
    .ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(SystemTime::from(ts))
}

/// The pieces of the presigned URL (Go's `url.Parse` as far as the rules need it).
#[derive(Debug)]
struct ParsedUrl {
    scheme: String,
    host: String,
    /// Raw (still escaped).
    path: String,
    /// Raw, without `?` and fragment.
    query: String,
}

impl ParsedUrl {
    fn parse(s: &str) -> Result<ParsedUrl, String> {
        if s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(
                "malformed pre-signed URL: invalid control character or space in URL".into(),
            );
        }
        let (scheme, rest) = match s.split_once(':') {
            Some((sc, rest))
                if !sc.is_empty()
                    && sc.starts_with(|c: char| c.is_ascii_alphabetic())
                    && sc
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                (sc.to_ascii_lowercase(), rest)
            }
            _ => (String::new(), s),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, path) = match before_query.strip_prefix("//") {
            Some(r) => {
                let end = r.find('/').unwrap_or(r.len());
                let authority = &r[..end];
                // userinfo@host: the host is what follows the last '@', as in Go.
                let host = authority.rsplit('@').next().unwrap_or("");
                (host.to_string(), r[end..].to_string())
            }
            None => (String::new(), before_query.to_string()),
        };
        Ok(ParsedUrl {
            scheme,
            host,
            path,
            query: query.to_string(),
        })
    }
}

/// `application/x-www-form-urlencoded` pairs, in order (Go's `url.ParseQuery`: `;` refused,
/// bad escapes refused, empty pieces skipped).
fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for piece in q.split('&') {
        if piece.is_empty() {
            continue;
        }
        if piece.contains(';') {
            return Err("invalid semicolon separator in query".into());
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        out.push((unescape(k)?, unescape(v)?));
    }
    Ok(out)
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(format!(
                "invalid URL escape {:?}",
                &s[i..(i + 3).min(s.len())]
            ));
        }
    }
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
