//! The variables this function reads, and those of its own families it does not: a misspelt
//! name (`MAX_WORKER`) or another autoscaler's would otherwise be ignored in silence and its
//! default stay in force. They are reported at init in one log line, not refused: the rest of
//! the configuration stands on its own.

/// Every variable `Config::from_env` reads; a test keeps it in step with `config.rs`.
pub const VARIABLES: [&str; 54] = [
    "API_SERVER",
    "CERT_AUTHORITY",
    "CLUSTER_TAG_KEY",
    "CLUSTER_TAG_VALUE",
    "COOLDOWN_DOWN_SEC",
    "COOLDOWN_UP_SEC",
    "CPU_DOWN",
    "CPU_UP",
    "DRAIN_TIMEOUT_SEC",
    "DRY_RUN",
    "FORECAST_LOOKAHEAD_SEC",
    "FORECAST_PERIODS",
    "FORECAST_PERIOD_SEC",
    "HEADROOM_PODS",
    "IDLE_DOWN_SEC",
    "JOIN_TIMEOUT_SEC",
    "JOIN_TOKEN_MODE",
    "K3S_CLUSTER_TOKEN_PARAM",
    "K8S_API_TOKEN_PARAM",
    "K8S_CA_PARAM",
    "LEASE_SEC",
    "LOGS_TABLE",
    "LOG_TTL_DAYS",
    "MASTER_TAG_KEY",
    "MASTER_TAG_VALUE",
    "MAX_BATCH_UP",
    "MAX_WORKERS",
    "MIN_WORKERS",
    "PENDING_UP_SEC",
    "PODS_PER_NODE",
    "PROMETHEUS_URL",
    "PROM_CPU_QUERY",
    "PROM_NODEPORT",
    "PROM_PENDING_QUERY",
    "REBALANCE_MODE",
    "SCALE_DOWN_BATCH",
    "SCALE_DOWN_UNNEEDED_SEC",
    "SCALE_DOWN_UTILIZATION_THRESHOLD",
    "SCALE_UP_BATCH",
    "SPOT_DRAIN_SEC",
    "STATE_TABLE",
    "WORKER_AMI_ID",
    "WORKER_INSTANCE_PROFILE",
    "WORKER_INSTANCE_TYPE",
    "WORKER_INSTANCE_TYPES",
    "WORKER_KEY_NAME",
    "WORKER_LAUNCH_TEMPLATE",
    "WORKER_NODE_CPU",
    "WORKER_NODE_MEMORY",
    "WORKER_SG_ID",
    "WORKER_SPOT",
    "WORKER_SUBNET_IDS",
    "WORKER_TAG_KEY",
    "WORKER_TAG_VALUE",
];

/// A name's family: its first word and the underscore (`WORKER_` for `WORKER_SG_ID`).
fn family(name: &str) -> Option<&str> {
    name.find('_').map(|i| &name[..=i])
}

/// The names among `names` of a family this function reads (the first word of one of
/// [`VARIABLES`]) that it does not read, sorted. `AWS_*`, `RUST_LOG` and the like are no
/// family of its own, so never reported.
pub fn unknown_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| !VARIABLES.contains(n))
        .filter(|n| family(n).is_some_and(|f| VARIABLES.iter().any(|v| family(v) == Some(f))))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Logs [`unknown_variables`] in one line, if there are any.
pub fn warn_unknown_variables<'a>(names: impl IntoIterator<Item = &'a str>) {
    let unknown = unknown_variables(names);
    if !unknown.is_empty() {
        tracing::warn!(
            variables = %unknown.join(","),
            "ignored: variables of this function's families that it does not read (misspelt, or another autoscaler's? see docs/node-autoscaler.md#variables)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_its_families_it_does_not_read_are_reported() {
        let table: [(&[&str], &[&str]); 5] = [
            (&["CPU_UP", "MAX_BATCH_UP", "PODS_PER_NODE"], &[]),
            (
                &["MAX_WORKER", "CPU_UPP", "CPU_UP"],
                &["CPU_UPP", "MAX_WORKER"],
            ),
            (
                &["CLUSTER_NAME", "PROM_URL", "LOG_LEVEL", "WORKER_SUBNETS"],
                &["CLUSTER_NAME", "LOG_LEVEL", "PROM_URL", "WORKER_SUBNETS"],
            ),
            // Not its families: Lambda's own, the SDK's, the runtime's, the logs'.
            (
                &[
                    "AWS_REGION",
                    "AWS_LAMBDA_LOG_FORMAT",
                    "RUST_LOG",
                    "PATH",
                    "_HANDLER",
                    "TZ",
                ],
                &[],
            ),
            (&["WORKER_SG", "WORKER_SG"], &["WORKER_SG"]),
        ];
        for (names, want) in table {
            assert_eq!(unknown_variables(names.iter().copied()), want, "{names:?}");
        }
    }

    /// The all-caps string literals of `config.rs` before its tests: the names it reads
    /// (each `env.*("NAME", …)`, or through its helpers).
    fn read_by_config_rs() -> Vec<&'static str> {
        let text = include_str!("../config.rs");
        let code = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
        code.split('"')
            .skip(1)
            .step_by(2)
            .filter(|lit| {
                lit.len() > 1
                    && lit.starts_with(|c: char| c.is_ascii_uppercase())
                    && lit
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect()
    }

    #[test]
    fn the_list_is_what_config_rs_reads() {
        let mut read = read_by_config_rs();
        read.sort();
        read.dedup();
        let mut listed = VARIABLES.to_vec();
        listed.sort();
        assert_eq!(read, listed, "VARIABLES and config.rs's env reads differ");
    }
}
