//! infra/template.yaml sets each function's environment: nothing its code does not read, and
//! every variable its code requires. A function reads its variables in its `src/config.rs`,
//! itself or through a reader shared with other functions ([`SHARED_READERS`]).
use std::collections::BTreeSet;

use crate::support::*;

/// The environment readers several functions share: a function's `config.rs` that names the
/// module and calls the reader reads what the reader's file reads with `env.<method>(..)`.
const SHARED_READERS: [(&str, &str, &str); 2] = [
    (
        "eks_auth",
        "EksCluster::from_env",
        "crates/eks-auth/src/cluster.rs",
    ),
    (
        "sqs_depth::pass",
        "Options::from_env",
        "crates/sqs-depth/src/pass.rs",
    ),
];

fn before_tests(text: &str) -> &str {
    &text[..text.find("#[cfg(test)]").unwrap_or(text.len())]
}

/// A function's `src/config.rs` before its tests, if it has one.
fn config_rs(f: &str) -> Option<String> {
    let text = std::fs::read_to_string(root().join("crates").join(f).join("src/config.rs"));
    text.ok().map(|t| before_tests(&t).to_owned())
}

/// The variables the shared readers `config` calls read: `(name, required)` each.
fn shared_reads(config: &str) -> Vec<(String, bool)> {
    SHARED_READERS
        .iter()
        .filter(|(module, call, _)| config.contains(module) && config.contains(call))
        .flat_map(|(_, _, file)| env_calls(before_tests(&read(file))))
        .collect()
}

/// The literal names passed to `env.<method>("NAME", ..)` (turbofish and line breaks
/// allowed), each with whether `method` requires the variable.
fn env_calls(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("env.") {
        let rest = &text[i + "env.".len()..];
        let method_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (method, mut args) = rest.split_at(method_len);
        if let Some(turbofish) = args.strip_prefix("::<") {
            args = &turbofish[turbofish.find('>').map_or(0, |j| j + 1)..];
        }
        let Some(args) = args.strip_prefix('(') else {
            continue;
        };
        if let Some(lit) = args.trim_start().strip_prefix('"') {
            let name = lit[..lit.find('"').unwrap()].to_owned();
            out.push((name, method.starts_with("required")));
        }
    }
    out
}

/// Every all-caps string literal of a crate's `src/config.rs` (before its tests): the
/// environment variables it reads, through `Env` or a helper around it; and what the shared
/// readers it calls read.
fn env_read_by_code(f: &str) -> BTreeSet<String> {
    let Some(text) = config_rs(f) else {
        return BTreeSet::new();
    };
    let mut names = BTreeSet::new();
    for (i, lit) in text.split('"').enumerate() {
        let is_name = lit.len() > 1
            && lit.chars().any(|c| c.is_ascii_uppercase())
            && lit
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if i % 2 == 1 && is_name {
            names.insert(lit.to_owned());
        }
    }
    names.extend(shared_reads(&text).into_iter().map(|(name, _)| name));
    names
}

/// The variables passed straight to `env.required(..)` / `env.required_with(..)` in the
/// crate's sources or in the shared readers its `config.rs` calls.
fn env_required_by_code(f: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (_, text) in sources(&root().join("crates").join(f).join("src")) {
        for method in [".required(", ".required_with(", ".required::<String>("] {
            for (i, _) in text.match_indices(method) {
                let rest = text[i + method.len()..].trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    names.insert(lit[..lit.find('"').unwrap()].to_owned());
                }
            }
        }
    }
    let shared = shared_reads(&config_rs(f).unwrap_or_default());
    names.extend(
        shared
            .into_iter()
            .filter(|(_, required)| *required)
            .map(|(n, _)| n),
    );
    names
}

#[test]
fn environment_matches_what_the_code_reads() {
    let t = template();
    for f in FUNCTIONS {
        let read = env_read_by_code(f);
        assert!(
            !read.is_empty(),
            "{f}: crates/{f}/src/config.rs reads no variable (or is missing); its environment cannot be checked"
        );
        let given = env_names(&t, f);
        let unknown: Vec<_> = given.difference(&read).collect();
        assert!(
            unknown.is_empty(),
            "{f}: the template sets {unknown:?}, which crates/{f}/src/config.rs never reads"
        );
        let required = env_required_by_code(f);
        let missing: Vec<_> = required.difference(&given).collect();
        assert!(
            missing.is_empty(),
            "{f}: crates/{f}/src requires {missing:?}, which the template does not set"
        );
    }
}
