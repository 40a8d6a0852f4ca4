//! The function's configuration, from its environment, read once at init: every bad
//! variable, the cluster's included, in one report.
use eks_auth::EksCluster;
use lambda_support::{ConfigError, Env};

#[derive(Clone, Debug)]
pub struct Config {
    /// `CLUSTER_NAME`, `API_SERVER`, `CERT_AUTHORITY`, `ASSUMED_ROLE`.
    pub cluster: EksCluster,
    /// The suite's topic (alarm-scaler subscribes to it): the alarm action of every alarm
    /// whose config names none.
    pub sns_topic_arn: String,
    /// Decide and log, write nothing (no alarm, tag, deletion or status).
    pub dry_run: bool,
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cluster = EksCluster::from_env(&mut env);
        let sns_topic_arn = env.required_with(
            "SNS_TOPIC_ARN",
            "the ARN of the SNS topic alarm-scaler subscribes to (arn:aws:sns:REGION:ACCOUNT:NAME)",
            |v| (v.starts_with("arn:") && v.split(':').nth(2) == Some("sns")).then(|| v.to_owned()),
        );
        let dry_run = env.flag("DRY_RUN", false);
        env.finish()?;
        Ok(Config {
            cluster: cluster.expect("EksCluster::from_env reports why it read no cluster"),
            sns_topic_arn,
            dry_run,
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
            ("CLUSTER_NAME", "demo"),
            ("API_SERVER", "https://example.com"),
            ("CERT_AUTHORITY", "%%%"),
            ("SNS_TOPIC_ARN", "arn:aws:sqs:us-east-1:1:queue"),
            ("DRY_RUN", "sometimes"),
        ]);
        let err = Config::from_env(env).expect_err("invalid").to_string();
        for named in ["CERT_AUTHORITY", "SNS_TOPIC_ARN", "DRY_RUN"] {
            assert!(err.contains(named), "{named} not in: {err}");
        }
        assert!(!err.contains("CLUSTER_NAME"), "{err}");
    }

    #[test]
    fn a_valid_environment_is_read() {
        let config = Config::from_env(Env::from_pairs([
            ("CLUSTER_NAME", "demo"),
            ("API_SERVER", "https://x.eks.amazonaws.com"),
            ("CERT_AUTHORITY", CA),
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:scaling",
            ),
        ]))
        .unwrap();
        assert_eq!(config.cluster.name, "demo");
        assert_eq!(
            config.sns_topic_arn,
            "arn:aws:sns:us-east-1:123456789012:scaling"
        );
        assert!(!config.dry_run);
    }
}
