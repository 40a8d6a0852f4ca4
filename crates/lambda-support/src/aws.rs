//! The AWS SDK configuration every function loads once at init.
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use std::sync::OnceLock;

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

/// The HTTP client of every SDK client of the process, also for those built outside
/// [`load_sdk_config`] (per-region clients).
///
/// One HTTPS client, built on the first request rather than at init: aws-smithy-http-client
/// builds and validates a TLS connector (parsing the trust store) whenever an SDK client is
/// constructed, which made each extra client of a function cost its cold start ~0.6 ms. Here
/// the trust store is parsed once per process, when the first AWS call needs it, and every
/// client shares the connectors (cached per timeout settings by the inner client).
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstUse)
}

static HTTPS: OnceLock<SharedHttpClient> = OnceLock::new();

#[derive(Debug)]
struct OnFirstUse;

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        HTTPS
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .tls_context(tls_context())
                    .build_https()
            })
            .http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// Which roots AWS endpoints are verified against.
///
/// By default Mozilla's root programme as compiled in (`webpki-root-certs`, kept by the
/// rustls project), not the system store: the SDK loads its trust store when a client is
/// built at init, and the system store means reading and parsing every file under the
/// certificate directory — measured as most of a function's start-up (`make bench`). Every
/// AWS endpoint chains to Amazon Trust Services roots, which Mozilla's programme includes.
/// Setting `SSL_CERT_FILE` or `SSL_CERT_DIR` (a proxy with its own CA, say) selects the
/// system store as those variables name it, as for any rustls-native-certs user.
pub fn tls_context() -> TlsContext {
    let system = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let store = if system {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(compiled_in_roots_pem())
    };
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store without extra server names always builds")
}

/// `webpki-root-certs`' DER certificates as one PEM bundle (the form `TrustStore` takes).
fn compiled_in_roots_pem() -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::with_capacity(256 * 1024);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = b64.encode(cert.as_ref());
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_bundle_holds_every_root_and_amazons() {
        let pem = String::from_utf8(compiled_in_roots_pem()).unwrap();
        let n = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(n, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(n > 100, "{n} roots");
        // Amazon Root CA 1's DER carries its subject in clear: the bundle is the full set,
        // not a subset that would fail on AWS endpoints.
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|c| c.as_ref().windows(14).any(|w| w == b"Amazon Root CA"))
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }
}
