//! The function's configuration, from its environment, read once at init: every bad
//! variable, the cluster's included, in one report.
use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    /// Decide and log, write nothing (no status, scale, Event or alarm state).
    pub dry_run: bool,
    /// The original function's variables found set, which this one does not read, each with
    /// what replaces it: warned about at init, so a migrated environment says what it lost.
    pub ignored: Vec<&'static str>,
}

/// The original function's variables (its functionDefinition.json) that this one does not
/// read, and what replaces each. Its CLUSTER_NAME, API_SERVER, CERT_AUTHORITY and
/// ASSUMED_ROLE are read as they are.
const ORIGINALS: [(&str, &str); 4] = [
    ("REGION", "REGION is not read: Lambda's AWS_REGION is"),
    (
        "STS_ENDPOINT",
        "STS_ENDPOINT is not read: the token is signed for sts.<AWS_REGION>.amazonaws.com",
    ),
    (
        "ACCESS_KEY_ID",
        "ACCESS_KEY_ID is not read: the execution role is the identity (no static keys); let it \
         assume ASSUMED_ROLE (trust policy) or map it in the cluster",
    ),
    (
        "SECRET_ACCESS_KEY",
        "SECRET_ACCESS_KEY is not read: the execution role is the identity (no static keys)",
    ),
];

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let dry_run = env.flag("DRY_RUN", false);
        let ignored = ORIGINALS
            .iter()
            .filter(|(name, _)| env.optional::<String>(name, "any").is_some())
            .map(|(_, why)| *why)
            .collect();
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
            dry_run,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 of a PEM CERTIFICATE block (its DER is not parsed).
    const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBSwotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

    #[test]
    fn every_bad_variable_is_named_at_once() {
        let env = Env::from_pairs([
            ("CERT_AUTHORITY", "bm90IGEgcGVt"),
            ("ASSUMED_ROLE", "admin"),
            ("DRY_RUN", "perhaps"),
        ]);
        let err = Config::from_env(env).expect_err("invalid").to_string();
        for named in ["CLUSTER_NAME", "API_SERVER", "ASSUMED_ROLE", "DRY_RUN"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
        let env = Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "http://plain"),
            ("CERT_AUTHORITY", CA),
            ("DRY_RUN", "perhaps"),
        ]);
        let err = Config::from_env(env).expect_err("invalid").to_string();
        for named in ["http://plain", "DRY_RUN"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
    }

    #[test]
    fn a_valid_environment_is_read() {
        let config = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "prod"),
            ("API_SERVER", "https://x.eks.amazonaws.com"),
            ("CERT_AUTHORITY", CA),
            ("DRY_RUN", "true"),
        ]))
        .unwrap();
        assert_eq!(config.cluster.name, "prod");
        assert!(config.dry_run);
        assert!(config.ignored.is_empty());
    }

    /// The original's functionDefinition.json environment, filled in: read unchanged, its
    /// assumed role honoured, what is no longer read named.
    #[test]
    fn the_originals_environment_is_read_and_what_it_loses_is_named() {
        let config = Config::from_env(Env::from_pairs([
            ("REGION", "us-east-1"),
            ("STS_ENDPOINT", "sts.us-east-1.amazonaws.com"),
            ("ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            (
                "ASSUMED_ROLE",
                "arn:aws:iam::123456789012:role/lambda-client",
            ),
            ("CLUSTER_NAME", "prod"),
            (
                "API_SERVER",
                "https://ABCDEF.gr7.us-east-1.eks.amazonaws.com",
            ),
            ("CERT_AUTHORITY", CA),
        ]))
        .expect("the original's environment");
        assert_eq!(config.cluster.name, "prod");
        assert_eq!(
            config.cluster.assumed_role.as_deref(),
            Some("arn:aws:iam::123456789012:role/lambda-client")
        );
        let named: Vec<&str> = config
            .ignored
            .iter()
            .map(|w| w.split_once(' ').unwrap().0)
            .collect();
        assert_eq!(
            named,
            [
                "REGION",
                "STS_ENDPOINT",
                "ACCESS_KEY_ID",
                "SECRET_ACCESS_KEY"
            ]
        );
        // The warning names the variable, never its value.
        assert!(!config.ignored.join(" ").contains("EXAMPLEKEY"));
    }
}
