use std::net::SocketAddr;
use std::sync::Mutex;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use http_body_util::Full;
use serde_json::json;

use super::*;
use crate::apiserver::eks_api::AccessEntry;

const DATE: &str = "20240101T120000Z";
const CLUSTER: &str = "testbed-cluster";

fn signed_at() -> SystemTime {
    parse_amz_date(DATE).expect("fixture date parses")
}

fn clock_at(t: SystemTime) -> NowFn {
    Arc::new(move || t)
}

fn cfg(region: &str, sts: Option<&str>) -> AuthnConfig {
    AuthnConfig {
        cluster_id: CLUSTER.into(),
        region: region.into(),
        sts_endpoint: sts.map(str::to_string),
        admin_token: "admin-secret".into(),
    }
}

/// An authenticator for us-east-1 whose clock reads 1 minute after DATE.
fn authn() -> Authenticator {
    Authenticator::with_clock(
        cfg("us-east-1", Some("http://127.0.0.1:5999")),
        clock_at(signed_at() + Duration::from_secs(60)),
    )
}

/// The query a botocore-style presign produces (percent-encoded, as clients send it).
fn query(date: &str) -> String {
    format!(
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date={date}\
         &X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abcdef0123"
    )
}

fn url(host: &str) -> String {
    format!("https://{host}/?{}", query(DATE))
}

fn token(url: &str) -> String {
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(url))
}

/// A padded base64url token for a URL whose encoding needs padding.
fn padded_token() -> String {
    let mut u = url("sts.us-east-1.amazonaws.com");
    while !URL_SAFE.encode(&u).ends_with('=') {
        u.push('#');
    }
    format!("{TOKEN_PREFIX}{}", URL_SAFE.encode(&u))
}

fn with_query(q: &str) -> String {
    token(&format!("https://sts.us-east-1.amazonaws.com/?{q}"))
}

fn replace(from: &str, to: &str) -> String {
    let q = query(DATE);
    assert!(q.contains(from), "fixture query contains {from}");
    with_query(&q.replace(from, to))
}

#[test]
fn a_well_formed_token_passes_every_rule() {
    let t = authn()
        .check_token(&token(&url("sts.us-east-1.amazonaws.com")))
        .unwrap();
    assert_eq!(t.host, "sts.us-east-1.amazonaws.com");
    assert_eq!(t.access_key_id, "AKIAEXAMPLE");
    assert_eq!(t.sts_region, "us-east-1");
    assert_eq!(t.path_and_query, format!("/?{}", query(DATE)));
}

#[test]
fn each_format_rule_rejects_for_its_own_reason() {
    let a = authn();
    let q = query(DATE);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "too long",
            format!("{TOKEN_PREFIX}{}", "A".repeat(MAX_TOKEN_LEN)),
            "token is too large",
        ),
        (
            "no prefix",
            URL_SAFE_NO_PAD.encode(url("sts.amazonaws.com")),
            "missing expected \"k8s-aws-v1.\" prefix",
        ),
        (
            "v2 prefix",
            format!(
                "k8s-aws-v2.{}",
                URL_SAFE_NO_PAD.encode(url("sts.amazonaws.com"))
            ),
            "missing expected",
        ),
        (
            "not base64",
            format!("{TOKEN_PREFIX}!!!not-base64"),
            "not base64url without padding",
        ),
        (
            "padded base64",
            padded_token(),
            "not base64url without padding",
        ),
        (
            "not utf-8",
            format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode([0xff, 0xfe])),
            "not UTF-8",
        ),
        (
            "control char",
            token("https://sts.amazonaws.com/?Action=Get\nCallerIdentity"),
            "malformed pre-signed URL",
        ),
        (
            "http scheme",
            token(&url("sts.amazonaws.com").replacen("https", "http", 1)),
            "unexpected scheme \"http\"",
        ),
        (
            "no scheme",
            token(&format!("//sts.amazonaws.com/?{q}")),
            "unexpected scheme \"\"",
        ),
        (
            "foreign host",
            token(&url("sts.example.com")),
            "unexpected hostname \"sts.example.com\"",
        ),
        (
            "lookalike host",
            token(&url("sts.us-east-1.amazonaws.com.evil.io")),
            "unexpected hostname",
        ),
        (
            "not sts",
            token(&url("s3.us-east-1.amazonaws.com")),
            "unexpected hostname",
        ),
        (
            "host with port",
            token(&url("sts.amazonaws.com:443")),
            "unexpected hostname",
        ),
        (
            "userinfo trick",
            token(&url("sts.amazonaws.com@evil.example.com")),
            "unexpected hostname \"evil.example.com\"",
        ),
        (
            "short host",
            token(&url("sts.com")),
            "could not parse region",
        ),
        (
            "bad region label",
            token(&url("sts.us_east_1.amazonaws.com")),
            "invalid region identifier",
        ),
        (
            "china host",
            token(&url("sts.cn-north-1.amazonaws.com.cn")),
            "partition {aws} does not support hostname",
        ),
        (
            "local host other port",
            token(&format!("https://127.0.0.1:6000/?{q}")),
            "unexpected hostname \"127.0.0.1:6000\"",
        ),
        (
            "path",
            token(&format!("https://sts.amazonaws.com/foo?{q}")),
            "unexpected path in pre-signed URL",
        ),
        (
            "empty path",
            token(&format!("https://sts.amazonaws.com?{q}")),
            "unexpected path in pre-signed URL",
        ),
        (
            "bad escape",
            with_query(&format!("{q}&X-Amz-Security-Token=%zz")),
            "malformed query parameter",
        ),
        (
            "semicolon",
            with_query(&q.replace("host%3Bx-k8s-aws-id", "host;x-k8s-aws-id")),
            "malformed query parameter",
        ),
        (
            "duplicate ignoring case",
            with_query(&format!("{q}&action=GetCallerIdentity")),
            "duplicate query parameter found: \"action\"",
        ),
        (
            "not whitelisted",
            with_query(&format!("{q}&X-Amz-Foo=1")),
            "non-whitelisted query parameter \"X-Amz-Foo\"",
        ),
        (
            "repeated key",
            with_query(&format!("{q}&X-Amz-Date={DATE}")),
            "query parameter with multiple values not supported",
        ),
        (
            "wrong action",
            replace("Action=GetCallerIdentity", "Action=AssumeRole"),
            "unexpected action parameter",
        ),
        (
            "no action",
            replace("Action=GetCallerIdentity&", ""),
            "unexpected action parameter",
        ),
        (
            "cluster id not signed",
            replace("host%3Bx-k8s-aws-id", "host"),
            "did not sign the x-k8s-aws-id header",
        ),
        (
            "no signed headers",
            replace("&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id", ""),
            "did not sign the x-k8s-aws-id header",
        ),
        (
            "expires 901",
            replace("X-Amz-Expires=60", "X-Amz-Expires=901"),
            "invalid X-Amz-Expires parameter in pre-signed URL: \"901\"",
        ),
        (
            "expires negative",
            replace("X-Amz-Expires=60", "X-Amz-Expires=-1"),
            "must be an integer between 0 and 900",
        ),
        (
            "expires not a number",
            replace("X-Amz-Expires=60", "X-Amz-Expires=sixty"),
            "invalid X-Amz-Expires",
        ),
        (
            "expires missing",
            replace("&X-Amz-Expires=60", ""),
            "invalid X-Amz-Expires parameter in pre-signed URL: \"\"",
        ),
        (
            "date missing",
            replace(&format!("&X-Amz-Date={DATE}"), ""),
            "X-Amz-Date parameter must be present",
        ),
        (
            "date format",
            replace(DATE, "2024-01-01T12:00:00Z"),
            "error parsing X-Amz-Date parameter",
        ),
        (
            "date impossible",
            replace(DATE, "20240230T120000Z"),
            "error parsing X-Amz-Date parameter",
        ),
        (
            "date expired",
            replace(DATE, "20240101T114459Z"),
            "X-Amz-Date parameter is expired (15 minute expiration)",
        ),
    ];
    for (name, tok, want) in cases {
        let err = a.check_token(&tok).expect_err(name);
        assert!(
            err.message
                .starts_with("input token was not properly formatted: "),
            "{name}: {}",
            err.message
        );
        assert!(
            err.message.contains(want),
            "{name}: expected {want:?} in {:?}",
            err.message
        );
    }
}

#[test]
fn accepted_variants_pass() {
    let a = authn();
    let q = query(DATE);
    for (name, tok) in [
        ("global", token(&url("sts.amazonaws.com"))),
        (
            "other region, same partition",
            token(&url("sts.eu-west-1.amazonaws.com")),
        ),
        ("fips", token(&url("sts-fips.us-east-1.amazonaws.com"))),
        ("dual-stack", token(&url("sts.us-east-1.api.aws"))),
        (
            "govcloud host is the aws domain",
            token(&url("sts.us-gov-west-1.amazonaws.com")),
        ),
        (
            "lower-case keys",
            with_query(
                &q.replace("Action=", "action=")
                    .replace("X-Amz-Date=", "x-amz-date="),
            ),
        ),
        (
            "session token",
            with_query(&format!("{q}&X-Amz-Security-Token=FwoGZXIvYXdzEJr%2F%2F")),
        ),
        (
            "signed header case",
            replace("host%3Bx-k8s-aws-id", "host%3BX-K8S-AWS-ID"),
        ),
        ("expires 0", replace("X-Amz-Expires=60", "X-Amz-Expires=0")),
        (
            "expires 900",
            replace("X-Amz-Expires=60", "X-Amz-Expires=900"),
        ),
        (
            "fragment ignored",
            token(&format!("{}#frag", url("sts.amazonaws.com"))),
        ),
        (
            "date in the future (no such rule)",
            replace(DATE, "20240101T130000Z"),
        ),
        (
            "local endpoint over http",
            token(&format!("http://127.0.0.1:5999/?{q}")),
        ),
        (
            "local endpoint over https",
            token(&format!("https://127.0.0.1:5999/?{q}")),
        ),
    ] {
        if let Err(e) = a.check_token(&tok) {
            panic!("{name}: {}", e.message);
        }
    }
}

#[test]
fn china_partition_accepts_its_hosts_only() {
    let a = Authenticator::with_clock(cfg("cn-north-1", None), clock_at(signed_at()));
    a.check_token(&token(&url("sts.cn-north-1.amazonaws.com.cn")))
        .unwrap();
    a.check_token(&token(&url(
        "sts.cn-northwest-1.api.amazonwebservices.com.cn",
    )))
    .unwrap();
    let e = a
        .check_token(&token(&url("sts.amazonaws.com")))
        .unwrap_err();
    assert!(
        e.message
            .contains("global endpoint unsupported in partition aws-cn"),
        "{}",
        e.message
    );
    let e = a
        .check_token(&token(&url("sts.us-east-1.amazonaws.com")))
        .unwrap_err();
    assert!(
        e.message
            .contains("partition {aws-cn} does not support hostname"),
        "{}",
        e.message
    );
}

#[test]
fn expiry_follows_the_injected_clock_to_the_second() {
    let tok = token(&url("sts.us-east-1.amazonaws.com"));
    let at = |offset: u64| {
        Authenticator::with_clock(
            cfg("us-east-1", None),
            clock_at(signed_at() + Duration::from_secs(offset)),
        )
    };
    at(0).check_token(&tok).unwrap();
    at(15 * 60).check_token(&tok).unwrap();
    let e = at(15 * 60 + 1).check_token(&tok).unwrap_err();
    assert!(e.message.contains("expired"), "{}", e.message);

    // A clock the caller moves (the server's simulated clock).
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let o = offset.clone();
    let a = Authenticator::with_clock(
        cfg("us-east-1", None),
        Arc::new(move || signed_at() + *o.lock().unwrap()),
    );
    a.check_token(&tok).unwrap();
    *offset.lock().unwrap() = Duration::from_secs(16 * 60);
    assert!(a.check_token(&tok).unwrap_err().message.contains("expired"));
}

#[test]
fn partitions_and_dates() {
    assert_eq!(partition_of_region("us-east-1"), "aws");
    assert_eq!(partition_of_region("cn-northwest-1"), "aws-cn");
    assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
    assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
    assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
    let t = parse_amz_date("19700101T000100Z").unwrap();
    assert_eq!(t, SystemTime::UNIX_EPOCH + Duration::from_secs(60));
    for bad in [
        "19700101T000100",
        "19700101 000100Z",
        "1970010T0000100Z",
        "19701301T000000Z",
        "1970010aT000000Z",
    ] {
        assert!(parse_amz_date(bad).is_none(), "{bad}");
    }
}

// ---- authenticate(): the STS round trip against a tiny local server -------------------

#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    headers: http::HeaderMap,
}

/// An STS stand-in answering every request with `status` and `body`; records requests.
/// `hang`: accept but never answer.
async fn sts_server(
    status: u16,
    body: &'static str,
    hang: bool,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        s.lock().unwrap().push(Seen {
                            uri: req.uri().to_string(),
                            headers: req.headers().clone(),
                        });
                        async move {
                            if hang {
                                std::future::pending::<()>().await;
                            }
                            let resp = http::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

const ROLE_ANSWER: &str = r#"{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":"arn:aws:sts::123456789012:assumed-role/scaler/lambda@fn","UserId":"AROAEXAMPLEID:lambda@fn","Account":"123456789012"},"ResponseMetadata":{"RequestId":"r-1"}}}"#;

fn aws_auth(map_roles: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
           "data": {"mapRoles": map_roles}})
}

fn sources() -> IdentitySources {
    IdentitySources {
        aws_auth: Some(aws_auth(
            "- rolearn: arn:aws:iam::123456789012:role/scaler\n  username: scaler:{{SessionName}}\n  groups: [scalers]\n",
        )),
        access_entries: vec![],
    }
}

fn live(addr: SocketAddr) -> Authenticator {
    Authenticator::with_clock(
        cfg("us-east-1", Some(&format!("http://{addr}"))),
        clock_at(signed_at() + Duration::from_secs(30)),
    )
}

#[tokio::test]
async fn a_valid_token_is_resent_with_our_cluster_id_and_mapped() {
    let (addr, seen) = sts_server(200, ROLE_ANSWER, false).await;
    let a = live(addr);
    let user = a
        .authenticate(
            Some(&token(&url("sts.us-east-1.amazonaws.com"))),
            &sources(),
        )
        .await
        .unwrap();
    assert_eq!(user.username, "scaler:lambda-fn");
    assert_eq!(
        user.groups,
        vec!["scalers".to_string(), "system:authenticated".to_string()]
    );
    assert_eq!(user.uid, "aws-iam-authenticator:123456789012:AROAEXAMPLEID");
    assert_eq!(
        user.extra_arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/scaler/lambda@fn")
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        r.uri,
        format!("/?{}", query(DATE)),
        "path and query unchanged"
    );
    assert_eq!(
        r.headers["host"], "sts.us-east-1.amazonaws.com",
        "Host is the token's, so the signature verifies"
    );
    assert_eq!(r.headers["x-k8s-aws-id"], CLUSTER);
    assert_eq!(r.headers["accept"], "application/json");
}

#[tokio::test]
async fn a_token_naming_the_local_endpoint_keeps_its_host() {
    let (addr, seen) = sts_server(200, ROLE_ANSWER, false).await;
    let a = live(addr);
    let tok = token(&format!("http://{addr}/?{}", query(DATE)));
    a.authenticate(Some(&tok), &sources()).await.unwrap();
    assert_eq!(
        seen.lock().unwrap()[0].headers["host"],
        addr.to_string().as_str()
    );
}

#[tokio::test]
async fn sts_refusals_and_bad_answers_are_401_with_the_reason() {
    let tok = token(&url("sts.us-east-1.amazonaws.com"));
    let cases: [(u16, &'static str, &str); 5] = [
        (
            403,
            r#"{"Error":{"Code":"SignatureDoesNotMatch","Message":"The request signature we calculated does not match"}}"#,
            "sts getCallerIdentity failed: error from AWS (expected 200, got 403) on us-east-1 endpoint. Body: {\"Error\":{\"Code\":\"SignatureDoesNotMatch\"",
        ),
        (
            400,
            r#"{"Error":{"Code":"Throttling","Message":"Rate exceeded","Type":"Sender"}}"#,
            "sts getCallerIdentity was throttled: ",
        ),
        (302, "", "got 302"),
        (
            200,
            "<GetCallerIdentityResponse/>",
            "sts getCallerIdentity failed: response is not JSON",
        ),
        (
            200,
            r#"{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":"arn:aws:s3:::bucket","UserId":"x","Account":"1"}}}"#,
            "sts getCallerIdentity failed: service s3 in arn",
        ),
    ];
    for (status, body, want) in cases {
        let (addr, _) = sts_server(status, body, false).await;
        let e = live(addr)
            .authenticate(Some(&tok), &sources())
            .await
            .unwrap_err();
        assert!(
            e.message.contains(want),
            "{status}: expected {want:?} in {:?}",
            e.message
        );
    }
}

#[tokio::test]
async fn an_unmapped_arn_is_refused() {
    let (addr, _) = sts_server(200, ROLE_ANSWER, false).await;
    let e = live(addr)
        .authenticate(
            Some(&token(&url("sts.us-east-1.amazonaws.com"))),
            &IdentitySources::default(),
        )
        .await
        .unwrap_err();
    assert!(
        e.message
            .starts_with("ARN is not mapped: arn:aws:iam::123456789012:role/scaler"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn access_entries_are_consulted_before_aws_auth() {
    let (addr, _) = sts_server(200, ROLE_ANSWER, false).await;
    let mut s = sources();
    s.access_entries.push(AccessEntry {
        cluster_name: CLUSTER.into(),
        principal_arn: "arn:aws:iam::123456789012:role/scaler".into(),
        kubernetes_groups: vec!["from-entry".into()],
        entry_type: "STANDARD".into(),
        ..AccessEntry::default()
    });
    let user = live(addr)
        .authenticate(Some(&token(&url("sts.us-east-1.amazonaws.com"))), &s)
        .await
        .unwrap();
    assert_eq!(
        user.username,
        "arn:aws:sts::123456789012:assumed-role/scaler/lambda-fn"
    );
    assert_eq!(
        user.groups,
        vec!["from-entry".to_string(), "system:authenticated".to_string()]
    );
}

#[tokio::test]
async fn timeouts_unreachable_and_unconfigured_sts() {
    let tok = token(&url("sts.us-east-1.amazonaws.com"));
    let (addr, _) = sts_server(200, ROLE_ANSWER, true).await;
    let e = live(addr)
        .with_sts_timeout(Duration::from_millis(200))
        .authenticate(Some(&tok), &sources())
        .await
        .unwrap_err();
    assert!(
        e.message
            .starts_with("sts getCallerIdentity failed: error during GET: timeout"),
        "{}",
        e.message
    );

    // A port nobody listens on: bind, note it, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = Authenticator::with_clock(
        cfg("us-east-1", Some(&format!("http://127.0.0.1:{port}"))),
        clock_at(signed_at()),
    );
    let e = a.authenticate(Some(&tok), &sources()).await.unwrap_err();
    assert!(
        e.message
            .starts_with("sts getCallerIdentity failed: error during GET"),
        "{}",
        e.message
    );

    let a = Authenticator::with_clock(cfg("us-east-1", None), clock_at(signed_at()));
    let e = a.authenticate(Some(&tok), &sources()).await.unwrap_err();
    assert!(
        e.message.contains("no STS endpoint configured"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn admin_token_missing_token_and_format_errors_need_no_network() {
    // The STS endpoint does not exist: nothing here may reach it.
    let a = authn();
    let admin = a
        .authenticate(Some("admin-secret"), &IdentitySources::default())
        .await
        .unwrap();
    assert_eq!(admin.username, "testbed-admin");
    assert_eq!(
        admin.groups,
        vec![
            "system:masters".to_string(),
            "system:authenticated".to_string()
        ]
    );
    let e = a
        .authenticate(None, &IdentitySources::default())
        .await
        .unwrap_err();
    assert!(e.message.contains("no bearer token"), "{}", e.message);
    let e = a
        .authenticate(Some("admin-secreT"), &IdentitySources::default())
        .await
        .unwrap_err();
    assert!(e.message.contains("missing expected"), "{}", e.message);
}
