//! moto's server, behind `tools/moto_gateway.py`, one per [`Moto::start`] call.
//!
//! The gateway closes two gaps of moto (see ARCHITECTURE.md, "Known gaps of moto"):
//! CloudWatch over Smithy RPC v2 CBOR (what aws-sdk-cloudwatch speaks), and presigned STS
//! GetCallerIdentity GETs (EKS tokens), whose SigV4 signature it verifies with the secret moto
//! holds for the access key. Everything else goes to moto untouched. It also injects faults,
//! logging what each request got, and holds a barrier for concurrency tests.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::cluster::{BarrierReport, Served};
use super::{Error, Result, Supervised};

/// The gateway script, found from this crate's source directory at compile time.
pub const GATEWAY_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/moto_gateway.py");

/// Static credentials for test set-up calls (creating roles, queues, ...). moto accepts any
/// key; it answers GetCallerIdentity for an unknown key as `arn:aws:sts::123456789012:user/moto`.
pub const SETUP_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SETUP_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// moto's default account id.
pub const ACCOUNT_ID: &str = "123456789012";

const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running moto (behind the gateway) on a free loopback port; stopped when dropped.
pub struct Moto {
    process: Supervised,
    endpoint: String,
    region: String,
    startup: Duration,
}

impl Moto {
    /// Starts a fresh moto for region `us-east-1`.
    pub fn start() -> Result<Moto> {
        Moto::start_in_region("us-east-1")
    }

    /// Starts a fresh moto; [`Moto::region`], [`Moto::sdk_config`] and [`Moto::env_for`] use
    /// `region`.
    pub fn start_in_region(region: &str) -> Result<Moto> {
        Moto::start_with(region, &[])
    }

    /// As [`Moto::start_in_region`], the gateway (and moto in it) given `env` on top of this
    /// process's: moto's own settings, such as `MOTO_LAMBDA_CONCURRENCY_QUOTA`.
    pub fn start_with(region: &str, env: &[(&str, &str)]) -> Result<Moto> {
        let began = Instant::now();
        let mut command = Command::new("python3");
        command
            .arg(GATEWAY_SCRIPT)
            .args(["--port", "0"])
            .envs(env.iter().copied());
        let mut process = Supervised::spawn("moto gateway", command)?;
        let endpoint = process.wait_for_line(START_DEADLINE, |line| {
            line.strip_prefix("ready ").map(str::to_owned)
        })?;
        Ok(Moto {
            process,
            endpoint,
            region: region.to_owned(),
            startup: began.elapsed(),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("endpoint ends with a port")
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// How long [`Moto::start`] took, from spawn to the gateway's ready line.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The gateway's last lines of output (for diagnosing a failed test).
    pub fn output_tail(&self) -> String {
        self.process.output_tail()
    }

    /// Replaces the gateway's injected AWS faults (`tools/moto_gateway.py`, section 3, says
    /// the rule format): e.g. `{"seed": 1, "rules": [{"operation": "RunInstances",
    /// "contains": ["MarketType=spot"], "fault": {"status": 500, "code":
    /// "InsufficientInstanceCapacity"}}]}`. `{"rules": []}` turns them off.
    pub fn set_faults(&self, spec: &serde_json::Value) -> Result<()> {
        self.put_admin("faults", spec)
    }

    /// Pauses the gateway's fault rules (`true`: requests pass untouched and unlogged) or
    /// resumes them where they were, their windows and log kept.
    pub fn pause_faults(&self, paused: bool) -> Result<()> {
        self.put_admin("faults", &serde_json::json!({"paused": paused}))
    }

    /// How often each injected-fault rule fired, and how many requests were looked at.
    pub fn faults_fired(&self) -> Result<(Vec<u64>, u64)> {
        let v = self.get_admin("faults")?;
        let fired = v["fired"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        Ok((fired, v["requests"].as_u64().unwrap_or(0)))
    }

    /// Every request the fault rules looked at since they were last set, with the fault it
    /// got and its answer's status (for [`crate::harness::cluster::faults::unaccounted`]).
    pub fn fault_log(&self) -> Result<Vec<Served>> {
        let v = self.get_admin("faults")?;
        serde_json::from_value(v["log"].clone())
            .map_err(|e| Error::new(format!("the gateway's fault log: {e}: {v}")))
    }

    /// Arms the gateway's barrier (`tools/moto_gateway.py`, section 5): the first `parties`
    /// requests of `operation` whose path, query or body contain each of `contains` wait for
    /// each other (a minute at most). `parties` 0 disarms it.
    pub fn set_barrier(&self, operation: &str, contains: &[&str], parties: usize) -> Result<()> {
        let spec = if parties == 0 {
            serde_json::json!({})
        } else {
            serde_json::json!({"operation": operation, "contains": contains,
                "parties": parties, "timeout_ms": 60_000})
        };
        self.put_admin("barrier", &spec)
    }

    /// What the barrier armed last saw.
    pub fn barrier_report(&self) -> Result<BarrierReport> {
        let v = self.get_admin("barrier")?;
        serde_json::from_value(v.clone())
            .map_err(|e| Error::new(format!("the gateway's barrier: {e}: {v}")))
    }

    fn put_admin(&self, what: &str, spec: &serde_json::Value) -> Result<()> {
        let url = format!("{}/_testbed/{what}", self.endpoint());
        let (status, body) = super::http_send("PUT", &url, &[], spec.to_string().as_bytes())?;
        if status != 200 {
            return Err(Error::new(format!("PUT {url}: {status} {body}")));
        }
        Ok(())
    }

    fn get_admin(&self, what: &str) -> Result<serde_json::Value> {
        let url = format!("{}/_testbed/{what}", self.endpoint());
        let (_, body) = super::http_get(&url)?;
        serde_json::from_str(&body).map_err(|e| Error::new(format!("GET {url}: {e}: {body}")))
    }

    /// An SdkConfig for test SET-UP, with static credentials. Code under test builds its own
    /// from the environment given by [`Moto::env_for`].
    pub async fn sdk_config(&self) -> SdkConfig {
        let setup = Credentials::new(
            SETUP_ACCESS_KEY_ID,
            SETUP_SECRET_ACCESS_KEY,
            None,
            None,
            "testbed-setup",
        );
        self.sdk_config_for(&setup).await
    }

    /// An SdkConfig pointing at this moto and signing with `credentials`.
    pub async fn sdk_config_for(&self, credentials: &Credentials) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials.clone())
            .http_client(http_client())
            // The SDK waits for an answer for ever by default: a test's call that gets none
            // fails naming itself. Above the longest stall a test injects (30 s).
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(std::time::Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await
    }

    /// STS AssumeRole against moto: credentials that moto knows (GetCallerIdentity answers the
    /// assumed-role ARN; the gateway verifies presigned tokens made with them). This is how a
    /// test gives a function "its execution role". The role need not exist in moto's IAM.
    pub async fn assume_role(&self, role_arn: &str, session_name: &str) -> Result<Credentials> {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config().await);
        let out = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .send()
            .await
            .map_err(|e| {
                Error::new(format!(
                    "AssumeRole {role_arn} against moto: {}",
                    aws_sdk_sts::error::DisplayErrorContext(&e)
                ))
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| Error::new("AssumeRole answered without credentials"))?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            SystemTime::try_from(*c.expiration()).ok(),
            "moto-assume-role",
        ))
    }

    /// The environment a Lambda function would get for an execution role with `credentials`,
    /// plus `AWS_ENDPOINT_URL` pointing every SDK client at this moto.
    pub fn env_for(&self, credentials: &Credentials) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", credentials.access_key_id().to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                credentials.secret_access_key().to_owned(),
            ),
        ];
        if let Some(token) = credentials.session_token() {
            env.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
        env.extend([
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]);
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// The reliability suite's AWS-side mix for [`Moto::set_faults`]: exactly one call in five
/// of `operation` (`*` for every one) fails (in each five, the one the seed picks), answered
/// 500 InternalError, 400 ThrottlingException or a dropped connection, in turn — 20 % in all.
pub fn twenty_percent_faults(seed: u64, operation: &str) -> serde_json::Value {
    serde_json::json!({"seed": seed, "rules": [{"operation": operation, "rate": 0.2, "faults": [
        {"status": 500, "code": "InternalError"},
        {"status": 400, "code": "ThrottlingException"},
        {"drop": true},
    ]}]})
}

/// An SDK HTTP client (rustls + ring, as the workspace uses) that also speaks plain http://
/// to loopback stand-ins. aws-config is built without a default client.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// GetCallerIdentity presigned as an EKS token is (aws-iam-authenticator's format: signed
/// `host;x-k8s-aws-id` headers, `X-Amz-Expires=60`), for credentials moto issued: the
/// path-and-query, signed for Host `sts.us-east-1.amazonaws.com`. `unsigned_payload`: the
/// Rust aws-sigv4 signs with `UNSIGNED-PAYLOAD`, aws-sdk-go v1 with the empty body's hash.
pub fn presign_get_caller_identity(
    creds: &Credentials,
    cluster: &str,
    at: SystemTime,
    unsigned_payload: bool,
) -> String {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
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
        .expect("signing parameters")
        .into();
    let body = if unsigned_payload {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(&[])
    };
    let request = SignableRequest::new("GET", base, [("x-k8s-aws-id", cluster)].into_iter(), body)
        .expect("signable request");
    let (instructions, _) = sign(request, &params).expect("signature").into_parts();
    let mut url = "/?Action=GetCallerIdentity&Version=2011-06-15".to_owned();
    for (k, v) in instructions.params() {
        url.push_str(&format!("&{k}={}", super::query_escape(v)));
    }
    url
}

/// An EKS token (`k8s-aws-v1.` + base64url of the presigned URL) for `cluster`, signed at `at`.
pub fn eks_token(creds: &Credentials, cluster: &str, at: SystemTime) -> String {
    use base64::Engine;
    let url = format!(
        "https://sts.us-east-1.amazonaws.com{}",
        presign_get_caller_identity(creds, cluster, at, true)
    );
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}
