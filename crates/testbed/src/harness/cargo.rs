//! The workspace's own cargo, and what it says of the functions' deployment.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// cargo, in the workspace, with only what a developer's shell gives it: the variables a test
/// runner adds (its CARGO_*, LD_LIBRARY_PATH, …) reach build scripts and rebuilt ring and the
/// crates above it.
pub fn developer_cargo() -> std::process::Command {
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .current_dir(super::repo(""))
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| {
            !k.starts_with("CARGO_") && !k.starts_with("NEXTEST") && k != "LD_LIBRARY_PATH"
                || [
                    "CARGO_HOME",
                    "CARGO_TARGET_DIR",
                    "CARGO_INCREMENTAL",
                    "CARGO_BUILD_JOBS",
                ]
                .contains(&k.as_str())
        }));
    cargo
}

/// Each function's `[package.metadata.lambda.deploy]` (memory, timeout, role, environment,
/// …), by package name, as `cargo metadata` reads it: the one reader of that table in the
/// tests (the emulator's limits, the deploy test). Read once per process.
pub fn deploy_metadata() -> &'static BTreeMap<String, Value> {
    static READ: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    READ.get_or_init(|| {
        let out = developer_cargo()
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--offline",
            ])
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
        meta["packages"]
            .as_array()
            .expect("cargo metadata's packages")
            .iter()
            .filter(|p| p["metadata"]["lambda"]["deploy"].is_object())
            .filter_map(|p| {
                let name = p["name"].as_str()?.to_owned();
                Some((name, p["metadata"]["lambda"]["deploy"].clone()))
            })
            .collect()
    })
}
