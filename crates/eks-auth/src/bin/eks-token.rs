//! `eks-token`: a drop-in for `aws eks get-token`, usable as a kubeconfig exec plugin.
//!
//! ```text
//! eks-token --cluster-name NAME [--region REGION] [--role-arn ARN]
//! ```
//! Prints an ExecCredential whose token is byte-identical to `aws eks get-token`'s for the
//! same credentials and clock. Credentials come from the default chain; region from
//! `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile. On any error: one line on
//! stderr and exit code 1.
use std::process::ExitCode;

use aws_config::meta::region::ProvideRegion;
use eks_auth::EksTokenProvider;
use eks_auth::token::rfc3339_utc;
use serde::Serialize;

const USAGE: &str = "usage: eks-token --cluster-name NAME [--region REGION] [--role-arn ARN]";

#[derive(Default)]
struct Args {
    cluster: Option<String>,
    region: Option<String>,
    role_arn: Option<String>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args::default();
    while let Some(flag) = argv.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag, None),
        };
        let slot = match name.as_str() {
            "--cluster-name" | "--cluster-id" => &mut args.cluster,
            "--region" => &mut args.region,
            "--role-arn" => &mut args.role_arn,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        };
        let value = inline
            .or_else(|| argv.next())
            .ok_or_else(|| format!("{name} needs a value; {USAGE}"))?;
        *slot = Some(value);
    }
    Ok(args)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    kind: &'static str,
    api_version: String,
    spec: serde_json::Map<String, serde_json::Value>,
    status: Status,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    expiration_timestamp: String,
    token: String,
}

/// The apiVersion the exec plugin caller asked for (client-go sets KUBERNETES_EXEC_INFO).
fn api_version() -> String {
    const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
    std::env::var("KUBERNETES_EXEC_INFO")
        .ok()
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok())
        .and_then(|info| info.get("apiVersion")?.as_str().map(str::to_owned))
        .filter(|v| v == "client.authentication.k8s.io/v1" || v == V1BETA1)
        .unwrap_or_else(|| V1BETA1.into())
}

async fn region(flag: Option<String>) -> Result<String, String> {
    let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()));
    if let Some(region) = flag.or(from_env) {
        return Ok(region);
    }
    // The profile, but never the instance metadata service: a laptop would wait for it.
    aws_config::profile::ProfileFileRegionProvider::new()
        .region()
        .await
        .map(|r| r.to_string())
        .ok_or_else(|| "missing region: pass --region or set AWS_REGION".into())
}

async fn run() -> Result<String, String> {
    let args = parse_args(std::env::args().skip(1))?;
    let cluster = args
        .cluster
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("missing --cluster-name; {USAGE}"))?;
    let region = region(args.region).await?;
    let sdk = lambda_support::aws::load_sdk_config_in(Some(region))
        .await
        .map_err(|e| e.to_string())?;
    let provider = EksTokenProvider::from_sdk_config(&sdk, &cluster, args.role_arn.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let token = provider.token().await.map_err(|e| e.to_string())?;
    let credential = ExecCredential {
        kind: "ExecCredential",
        api_version: api_version(),
        spec: Default::default(),
        status: Status {
            expiration_timestamp: rfc3339_utc(token.expires_at),
            token: token.token.expose().to_owned(),
        },
    };
    // awscli's layout (4-space indent, then a blank line), so the whole output matches.
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    credential
        .serialize(&mut serializer)
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eks-token: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(json) => {
            println!("{json}\n");
            ExitCode::SUCCESS
        }
        Err(message) => {
            // One line, whatever the SDK's error chain looks like.
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("eks-token: {line}");
            ExitCode::FAILURE
        }
    }
}
