//! The EKS bearer token, byte-for-byte as `aws eks get-token` (botocore) makes it.
//!
//! `k8s-aws-v1.` + base64url (no padding) of
//! `https://sts.<region>.<suffix>/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=…
//! &X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id
//! [&X-Amz-Security-Token=…]&X-Amz-Signature=…`, presigned with header `x-k8s-aws-id: <cluster>`
//! and the payload hash of an empty body (botocore's choice for presigned STS, checked
//! against its CanonicalRequest debug log). The signature itself comes from `aws-sigv4`; this module
//! only lays the signed parameters out in botocore's order so the token is identical.
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{Secret, StsEndpoint};

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// How long clients treat a token as valid: the presigned URL is accepted by the
/// authenticator for 15 minutes after signing; clients stop one minute short of that.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// `X-Amz-Expires` as aws-iam-authenticator and `aws eks get-token` set it.
const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// RFC 3986 unreserved characters stay, everything else is escaped (botocore's
/// `percent_encode`, and what SigV4 canonicalisation expects).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A signed bearer token and the instant after which clients must not use it.
#[derive(Clone, Debug)]
pub struct EksToken {
    pub token: Secret,
    pub signed_at: SystemTime,
    /// min(signed_at + 14 min, credentials expiry).
    pub expires_at: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cluster id is empty: pass the EKS cluster name (CLUSTER_NAME / --cluster-name)")]
    EmptyClusterId,
    #[error("region is empty: set AWS_REGION or pass --region")]
    EmptyRegion,
    #[error("could not presign the STS request: {0}")]
    Signing(String),
}

/// Presigns `GetCallerIdentity` for `cluster_id` with `credentials` at `now`.
pub fn presign(
    credentials: &Credentials,
    cluster_id: &str,
    region: &str,
    endpoint: &StsEndpoint,
    now: SystemTime,
) -> Result<EksToken, TokenError> {
    if cluster_id.is_empty() {
        return Err(TokenError::EmptyClusterId);
    }
    if region.is_empty() {
        return Err(TokenError::EmptyRegion);
    }
    let base = format!("{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "GET",
        base.as_str(),
        [(CLUSTER_ID_HEADER, cluster_id)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into_parts();

    let url = botocore_order(&base, instructions.params());
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(url));
    let expires_at = match credentials.expiry() {
        Some(creds_expiry) => creds_expiry.min(now + TOKEN_LIFETIME),
        None => now + TOKEN_LIFETIME,
    };
    Ok(EksToken {
        token: Secret::new(token),
        signed_at: now,
        expires_at,
    })
}

/// botocore appends the auth parameters in this order, then the signature.
fn botocore_order(base: &str, params: &[(&str, Cow<'static, str>)]) -> String {
    const ORDER: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    let mut url = base.to_owned();
    for key in ORDER {
        if let Some((_, value)) = params.iter().find(|(k, _)| *k == key) {
            url.push('&');
            url.push_str(key);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
    }
    url
}

/// Decodes a token back to its presigned URL (tests, diagnostics).
pub fn decode_url(token: &str) -> Option<String> {
    let encoded = token.strip_prefix(TOKEN_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()
}

/// `expirationTimestamp` as client-go and `aws eks get-token` write it.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_second(secs)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        let ts: jiff::Timestamp = rfc3339.parse().unwrap();
        SystemTime::UNIX_EPOCH + Duration::from_secs(ts.as_second() as u64)
    }

    fn creds(token: Option<&str>, expiry: Option<SystemTime>) -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            expiry,
            "test",
        )
    }

    /// Golden value produced by `aws eks get-token` (awscli 1.45.11) under libfaketime with
    /// these credentials; the live comparison runs in tests/it/conformance.rs.
    #[test]
    fn matches_aws_eks_get_token_golden() {
        let now = at("2026-01-02T03:04:05Z");
        let token = presign(
            &creds(None, None),
            "demo",
            "us-east-1",
            &StsEndpoint::regional("us-east-1"),
            now,
        )
        .unwrap();
        assert_eq!(
            decode_url(token.token.expose()).unwrap(),
            "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fsts%2Faws4_request\
             &X-Amz-Date=20260102T030405Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id\
             &X-Amz-Signature=31ecea23217d86b7094b181258998b18c68c41c6e6e41c51061817f67c9704d8"
        );
        assert_eq!(token.expires_at, now + TOKEN_LIFETIME);
    }

    #[test]
    fn session_token_is_signed_and_escaped() {
        let now = at("2026-01-02T03:04:05Z");
        let token = presign(
            &creds(Some("FQoG+/ab=cd"), None),
            "demo",
            "cn-north-1",
            &StsEndpoint::regional("cn-north-1"),
            now,
        )
        .unwrap();
        let url = decode_url(token.token.expose()).unwrap();
        assert!(
            url.starts_with("https://sts.cn-north-1.amazonaws.com.cn/?"),
            "{url}"
        );
        assert!(
            url.contains("&X-Amz-Security-Token=FQoG%2B%2Fab%3Dcd&X-Amz-Signature=43f265a33d615d272a54153e7d4eeeb51a985ea4404c6965b55974a31e4497da"),
            "{url}"
        );
    }

    #[test]
    fn expiry_is_capped_by_the_credentials() {
        let now = at("2026-01-02T03:04:05Z");
        let soon = now + Duration::from_secs(300);
        let token = presign(
            &creds(Some("t"), Some(soon)),
            "demo",
            "us-west-2",
            &StsEndpoint::regional("us-west-2"),
            now,
        )
        .unwrap();
        assert_eq!(token.expires_at, soon);
    }

    #[test]
    fn cluster_and_region_are_required() {
        let e = StsEndpoint::regional("us-west-2");
        let now = SystemTime::now();
        assert!(matches!(
            presign(&creds(None, None), "", "us-west-2", &e, now),
            Err(TokenError::EmptyClusterId)
        ));
        assert!(matches!(
            presign(&creds(None, None), "c", "", &e, now),
            Err(TokenError::EmptyRegion)
        ));
    }

    #[test]
    fn token_never_shows_in_debug() {
        let token = presign(
            &creds(Some("SESSIONSECRET"), None),
            "demo",
            "us-west-2",
            &StsEndpoint::regional("us-west-2"),
            SystemTime::now(),
        )
        .unwrap();
        let debug = format!("{token:?}");
        assert!(!debug.contains("k8s-aws-v1"), "{debug}");
        assert!(!debug.contains("SESSIONSECRET"), "{debug}");
    }

    #[test]
    fn timestamps_format_like_client_go() {
        assert_eq!(
            rfc3339_utc(at("2026-01-02T03:18:05Z")),
            "2026-01-02T03:18:05Z"
        );
    }
}
