//! That no secret reached any process's output: every credential handed to a function (its
//! secret access key and session token), every bearer token a client sent to the cluster
//! (EKS tokens, service-account tokens) and the X-Amz-Signature each EKS token carries,
//! searched for raw, base64- (standard and URL-safe, padded or not) and URL-encoded in the
//! complete output of every process this test process started
//! ([`crate::harness::process::outputs`]), those already stopped included.
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::World;
use crate::harness::{process, query_escape};

/// A value that must appear in no output, and what it is (for the report).
#[derive(Clone, Debug)]
pub struct Secret {
    pub what: String,
    pub value: String,
}

impl Secret {
    pub fn new(what: impl Into<String>, value: impl Into<String>) -> Secret {
        Secret {
            what: what.into(),
            value: value.into(),
        }
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Leaks {
    /// Processes and lines searched.
    pub processes: usize,
    pub lines: usize,
    /// Secrets searched for, and the forms searched for in all.
    pub secrets: usize,
    pub forms: usize,
    /// `<process>: <secret> (<encoding>)` for every secret found.
    pub found: Vec<String>,
}

/// `value` in the forms a log could carry it in: raw, base64 (standard and URL-safe, with
/// and without padding) and URL-encoded (each distinct form once).
pub fn encodings(value: &str) -> Vec<(&'static str, String)> {
    let bytes = value.as_bytes();
    let mut forms: Vec<(&'static str, String)> = vec![
        ("raw", value.to_owned()),
        ("base64", STANDARD.encode(bytes)),
        ("base64 unpadded", STANDARD_NO_PAD.encode(bytes)),
        ("base64url", URL_SAFE.encode(bytes)),
        ("base64url unpadded", URL_SAFE_NO_PAD.encode(bytes)),
        ("URL-encoded", query_escape(value)),
    ];
    let mut seen = std::collections::BTreeSet::new();
    forms.retain(|(_, f)| seen.insert(f.clone()));
    forms
}

/// The secrets of a bearer token: itself and, for an EKS token (`k8s-aws-v1.` + base64url
/// of a presigned URL), the URL's X-Amz-Signature.
pub fn bearer_secrets(token: &str) -> Vec<Secret> {
    let mut secrets = vec![Secret::new("bearer token", token)];
    let signature = token
        .strip_prefix("k8s-aws-v1.")
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok())
        .and_then(|url| String::from_utf8(url).ok())
        .and_then(|url| {
            let (_, query) = url.split_once('?')?;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("X-Amz-Signature="))
                .map(str::to_owned)
        });
    if let Some(signature) = signature {
        secrets.push(Secret::new("X-Amz-Signature of an EKS token", signature));
    }
    secrets
}

/// Searches `outputs` ((process, output)) for every form of every secret.
pub fn search(outputs: &[(String, String)], secrets: &[Secret]) -> Leaks {
    let mut leaks = Leaks {
        processes: outputs.len(),
        lines: outputs.iter().map(|(_, o)| o.lines().count()).sum(),
        secrets: secrets.len(),
        ..Leaks::default()
    };
    for secret in secrets {
        for (encoding, form) in encodings(&secret.value) {
            leaks.forms += 1;
            for (process, output) in outputs {
                if output.contains(&form) {
                    leaks
                        .found
                        .push(format!("{process}: {} ({encoding})", secret.what));
                }
            }
        }
    }
    leaks
}

impl World {
    /// Every secret of this world's run: each function's secret access key and session
    /// token, every bearer token sent to the cluster so far and the signature in each EKS
    /// token, plus `more`.
    pub fn run_secrets(&self, more: &[Secret]) -> Vec<Secret> {
        let mut secrets: Vec<Secret> = self
            .functions
            .iter()
            .flat_map(|f| {
                let c = &f.credentials;
                let key = Secret::new(
                    format!("{}'s secret access key", f.name),
                    c.secret_access_key(),
                );
                let token = c
                    .session_token()
                    .map(|t| Secret::new(format!("{}'s session token", f.name), t));
                std::iter::once(key).chain(token)
            })
            .collect();
        for token in self.cluster.bearer_tokens() {
            secrets.extend(bearer_secrets(&token));
        }
        secrets.extend(more.iter().cloned());
        secrets
    }

    /// [`World::run_secrets`] searched for in the complete output of every process this
    /// test process started (stop the processes first, so that their output is complete).
    pub fn leaks(&self, more: &[Secret]) -> Leaks {
        search(&process::outputs(), &self.run_secrets(more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_found_and_named() {
        // Its base64 has `+` and `/` (base64url differs) and padding; raw and URL-encoded
        // differ by its `/`, `+` and `=`.
        let secret = "wJalr/K7+MDENG=?~~~abc";
        let forms = encodings(secret);
        assert_eq!(forms.len(), 6, "{forms:?}");
        let outputs: Vec<(String, String)> = forms
            .into_iter()
            .map(|(e, form)| (e.to_owned(), format!("line one\nkey: {form} end\n")))
            .collect();
        let leaks = search(&outputs, &[Secret::new("the key", secret)]);
        assert_eq!((leaks.processes, leaks.lines), (6, 12));
        for (process, _) in &outputs {
            assert!(
                leaks
                    .found
                    .iter()
                    .any(|f| f.starts_with(&format!("{process}: the key"))),
                "{process}: {:?}",
                leaks.found
            );
        }
        let clean = search(
            &[("p".into(), "nothing here".into())],
            &[Secret::new("k", secret)],
        );
        assert!(clean.found.is_empty());
    }

    #[test]
    fn an_eks_token_carries_its_signature() {
        let url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Signature=abc123&X-Amz-Date=1";
        let token = format!("k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url));
        let secrets = bearer_secrets(&token);
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[1].value, "abc123");
        assert_eq!(bearer_secrets("opaque").len(), 1);
    }
}
