//! Static service-account bearer tokens, as a self-managed (k3s) cluster accepts the token
//! of a service-account token Secret: tests register a token for a service account
//! ([`super::Testbed::add_static_token`]) and revoke or replace it
//! ([`super::Testbed::remove_static_token`]) to exercise rotation.
//!
//! A registered token authenticates as `system:serviceaccount:<ns>:<name>` in the groups
//! `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`; RBAC
//! then applies as for any service account. An unknown or removed token falls through to
//! the EKS-token verifier, which answers 401.
use std::collections::HashMap;
use std::sync::RwLock;

use super::authn::UserInfo;

/// The service account a static token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
}

impl ServiceAccountRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceAccountRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The user the API server sees for this service account's tokens.
    pub fn user(&self) -> UserInfo {
        let username = format!("system:serviceaccount:{}:{}", self.namespace, self.name);
        UserInfo {
            uid: username.clone(),
            username,
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", self.namespace),
                "system:authenticated".into(),
            ],
            extra_arn: None,
        }
    }
}

/// Token → service account. `Debug` shows how many, never the tokens.
#[derive(Default)]
pub struct StaticTokens {
    tokens: RwLock<HashMap<String, ServiceAccountRef>>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTokens")
            .field("count", &self.read().len())
            .finish()
    }
}

impl StaticTokens {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ServiceAccountRef>> {
        self.tokens.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers (or re-points) `token`.
    pub fn insert(&self, token: &str, sa: ServiceAccountRef) {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), sa);
    }

    /// Revokes `token`; `false` if it was not registered.
    pub fn remove(&self, token: &str) -> bool {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token)
            .is_some()
    }

    /// The user `token` authenticates as, if registered.
    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        self.read().get(token).map(ServiceAccountRef::user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_service_accounts_until_removed() {
        let t = StaticTokens::default();
        assert_eq!(t.lookup("tok"), None);
        t.insert(
            "tok",
            ServiceAccountRef::new("kube-system", "node-autoscaler"),
        );
        let u = t.lookup("tok").unwrap();
        assert_eq!(
            u.username,
            "system:serviceaccount:kube-system:node-autoscaler"
        );
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated"
            ]
        );
        assert_eq!(format!("{t:?}"), "StaticTokens { count: 1 }");
        // Re-pointing a token, then revoking it.
        t.insert("tok", ServiceAccountRef::new("default", "other"));
        assert_eq!(
            t.lookup("tok").unwrap().username,
            "system:serviceaccount:default:other"
        );
        assert!(t.remove("tok"));
        assert!(!t.remove("tok"));
        assert_eq!(t.lookup("tok"), None);
    }
}
