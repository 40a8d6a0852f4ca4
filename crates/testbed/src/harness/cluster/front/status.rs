//! Answers the front makes itself: JSON bodies, and API errors as the `metav1.Status` the
//! real server sends (injected faults, an unreachable kube-apiserver).
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::Body;

#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Sent as `Retry-After` (429s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// An error with the reason the real server uses for that code (fault injection).
    pub fn from_code(code: u16, message: Option<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        let message = message.unwrap_or_else(|| match code {
            429 => "the server has received too many requests and has asked us to try again later".into(),
            409 => "the object has been modified; please apply your changes to the latest version and try again".into(),
            503 => "the server is currently unable to handle the request".into(),
            _ => "an error on the server (\"injected fault\") has prevented the request from succeeding".into(),
        });
        let mut e = Self::new(code, reason, message);
        if code == 429 {
            e.retry_after = Some(1);
            e.details = Some(json!({"retryAfterSeconds": 1}));
        }
        e
    }

    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

pub fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_errors_read_like_the_real_servers() {
        let r = error_response(&ApiError::from_code(429, None));
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let s = ApiError::from_code(500, Some("boom".into())).to_status();
        assert_eq!(
            (&s["kind"], &s["reason"], &s["message"], &s["code"]),
            (
                &json!("Status"),
                &json!("InternalError"),
                &json!("boom"),
                &json!(500)
            )
        );
        let s = ApiError::from_code(409, None).to_status();
        assert_eq!(s["reason"], "Conflict");
        assert!(s.get("details").is_none());
    }
}
