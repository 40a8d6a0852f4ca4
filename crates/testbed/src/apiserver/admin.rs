//! `/testbed/v1/…`: the admin-token-only API that drives the standalone server (demo,
//! scripts) the way tests drive [`super::Testbed`] in process.
//!
//! | route | body | effect |
//! |---|---|---|
//! | `GET /testbed/v1/clock` | | `{"now", "offsetSeconds"}` |
//! | `POST /testbed/v1/clock` | `{"advanceSeconds": 30}` | advances the sim clock, runs the simulation |
//! | `GET /testbed/v1/faults` | | `{"config": FaultConfig, "fired": [n, ..]}` |
//! | `PUT /testbed/v1/faults` | [`FaultConfig`] JSON | replaces the fault rules |
//! | `DELETE /testbed/v1/faults` | | removes every rule |
//! | `POST /testbed/v1/nodes` | [`NodeSpec`] JSON | registers a node (k3s agent joining) |
//! | `DELETE /testbed/v1/nodes/<name>` | | removes it; its pods go, controllers replace them |
//! | `PUT /testbed/v1/nodes/<name>/ready` | `{"ready": false}` | flips its Ready condition |
//! | `POST /testbed/v1/manifests` | YAML | loads manifests |
use std::time::Duration;

use http::{Method, Response};
use serde_json::{Value, json};

use super::faults::FaultConfig;
use super::nodes::NodeSpec;
use super::server::{Body, Shared, error_response, json_response};
use super::status::{ApiError, ApiResult};
use super::util::fmt_time;

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(bad)
}

pub fn handle(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response<Body> {
    match route(shared, method, path, body) {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn route(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> ApiResult<(u16, Value)> {
    let rest = path
        .trim_start_matches("/testbed/v1/")
        .trim_end_matches('/');
    let segs: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["clock"]) => Ok(clock(shared)),
        ("POST", ["clock"]) => {
            let v: Value = parse(body)?;
            let secs = v["advanceSeconds"]
                .as_f64()
                .ok_or_else(|| bad("advanceSeconds (a number) is required"))?;
            if secs < 0.0 {
                return Err(bad("the clock only goes forward"));
            }
            super::testbed::advance(shared, Duration::from_secs_f64(secs));
            Ok(clock(shared))
        }
        ("GET", ["faults"]) => {
            let st = shared.lock();
            Ok((
                200,
                json!({"config": st.faults.config(), "fired": st.faults.fired()}),
            ))
        }
        ("PUT" | "POST", ["faults"]) => {
            let c: FaultConfig = parse(body)?;
            shared.lock().faults.set(c.clone());
            Ok((200, json!({"config": c})))
        }
        ("DELETE", ["faults"]) => {
            shared.lock().faults.set(FaultConfig::default());
            Ok((200, json!({"config": FaultConfig::default()})))
        }
        ("POST", ["nodes"]) => {
            let spec: NodeSpec = parse(body)?;
            super::testbed::register_node(shared, &spec).map(|n| (201, n))
        }
        ("DELETE", ["nodes", name]) => super::testbed::remove_node(shared, name).map(|n| (200, n)),
        ("PUT", ["nodes", name, "ready"]) => {
            let v: Value = parse(body)?;
            super::testbed::set_node_ready(shared, name, v["ready"].as_bool().unwrap_or(true))
                .map(|n| (200, n))
        }
        ("POST", ["manifests"]) => {
            let text = std::str::from_utf8(body).map_err(bad)?;
            let n = super::testbed::load_yaml(shared, text).map_err(bad)?;
            Ok((200, json!({"loaded": n})))
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("no testbed route {method} {path}"),
        )),
    }
}

fn clock(shared: &Shared) -> (u16, Value) {
    (
        200,
        json!({"now": fmt_time(shared.clock.now()), "offsetSeconds": shared.clock.offset().as_secs_f64()}),
    )
}
