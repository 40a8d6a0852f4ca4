//! EKS tokens through the full server: presigned with real SigV4 for credentials moto
//! issued, verified by the testbed's rules, re-sent to the moto gateway (which checks the
//! signature), mapped through aws-auth or an access entry, then authorized by RBAC.
mod apiserver_support;

use std::time::{Duration, SystemTime};

use apiserver_support::{api_err, eks_token};
use aws_credential_types::Credentials;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use testbed::apiserver::{Testbed, TestbedConfig};
use testbed::harness::Moto;

const ROLE: &str = "arn:aws:iam::123456789012:role/alarm-scaler";
const CLUSTER: &str = "demo";

async fn setup() -> (Moto, Testbed, Credentials) {
    let moto = Moto::start().expect("moto starts");
    let tb = Testbed::start(TestbedConfig {
        cluster_name: CLUSTER.into(),
        sts_endpoint: Some(moto.endpoint().to_string()),
        ..Default::default()
    })
    .await
    .expect("testbed starts");
    let creds = moto.assume_role(ROLE, "fn").await.expect("assume role");
    (moto, tb, creds)
}

fn rbac_yaml() -> &'static str {
    r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: scaler, namespace: default}
rules:
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: scaler, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: scaler}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: scalers}
"#
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eks_token_is_verified_mapped_and_authorized() {
    let (_moto, tb, creds) = setup().await;
    let token = eks_token(&creds, CLUSTER, SystemTime::now());
    let client = tb.kube_client_with_token(&token);
    let deployments = |ns: &str| Api::<Deployment>::namespaced(client.clone(), ns);
    let lp = ListParams::default();

    // Verified by STS (moto), but mapped nowhere yet.
    let (code, _, msg) = api_err(deployments("default").list(&lp).await);
    assert_eq!(code, 401, "{msg}");
    assert!(
        msg.starts_with("ARN is not mapped: arn:aws:iam::123456789012:role/alarm-scaler"),
        "{msg}"
    );

    // aws-auth maps the role; RBAC grants the group deployments in default.
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {"mapRoles": format!("- rolearn: {ROLE}\n  username: alarm-scaler:{{{{SessionName}}}}\n  groups:\n  - scalers\n")}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(tb.kube_client_admin(), "kube-system")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    tb.load_yaml(rbac_yaml()).unwrap();

    deployments("default")
        .list(&lp)
        .await
        .expect("granted by the RoleBinding");
    client
        .apiserver_version()
        .await
        .expect("discovery for system:authenticated");

    let (code, reason, msg) = api_err(deployments("kube-system").list(&lp).await);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        msg,
        "deployments.apps is forbidden: User \"alarm-scaler:fn\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"kube-system\""
    );
    let (code, _, msg) = api_err(
        Api::<Pod>::namespaced(client.clone(), "default")
            .list(&lp)
            .await,
    );
    assert_eq!(code, 403, "{msg}");

    // An access entry for the role takes precedence over aws-auth.
    let (status, body) = tb.eks_api().handle(
        &http::Method::POST,
        &format!("/clusters/{CLUSTER}/access-entries"),
        json!({"principalArn": ROLE, "kubernetesGroups": ["not-bound"]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let (code, _, msg) = api_err(deployments("default").list(&lp).await);
    assert_eq!(code, 403, "{msg}");
    assert!(
        msg.contains("User \"arn:aws:sts::123456789012:assumed-role/alarm-scaler/fn\" cannot list"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_401_with_the_failed_rule() {
    let (_moto, tb, creds) = setup().await;
    let now = SystemTime::now();
    let cases = [
        // Well-formed but signed for another cluster: STS (the gateway) refuses the signature.
        (
            eks_token(&creds, "other-cluster", now),
            "sts getCallerIdentity failed: error from AWS (expected 200, got 403)",
        ),
        (
            eks_token(&creds, CLUSTER, now - Duration::from_secs(16 * 60)),
            "X-Amz-Date parameter is expired",
        ),
        (
            eks_token(
                &Credentials::new("ASIAUNKNOWNKEY000000", "secret", None, None, "t"),
                CLUSTER,
                now,
            ),
            "sts getCallerIdentity failed",
        ),
        (
            "k8s-aws-v1.bm90IGEgdXJs".to_string(),
            "input token was not properly formatted",
        ),
        (
            "not-an-eks-token".to_string(),
            "missing expected \"k8s-aws-v1.\" prefix",
        ),
    ];
    for (token, want) in cases {
        let pods = Api::<Pod>::namespaced(tb.kube_client_with_token(&token), "default");
        let (code, reason, msg) = api_err(pods.list(&ListParams::default()).await);
        assert_eq!((code, reason.as_str()), (401, "Unauthorized"), "{msg}");
        assert!(msg.contains(want), "expected {want:?} in {msg:?}");
    }
}
