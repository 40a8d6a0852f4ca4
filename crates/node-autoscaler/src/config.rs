//! Configuration from the environment (the seed's names, plus what it lacked), checked all at
//! once at init: one error names every missing or invalid variable.
use std::time::Duration;

use lambda_support::{ConfigError, Env};

use crate::decide::{Policy, RebalanceMode};

/// How a worker gets the k3s join token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinToken {
    /// User data names the SSM parameter; the instance reads it at boot with its instance
    /// profile. The token never leaves SSM except to the node (default).
    SsmAtBoot,
    /// The function reads the SecureString and writes it into the user data (the seed's way):
    /// no SSM permission on the instance profile, but the token is readable by anyone with
    /// `ec2:DescribeInstanceAttribute` on the instance.
    Embed,
}

/// Where the cluster CA comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterCa {
    /// Base64 of the CA PEM (`CERT_AUTHORITY`); wins when both are set.
    Base64(String),
    /// An SSM parameter holding the CA PEM (`K8S_CA_PARAM`), read once.
    Param(String),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub policy: Policy,
    pub master_tag: (String, String),
    pub worker_tag: (String, String),
    pub subnet_ids: Vec<String>,
    pub security_group: String,
    pub instance_profile: Option<String>,
    pub key_name: Option<String>,
    pub ami_id: Option<String>,
    pub launch_template: Option<String>,
    /// Tried in order on capacity errors.
    pub instance_types: Vec<String>,
    /// Spot first, On-Demand when no type has Spot capacity.
    pub spot: bool,
    pub join_token: JoinToken,
    pub k3s_token_param: String,
    pub api_token_param: String,
    pub cluster_ca: ClusterCa,
    /// Fixed API server URL; default `https://<control plane private IP>:6443`.
    pub api_server: Option<String>,
    /// Fixed Prometheus URL; default `http://<control plane private IP>:PROM_NODEPORT`.
    pub prometheus_url: Option<String>,
    pub prom_nodeport: u16,
    pub cpu_query: String,
    pub pending_query: String,
    pub state_table: String,
    pub logs_table: String,
    pub log_ttl: Duration,
    pub join_timeout: Duration,
    pub drain_timeout: Duration,
    pub spot_drain_timeout: Duration,
    pub lease: Duration,
    pub rebalance: RebalanceMode,
    /// Allocatable of a new worker when no worker runs yet to learn it from (millicores, bytes).
    pub worker_cpu_milli: u64,
    pub worker_memory_bytes: u64,
    pub dry_run: bool,
}

/// Default PromQL: node-exporter's CPU busy percentage over every node.
pub const DEFAULT_CPU_QUERY: &str =
    r#"100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[2m])))"#;
/// Default PromQL: pods Pending (kube-state-metrics).
pub const DEFAULT_PENDING_QUERY: &str = r#"sum(kube_pod_status_phase{phase="Pending"})"#;

fn list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

fn seconds(env: &mut Env, name: &str, default: u64) -> Duration {
    Duration::from_secs(env.or_default(name, default, "a whole number of seconds"))
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let percent = "a percentage between 0 and 100";
        let cpu_up: f64 = env.or_default("CPU_UP", 70.0, percent);
        let cpu_down: f64 = env.or_default("CPU_DOWN", 30.0, percent);
        let pending_up = seconds(&mut env, "PENDING_UP_SEC", 180);
        let idle_down = seconds(&mut env, "IDLE_DOWN_SEC", 600);
        let min: u32 = env.or_default("MIN_WORKERS", 1, "a whole number ≥ 0");
        let max: u32 = env.or_default("MAX_WORKERS", 10, "a whole number ≥ 1");
        let cooldown_up = seconds(&mut env, "COOLDOWN_UP_SEC", 180);
        let cooldown_down = seconds(&mut env, "COOLDOWN_DOWN_SEC", 600);
        let batch_up: u32 = env.or_default("SCALE_UP_BATCH", 3, "a whole number ≥ 1");
        let batch_down: u32 = env.or_default("SCALE_DOWN_BATCH", 1, "a whole number ≥ 1");
        let tag = |env: &mut Env, key: &str, value: &str| {
            (
                env.required::<String>(key, "a tag key"),
                env.required::<String>(value, "a tag value"),
            )
        };
        let master_tag = tag(&mut env, "MASTER_TAG_KEY", "MASTER_TAG_VALUE");
        let worker_tag = tag(&mut env, "WORKER_TAG_KEY", "WORKER_TAG_VALUE");
        let subnet_ids = env.required_with("WORKER_SUBNET_IDS", "comma-separated subnet ids", list);
        let security_group = env.required("WORKER_SG_ID", "a security group id");
        let instance_profile =
            env.optional("WORKER_INSTANCE_PROFILE", "an instance profile name or ARN");
        let key_name = env.optional("WORKER_KEY_NAME", "an EC2 key pair name");
        let ami_id: Option<String> = env.optional("WORKER_AMI_ID", "an AMI id");
        let launch_template: Option<String> =
            env.optional("WORKER_LAUNCH_TEMPLATE", "a launch template id or name");
        let instance_types = env
            .optional_with(
                "WORKER_INSTANCE_TYPES",
                "comma-separated instance types",
                list,
            )
            .unwrap_or_else(|| vec!["t3.medium".to_owned()]);
        let spot = env.flag("WORKER_SPOT", true);
        let join_token = env
            .optional_with("JOIN_TOKEN_MODE", "ssm-at-boot or embed", |v| match v {
                "ssm-at-boot" => Some(JoinToken::SsmAtBoot),
                "embed" => Some(JoinToken::Embed),
                _ => None,
            })
            .unwrap_or(JoinToken::SsmAtBoot);
        let k3s_token_param = env.required(
            "K3S_CLUSTER_TOKEN_PARAM",
            "the SSM SecureString parameter name",
        );
        let api_token_param =
            env.required("K8S_API_TOKEN_PARAM", "the SSM SecureString parameter name");
        let cert_authority: Option<String> =
            env.optional("CERT_AUTHORITY", "base64 of the cluster CA PEM certificate");
        let ca_param: Option<String> = env.optional("K8S_CA_PARAM", "an SSM parameter name");
        let api_server = env.optional("API_SERVER", "an https:// URL");
        let prometheus_url = env.optional("PROMETHEUS_URL", "an http:// URL");
        let prom_nodeport = env.or_default("PROM_NODEPORT", 30090, "a port number");
        let cpu_query = env.or_default("PROM_CPU_QUERY", DEFAULT_CPU_QUERY.to_owned(), "PromQL");
        let pending_query = env.or_default(
            "PROM_PENDING_QUERY",
            DEFAULT_PENDING_QUERY.to_owned(),
            "PromQL",
        );
        let state_table = env.required("STATE_TABLE", "a DynamoDB table name");
        let logs_table = env.required("LOGS_TABLE", "a DynamoDB table name");
        let log_ttl = Duration::from_secs(
            86_400 * env.or_default::<u64>("LOG_TTL_DAYS", 14, "a whole number of days"),
        );
        let join_timeout = seconds(&mut env, "JOIN_TIMEOUT_SEC", 600);
        let drain_timeout = seconds(&mut env, "DRAIN_TIMEOUT_SEC", 300);
        let spot_drain_timeout = seconds(&mut env, "SPOT_DRAIN_SEC", 90);
        let lease = seconds(&mut env, "LEASE_SEC", 900);
        let rebalance = env
            .optional_with("REBALANCE_MODE", "cordon or replace", |v| match v {
                "cordon" => Some(RebalanceMode::Cordon),
                "replace" => Some(RebalanceMode::Replace),
                _ => None,
            })
            .unwrap_or(RebalanceMode::Replace);
        let worker_cpu_milli = env
            .optional_with(
                "WORKER_NODE_CPU",
                "a CPU quantity such as 2 or 1500m",
                crate::quantity::cpu_milli,
            )
            .unwrap_or(2000);
        let worker_memory_bytes = env
            .optional_with(
                "WORKER_NODE_MEMORY",
                "a memory quantity such as 4Gi",
                crate::quantity::bytes,
            )
            .unwrap_or(4 << 30);
        let dry_run = env.flag("DRY_RUN", false);

        for (name, v) in [("CPU_UP", cpu_up), ("CPU_DOWN", cpu_down)] {
            if !(0.0..=100.0).contains(&v) {
                env.problem(format!("{name}={v} is invalid (expected {percent})"));
            }
        }
        if cpu_down >= cpu_up {
            env.problem(format!(
                "CPU_DOWN ({cpu_down}) must be below CPU_UP ({cpu_up})"
            ));
        }
        if min > max {
            env.problem(format!(
                "MIN_WORKERS ({min}) must not exceed MAX_WORKERS ({max})"
            ));
        }
        if max == 0 {
            env.problem("MAX_WORKERS must be at least 1");
        }
        if batch_up == 0 || batch_down == 0 {
            env.problem("SCALE_UP_BATCH and SCALE_DOWN_BATCH must be at least 1");
        }
        if ami_id.is_none() && launch_template.is_none() {
            env.problem("WORKER_AMI_ID or WORKER_LAUNCH_TEMPLATE is missing (expected one)");
        }
        let cluster_ca = match (cert_authority, ca_param) {
            (Some(b64), _) => ClusterCa::Base64(b64),
            (None, Some(param)) => ClusterCa::Param(param),
            (None, None) => {
                env.problem("CERT_AUTHORITY or K8S_CA_PARAM is missing (expected one)");
                // Never used: `env.finish()` fails (as `required` answers a default).
                ClusterCa::Base64(String::new())
            }
        };
        // The lease outlives the longest action of one run, so no second run starts while a
        // drain is still going.
        let longest = drain_timeout.max(spot_drain_timeout) + Duration::from_secs(60);
        if lease < longest {
            env.problem(format!(
                "LEASE_SEC ({}) must be at least DRAIN_TIMEOUT_SEC + 60 ({})",
                lease.as_secs(),
                longest.as_secs()
            ));
        }
        env.finish()?;
        Ok(Config {
            policy: Policy {
                cpu_up,
                cpu_down,
                pending_up,
                idle_down,
                min,
                max,
                cooldown_up,
                cooldown_down,
                batch_up,
                batch_down,
            },
            master_tag,
            worker_tag,
            subnet_ids,
            security_group,
            instance_profile,
            key_name,
            ami_id,
            launch_template,
            instance_types,
            spot,
            join_token,
            k3s_token_param,
            api_token_param,
            cluster_ca,
            api_server,
            prometheus_url,
            prom_nodeport,
            cpu_query,
            pending_query,
            state_table,
            logs_table,
            log_ttl,
            join_timeout,
            drain_timeout,
            spot_drain_timeout,
            lease,
            rebalance,
            worker_cpu_milli,
            worker_memory_bytes,
            dry_run,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MASTER_TAG_KEY", "k3s-role"),
            ("MASTER_TAG_VALUE", "master"),
            ("WORKER_TAG_KEY", "k3s-role"),
            ("WORKER_TAG_VALUE", "worker"),
            ("WORKER_SUBNET_IDS", "subnet-a, subnet-b"),
            ("WORKER_SG_ID", "sg-1"),
            ("WORKER_AMI_ID", "ami-1"),
            ("K3S_CLUSTER_TOKEN_PARAM", "/k3s/token"),
            ("K8S_API_TOKEN_PARAM", "/k3s/api-token"),
            ("CERT_AUTHORITY", "LS0t"),
            ("STATE_TABLE", "state"),
            ("LOGS_TABLE", "logs"),
        ]
    }

    #[test]
    fn every_missing_or_bad_variable_is_named() {
        let err = Config::from_env(Env::from_pairs([
            ("CPU_UP", "lots"),
            ("MIN_WORKERS", "5"),
            ("MAX_WORKERS", "2"),
            ("REBALANCE_MODE", "panic"),
        ]))
        .unwrap_err()
        .to_string();
        for name in [
            "CPU_UP",
            "MASTER_TAG_KEY",
            "WORKER_TAG_VALUE",
            "WORKER_SUBNET_IDS",
            "WORKER_SG_ID",
            "K3S_CLUSTER_TOKEN_PARAM",
            "K8S_API_TOKEN_PARAM",
            "STATE_TABLE",
            "LOGS_TABLE",
            "REBALANCE_MODE",
            "MIN_WORKERS (5) must not exceed MAX_WORKERS (2)",
            "WORKER_AMI_ID or WORKER_LAUNCH_TEMPLATE",
            "CERT_AUTHORITY or K8S_CA_PARAM",
        ] {
            assert!(err.contains(name), "{name} not in {err}");
        }
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = Config::from_env(Env::from_pairs(minimal())).unwrap();
        assert_eq!(c.subnet_ids, ["subnet-a", "subnet-b"]);
        assert_eq!((c.policy.min, c.policy.max), (1, 10));
        assert_eq!((c.policy.cpu_up, c.policy.cpu_down), (70.0, 30.0));
        assert_eq!(c.policy.pending_up, Duration::from_secs(180));
        assert_eq!(c.instance_types, ["t3.medium"]);
        assert_eq!(c.join_token, JoinToken::SsmAtBoot);
        assert_eq!(c.rebalance, RebalanceMode::Replace);
        assert_eq!((c.worker_cpu_milli, c.worker_memory_bytes), (2000, 4 << 30));
        assert!(c.spot && !c.dry_run);
        assert_eq!(c.cluster_ca, ClusterCa::Base64("LS0t".into()));
    }

    #[test]
    fn the_ca_comes_from_cert_authority_else_its_parameter() {
        let mut env = minimal();
        env.retain(|(k, _)| *k != "CERT_AUTHORITY");
        env.push(("K8S_CA_PARAM", "/k3s/ca"));
        let c = Config::from_env(Env::from_pairs(env.clone())).unwrap();
        assert_eq!(c.cluster_ca, ClusterCa::Param("/k3s/ca".into()));
        env.push(("CERT_AUTHORITY", "LS0t"));
        let c = Config::from_env(Env::from_pairs(env)).unwrap();
        assert_eq!(c.cluster_ca, ClusterCa::Base64("LS0t".into()));
    }

    #[test]
    fn the_lease_must_outlive_a_drain() {
        let mut env = minimal();
        env.push(("DRAIN_TIMEOUT_SEC", "900"));
        let err = Config::from_env(Env::from_pairs(env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("LEASE_SEC (900) must be at least"), "{err}");
    }
}
