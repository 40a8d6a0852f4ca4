//! Where `eks-token` takes its region and credentials from, with the AWS CLI's precedence:
//!
//! - `--profile P`: that profile's credentials, even when `AWS_ACCESS_KEY_ID` is set (the
//!   CLI drops the environment link when a profile is given on the command line);
//! - else keys in the environment;
//! - else the default chain: the profile `AWS_PROFILE` names (or `default`) — static keys,
//!   `role_arn`/`source_profile`, IAM Identity Center (`sso_session`, legacy `sso_start_url`),
//!   `credential_process` —, web identity, the container and instance metadata services.
//!
//! Region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
//! `--role-arn` is assumed with session name [`SESSION_NAME`], the AWS CLI's, so audit logs
//! show the same identity whichever of the two made the token.
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

use super::cache::Key;

/// `aws eks get-token --role-arn`'s RoleSessionName (awscli `customizations/eks/get_token.py`).
pub const SESSION_NAME: &str = "EKSGetTokenAuth";

/// Which link of the chain gives the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `--profile`.
    Profile(String),
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// The default chain, starting at the profile `AWS_PROFILE` names (or `default`).
    Chain { profile: String },
}

impl Origin {
    pub fn new(profile_flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(p) = profile_flag {
            return Origin::Profile(p.to_owned());
        }
        if set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some() {
            return Origin::Environment;
        }
        Origin::Chain {
            profile: set("AWS_PROFILE").unwrap_or_else(|| "default".into()),
        }
    }

    /// The profile whose settings (region, SSO, roles) apply, if one does.
    pub fn profile(&self) -> Option<&str> {
        match self {
            Origin::Profile(p) | Origin::Chain { profile: p } => Some(p),
            Origin::Environment => None,
        }
    }

    /// The credential cache's key, when the cache applies: never for keys in the
    /// environment, which can change between two runs and cost no round trip.
    pub fn cache_key(&self, role_arn: Option<&str>) -> Option<Key> {
        Some(Key {
            profile: self.profile()?.to_owned(),
            role_arn: role_arn.map(str::to_owned),
        })
    }
}

/// The region: the flag, the environment, else the profile's (never the instance metadata
/// service: a laptop would wait for it).
pub async fn region(
    flag: Option<String>,
    origin: &Origin,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| env(v).filter(|r| !r.trim().is_empty()));
    if let Some(region) = flag.or(from_env) {
        return Ok(region);
    }
    let mut profile = ProfileFileRegionProvider::builder();
    if let Some(p) = origin.profile() {
        profile = profile.profile_name(p);
    }
    profile
        .build()
        .region()
        .await
        .map(|r| r.to_string())
        .ok_or_else(|| {
            "missing region: pass --region, set AWS_REGION or the profile's region".into()
        })
}

/// The SDK config for `region` whose credentials are `origin`'s.
pub async fn sdk_config(origin: &Origin, region: &str) -> SdkConfig {
    let http = lambda_support::aws::http_client();
    let region = Region::new(region.to_owned());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http.clone())
        .region(region.clone());
    if let Some(p) = origin.profile() {
        loader = loader.profile_name(p);
    }
    match origin {
        Origin::Profile(p) => {
            let conf = ProviderConfig::without_region()
                .with_region(Some(region))
                .with_http_client(http);
            loader.credentials_provider(
                ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .configure(&conf)
                    .build(),
            )
        }
        Origin::Environment => {
            loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
        }
        Origin::Chain { .. } => loader,
    }
    .load()
    .await
}

/// The credentials tokens are signed with: `sdk`'s, or `role_arn` assumed with them.
pub async fn credentials(
    sdk: &SdkConfig,
    role_arn: Option<&str>,
) -> Option<SharedCredentialsProvider> {
    let base = sdk.credentials_provider()?;
    Some(match role_arn {
        None => base,
        Some(role) => SharedCredentialsProvider::new(
            aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(SESSION_NAME)
                .configure(sdk)
                .build()
                .await,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_the_aws_clis() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        let keys_and_profile = [keys[0], keys[1], ("AWS_PROFILE", "ci")];
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], Origin);
        let cases: [Case; 6] = [
            // The flag beats keys in the environment; AWS_PROFILE does not.
            (Some("dev"), &keys, Origin::Profile("dev".into())),
            (None, &keys_and_profile, Origin::Environment),
            (None, &keys, Origin::Environment),
            (
                None,
                &[("AWS_PROFILE", "ci")],
                Origin::Chain {
                    profile: "ci".into(),
                },
            ),
            (
                None,
                &[],
                Origin::Chain {
                    profile: "default".into(),
                },
            ),
            // A half-set pair is not the environment link (the SDK skips it too).
            (
                None,
                &[("AWS_ACCESS_KEY_ID", "AKIA")],
                Origin::Chain {
                    profile: "default".into(),
                },
            ),
        ];
        for (flag, env, want) in cases {
            let got = Origin::new(flag, |k| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            });
            assert_eq!(got, want, "{flag:?} {env:?}");
        }
    }

    #[test]
    fn the_cache_is_keyed_by_profile_and_role_and_never_for_environment_keys() {
        let role = Some("arn:aws:iam::1:role/r");
        assert_eq!(Origin::Environment.cache_key(role), None);
        assert_eq!(
            Origin::Profile("dev".into()).cache_key(role),
            Some(Key {
                profile: "dev".into(),
                role_arn: role.map(Into::into)
            })
        );
        assert_eq!(
            Origin::Chain {
                profile: "default".into()
            }
            .cache_key(None),
            Some(Key {
                profile: "default".into(),
                role_arn: None
            })
        );
    }
}
