//! Configuration from the environment (the seed's names, plus what it lacked), checked all at
//! once at init: one error names every missing or invalid variable. The original k3s
//! autoscaler's environment reads with the same meaning: `CPU_UP=0.70` is 70 %
//! ([`threshold`]), `MAX_BATCH_UP` and `WORKER_INSTANCE_TYPE` are aliases, `PODS_PER_NODE`
//! and `CLUSTER_TAG_KEY`/`CLUSTER_TAG_VALUE` are honoured; a name of the function's families
//! that it does not know is reported at init ([`known`]).
use std::time::Duration;

use lambda_support::{ConfigError, Env};

use crate::decide::forecast::{self, Forecast};
use crate::decide::{Policy, RebalanceMode};
use crate::ec2::Tags;

pub mod known;
pub mod threshold;

pub use known::{unknown_variables, warn_unknown_variables};

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
    /// `FORECAST_PERIOD_SEC`, `FORECAST_LOOKAHEAD_SEC` ([`forecast`]): off by default.
    pub forecast: Forecast,
    /// Master, worker and (optional) cluster tags: which instances are this cluster's.
    pub tags: Tags,
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
    /// `PROM_PENDING_QUERY`, only when set: a scale-down guard (nothing Pending over
    /// `IDLE_DOWN_SEC`). Scale-up never reads it: it reads the unschedulable pods from the API.
    pub pending_query: Option<String>,
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

/// No CA: TLS to the API server is always verified, so the init error says where the CA is
/// (the original autoscaler skipped verification and had no such variable).
pub const NO_CA: &str = "CERT_AUTHORITY or K8S_CA_PARAM is missing (expected one: TLS to the API server is always verified, there is no insecure mode; CERT_AUTHORITY = base64 of the cluster CA PEM, the certificate-authority-data of /etc/rancher/k3s/k3s.yaml on the k3s server, or K8S_CA_PARAM = the name of an SSM parameter holding that PEM, /var/lib/rancher/k3s/server/tls/server-ca.crt)";

/// Default PromQL: node-exporter's CPU busy percentage over every node.
pub const DEFAULT_CPU_QUERY: &str =
    r#"100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[2m])))"#;

fn list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

/// The required variables with placeholder values: with them alone, `from_env` gives the
/// shipped defaults (the simulator's "this policy", the unit tests' minimal environment).
pub const PLACEHOLDERS: [(&str, &str); 12] = [
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
];

/// Shipped defaults the simulator runs as "this policy" (`src/bin/simulate.rs`); why each
/// is what it is: docs/node-autoscaler.md, Policy.
pub const DEFAULT_PENDING_UP_SEC: u64 = 0;
pub const DEFAULT_COOLDOWN_UP_SEC: u64 = 60;
pub const DEFAULT_UTILISATION_DOWN: f64 = 0.5;
pub const DEFAULT_UNNEEDED_SEC: u64 = 600;
pub const DEFAULT_HEADROOM_PODS: u32 = 0;
/// Off: the forecast acts only on a period the operator knows the workload repeats on.
pub const DEFAULT_FORECAST_PERIOD_SEC: u64 = 0;
/// A worker's launch to Ready (~3 min) and one run of the schedule: launched this far
/// ahead, workers are Ready when the demand of one period ago comes back.
pub const DEFAULT_FORECAST_LOOKAHEAD_SEC: u64 = 240;

fn seconds(env: &mut Env, name: &str, default: u64) -> Duration {
    Duration::from_secs(env.or_default(name, default, "a whole number of seconds"))
}

/// One setting under two names (this function's and the original autoscaler's): either may
/// be set; both with different values is refused rather than one silently winning.
fn alias<T: PartialEq>(
    env: &mut Env,
    (name, value): (&str, Option<T>),
    (alias, alias_value): (&str, Option<T>),
    show: impl Fn(&T) -> String,
) -> Option<T> {
    match (value, alias_value) {
        (Some(a), Some(b)) if a != b => {
            let (a_shown, b_shown) = (show(&a), show(&b));
            env.problem(format!(
                "{name} ({a_shown}) and {alias} ({b_shown}) are one setting under two names and disagree (expected one of them, or both equal)"
            ));
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Config, ConfigError> {
        let cpu_up = env
            .optional_with("CPU_UP", threshold::EXPECTED, threshold::percent)
            .unwrap_or(70.0);
        let cpu_down_set = env.optional_with("CPU_DOWN", threshold::EXPECTED, threshold::percent);
        let cpu_down = cpu_down_set.unwrap_or(30.0);
        let pending_up = seconds(&mut env, "PENDING_UP_SEC", DEFAULT_PENDING_UP_SEC);
        let idle_down_set: Option<u64> = env.optional("IDLE_DOWN_SEC", "a whole number of seconds");
        let idle_down = Duration::from_secs(idle_down_set.unwrap_or(600));
        // The original's scale-down rule (cluster CPU idle) is a guard when it is configured.
        let cpu_guard = cpu_down_set.is_some() || idle_down_set.is_some();
        let min: u32 = env.or_default("MIN_WORKERS", 1, "a whole number ≥ 0");
        let max: u32 = env.or_default("MAX_WORKERS", 10, "a whole number ≥ 1");
        let cooldown_up = seconds(&mut env, "COOLDOWN_UP_SEC", DEFAULT_COOLDOWN_UP_SEC);
        let cooldown_down_set: Option<u64> =
            env.optional("COOLDOWN_DOWN_SEC", "a whole number of seconds");
        let cooldown_down = Duration::from_secs(cooldown_down_set.unwrap_or(600));
        // Set, it also spaces removals (the original's meaning); unset, a removal waits for
        // nothing but the unneeded time, as CA's scale-down-delay-after-delete (one scan).
        let cooldown_after_down = Duration::from_secs(cooldown_down_set.unwrap_or(0));
        let utilisation_down = env
            .optional_with(
                "SCALE_DOWN_UTILIZATION_THRESHOLD",
                threshold::EXPECTED,
                |raw| threshold::percent(raw).map(|p| p / 100.0),
            )
            .unwrap_or(DEFAULT_UTILISATION_DOWN);
        let unneeded_down = seconds(&mut env, "SCALE_DOWN_UNNEEDED_SEC", DEFAULT_UNNEEDED_SEC);
        let headroom_pods: u32 = env.or_default(
            "HEADROOM_PODS",
            DEFAULT_HEADROOM_PODS,
            "a whole number of free pod slots",
        );
        let forecast = Forecast {
            period: seconds(&mut env, "FORECAST_PERIOD_SEC", DEFAULT_FORECAST_PERIOD_SEC),
            lookahead: seconds(
                &mut env,
                "FORECAST_LOOKAHEAD_SEC",
                DEFAULT_FORECAST_LOOKAHEAD_SEC,
            ),
            periods: env.or_default("FORECAST_PERIODS", 1, "a whole number ≥ 1"),
        };
        let batch_up = (
            "SCALE_UP_BATCH",
            env.optional::<u32>("SCALE_UP_BATCH", "a whole number ≥ 1"),
        );
        let batch_up_alias = (
            "MAX_BATCH_UP",
            env.optional::<u32>("MAX_BATCH_UP", "a whole number ≥ 1"),
        );
        let batch_up = alias(&mut env, batch_up, batch_up_alias, u32::to_string).unwrap_or(3);
        let batch_down: u32 = env.or_default("SCALE_DOWN_BATCH", 1, "a whole number ≥ 1");
        let pods_per_node: Option<u32> = env.optional(
            "PODS_PER_NODE",
            "a whole number ≥ 1 (pods one worker holds)",
        );
        let tag = |env: &mut Env, key: &str, value: &str| {
            (
                env.required::<String>(key, "a tag key"),
                env.required::<String>(value, "a tag value"),
            )
        };
        let master_tag = tag(&mut env, "MASTER_TAG_KEY", "MASTER_TAG_VALUE");
        let worker_tag = tag(&mut env, "WORKER_TAG_KEY", "WORKER_TAG_VALUE");
        let cluster_tag = match (
            env.optional::<String>("CLUSTER_TAG_KEY", "a tag key"),
            env.optional::<String>("CLUSTER_TAG_VALUE", "a tag value"),
        ) {
            (Some(key), Some(value)) => Some((key, value)),
            (None, None) => None,
            (key, _) => {
                let (set, unset) = if key.is_some() {
                    ("CLUSTER_TAG_KEY", "CLUSTER_TAG_VALUE")
                } else {
                    ("CLUSTER_TAG_VALUE", "CLUSTER_TAG_KEY")
                };
                env.problem(format!(
                    "{set} is set without {unset} (expected both, the tag on this cluster's control plane and workers, or neither)"
                ));
                None
            }
        };
        let subnet_ids = env.required_with("WORKER_SUBNET_IDS", "comma-separated subnet ids", list);
        let security_group = env.required("WORKER_SG_ID", "a security group id");
        let instance_profile =
            env.optional("WORKER_INSTANCE_PROFILE", "an instance profile name or ARN");
        let key_name = env.optional("WORKER_KEY_NAME", "an EC2 key pair name");
        let ami_id: Option<String> = env.optional("WORKER_AMI_ID", "an AMI id");
        let launch_template: Option<String> =
            env.optional("WORKER_LAUNCH_TEMPLATE", "a launch template id or name");
        let instance_types = (
            "WORKER_INSTANCE_TYPES",
            env.optional_with(
                "WORKER_INSTANCE_TYPES",
                "comma-separated instance types",
                list,
            ),
        );
        let instance_type = (
            "WORKER_INSTANCE_TYPE",
            env.optional_with(
                "WORKER_INSTANCE_TYPE",
                "one instance type (a list goes in WORKER_INSTANCE_TYPES)",
                |v| (!v.contains(',')).then(|| vec![v.to_owned()]),
            ),
        );
        let instance_types = alias(&mut env, instance_types, instance_type, |v| v.join(","))
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
        let pending_query = env.optional("PROM_PENDING_QUERY", "PromQL");
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

        if cpu_down >= cpu_up {
            env.problem(format!(
                "CPU_DOWN ({cpu_down} %) must be below CPU_UP ({cpu_up} %)"
            ));
        }
        if pods_per_node == Some(0) {
            env.problem("PODS_PER_NODE must be at least 1");
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
        let (period, lookahead) = (forecast.period.as_secs(), forecast.lookahead.as_secs());
        let periods = forecast.periods;
        if periods == 0 {
            env.problem("FORECAST_PERIODS must be at least 1");
        } else if period.saturating_mul(u64::from(periods)) > forecast::MAX_HISTORY_SEC {
            // The history is one DynamoDB item (at most 400 KB): a day of samples fits.
            env.problem(format!(
                "FORECAST_PERIOD_SEC × FORECAST_PERIODS ({period} × {periods}) must be at most {} (a day of history), or the period 0 (off)",
                forecast::MAX_HISTORY_SEC
            ));
        } else if forecast.on() && lookahead > period {
            env.problem(format!(
                "FORECAST_LOOKAHEAD_SEC ({lookahead}) must not exceed FORECAST_PERIOD_SEC ({period})"
            ));
        }
        if ami_id.is_none() && launch_template.is_none() {
            env.problem("WORKER_AMI_ID or WORKER_LAUNCH_TEMPLATE is missing (expected one)");
        }
        let cluster_ca = match (cert_authority, ca_param) {
            (Some(b64), _) => ClusterCa::Base64(b64),
            (None, Some(param)) => ClusterCa::Param(param),
            (None, None) => {
                env.problem(NO_CA);
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
                cpu_guard,
                min,
                max,
                cooldown_up,
                cooldown_down,
                cooldown_after_down,
                batch_up,
                batch_down,
                batch_down_empty: batch_down,
                pods_per_node,
                utilisation_down,
                unneeded_down,
                headroom_pods,
            },
            forecast,
            tags: Tags {
                master: master_tag,
                worker: worker_tag,
                cluster: cluster_tag,
            },
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
        PLACEHOLDERS.to_vec()
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
        assert_eq!(c.policy.pending_up, Duration::from_secs(0));
        assert_eq!(c.policy.cooldown_up, Duration::from_secs(60));
        assert_eq!((c.policy.batch_up, c.policy.pods_per_node), (3, None));
        assert_eq!((c.prom_nodeport, c.tags.cluster.clone()), (30090, None));
        let s = Duration::from_secs;
        let p = &c.policy;
        assert_eq!((p.idle_down, p.cooldown_down), (s(600), s(600)));
        // Scale-down by simulation with CA's defaults; the CPU rule only guards when its
        // variables are set, and a removal waits for no other.
        assert_eq!((p.utilisation_down, p.unneeded_down), (0.5, s(600)));
        assert_eq!((p.cpu_guard, p.cooldown_after_down), (false, s(0)));
        assert_eq!((p.headroom_pods, p.batch_down_empty), (0, 1));
        assert!(
            !c.forecast.on(),
            "the forecast is off unless a period is set"
        );
        assert_eq!((c.forecast.lookahead, c.forecast.periods), (s(240), 1));
        assert_eq!(
            (
                c.join_timeout,
                c.drain_timeout,
                c.spot_drain_timeout,
                c.lease
            ),
            (s(600), s(300), s(90), s(900))
        );
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

    /// The original k3s autoscaler's environment (`tests/it/original.env`), as pairs.
    pub fn original() -> Vec<(&'static str, &'static str)> {
        include_str!("../tests/it/original.env")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split_once('=').expect("KEY=VALUE"))
            .collect()
    }

    fn problems(env: Vec<(&str, &str)>) -> Vec<String> {
        match Config::from_env(Env::from_pairs(env)) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        }
    }

    #[test]
    fn the_original_environment_fails_for_its_missing_ca_alone() {
        assert_eq!(problems(original()), [NO_CA]);
        assert!(
            unknown_variables(original().iter().map(|(k, _)| *k)).is_empty(),
            "every name of the original is read"
        );
    }

    #[test]
    fn the_original_environment_with_a_ca_keeps_its_meaning() {
        let mut env = original();
        env.push(("K8S_CA_PARAM", "/k3s-autoscaler/ca"));
        let c = Config::from_env(Env::from_pairs(env)).unwrap();
        let s = Duration::from_secs;
        let p = &c.policy;
        assert_eq!((p.cpu_up, p.cpu_down), (70.0, 30.0), "fractions, read as %");
        assert_eq!((p.min, p.max, p.batch_up), (2, 10, 2));
        assert_eq!(p.pods_per_node, Some(10));
        assert_eq!(
            (p.pending_up, p.idle_down, p.cooldown_up, p.cooldown_down),
            (s(180), s(600), s(300), s(600))
        );
        // Its scale-down rule stays a guard (CPU under 30 % for 600 s), and its
        // COOLDOWN_DOWN_SEC still spaces removals as well as follows launches.
        assert_eq!((p.cpu_guard, p.cooldown_after_down), (true, s(600)));
        assert_eq!((c.join_timeout, c.drain_timeout), (s(600), s(300)));
        assert_eq!(c.instance_types, ["t3.medium"]);
        assert_eq!(c.prom_nodeport, 30900);
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            c.tags,
            Tags {
                master: tag("Role", "k3s-control-plane"),
                worker: tag("Role", "k3s-worker"),
                cluster: Some(tag("Cluster", "k3s-autoscaler")),
            }
        );
        assert_eq!(c.cluster_ca, ClusterCa::Param("/k3s-autoscaler/ca".into()));
        assert_eq!(
            (c.key_name.as_deref(), c.instance_profile.as_deref()),
            (
                Some("k3s_master_key_v6"),
                Some("k3s-master-instance-profile-3e8b1c7")
            )
        );
    }

    #[test]
    fn thresholds_read_as_fractions_or_percentages_never_both() {
        let expected = threshold::EXPECTED;
        type Case = (&'static str, &'static str, Result<(f64, f64), String>);
        let table: [Case; 7] = [
            ("0.70", "0.30", Ok((70.0, 30.0))),
            ("70", "30", Ok((70.0, 30.0))),
            ("70%", "0.5%", Ok((70.0, 0.5))),
            ("0.8", "20", Ok((80.0, 20.0))),
            (
                "1",
                "0.30",
                Err(format!("CPU_UP=\"1\" is invalid (expected {expected})")),
            ),
            (
                "150",
                "-0.3",
                Err(format!(
                    "CPU_UP=\"150\" is invalid (expected {expected}); CPU_DOWN=\"-0.3\" is invalid (expected {expected})"
                )),
            ),
            (
                "0.30",
                "0.70",
                Err("CPU_DOWN (70 %) must be below CPU_UP (30 %)".into()),
            ),
        ];
        for (up, down, want) in table {
            let mut env = minimal();
            env.extend([("CPU_UP", up), ("CPU_DOWN", down)]);
            let got = Config::from_env(Env::from_pairs(env))
                .map(|c| (c.policy.cpu_up, c.policy.cpu_down))
                .map_err(|e| e.problems.join("; "));
            assert_eq!(got, want, "CPU_UP={up} CPU_DOWN={down}");
        }
    }

    #[test]
    fn the_forecast_history_is_at_most_a_day_and_the_lookahead_within_a_period() {
        let expected = "a whole number of seconds";
        let day = "must be at most 86400 (a day of history), or the period 0 (off)";
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            Result<(u64, u64, u32), String>,
        );
        let table: [Case; 8] = [
            ("0", "240", "1", Ok((0, 240, 1))),
            ("3600", "300", "2", Ok((3600, 300, 2))),
            ("86400", "600", "1", Ok((86400, 600, 1))),
            (
                "86401",
                "240",
                "1",
                Err(format!(
                    "FORECAST_PERIOD_SEC × FORECAST_PERIODS (86401 × 1) {day}"
                )),
            ),
            (
                "43201",
                "240",
                "2",
                Err(format!(
                    "FORECAST_PERIOD_SEC × FORECAST_PERIODS (43201 × 2) {day}"
                )),
            ),
            (
                "600",
                "900",
                "1",
                Err(
                    "FORECAST_LOOKAHEAD_SEC (900) must not exceed FORECAST_PERIOD_SEC (600)".into(),
                ),
            ),
            (
                "3600",
                "240",
                "0",
                Err("FORECAST_PERIODS must be at least 1".into()),
            ),
            (
                "1h",
                "240",
                "1",
                Err(format!(
                    "FORECAST_PERIOD_SEC=\"1h\" is invalid (expected {expected})"
                )),
            ),
        ];
        for (period, lookahead, periods, want) in table {
            let mut env = minimal();
            env.extend([
                ("FORECAST_PERIOD_SEC", period),
                ("FORECAST_LOOKAHEAD_SEC", lookahead),
                ("FORECAST_PERIODS", periods),
            ]);
            let got = Config::from_env(Env::from_pairs(env))
                .map(|c| {
                    let f = c.forecast;
                    (f.period.as_secs(), f.lookahead.as_secs(), f.periods)
                })
                .map_err(|e| e.problems.join("; "));
            assert_eq!(got, want, "{period} {lookahead} {periods}");
        }
    }

    #[test]
    fn the_originals_names_are_aliases_that_must_agree() {
        type Seen = (u32, Vec<String>);
        type Case = (
            &'static [(&'static str, &'static str)],
            Result<Seen, &'static str>,
        );
        let table: [Case; 7] = [
            (&[("MAX_BATCH_UP", "2")], Ok((2, vec!["t3.medium".into()]))),
            (
                &[("MAX_BATCH_UP", "2"), ("SCALE_UP_BATCH", "2")],
                Ok((2, vec!["t3.medium".into()])),
            ),
            (
                &[("MAX_BATCH_UP", "2"), ("SCALE_UP_BATCH", "4")],
                Err(
                    "SCALE_UP_BATCH (4) and MAX_BATCH_UP (2) are one setting under two names and disagree (expected one of them, or both equal)",
                ),
            ),
            (
                &[("WORKER_INSTANCE_TYPE", "t3.large")],
                Ok((3, vec!["t3.large".into()])),
            ),
            (
                &[
                    ("WORKER_INSTANCE_TYPE", "t3.large"),
                    ("WORKER_INSTANCE_TYPES", "t3.large"),
                ],
                Ok((3, vec!["t3.large".into()])),
            ),
            (
                &[
                    ("WORKER_INSTANCE_TYPE", "t3.medium"),
                    ("WORKER_INSTANCE_TYPES", "m5.large,m5a.large"),
                ],
                Err(
                    "WORKER_INSTANCE_TYPES (m5.large,m5a.large) and WORKER_INSTANCE_TYPE (t3.medium) are one setting under two names and disagree (expected one of them, or both equal)",
                ),
            ),
            (
                &[("WORKER_INSTANCE_TYPE", "t3.medium,t3.large")],
                Err(
                    "WORKER_INSTANCE_TYPE=\"t3.medium,t3.large\" is invalid (expected one instance type (a list goes in WORKER_INSTANCE_TYPES))",
                ),
            ),
        ];
        for (set, want) in table {
            let mut env = minimal();
            env.extend(set.iter().copied());
            let got = Config::from_env(Env::from_pairs(env))
                .map(|c| (c.policy.batch_up, c.instance_types))
                .map_err(|e| e.problems.join("; "));
            assert_eq!(got, want.map_err(str::to_owned), "{set:?}");
        }
    }

    #[test]
    fn pods_per_node_and_the_cluster_tag() {
        type Case = (
            &'static [(&'static str, &'static str)],
            Result<(Option<u32>, Option<(&'static str, &'static str)>), &'static str>,
        );
        let table: [Case; 5] = [
            (&[("PODS_PER_NODE", "10")], Ok((Some(10), None))),
            (
                &[("PODS_PER_NODE", "0")],
                Err("PODS_PER_NODE must be at least 1"),
            ),
            (
                &[
                    ("CLUSTER_TAG_KEY", "Cluster"),
                    ("CLUSTER_TAG_VALUE", "blue"),
                ],
                Ok((None, Some(("Cluster", "blue")))),
            ),
            (
                &[("CLUSTER_TAG_KEY", "Cluster")],
                Err(
                    "CLUSTER_TAG_KEY is set without CLUSTER_TAG_VALUE (expected both, the tag on this cluster's control plane and workers, or neither)",
                ),
            ),
            (
                &[("CLUSTER_TAG_VALUE", "blue")],
                Err(
                    "CLUSTER_TAG_VALUE is set without CLUSTER_TAG_KEY (expected both, the tag on this cluster's control plane and workers, or neither)",
                ),
            ),
        ];
        for (set, want) in table {
            let mut env = minimal();
            env.extend(set.iter().copied());
            let got = Config::from_env(Env::from_pairs(env))
                .map(|c| (c.policy.pods_per_node, c.tags.cluster))
                .map_err(|e| e.problems.join("; "));
            let want = want
                .map(|(p, t)| (p, t.map(|(k, v)| (k.to_owned(), v.to_owned()))))
                .map_err(str::to_owned);
            assert_eq!(got, want, "{set:?}");
        }
    }
}
