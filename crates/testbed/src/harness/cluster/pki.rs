//! The cluster's certificates, written as the PEM files the control plane's flags name: one
//! CA signs kube-apiserver's serving certificate and the STS endpoint's (what
//! aws-iam-authenticator calls), and a key pair signs service-account tokens.
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::harness::{Error, Result};

fn err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("cluster certificates: {e}"))
}

/// Paths of the files [`write`] made.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub ca: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub sts_cert_pem: String,
    pub sts_key_pem: String,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
    webhook: (String, String),
    apiserver: (String, String),
}

impl Pki {
    /// A rustls server configuration with the API server's certificate (for the front).
    pub fn server_tls(&self) -> Result<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let chain = CertificateDer::pem_slice_iter(self.apiserver.0.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        let key = PrivateKeyDer::from_pem_slice(self.apiserver.1.as_bytes()).map_err(err)?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(err)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The token webhook's serving certificate and key (127.0.0.1), PEM.
    pub fn webhook_cert(&self) -> Result<(String, String)> {
        Ok(self.webhook.clone())
    }
}

fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    sans: &[&str],
) -> Result<(String, String)> {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, ca).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The PEM of a CA made for nothing (it signs no certificate of any cluster): what a client
/// holds when it trusts another cluster's CA instead of this one's.
pub fn other_ca_pem() -> String {
    ca("other-cluster-ca")
        .expect("rcgen makes a self-signed CA")
        .pem()
}

fn ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    ca_params.distinguished_name = dn;
    CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?).map_err(err)
}

/// Makes the CA and every certificate and key in `dir`; `sts_host` is the STS hostname the
/// authenticator verifies tokens against (`sts.<region>.amazonaws.com`).
pub fn write(dir: &Path, sts_host: &str) -> Result<Pki> {
    let ca = ca("cluster-ca")?;
    let (api_cert, api_key) = leaf(
        &ca,
        "kube-apiserver",
        &[
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "10.96.0.1",
        ],
    )?;
    let (sts_cert_pem, sts_key_pem) = leaf(&ca, sts_host, &[sts_host])?;
    let webhook = leaf(&ca, "aws-iam-authenticator", &["127.0.0.1", "localhost"])?;
    let sa = KeyPair::generate().map_err(err)?;
    let pki = Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().to_vec(),
        ca: dir.join("ca.pem"),
        apiserver_cert: dir.join("apiserver.pem"),
        apiserver_key: dir.join("apiserver-key.pem"),
        sts_cert_pem,
        sts_key_pem,
        sa_key: dir.join("sa-key.pem"),
        sa_pub: dir.join("sa.pub"),
        webhook,
        apiserver: (format!("{api_cert}{}", ca.pem()), api_key.clone()),
    };
    let files = [
        (&pki.ca, pki.ca_pem.clone()),
        (&pki.apiserver_cert, pki.apiserver.0.clone()),
        (&pki.apiserver_key, api_key),
        (&pki.sa_key, sa.serialize_pem()),
        (&pki.sa_pub, sa.public_key_pem()),
    ];
    for (path, text) in files {
        std::fs::write(path, text).map_err(|e| err(format!("{}: {e}", path.display())))?;
    }
    Ok(pki)
}
