//! The Resource Groups Tagging API, for one question: which CloudWatch alarms carry this
//! cluster's marker tag, with all their tags. One paginated call instead of a
//! ListTagsForResource per alarm in the account, so garbage collection stays cheap however
//! many other alarms the account holds.
use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_resourcegroupstagging::types::TagFilter;

use crate::decide::Marked;
use lambda_support::aws::LazyClient;

#[derive(Debug, thiserror::Error)]
#[error("Resource Groups Tagging GetResources: {0}")]
pub struct TaggingError(pub String);

pub struct Tagging {
    client: LazyClient<Client>,
}

impl Tagging {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        Tagging {
            client: client.into(),
        }
    }

    /// The alarms tagged `key=value`.
    pub async fn alarms_tagged(&self, key: &str, value: &str) -> Result<Vec<Marked>, TaggingError> {
        let mut marked = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_resources()
                .resource_type_filters("cloudwatch:alarm")
                .tag_filters(TagFilter::builder().key(key).values(value).build())
                .set_pagination_token(token)
                .send()
                .await
                .map_err(|e| {
                    TaggingError(match e.as_service_error() {
                        Some(s) => format!(
                            "{}: {}",
                            s.code().unwrap_or("error"),
                            s.message().unwrap_or("")
                        ),
                        None => DisplayErrorContext(&e).to_string(),
                    })
                })?;
            for resource in page.resource_tag_mapping_list() {
                let Some(arn) = resource.resource_arn() else {
                    continue;
                };
                // arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME (the name may contain ':').
                let Some((_, name)) = arn.split_once(":alarm:") else {
                    continue;
                };
                let tags = resource
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect::<BTreeMap<_, _>>();
                marked.push(Marked {
                    arn: arn.to_owned(),
                    name: name.to_owned(),
                    tags,
                });
            }
            token = page
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(Into::into);
            if token.is_none() {
                break;
            }
        }
        Ok(marked)
    }
}
