//! `eks-token`: a drop-in for `aws eks get-token`, usable as a kubeconfig exec plugin.
//!
//! ```text
//! eks-token --cluster-name NAME [--region REGION] [--role-arn ARN] [--profile P] [--cache]
//! ```
//! Prints an ExecCredential whose token is byte-identical to `aws eks get-token`'s for the
//! same credentials and clock, and accepts the arguments `aws eks update-kubeconfig` writes.
//! Arguments, credential sources (the AWS CLI's precedence) and the cache: `eks_auth::cli`.
//! On any error: one line on stderr and exit code 1.
use std::process::ExitCode;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use eks_auth::cli::args::{self, Command, USAGE};
use eks_auth::cli::cache;
use eks_auth::cli::source::{self, Origin};
use eks_auth::token::rfc3339_utc;
use eks_auth::{EksTokenProvider, StsEndpoint};
use serde::Serialize;

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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The credentials to sign with: from the cache when `--cache` is on and it holds live ones
/// for this profile and role, else resolved (and then cached if they expire).
async fn credentials(
    args: &args::Args,
    origin: &Origin,
    region: &str,
) -> Result<Credentials, String> {
    let role = args.role_arn.as_deref();
    let cached = match args.cache.then(|| origin.cache_key(role)).flatten() {
        Some(key) => Some((key, cache::path(env)?)),
        None => None,
    };
    let now = SystemTime::now();
    // The file is read once: looked up, and on a miss updated with what the source gave.
    let mut cached = cached.map(|(key, path)| {
        let file = cache::load(&path);
        (key, path, file)
    });
    if let Some((key, _, file)) = &cached
        && let Some(hit) = file.lookup(key, now)
    {
        return Ok(hit);
    }
    let sdk = source::sdk_config(origin, region).await;
    let provider = source::credentials(&sdk, role)
        .await
        .ok_or("no AWS credentials: the SDK config has no credentials provider")?;
    let fresh = provider.provide_credentials().await.map_err(|e| {
        format!(
            "no AWS credentials: {}",
            eks_auth::provider::error_chain(&e)
        )
    })?;
    if let Some((key, path, file)) = &mut cached
        && file.store(key, &fresh, now)
        && let Err(e) = cache::save(path, file)
    {
        // The token is still good; the next run resolves its credentials again.
        eprintln!(
            "eks-token: credential cache {} not written: {e}",
            path.display()
        );
    }
    Ok(fresh)
}

async fn run() -> Result<Option<String>, String> {
    let args = match args::parse(std::env::args().skip(1))? {
        Command::Help => return Ok(None),
        Command::Token(args) => args,
    };
    let origin = Origin::new(args.profile.as_deref(), env);
    let region = source::region(args.region.clone(), &origin, env).await?;
    let credentials = credentials(&args, &origin, &region).await?;
    let endpoint = StsEndpoint::from_env_or_regional(&region).map_err(|e| e.to_string())?;
    let provider = EksTokenProvider::new(
        &args.cluster,
        &region,
        endpoint,
        SharedCredentialsProvider::new(credentials),
    );
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
    String::from_utf8(out).map(Some).map_err(|e| e.to_string())
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
        Ok(Some(json)) => {
            println!("{json}\n");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("{USAGE}");
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
