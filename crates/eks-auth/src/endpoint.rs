//! Which STS endpoint a token is presigned for.
use std::fmt;

/// The scheme and authority of the STS endpoint a token names, e.g.
/// `https://sts.us-west-2.amazonaws.com`. The token is only valid for a cluster whose
/// authenticator accepts this host: the regional endpoint of the region's partition (what
/// aws-iam-authenticator, EKS's verifier, accepts), or an explicit `AWS_ENDPOINT_URL_STS`.
#[derive(Clone, PartialEq, Eq)]
pub struct StsEndpoint {
    scheme: String,
    authority: String,
}

impl StsEndpoint {
    /// The regional endpoint of `region`'s partition.
    pub fn regional(region: &str) -> Self {
        Self {
            scheme: "https".into(),
            authority: format!("sts.{region}.{}", dns_suffix(region)),
        }
    }

    /// An explicit endpoint such as `http://127.0.0.1:5000` (the `AWS_ENDPOINT_URL_STS`
    /// override). Path and query, if any, are ignored.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("STS endpoint {url:?} is not a URL: {e}"))?;
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme @ ("http" | "https")), Some(authority)) => Ok(Self {
                scheme: scheme.into(),
                authority: authority.as_str().into(),
            }),
            _ => Err(format!(
                "STS endpoint {url:?} must be an absolute http(s) URL such as https://sts.us-east-1.amazonaws.com"
            )),
        }
    }

    /// `AWS_ENDPOINT_URL_STS` when set (and endpoint overrides are not ignored), else the
    /// regional endpoint. The global `AWS_ENDPOINT_URL` is deliberately not followed: it points
    /// every SDK client at one place (a local stand-in, a proxy), while a token is verified by
    /// the cluster, whose authenticator only accepts the real STS hostnames: a token naming
    /// anything else can never authenticate.
    pub fn from_env_or_regional(region: &str) -> Result<Self, String> {
        if std::env::var_os("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v == "true") {
            return Ok(Self::regional(region));
        }
        match std::env::var("AWS_ENDPOINT_URL_STS") {
            Ok(url) if !url.is_empty() => {
                Self::from_url(&url).map_err(|e| format!("AWS_ENDPOINT_URL_STS: {e}"))
            }
            _ => Ok(Self::regional(region)),
        }
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Host (and port, when not the default) — the value of the signed `host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

impl fmt::Display for StsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl fmt::Debug for StsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StsEndpoint({self})")
    }
}

/// DNS suffix of the AWS partition a region belongs to.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else {
        // aws and aws-us-gov share the suffix.
        "amazonaws.com"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints_follow_the_partition() {
        for (region, want) in [
            ("us-west-2", "https://sts.us-west-2.amazonaws.com"),
            ("ap-southeast-1", "https://sts.ap-southeast-1.amazonaws.com"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
            (
                "cn-northwest-1",
                "https://sts.cn-northwest-1.amazonaws.com.cn",
            ),
            ("us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com"),
            ("us-iso-east-1", "https://sts.us-iso-east-1.c2s.ic.gov"),
            ("us-isob-east-1", "https://sts.us-isob-east-1.sc2s.sgov.gov"),
        ] {
            assert_eq!(StsEndpoint::regional(region).to_string(), want, "{region}");
        }
    }

    #[test]
    fn override_keeps_scheme_and_port() {
        let e = StsEndpoint::from_url("http://127.0.0.1:4566/ignored?x=1").unwrap();
        assert_eq!(e.scheme(), "http");
        assert_eq!(e.authority(), "127.0.0.1:4566");
    }

    #[test]
    fn override_must_be_absolute() {
        for bad in ["127.0.0.1:4566", "ftp://x", "/relative", ""] {
            let err = StsEndpoint::from_url(bad).unwrap_err();
            assert!(err.contains("STS endpoint"), "{bad}: {err}");
        }
    }
}
