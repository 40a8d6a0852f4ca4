//! Configuration from the environment, checked all at once at init.
use std::time::Duration;

use lambda_support::{ConfigError, Env};

use crate::decide::Settings;

#[derive(Clone, Debug)]
pub struct Config {
    pub cluster_name: String,
    pub api_server: String,
    /// Base64 of the cluster CA PEM.
    pub cert_authority: String,
    pub assumed_role: Option<String>,
    /// Decide and log; write nothing (no PutFunctionConcurrency, no status, no Events).
    pub dry_run: bool,
    /// Only this namespace's scalers (`None`: every namespace).
    pub namespace: Option<String>,
    pub settings: Settings,
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
        let interval: u64 = env.or_default(
            "ADJUSTMENT_INTERVAL_SECONDS",
            300,
            "whole seconds between two step changes",
        );
        let down_ratio = env.optional_with(
            "SCALE_DOWN_RATIO",
            "a number in (0, 1]: step down below threshold × ratio",
            |v| v.parse::<f64>().ok().filter(|r| *r > 0.0 && *r <= 1.0),
        );
        env.finish()?;
        Ok(Config {
            cluster_name,
            api_server,
            cert_authority,
            assumed_role,
            dry_run,
            namespace,
            settings: Settings {
                interval: Duration::from_secs(interval),
                down_ratio: down_ratio.unwrap_or(0.5),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_problem_at_once() {
        let ok = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x.eks.amazonaws.com"),
            ("CERT_AUTHORITY", "LS0t"),
        ]))
        .unwrap();
        assert_eq!(ok.settings.interval, Duration::from_secs(300));
        assert_eq!(ok.settings.down_ratio, 0.5);
        assert!(!ok.dry_run && ok.namespace.is_none() && ok.assumed_role.is_none());

        let err = Config::from_env(Env::from_pairs([
            ("SCALE_DOWN_RATIO", "1.5"),
            ("ADJUSTMENT_INTERVAL_SECONDS", "5m"),
        ]))
        .unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
        assert!(
            err.to_string()
                .contains("SCALE_DOWN_RATIO=\"1.5\" is invalid")
        );
    }
}
