//! Prometheus's HTTP API (`GET /api/v1/query`), over hyper: instant queries at the event's
//! time, real PromQL. Ten lines of hyper instead of another HTTP stack.
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jiff::Timestamp;

use crate::decide::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("Prometheus {url}: {message}")]
    Http { url: String, message: String },
    #[error("Prometheus query {query:?}: {message}")]
    Query { query: String, message: String },
}

pub struct Prometheus {
    http: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

/// The queries the policy needs, built from the configured CPU and (optional) pending
/// expressions.
pub struct Queries<'a> {
    pub cpu: &'a str,
    /// `PROM_PENDING_QUERY` when set: a scale-down guard only.
    pub pending: Option<&'a str>,
    pub idle_down: Duration,
    pub cpu_down: f64,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            http: Client::builder(TokioExecutor::new()).build_http(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Prometheus {
    /// One instant query; `None` when the result is empty (no series).
    pub async fn scalar(
        &self,
        base: &str,
        query: &str,
        at: Timestamp,
    ) -> Result<Option<f64>, PromError> {
        let url = format!(
            "{}/api/v1/query?query={}&time={}",
            base.trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC),
            at.as_millisecond() as f64 / 1000.0
        );
        let http_err = |message: String| PromError::Http {
            url: base.to_owned(),
            message,
        };
        let uri: http::Uri = url.parse().map_err(|e| http_err(format!("bad URL: {e}")))?;
        let response = tokio::time::timeout(self.timeout, self.http.get(uri))
            .await
            .map_err(|_| http_err("timed out".into()))?
            .map_err(|e| http_err(e.to_string()))?;
        let status = response.status();
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .map_err(|_| http_err("timed out reading the body".into()))?
            .map_err(|e| http_err(e.to_string()))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| http_err(format!("HTTP {status}, not JSON: {e}")))?;
        let query_err = |message: String| PromError::Query {
            query: query.to_owned(),
            message,
        };
        if json["status"] != "success" {
            return Err(query_err(format!("HTTP {status}: {}", json["error"])));
        }
        parse_scalar(&json["data"]).map_err(query_err)
    }

    /// CPU now and whether it stayed low over `IDLE_DOWN_SEC`; with a pending query, pending
    /// now and whether it stayed 0 over that window too.
    pub async fn metrics(
        &self,
        base: &str,
        q: &Queries<'_>,
        at: Timestamp,
    ) -> Result<Metrics, PromError> {
        let idle_cpu = over_window("max", q.cpu, "100", q.idle_down);
        let (cpu, cpu_max) = futures_util::try_join!(
            self.scalar(base, q.cpu, at),
            self.scalar(base, &idle_cpu, at),
        )?;
        let (pending, pending_max) = match q.pending {
            Some(query) => {
                let idle_pending = over_window("max", query, "0", q.idle_down);
                futures_util::try_join!(
                    self.scalar(base, query, at),
                    self.scalar(base, &idle_pending, at),
                )?
            }
            None => (Some(0.0), Some(0.0)),
        };
        Ok(Metrics {
            cpu_percent: cpu.filter(|c| c.is_finite()),
            pending_pods: pending.unwrap_or(0.0).max(0.0).round() as u32,
            idle_sustained: cpu_max.is_some_and(|v| v < q.cpu_down)
                && pending_max.is_some_and(|v| v == 0.0),
        })
    }
}

/// `<agg>_over_time` of `expr` over `window` at 15 s steps, missing samples as `missing`.
pub fn over_window(agg: &str, expr: &str, missing: &str, window: Duration) -> String {
    let step = 15.min(window.as_secs().max(1));
    format!(
        "{agg}_over_time((({expr}) or vector({missing}))[{}s:{step}s])",
        window.as_secs().max(1)
    )
}

fn parse_scalar(data: &serde_json::Value) -> Result<Option<f64>, String> {
    let value = match data["resultType"].as_str() {
        Some("vector") => match data["result"].as_array().map(Vec::as_slice) {
            Some([]) => return Ok(None),
            Some([one]) => &one["value"],
            Some(many) => {
                return Err(format!(
                    "expected one series, got {} (aggregate with sum/avg)",
                    many.len()
                ));
            }
            None => return Err("no result".into()),
        },
        Some("scalar") => &data["result"],
        other => return Err(format!("unexpected resultType {other:?}")),
    };
    let text = value[1]
        .as_str()
        .ok_or_else(|| format!("unexpected sample {value}"))?;
    let v: f64 = text.parse().map_err(|_| format!("not a number: {text}"))?;
    Ok(v.is_finite().then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results() {
        let vector =
            json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "42.5"]}]});
        assert_eq!(parse_scalar(&vector), Ok(Some(42.5)));
        let empty = json!({"resultType": "vector", "result": []});
        assert_eq!(parse_scalar(&empty), Ok(None));
        let scalar = json!({"resultType": "scalar", "result": [1, "3"]});
        assert_eq!(parse_scalar(&scalar), Ok(Some(3.0)));
        let nan = json!({"resultType": "scalar", "result": [1, "NaN"]});
        assert_eq!(parse_scalar(&nan), Ok(None));
        let two =
            json!({"resultType": "vector", "result": [{"value": [1, "1"]}, {"value": [1, "2"]}]});
        assert!(parse_scalar(&two).unwrap_err().contains("one series"));
    }

    #[test]
    fn window_queries() {
        assert_eq!(
            over_window("min", "sum(x)", "0", Duration::from_secs(180)),
            "min_over_time(((sum(x)) or vector(0))[180s:15s])"
        );
    }
}
