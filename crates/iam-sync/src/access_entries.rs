//! The EKS access-entry backend: an IAM user's entry is a STANDARD access entry whose
//! principal is the user's ARN, with `kubernetesGroups` and the username iam-sync gives.
//! Entries are read, planned and written one by one; a write that finds another writer got
//! there first (ResourceInUse on create, NotFound on update) re-reads and re-plans.
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::decide::{Change, Identity};
use lambda_support::aws::LazyClient;

#[derive(Debug, thiserror::Error)]
#[error("EKS {operation} {principal}: {message}")]
pub struct EksError {
    pub operation: &'static str,
    pub principal: String,
    pub message: String,
    /// Another writer got there first (ResourceInUse on create, NotFound on update/delete):
    /// re-read and re-decide.
    pub raced: bool,
}

/// EKS access-entry races (create vs create) re-read this many times in all.
const MAX_ATTEMPTS: u32 = 4;

/// The entries a plan judges.
#[derive(Clone, Copy, Debug)]
pub enum Entries<'a> {
    /// One principal's.
    Of(&'a str),
    /// Every entry whose principal ARN starts with this prefix (ignoring case).
    Under(&'a str),
}

pub struct AccessEntries {
    client: LazyClient<aws_sdk_eks::Client>,
    cluster: String,
    pub calls: AtomicU64,
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

impl AccessEntries {
    pub fn new(client: impl Into<LazyClient<aws_sdk_eks::Client>>, cluster: &str) -> AccessEntries {
        AccessEntries {
            client: client.into(),
            cluster: cluster.to_owned(),
            calls: AtomicU64::new(0),
        }
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        principal: &str,
        e: SdkError<E>,
        raced_code: &str,
    ) -> EksError {
        EksError {
            operation,
            principal: principal.to_owned(),
            raced: code(&e) == Some(raced_code),
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    /// The entry of `arn`, if any.
    pub async fn describe(&self, arn: &str) -> Result<Option<Identity>, EksError> {
        self.count();
        match self
            .client
            .describe_access_entry()
            .cluster_name(&self.cluster)
            .principal_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.access_entry.map(|e| Identity {
                arn: e.principal_arn.unwrap_or_else(|| arn.to_owned()),
                username: e.username.unwrap_or_default(),
                groups: e.kubernetes_groups.unwrap_or_default(),
            })),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(Self::error("DescribeAccessEntry", arn, e, "")),
        }
    }

    /// Principal ARNs of every entry starting with `prefix` (ignoring case), every page.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, EksError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            self.count();
            let out = self
                .client
                .list_access_entries()
                .cluster_name(&self.cluster)
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Self::error("ListAccessEntries", &self.cluster, e, ""))?;
            let lower = prefix.to_ascii_lowercase();
            arns.extend(
                out.access_entries
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| a.to_ascii_lowercase().starts_with(&lower)),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(arns)
    }

    /// Every user entry under `prefix`, described.
    pub async fn observed(&self, prefix: &str) -> Result<Vec<Identity>, EksError> {
        let mut out = Vec::new();
        for arn in self.list(prefix).await? {
            out.extend(self.describe(&arn).await?);
        }
        Ok(out)
    }

    pub async fn read(&self, entries: Entries<'_>) -> Result<Vec<Identity>, EksError> {
        match entries {
            Entries::Of(arn) => Ok(self.describe(arn).await?.into_iter().collect()),
            Entries::Under(prefix) => self.observed(prefix).await,
        }
    }

    /// Reads `entries`, asks `plan(observed)` for the changes and applies them; when a change
    /// met another writer, starts over from a fresh read, so `plan` always judges what it
    /// replaces. With `dry_run`, plans once and writes nothing. Returns the changes and the
    /// attempts made.
    pub async fn converge(
        &self,
        entries: Entries<'_>,
        dry_run: bool,
        mut plan: impl FnMut(&[Identity]) -> Vec<Change>,
    ) -> Result<(Vec<Change>, u32), EksError> {
        let mut attempt = 1;
        loop {
            let changes = plan(&self.read(entries).await?);
            if dry_run {
                return Ok((changes, attempt));
            }
            let mut raced = false;
            for c in &changes {
                match self.apply(c).await {
                    Ok(()) => {}
                    Err(e) if e.raced && attempt < MAX_ATTEMPTS => {
                        tracing::info!(
                            arn = c.arn(),
                            attempt,
                            "access entry changed under us; re-reading"
                        );
                        raced = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !raced {
                return Ok((changes, attempt));
            }
            attempt += 1;
        }
    }

    pub async fn apply(&self, change: &Change) -> Result<(), EksError> {
        self.count();
        match change {
            Change::Create { to } => self
                .client
                .create_access_entry()
                .cluster_name(&self.cluster)
                .principal_arn(&to.arn)
                .username(&to.username)
                .set_kubernetes_groups(Some(to.groups.clone()))
                .r#type("STANDARD")
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    Self::error("CreateAccessEntry", &to.arn, e, "ResourceInUseException")
                }),
            Change::Update { to, .. } => self
                .client
                .update_access_entry()
                .cluster_name(&self.cluster)
                .principal_arn(&to.arn)
                .set_kubernetes_groups(Some(to.groups.clone()))
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    Self::error("UpdateAccessEntry", &to.arn, e, "ResourceNotFoundException")
                }),
            Change::Delete { from } => match self
                .client
                .delete_access_entry()
                .cluster_name(&self.cluster)
                .principal_arn(&from.arn)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // Already gone: what we wanted.
                Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
                Err(e) => Err(Self::error("DeleteAccessEntry", &from.arn, e, "")),
            },
        }
    }
}
