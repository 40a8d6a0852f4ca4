//! Typed configuration from environment variables, read once at init.
//!
//! Every variable is checked before anything fails, so one error lists every missing or
//! invalid variable with what it expects; a function never starts half-configured.
//!
//! ```
//! # use lambda_support::Env;
//! let mut env = Env::from_pairs([("MIN_WORKERS", "abc")]);
//! let cluster: String = env.required("CLUSTER_NAME", "the EKS cluster name");
//! let min: u32 = env.or_default("MIN_WORKERS", 1, "a whole number");
//! let err = env.finish().unwrap_err().to_string();
//! assert!(err.contains("CLUSTER_NAME is missing (expected the EKS cluster name)"));
//! assert!(err.contains("MIN_WORKERS=\"abc\" is invalid (expected a whole number)"));
//! ```
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<String>,
}

/// Every problem found, one per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            problems: Vec::new(),
        }
    }

    /// A variable that must be set and parse as `T`. On error the problem is recorded and a
    /// placeholder returned; [`finish`](Self::finish) then fails, so it is never used.
    pub fn required<T: FromStr + Default>(&mut self, name: &str, expects: &str) -> T {
        self.required_with(name, expects, |v| v.parse().ok())
    }

    pub fn required_with<T: Default>(
        &mut self,
        name: &str,
        expects: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> T {
        match self.optional_with(name, expects, parse) {
            Some(value) => value,
            None => {
                if self.value(name).is_none() {
                    self.problems
                        .push(format!("{name} is missing (expected {expects})"));
                }
                T::default()
            }
        }
    }

    /// A variable that may be unset (or empty).
    pub fn optional<T: FromStr>(&mut self, name: &str, expects: &str) -> Option<T> {
        self.optional_with(name, expects, |v| v.parse().ok())
    }

    pub fn optional_with<T>(
        &mut self,
        name: &str,
        expects: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.value(name)?.to_owned();
        let parsed = parse(raw.trim());
        if parsed.is_none() {
            let shown = shown_value(name, &raw);
            self.problems
                .push(format!("{name}={shown} is invalid (expected {expects})"));
        }
        parsed
    }

    /// A variable with a documented default when unset.
    pub fn or_default<T: FromStr>(&mut self, name: &str, default: T, expects: &str) -> T {
        self.optional(name, expects).unwrap_or(default)
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`), default when unset.
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        self.optional_with(name, "true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            }
        })
        .unwrap_or(default)
    }

    /// Records a problem found by a cross-field check.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// Ok when every variable read so far was present and valid.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Quotes the bad value so the operator sees it, unless it may be a secret or is long.
fn shown_value(name: &str, raw: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let secret = ["TOKEN", "SECRET", "PASSWORD", "KEY", "CERT"]
        .iter()
        .any(|s| upper.contains(s));
    if secret || raw.len() > 64 {
        format!("<{} characters>", raw.chars().count())
    } else {
        format!("{raw:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut env = Env::from_pairs([("MIN", "-1"), ("MAX", "ten"), ("FLAG", "maybe")]);
        let _: String = env.required("CLUSTER_NAME", "the EKS cluster name");
        let _: u32 = env.required("MIN", "a whole number ≥ 0");
        let _: u32 = env.or_default("MAX", 5, "a whole number ≥ 1");
        let _ = env.flag("FLAG", false);
        let err = env.finish().unwrap_err();
        assert_eq!(
            err.problems,
            [
                "CLUSTER_NAME is missing (expected the EKS cluster name)",
                "MIN=\"-1\" is invalid (expected a whole number ≥ 0)",
                "MAX=\"ten\" is invalid (expected a whole number ≥ 1)",
                "FLAG=\"maybe\" is invalid (expected true or false)",
            ]
        );
    }

    #[test]
    fn valid_values_and_defaults() {
        let mut env = Env::from_pairs([
            ("CLUSTER_NAME", " prod "),
            ("DRY_RUN", "TRUE"),
            ("EMPTY", ""),
        ]);
        let cluster: String = env.required("CLUSTER_NAME", "name");
        let max: u32 = env.or_default("MAX", 5, "n");
        let empty: Option<String> = env.optional("EMPTY", "anything");
        assert!(env.flag("DRY_RUN", false));
        assert_eq!((cluster.as_str(), max, empty), ("prod", 5, None));
        env.finish().unwrap();
    }

    #[test]
    fn secrets_are_not_echoed() {
        let mut env = Env::from_pairs([("CERT_AUTHORITY", "not-base64!!")]);
        let _: Option<u8> = env.optional("CERT_AUTHORITY", "base64 of a PEM certificate");
        let err = env.finish().unwrap_err().to_string();
        assert!(!err.contains("not-base64"), "{err}");
        assert!(
            err.contains("CERT_AUTHORITY=<12 characters> is invalid"),
            "{err}"
        );
    }

    #[test]
    fn cross_field_problems_join_the_list() {
        let mut env = Env::from_pairs([("MIN", "5"), ("MAX", "2")]);
        let min: u32 = env.required("MIN", "n");
        let max: u32 = env.required("MAX", "n");
        if min > max {
            env.problem(format!("MIN ({min}) must not exceed MAX ({max})"));
        }
        assert_eq!(
            env.finish().unwrap_err().problems,
            ["MIN (5) must not exceed MAX (2)"]
        );
    }
}
