//! `[package.metadata.lambda.deploy]` of each function crate (what `cargo lambda deploy`
//! reads) agrees with infra/template.yaml.
use std::collections::BTreeSet;

use crate::support::*;
use serde_json::Value;

#[test]
fn cargo_lambda_deploy_metadata_matches_the_template() {
    let t = template();
    let meta = cargo_metadata();
    for f in FUNCTIONS {
        let pkg = package(&meta, f).unwrap_or_else(|| {
            panic!("{f}: the template names it, the workspace has no such crate")
        });
        let d = &pkg["metadata"]["lambda"]["deploy"];
        assert!(
            d.is_object(),
            "crates/{f}/Cargo.toml: no [package.metadata.lambda.deploy]"
        );
        let p = function_props(&t, f);
        assert_eq!(d["memory"], p["MemorySize"], "{f}: memory");
        assert_eq!(d["timeout"], p["Timeout"], "{f}: timeout");
        assert_eq!(d["runtime"], p["Runtime"], "{f}: runtime");
        assert_eq!(
            d["tracing"].as_str().map(str::to_ascii_lowercase),
            p["Tracing"].as_str().map(str::to_ascii_lowercase),
            "{f}: tracing"
        );
        assert_eq!(
            d["log_retention"].to_string(),
            param_default(&t, "LogRetentionDays").unwrap(),
            "{f}: log_retention"
        );
        assert_eq!(d["env_file"], format!("infra/env/{f}.env"), "{f}: env_file");
        let names: BTreeSet<String> = d["env_names"]
            .as_array()
            .unwrap_or_else(|| panic!("{f}: env_names"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            env_names(&t, f),
            "{f}: env_names are the template's Environment"
        );
        assert!(
            d.get("env_var").is_none_or(Value::is_null) && d.get("env").is_none_or(Value::is_null),
            "{f}: no values in Cargo.toml (they are per cluster: env file)"
        );
    }
}
