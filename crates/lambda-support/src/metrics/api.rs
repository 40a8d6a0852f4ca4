//! Counting AWS requests where they all pass: the process's one HTTPS client
//! ([`crate::aws::http_client`]). The service is the SDK's own name for it, from the
//! `api/<service>/<version>` part of the `x-amz-user-agent` header every SDK request
//! carries.
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// Wraps a connector so that each request is counted with [`super::api_call`].
#[derive(Debug)]
pub struct Counting(pub SharedHttpConnector);

impl HttpConnector for Counting {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let service = service_of(request.headers().get("x-amz-user-agent"));
        let call = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let result = call.await;
            let failed = result
                .as_ref()
                .map_or(true, |r| failed(r.status().as_u16()));
            super::api_call(service.as_deref().unwrap_or("aws"), failed);
            result
        })
    }
}

/// Whether an answer counts as an API error: the service failed, throttled or refused us.
/// 404 and 409 are answers the functions act on (an object not there yet, a conflict that
/// is re-read), not failures.
pub fn failed(status: u16) -> bool {
    status >= 400 && status != 404 && status != 409
}

/// `sqs` from `aws-sdk-rust/1.3 ua/2.1 api/sqs/1.90.0 os/linux …`.
fn service_of(user_agent: Option<&str>) -> Option<String> {
    let token = user_agent?
        .split(' ')
        .find_map(|t| t.strip_prefix("api/"))?;
    let service = token.split(['/', '#']).next()?;
    Some(service.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_the_sdks_name_in_the_user_agent() {
        let ua = "aws-sdk-rust/1.3.9 ua/2.1 api/sqs/1.90.0 os/linux lang/rust/1.90.0";
        assert_eq!(service_of(Some(ua)).as_deref(), Some("sqs"));
        let ua = "aws-sdk-rust/1.3.9 api/dynamodb#1.2 os/linux";
        assert_eq!(service_of(Some(ua)).as_deref(), Some("dynamodb"));
        assert_eq!(service_of(Some("curl/8")), None);
        assert_eq!(service_of(None), None);
    }

    #[test]
    fn not_found_and_conflict_are_answers_not_errors() {
        let errors: Vec<u16> = [200, 204, 400, 401, 403, 404, 409, 429, 500, 503]
            .into_iter()
            .filter(|s| failed(*s))
            .collect();
        assert_eq!(errors, [400, 401, 403, 429, 500, 503]);
    }
}
