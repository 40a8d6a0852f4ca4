//! `make build` builds every function of the template for the chosen architecture, into the
//! paths the template deploys; `make deploy` refuses to run without the cluster's parameters.
//! Nothing is built or deployed: `make -n` prints the commands.
use std::process::Command;

use crate::support::*;

fn make(args: &[&str]) -> (bool, String) {
    let out = Command::new("make")
        .args(args)
        .current_dir(root())
        .env_remove("CLUSTER_NAME")
        .env_remove("API_SERVER")
        .env_remove("CERT_AUTHORITY")
        .env_remove("ARCH")
        .env_remove("PROFILE")
        .env_remove("LAMBDA_DIR")
        // Under `make test`, the parent's flags (jobserver, -n, ...) must not leak in.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn build_zips_every_function_for_the_architecture() {
    for (arch, flag) in [(None, "--arm64"), (Some("x86_64"), "--x86-64")] {
        let mut args = vec!["-n", "build"];
        let arch_arg;
        if let Some(a) = arch {
            arch_arg = format!("ARCH={a}");
            args.push(&arch_arg);
        }
        let (ok, text) = make(&args);
        assert!(ok, "{text}");
        let command = text.replace("\\\n", " ");
        assert!(
            command.contains("cargo lambda build --profile release --output-format zip"),
            "{command}"
        );
        // The zips the template deploys: cargo-lambda's default lambda dir, target/lambda.
        assert!(!command.contains("--lambda-dir"), "{command}");
        assert!(command.contains(flag), "{arch:?}: {command}");
        for f in FUNCTIONS {
            assert!(
                command.contains(&format!("--bin {f}")),
                "{f} not built: {command}"
            );
        }
    }
}

#[test]
fn deploy_needs_the_cluster_parameters() {
    let (ok, text) = make(&["deploy"]);
    assert!(!ok);
    assert!(
        text.contains("set CLUSTER_NAME, API_SERVER and CERT_AUTHORITY"),
        "{text}"
    );
}

/// `make demo` right after `make test` compiles nothing: it builds the same packages and
/// targets (so cargo resolves the same features and reuses every artifact), and runs the demo
/// binary itself rather than through `cargo run -p demo` (which resolves features for demo
/// alone and rebuilt most of the tree).
#[test]
fn demo_builds_what_test_builds() {
    let selection = |text: &str, after: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.contains(after))
            .unwrap_or_else(|| panic!("no `{after}` in:\n{text}"));
        let mut flags: Vec<String> = line
            .split_whitespace()
            .filter(|w| {
                [
                    "--workspace",
                    "--all-targets",
                    "-p",
                    "--bins",
                    "--lib",
                    "--tests",
                ]
                .contains(w)
                    || w.starts_with("--package")
            })
            .map(str::to_owned)
            .collect();
        flags.sort();
        flags
    };
    let (ok, test) = make(&["-n", "test"]);
    assert!(ok, "{test}");
    let (ok, demo) = make(&["-n", "demo"]);
    assert!(ok, "{demo}");
    let built_by_test = selection(&test, "nextest run");
    assert_eq!(built_by_test, ["--all-targets", "--workspace"], "{test}");
    // What lets testbed::world::build skip cargo: only true of a whole-workspace build.
    assert!(
        test.lines()
            .any(|l| l.contains("nextest run") && l.contains("SUITE_WORKSPACE_BUILT=1")),
        "{test}"
    );
    assert_eq!(selection(&demo, "--no-run"), built_by_test, "{demo}");
    for rebuilding in ["cargo run", "cargo build"] {
        assert!(!demo.contains(rebuilding), "{rebuilding} in: {demo}");
    }
    assert!(demo.contains("target/debug/suite-demo"), "{demo}");
}
