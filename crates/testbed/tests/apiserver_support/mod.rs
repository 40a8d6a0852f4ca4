//! Shared by the apiserver_* test binaries: start a testbed, wait on conditions with a
//! deadline, read API errors, build the objects the tests use.
#![allow(dead_code)]
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use serde_json::{Value, json};
use testbed::apiserver::{NodeSpec, Testbed, TestbedConfig};
use testbed::harness::query_escape;

pub async fn start(nodes: &[&str]) -> Testbed {
    let cfg = TestbedConfig {
        nodes: nodes
            .iter()
            .map(|n| NodeSpec::new(*n).instance(format!("i-{n}")))
            .collect(),
        ..Default::default()
    };
    Testbed::start(cfg).await.expect("testbed starts")
}

/// An admin client that does not retry 429/503/504 (kube-rs does by default), for tests
/// that want to see those statuses.
pub fn client_no_retry(tb: &Testbed) -> kube::Client {
    let mut cfg = tb.kube_config(Some(tb.admin_token()));
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

/// Polls `f` every 20 ms until it yields `Some`, or panics naming `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (code, reason, message) of an API error; panics on anything else.
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn deployment(name: &str, replicas: i32, cpu: &str) -> k8s_openapi::api::apps::v1::Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "app", "image": "nginx:1.27",
                        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]
                }
            }
        }
    }))
    .expect("deployment")
}

pub fn pdb(
    name: &str,
    app: &str,
    spec: Value,
) -> k8s_openapi::api::policy::v1::PodDisruptionBudget {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": app}});
    serde_json::from_value(
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name}, "spec": spec}),
    )
    .expect("pdb")
}

/// An EKS token as aws-iam-authenticator / `aws eks get-token` make it.
pub fn eks_token(
    creds: &aws_credential_types::Credentials,
    cluster: &str,
    at: std::time::SystemTime,
) -> String {
    let base = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15";
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let identity = aws_smithy_runtime_api::client::identity::Identity::from(creds.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "GET",
        base,
        [("x-k8s-aws-id", cluster)].into_iter(),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut url = base.to_owned();
    for (k, v) in instructions.params() {
        url.push_str(&format!("&{k}={}", query_escape(v)));
    }
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}
