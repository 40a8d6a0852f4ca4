use std::time::Duration;

use super::*;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const ROLE: &str = "arn:aws:iam::123456789012:role/iam-sync";
const ROLE_ENC: &str = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fiam-sync";

fn api() -> EksApi {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    EksApi::new("demo", "https://127.0.0.1:6443", CA).with_clock(Arc::new(move || t))
}

fn call(api: &EksApi, method: Method, path: &str, body: Value) -> (u16, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let (c, v) = api.handle(&method, path, &bytes);
    (c.as_u16(), v)
}

fn create(api: &EksApi, body: Value) -> (u16, Value) {
    call(api, Method::POST, "/clusters/demo/access-entries", body)
}

#[test]
fn describe_cluster_gives_endpoint_and_base64_ca() {
    let a = api().with_account("eu-west-1", "210987654321");
    let (code, v) = call(&a, Method::GET, "/clusters/demo", Value::Null);
    assert_eq!(code, 200);
    let c = &v["cluster"];
    assert_eq!(c["name"], "demo");
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["endpoint"], "https://127.0.0.1:6443");
    assert_eq!(c["arn"], "arn:aws:eks:eu-west-1:210987654321:cluster/demo");
    assert_eq!(c["version"], KUBERNETES_VERSION);
    let ca = base64::engine::general_purpose::STANDARD
        .decode(c["certificateAuthority"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(ca, CA.as_bytes());
    assert!(c["createdAt"].is_f64());

    let (code, v) = call(&a, Method::GET, "/clusters/other", Value::Null);
    assert_eq!(code, 404);
    assert_eq!(error_type(&v), Some("ResourceNotFoundException"));
    assert_eq!(v["message"], "No cluster found for name: other.");
    assert_eq!(
        call(&a, Method::GET, "/clusters", Value::Null),
        (200, json!({"clusters": ["demo"]}))
    );
}

#[test]
fn create_describe_update_delete() {
    let a = api();
    let (code, v) = create(
        &a,
        json!({"principalArn": ROLE, "kubernetesGroups": ["scalers", "scalers"], "tags": {"team": "ops"}}),
    );
    assert_eq!(code, 200, "{v}");
    let e = &v["accessEntry"];
    assert_eq!(e["clusterName"], "demo");
    assert_eq!(e["principalArn"], ROLE);
    assert_eq!(e["kubernetesGroups"], json!(["scalers"]));
    assert_eq!(e["type"], "STANDARD");
    assert_eq!(
        e["username"],
        "arn:aws:sts::123456789012:assumed-role/iam-sync/{{SessionName}}"
    );
    assert_eq!(e["createdAt"], json!(1_700_000_000.0));
    assert_eq!(e["tags"], json!({"team": "ops"}));
    assert!(
        e["accessEntryArn"].as_str().unwrap().starts_with(
            "arn:aws:eks:us-east-1:123456789012:access-entry/demo/role/123456789012/iam-sync/"
        ),
        "{e}"
    );
    assert_eq!(a.access_entries().len(), 1);

    // Describe by the URL-encoded ARN (as the SDK sends it) and unencoded.
    let (code, d) = call(
        &a,
        Method::GET,
        &format!("/clusters/demo/access-entries/{ROLE_ENC}"),
        Value::Null,
    );
    assert_eq!((code, &d["accessEntry"]), (200, e));
    let (code, _) = call(
        &a,
        Method::GET,
        &format!("/clusters/demo/access-entries/{ROLE}"),
        Value::Null,
    );
    assert_eq!(code, 200);

    // Update replaces the groups and sets the username.
    let (code, u) = call(
        &a,
        Method::POST,
        &format!("/clusters/demo/access-entries/{ROLE_ENC}"),
        json!({"kubernetesGroups": ["a", "b"], "username": "sync:{{SessionName}}"}),
    );
    assert_eq!(code, 200, "{u}");
    assert_eq!(u["accessEntry"]["kubernetesGroups"], json!(["a", "b"]));
    assert_eq!(u["accessEntry"]["username"], "sync:{{SessionName}}");
    assert_eq!(
        a.access_entries()[0].kubernetes_groups,
        vec!["a".to_string(), "b".to_string()]
    );
    // Without kubernetesGroups, the groups stay.
    let (_, u) = call(
        &a,
        Method::POST,
        &format!("/clusters/demo/access-entries/{ROLE_ENC}"),
        json!({}),
    );
    assert_eq!(u["accessEntry"]["kubernetesGroups"], json!(["a", "b"]));

    assert_eq!(
        call(
            &a,
            Method::DELETE,
            &format!("/clusters/demo/access-entries/{ROLE_ENC}"),
            Value::Null
        ),
        (200, json!({}))
    );
    assert!(a.access_entries().is_empty());
    for method in [Method::GET, Method::DELETE, Method::POST] {
        let (code, v) = call(
            &a,
            method.clone(),
            &format!("/clusters/demo/access-entries/{ROLE_ENC}"),
            json!({}),
        );
        assert_eq!(code, 404, "{method}");
        assert_eq!(
            error_type(&v),
            Some("ResourceNotFoundException"),
            "{method}"
        );
        assert_eq!(v["clusterName"], "demo");
    }
}

#[test]
fn duplicates_and_invalid_parameters() {
    let a = api();
    assert_eq!(create(&a, json!({"principalArn": ROLE})).0, 200);
    let (code, v) = create(&a, json!({"principalArn": ROLE}));
    assert_eq!(code, 409);
    assert_eq!(error_type(&v), Some("ResourceInUseException"));

    let cases = [
        (json!({}), "principalArn is required"),
        (json!({"principalArn": "nonsense"}), "is not a valid ARN"),
        (
            json!({"principalArn": "arn:aws:sts::123456789012:assumed-role/r/s"}),
            "not a valid IAM user or role ARN",
        ),
        (
            json!({"principalArn": "arn:aws:iam::12345:role/r"}),
            "not a valid IAM user or role ARN",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:user/u", "type": "EC2_LINUX"}),
            "must have an IAM role",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:role/n", "type": "EC2_LINUX", "kubernetesGroups": ["x"]}),
            "cannot be specified for access entries of type EC2_LINUX",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:role/n", "type": "WEIRD"}),
            "The type WEIRD is invalid",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:role/n", "kubernetesGroups": ["system:masters"]}),
            "cannot start with system:",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:role/n", "username": "eks:admin"}),
            "cannot start with eks:",
        ),
        (
            json!({"principalArn": "arn:aws:iam::123456789012:role/n", "kubernetesGroups": "g"}),
            "must be a list of strings",
        ),
    ];
    for (body, want) in cases {
        let (code, v) = create(&a, body.clone());
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(error_type(&v), Some("InvalidParameterException"), "{body}");
        assert!(v["message"].as_str().unwrap().contains(want), "{body}: {v}");
    }
    let (code, _) = call(
        &a,
        Method::POST,
        "/clusters/demo/access-entries",
        Value::Null,
    );
    assert_eq!(code, 400, "empty body: principalArn missing");
    let (code, v) = a.handle(&Method::POST, "/clusters/demo/access-entries", b"{not json");
    assert_eq!(
        (code.as_u16(), error_type(&v)),
        (400, Some("InvalidParameterException"))
    );
    let (code, v) = call(
        &a,
        Method::POST,
        "/clusters/other/access-entries",
        json!({"principalArn": ROLE}),
    );
    assert_eq!(
        (code, error_type(&v)),
        (404, Some("ResourceNotFoundException"))
    );
    let (code, v) = call(
        &a,
        Method::PUT,
        "/clusters/demo/access-entries",
        Value::Null,
    );
    assert_eq!(
        (code, error_type(&v)),
        (404, Some("UnknownOperationException"))
    );
    // Node-type entries get EKS's username.
    let (_, v) = create(
        &a,
        json!({"principalArn": "arn:aws:iam::123456789012:role/node", "type": "EC2_LINUX"}),
    );
    assert_eq!(
        v["accessEntry"]["username"],
        "system:node:{{EC2PrivateDNSName}}"
    );
}

#[test]
fn list_is_paginated() {
    let a = api();
    let arns: Vec<String> = (0..5)
        .map(|i| format!("arn:aws:iam::123456789012:user/u{i}"))
        .collect();
    for arn in arns.iter().rev() {
        assert_eq!(create(&a, json!({"principalArn": arn})).0, 200);
    }
    let (code, v) = call(
        &a,
        Method::GET,
        "/clusters/demo/access-entries",
        Value::Null,
    );
    assert_eq!(code, 200);
    assert_eq!(v, json!({"accessEntries": arns}));

    let mut seen: Vec<String> = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &next {
            Some(t) => format!("?maxResults=2&nextToken={t}"),
            None => "?maxResults=2".into(),
        };
        let (code, v) = call(
            &a,
            Method::GET,
            &format!("/clusters/demo/access-entries{q}"),
            Value::Null,
        );
        assert_eq!(code, 200, "{v}");
        let page: Vec<String> = serde_json::from_value(v["accessEntries"].clone()).unwrap();
        assert!(page.len() <= 2);
        seen.extend(page);
        pages += 1;
        match v["nextToken"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (arns, 3));

    for bad in [
        "?maxResults=0",
        "?maxResults=101",
        "?maxResults=x",
        "?nextToken=%%%",
    ] {
        let (code, v) = call(
            &a,
            Method::GET,
            &format!("/clusters/demo/access-entries{bad}"),
            Value::Null,
        );
        assert_eq!(
            (code, error_type(&v)),
            (400, Some("InvalidParameterException")),
            "{bad}"
        );
    }
}

#[test]
fn client_request_token_is_idempotent() {
    let a = api();
    let body = json!({"principalArn": ROLE, "clientRequestToken": "t-1"});
    let first = create(&a, body.clone());
    assert_eq!(first.0, 200);
    assert_eq!(create(&a, body), first, "a retry returns the first answer");
    let (code, v) = create(
        &a,
        json!({"principalArn": ROLE, "clientRequestToken": "t-1", "username": "x"}),
    );
    assert_eq!(
        (code, error_type(&v)),
        (400, Some("InvalidParameterException"))
    );
    // Without a token, the retry is a duplicate.
    assert_eq!(create(&a, json!({"principalArn": ROLE})).0, 409);
}

#[test]
fn access_entries_round_trip_through_serde() {
    let a = api();
    create(&a, json!({"principalArn": ROLE, "kubernetesGroups": ["g"]}));
    let e = a.access_entries().remove(0);
    let back: AccessEntry = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
    assert_eq!(back, e);
    let minimal: AccessEntry =
        serde_json::from_value(json!({"clusterName": "demo", "principalArn": ROLE})).unwrap();
    assert_eq!(minimal.entry_type, "STANDARD");
}
