//! The SSM adapter: SecureString parameters read with decryption — the k3s join token
//! (`JOIN_TOKEN_MODE=embed`) and the cluster CA (`K8S_CA_PARAM`). The API server's bearer
//! token (`K8S_API_TOKEN_PARAM`) is read by `eks_auth::SsmTokenSource` through the same
//! client: it caches the token and re-reads it when the API server answers 401.
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use eks_auth::Secret;
use lambda_support::aws::LazyClient;

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("SSM GetParameter {name}: {message}")]
    Api { name: String, message: String },
    #[error("SSM parameter {name} has no value")]
    Empty { name: String },
}

#[derive(Clone)]
pub struct Ssm {
    client: LazyClient<Client>,
}

impl Ssm {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Ssm {
        Ssm {
            client: client.into(),
        }
    }

    /// The client itself, for `eks_auth::SsmTokenSource`.
    pub fn client(&self) -> &LazyClient<Client> {
        &self.client
    }

    /// The value of `name`, decrypted. Never logged (`Secret`).
    pub async fn parameter(&self, name: &str) -> Result<Secret, SsmError> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| SsmError::Api {
                name: name.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        out.parameter()
            .and_then(|p| p.value())
            .map(Secret::new)
            .ok_or_else(|| SsmError::Empty {
                name: name.to_owned(),
            })
    }
}
