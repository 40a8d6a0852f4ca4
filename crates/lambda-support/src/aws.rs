//! The AWS SDK configuration every function loads once at init.
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// The default chain as in any AWS SDK: credentials from the environment (the Lambda
/// execution role), region from `AWS_REGION`, endpoint overrides from `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` (local stand-ins). One TLS stack for the whole suite:
/// rustls with ring, shared with the Kubernetes client.
pub async fn load_sdk_config() -> SdkConfig {
    load_sdk_config_in(None).await
}

/// As [`load_sdk_config`], with the region given instead of resolved from the chain.
pub async fn load_sdk_config_in(region: Option<String>) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    match region {
        Some(region) => loader.region(aws_config::Region::new(region)),
        None => loader,
    }
    .load()
    .await
}

/// An HTTP client for SDK clients built outside [`load_sdk_config`] (per-region clients).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
