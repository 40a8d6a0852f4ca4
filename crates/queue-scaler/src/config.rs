//! Configuration from the environment, checked all at once at init.
use lambda_support::{ConfigError, Env};

#[derive(Clone, Debug)]
pub struct Config {
    pub cluster_name: String,
    pub api_server: String,
    /// Base64 of the cluster CA PEM.
    pub cert_authority: String,
    pub assumed_role: Option<String>,
    /// Decide and log; write nothing (no rescale, no status, no Events).
    pub dry_run: bool,
    /// Only this namespace's scalers (`None`: every namespace).
    pub namespace: Option<String>,
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster_name = env.required("CLUSTER_NAME", "the EKS cluster name");
        let api_server = env.required("API_SERVER", "the cluster endpoint, https://…");
        let cert_authority =
            env.required("CERT_AUTHORITY", "base64 of the cluster CA PEM certificate");
        let assumed_role = env.optional("ASSUMED_ROLE", "a role ARN");
        let dry_run = env.flag("DRY_RUN", false);
        let namespace = env.optional("WATCH_NAMESPACE", "a namespace name");
        env.finish()?;
        Ok(Config {
            cluster_name,
            api_server,
            cert_authority,
            assumed_role,
            dry_run,
            namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::from_env(Env::from_pairs([("DRY_RUN", "perhaps")])).unwrap_err();
        let text = err.to_string();
        for name in ["CLUSTER_NAME", "API_SERVER", "CERT_AUTHORITY", "DRY_RUN"] {
            assert!(text.contains(name), "{name} not in {text}");
        }
        let ok = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x"),
            ("CERT_AUTHORITY", "LS0t"),
            ("DRY_RUN", "true"),
            ("WATCH_NAMESPACE", "jobs"),
        ]))
        .unwrap();
        assert!(ok.dry_run);
        assert_eq!(ok.namespace.as_deref(), Some("jobs"));
    }
}
