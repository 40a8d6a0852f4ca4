//! The Kubernetes client of the k3s cluster. Its API server is found at run time (the
//! control plane's private IP, unless `API_SERVER` fixes it), so clients are kept per URL
//! for warm invocations; TLS is verified against the cluster CA (`CERT_AUTHORITY`, or
//! `K8S_CA_PARAM` read once); requests carry the service-account token kept in
//! `K8S_API_TOKEN_PARAM` (re-read on 401).
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use eks_auth::{BearerSource, ClusterAccess, KubeClientError, SsmTokenSource};

use crate::config::ClusterCa;
use crate::ssm::{Ssm, SsmError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("CERT_AUTHORITY: not base64: {0}")]
    CaNotBase64(String),
    #[error(transparent)]
    CaParameter(#[from] SsmError),
    #[error(transparent)]
    Access(#[from] KubeClientError),
}

pub struct KubeClients {
    ca: ClusterCa,
    ssm: Ssm,
    bearer: Arc<dyn BearerSource>,
    ca_pem: tokio::sync::OnceCell<Vec<u8>>,
    clients: tokio::sync::Mutex<HashMap<String, kube::Client>>,
}

impl KubeClients {
    pub fn new(ca: ClusterCa, ssm: Ssm, api_token_param: String) -> KubeClients {
        let bearer = Arc::new(SsmTokenSource::new(ssm.client().clone(), api_token_param));
        KubeClients {
            ca,
            ssm,
            bearer,
            ca_pem: Default::default(),
            clients: Default::default(),
        }
    }

    /// Reads what every client needs, the cluster CA and the service-account token, while
    /// the API server is being found (EC2). Cold, the token's SSM read otherwise came
    /// between the run's first Kubernetes request and its connection, behind the run's
    /// other reads; warm, both are cached and this returns at once. A failure is left to
    /// the request that meets it again, which reports it.
    pub async fn prepare(&self) {
        let ca = async {
            let _ = self.ca_pem.get_or_try_init(|| self.read_ca()).await;
        };
        let token = async {
            let _ = self.bearer.bearer().await;
        };
        tokio::join!(ca, token);
    }

    /// The client for the API server at `url`.
    pub async fn client(&self, url: &str) -> Result<kube::Client, ClientError> {
        let ca = self.ca_pem.get_or_try_init(|| self.read_ca()).await?;
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(url) {
            return Ok(c.clone());
        }
        let access = ClusterAccess::from_pem_ca(url, ca)?;
        let client = eks_auth::kube_client(&access, self.bearer.clone())?;
        clients.insert(url.to_owned(), client.clone());
        Ok(client)
    }

    async fn read_ca(&self) -> Result<Vec<u8>, ClientError> {
        match &self.ca {
            ClusterCa::Base64(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ClientError::CaNotBase64(e.to_string())),
            ClusterCa::Param(name) => {
                Ok(self.ssm.parameter(name).await?.expose().as_bytes().to_vec())
            }
        }
    }
}
