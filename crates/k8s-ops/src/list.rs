//! Listing every object of a kind, a page at a time.
use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Objects per page: the API server's work per call stays bounded however many objects
/// exist, and a few hundred custom resources still take one call.
pub const PAGE: u32 = 500;

/// A list call failed; the message names the kind (`listing K8sMetricAlarms: …`).
#[derive(Debug, thiserror::Error)]
#[error("listing {kind}s: {source}")]
pub struct ListError {
    pub kind: String,
    #[source]
    pub source: kube::Error,
}

/// Every object `api` lists, following `continue` tokens; `on_call` runs before each call
/// (the functions count their API calls).
pub async fn all<K>(api: &Api<K>, mut on_call: impl FnMut()) -> Result<Vec<K>, ListError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut all = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        on_call();
        let page = api.list(&params).await.map_err(|source| ListError {
            kind: K::kind(&()).into_owned(),
            source,
        })?;
        all.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(all),
        }
    }
}
