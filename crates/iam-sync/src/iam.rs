//! IAM, the referee: a user's groups (GetUser + ListGroupsForUser) for an event, the members of
//! a group (GetGroup) for the resync, a user's ARN path (GetUser) for a hand-applied record
//! that names its user, and, with same-name groups, the account's groups (ListGroups). Every
//! page is read; each call is counted.
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::decide::IamUser;
use lambda_support::aws::LazyClient;

#[derive(Debug, thiserror::Error)]
#[error("IAM {operation} {name}: {message}")]
pub struct IamError {
    pub operation: &'static str,
    pub name: String,
    pub message: String,
}

pub struct Iam {
    client: LazyClient<aws_sdk_iam::Client>,
    pub calls: AtomicU64,
}

fn no_such_entity<E: ProvideErrorMetadata>(e: &aws_sdk_iam::error::SdkError<E>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "NoSuchEntity")
}

impl Iam {
    pub fn new(client: impl Into<LazyClient<aws_sdk_iam::Client>>) -> Iam {
        Iam {
            client: client.into(),
            calls: AtomicU64::new(0),
        }
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The user and all its groups; `None` when IAM does not know the user (deleted).
    pub async fn user(&self, name: &str) -> Result<Option<IamUser>, IamError> {
        let err = |operation, e: &dyn std::error::Error| IamError {
            operation,
            name: name.to_owned(),
            message: DisplayErrorContext(e).to_string(),
        };
        self.count();
        let user = match self.client.get_user().user_name(name).send().await {
            Ok(out) => out.user.ok_or_else(|| IamError {
                operation: "GetUser",
                name: name.to_owned(),
                message: "answer without a user".into(),
            })?,
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(err("GetUser", &e)),
        };
        let mut groups = Vec::new();
        let mut marker = None;
        loop {
            self.count();
            let out = match self
                .client
                .list_groups_for_user()
                .user_name(name)
                .set_marker(marker.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if no_such_entity(&e) => return Ok(None),
                Err(e) => return Err(err("ListGroupsForUser", &e)),
            };
            groups.extend(out.groups.into_iter().map(|g| g.group_name));
            match (out.is_truncated, out.marker) {
                (true, Some(m)) => marker = Some(m),
                _ => break,
            }
        }
        Ok(Some(IamUser {
            name: user.user_name,
            path: user.path,
            groups,
        }))
    }

    /// The user's name as IAM spells it and its path; `None` when IAM does not know it.
    pub async fn find(&self, name: &str) -> Result<Option<(String, String)>, IamError> {
        self.count();
        match self.client.get_user().user_name(name).send().await {
            Ok(out) => Ok(out.user.map(|u| (u.user_name, u.path))),
            Err(e) if no_such_entity(&e) => Ok(None),
            Err(e) => Err(IamError {
                operation: "GetUser",
                name: name.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            }),
        }
    }

    /// The names of every IAM group of the account.
    pub async fn groups(&self) -> Result<Vec<String>, IamError> {
        let mut groups = Vec::new();
        let mut marker = None;
        loop {
            self.count();
            let out = self
                .client
                .list_groups()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| IamError {
                    operation: "ListGroups",
                    name: "(account)".to_owned(),
                    message: DisplayErrorContext(&e).to_string(),
                })?;
            groups.extend(out.groups.into_iter().map(|g| g.group_name));
            match (out.is_truncated, out.marker) {
                (true, Some(m)) => marker = Some(m),
                _ => break,
            }
        }
        Ok(groups)
    }

    /// The members of a group as (name, path); `None` when the group does not exist.
    pub async fn members(&self, group: &str) -> Result<Option<Vec<(String, String)>>, IamError> {
        let mut members = Vec::new();
        let mut marker = None;
        loop {
            self.count();
            let out = match self
                .client
                .get_group()
                .group_name(group)
                .set_marker(marker.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if no_such_entity(&e) => return Ok(None),
                Err(e) => {
                    return Err(IamError {
                        operation: "GetGroup",
                        name: group.to_owned(),
                        message: DisplayErrorContext(&e).to_string(),
                    });
                }
            };
            members.extend(out.users.into_iter().map(|u| (u.user_name, u.path)));
            match (out.is_truncated, out.marker) {
                (true, Some(m)) => marker = Some(m),
                _ => break,
            }
        }
        Ok(Some(members))
    }
}
