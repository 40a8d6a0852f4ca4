//! Listing every object of a kind, a page at a time.
use kube::Api;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

/// Objects per page: the API server's work per call stays bounded however many objects
/// exist, and a few hundred custom resources still take one call.
pub const PAGE: u32 = 500;

/// Every object `api` lists, following `continue` tokens; `on_call` runs before each call
/// (the functions count their API calls).
pub async fn all<K>(api: &Api<K>, mut on_call: impl FnMut()) -> Result<Vec<K>, kube::Error>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut all = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        on_call();
        let page = api.list(&params).await?;
        all.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(all),
        }
    }
}
