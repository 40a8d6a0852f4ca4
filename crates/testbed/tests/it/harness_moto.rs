//! moto behind the gateway: start-up, AssumeRole credentials, the Lambda-style environment,
//! and the presigned STS GetCallerIdentity (EKS token) verification.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use testbed::harness::moto::presign_get_caller_identity;
use testbed::harness::{Moto, http_get, http_get_with};

const ROLE: &str = "arn:aws:iam::123456789012:role/alarm-scaler";
const ASSUMED: &str = "arn:aws:sts::123456789012:assumed-role/alarm-scaler/fn";

#[tokio::test]
async fn starts_and_gives_execution_role_credentials() {
    let moto = Moto::start().unwrap();
    eprintln!("moto gateway start-up: {:?}", moto.startup_time());
    assert!(moto.endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(moto.port(), 0);
    assert_eq!(moto.region(), "us-east-1");

    let creds = moto.assume_role(ROLE, "fn").await.unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"), "{creds:?}");
    assert!(creds.session_token().is_some());
    let expiry = creds.expiry().expect("expiry");
    assert!(expiry > SystemTime::now() + Duration::from_secs(30 * 60));

    // The credentials act as the role through the ordinary SDK path.
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config_for(&creds).await);
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(ASSUMED));
    assert_eq!(me.account(), Some("123456789012"));

    let env = moto.env_for(&creds);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("AWS_ACCESS_KEY_ID"), Some(creds.access_key_id()));
    assert_eq!(
        get("AWS_SECRET_ACCESS_KEY"),
        Some(creds.secret_access_key())
    );
    assert_eq!(get("AWS_SESSION_TOKEN"), creds.session_token());
    assert_eq!(get("AWS_REGION"), Some("us-east-1"));
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(moto.endpoint()));
}

#[test]
fn each_start_is_a_separate_moto() {
    let a = Moto::start().unwrap();
    let b = Moto::start().unwrap();
    assert_ne!(a.port(), b.port());
    let port = a.port();
    drop(a);
    // Dropped: the port stops answering (polled, not slept).
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < until,
            "moto still answers after drop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(http_get(&format!("{}/moto-api/", b.endpoint())).is_ok());
}

fn verify(moto: &Moto, path: &str, cluster: &str, accept: &str) -> (u16, String) {
    http_get_with(
        &format!("{}{path}", moto.endpoint()),
        &[
            ("Host", "sts.us-east-1.amazonaws.com"),
            ("x-k8s-aws-id", cluster),
            ("Accept", accept),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn presigned_get_caller_identity_is_verified() {
    let moto = Moto::start().unwrap();
    let creds = moto.assume_role(ROLE, "fn").await.unwrap();
    let now = SystemTime::now();

    // Both payload conventions (aws-sigv4 unsigned, aws-sdk-go v1 empty-body hash) pass.
    for unsigned in [true, false] {
        let token = presign_get_caller_identity(&creds, "demo", now, unsigned);
        let (status, body) = verify(&moto, &token, "demo", "application/json");
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let result = &json["GetCallerIdentityResponse"]["GetCallerIdentityResult"];
        assert_eq!(result["Arn"], ASSUMED, "{body}");
        assert_eq!(result["Account"], "123456789012");
        assert!(
            result["UserId"].as_str().unwrap().ends_with(":fn"),
            "{body}"
        );
        assert!(
            json["GetCallerIdentityResponse"]["ResponseMetadata"]["RequestId"].is_string(),
            "{body}"
        );
    }

    // Without `accept: application/json`, STS's XML.
    let token = presign_get_caller_identity(&creds, "demo", now, true);
    let (status, body) = verify(&moto, &token, "demo", "*/*");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("<Arn>{ASSUMED}</Arn>")), "{body}");

    // A token signed for another cluster id is refused, as real STS refuses it.
    let (status, body) = verify(&moto, &token, "other-cluster", "application/json");
    assert_eq!(status, 403, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["Error"]["Code"], "SignatureDoesNotMatch", "{body}");
    assert_eq!(json["Error"]["Type"], "Sender");
    assert!(json["RequestId"].is_string());

    // Query keys in another case are not STS's: refused by the gateway, never answered
    // by moto unverified (moto would answer a request without a signature).
    let lowered = token
        .replace("X-Amz-Signature=", "x-amz-signature=")
        .replace("Action=", "action=");
    let unsigned = token[..token.find("&X-Amz-Signature=").unwrap()].to_owned();
    for (what, path) in [
        ("lower-case keys", lowered.as_str()),
        ("no signature", unsigned.as_str()),
        ("bare", "/?Action=GetCallerIdentity&Version=2011-06-15"),
    ] {
        let (status, body) = verify(&moto, path, "demo", "application/json");
        assert_eq!(status, 403, "{what}: {body}");
        assert!(
            body.contains("MissingAuthenticationToken"),
            "{what}: {body}"
        );
    }

    // Tampering with a signed query parameter.
    let tampered = token.replace("Version=2011-06-15", "Version=2011-06-16");
    let (status, body) = verify(&moto, &tampered, "demo", "*/*");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );

    // STS ignores X-Amz-Expires (60 s): a presigned GET is good for 15 minutes...
    let older =
        presign_get_caller_identity(&creds, "demo", now - Duration::from_secs(10 * 60), true);
    assert_eq!(verify(&moto, &older, "demo", "application/json").0, 200);
    // ...and not after.
    let stale =
        presign_get_caller_identity(&creds, "demo", now - Duration::from_secs(16 * 60), true);
    let (status, body) = verify(&moto, &stale, "demo", "application/json");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Signature expired"), "{body}");

    // A key moto never issued.
    let stranger = Credentials::new("ASIAUNKNOWNKEY000000", "secret", None, None, "t");
    let (status, body) = verify(
        &moto,
        &presign_get_caller_identity(&stranger, "demo", now, true),
        "demo",
        "application/json",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("InvalidClientTokenId"), "{body}");

    // The right key with another session token.
    let wrong_session = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some("not-the-session-token".to_owned()),
        None,
        "t",
    );
    let (status, body) = verify(
        &moto,
        &presign_get_caller_identity(&wrong_session, "demo", now, true),
        "demo",
        "application/json",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("InvalidClientTokenId"), "{body}");

    // The right key with the wrong secret.
    let wrong_secret = Credentials::new(
        creds.access_key_id(),
        "not-the-secret",
        creds.session_token().map(str::to_owned),
        None,
        "t",
    );
    let (status, body) = verify(
        &moto,
        &presign_get_caller_identity(&wrong_secret, "demo", now, true),
        "demo",
        "application/json",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}
