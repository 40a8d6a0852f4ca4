//! A refusal (403) turned into the RBAC grant the function lacks, named as a rule would name
//! it: `needs `get` on `deployments/scale` (API group "apps") in namespace web`. The
//! original's role granted `*` on `deployments`, which covers no subresource; the message
//! says so when the missing grant is on one.
use std::fmt;

/// One grant of `infra/k8s/rbac/alarm-scaler.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// One verb, or those of a step that uses several (`get` and `update`).
    pub verbs: &'static [&'static str],
    /// `deployments/scale`, `k8smetricalarms`, … (a target's scale: any kind's).
    pub resource: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// `None`: in every namespace (a cluster-wide list).
    pub namespace: Option<String>,
}

impl Grant {
    pub fn new(
        verbs: &'static [&'static str],
        resource: impl Into<String>,
        group: impl Into<String>,
        namespace: Option<String>,
    ) -> Grant {
        Grant {
            verbs,
            resource: resource.into(),
            group: group.into(),
            namespace,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verbs: Vec<String> = self.verbs.iter().map(|v| format!("`{v}`")).collect();
        write!(
            f,
            "{} on `{}` (API group \"{}\")",
            verbs.join(" and "),
            self.resource,
            self.group
        )?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => f.write_str(" in every namespace"),
        }
    }
}

/// A refusal of the API server, with the grant that would have allowed the call.
#[derive(Debug, thiserror::Error)]
#[error(
    "forbidden: alarm-scaler needs {grant}, as infra/k8s/rbac/alarm-scaler.yaml grants it{note}; \
     the API server said: {message}",
    note = subresource_note(&grant.resource)
)]
pub struct Forbidden {
    pub grant: Grant,
    pub message: String,
}

fn subresource_note(resource: &str) -> String {
    match resource.split_once('/') {
        Some((parent, sub)) => {
            format!(" (a rule on `{parent}`, even `*`, does not cover its `{sub}` subresource)")
        }
        None => String::new(),
    }
}

/// `error` as a [`Forbidden`] naming `grant` when it is a 403; else `error` back.
pub fn forbidden(error: kube::Error, grant: Grant) -> Result<Forbidden, kube::Error> {
    match error {
        kube::Error::Api(s) if s.code == 403 => Ok(Forbidden {
            grant,
            message: s.message.clone(),
        }),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_grant_and_a_subresource_says_what_does_not_cover_it() {
        let cases = [
            (
                Grant::new(&["get"], "deployments/scale", "apps", Some("web".into())),
                "forbidden: alarm-scaler needs `get` on `deployments/scale` (API group \"apps\") \
                 in namespace web, as infra/k8s/rbac/alarm-scaler.yaml grants it (a rule on \
                 `deployments`, even `*`, does not cover its `scale` subresource); the API \
                 server said: no",
            ),
            (
                Grant::new(
                    &["list"],
                    "k8smetricalarms",
                    "containerinsights.eks.com",
                    None,
                ),
                "forbidden: alarm-scaler needs `list` on `k8smetricalarms` (API group \
                 \"containerinsights.eks.com\") in every namespace, as \
                 infra/k8s/rbac/alarm-scaler.yaml grants it; the API server said: no",
            ),
            (
                Grant::new(
                    &["get", "update"],
                    "deployments/scale",
                    "apps",
                    Some("a".into()),
                ),
                "needs `get` and `update` on `deployments/scale`",
            ),
        ];
        for (grant, want) in cases {
            let got = Forbidden {
                grant,
                message: "no".into(),
            }
            .to_string();
            assert!(got.contains(want), "{got}");
        }
    }

    #[test]
    fn only_a_403_is_a_refusal() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure(&format!("code {code}"), "x")
                    .with_code(code)
                    .boxed(),
            )
        };
        let grant = Grant::new(&["patch"], "deployments", "apps", Some("web".into()));
        let refused = forbidden(api(403), grant.clone()).unwrap();
        assert_eq!(refused.message, "code 403");
        assert!(forbidden(api(404), grant.clone()).is_err());
        assert!(forbidden(api(500), grant).is_err());
    }
}
