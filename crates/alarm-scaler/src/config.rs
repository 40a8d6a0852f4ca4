//! The function's configuration, from its environment, read once at init.
use eks_auth::ClusterAccess;
use lambda_support::{ConfigError, Env};

pub struct Config {
    pub cluster_name: String,
    pub access: ClusterAccess,
    /// Role mapped in the cluster, assumed with the execution role's credentials.
    pub assumed_role: Option<String>,
    /// Decide and log, write nothing (no status, scale, Event or alarm state).
    pub dry_run: bool,
}

impl Config {
    /// Every bad variable is reported at once.
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster_name: String = env.required("CLUSTER_NAME", "the EKS cluster name");
        let api_server: String = env.required("API_SERVER", "the cluster endpoint, https://…");
        let ca: String = env.required(
            "CERT_AUTHORITY",
            "base64 of the cluster CA PEM, as `aws eks describe-cluster` gives it",
        );
        let assumed_role = env.optional_with("ASSUMED_ROLE", "an IAM role ARN", |v| {
            v.starts_with("arn:").then(|| v.to_owned())
        });
        let dry_run = env.flag("DRY_RUN", false);
        let access = match (api_server.is_empty(), ca.is_empty()) {
            (false, false) => ClusterAccess::from_base64_ca(&api_server, &ca)
                .map_err(|e| env.problem(e.to_string()))
                .ok(),
            _ => None,
        };
        env.finish()?;
        Ok(Config {
            cluster_name,
            access: access.expect("finish() fails when the cluster access is invalid"),
            assumed_role,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_variable_is_named_at_once() {
        let env = Env::from_pairs([
            ("API_SERVER", "http://plain"),
            ("CERT_AUTHORITY", "bm90IGEgcGVt"),
            ("ASSUMED_ROLE", "admin"),
            ("DRY_RUN", "perhaps"),
        ]);
        let err = Config::from_env(env).err().expect("invalid").to_string();
        for named in ["CLUSTER_NAME", "ASSUMED_ROLE", "DRY_RUN", "API_SERVER"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
    }
}
