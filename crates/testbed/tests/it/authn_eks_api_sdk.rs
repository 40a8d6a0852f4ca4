//! The cluster's EKS API stand-in (served by the front under `/clusters/…`) through
//! aws-sdk-eks over HTTPS: what iam-sync and the functions' DescribeCluster use with
//! `AWS_ENDPOINT_URL_EKS` pointed at [`Cluster::url`].
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_eks::Client;
use aws_sdk_eks::operation::create_access_entry::CreateAccessEntryError;
use aws_sdk_eks::operation::delete_access_entry::DeleteAccessEntryError;
use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryError;
use aws_sdk_eks::types::AccessEntry;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use base64::Engine;
use testbed::harness::{Cluster, ClusterConfig};

const ROLE: &str = "arn:aws:iam::123456789012:role/team/iam-sync";

async fn eks_client(tb: &Cluster) -> Client {
    let tls = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(tb.ca_pem().as_bytes()),
        )
        .build()
        .unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(tb.region().to_owned()))
        .endpoint_url(tb.url())
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(http)
        .load()
        .await;
    Client::new(&cfg)
}

/// The access-entry calls on one cluster, each answering the entry or the service error,
/// so that the test says only what it sends and what comes back.
struct Entries<'a> {
    eks: &'a Client,
    cluster: &'a str,
}

impl Entries<'_> {
    async fn create(
        &self,
        principal: &str,
        groups: &[&str],
    ) -> Result<AccessEntry, CreateAccessEntryError> {
        let out = self
            .eks
            .create_access_entry()
            .cluster_name(self.cluster)
            .principal_arn(principal)
            // None when empty: the request then has no `kubernetesGroups` at all.
            .set_kubernetes_groups(
                (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect()),
            )
            .send()
            .await
            .map_err(|e| e.into_service_error())?;
        Ok(out.access_entry.expect("the created entry"))
    }

    async fn describe(&self, principal: &str) -> Result<AccessEntry, DescribeAccessEntryError> {
        let out = self
            .eks
            .describe_access_entry()
            .cluster_name(self.cluster)
            .principal_arn(principal)
            .send()
            .await
            .map_err(|e| e.into_service_error())?;
        Ok(out.access_entry.expect("the described entry"))
    }

    async fn delete(&self, principal: &str) -> Result<(), DeleteAccessEntryError> {
        self.eks
            .delete_access_entry()
            .cluster_name(self.cluster)
            .principal_arn(principal)
            .send()
            .await
            .map_err(|e| e.into_service_error())?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_eks_manages_access_entries_and_describes_the_cluster() {
    let tb = Cluster::start(ClusterConfig::default()).await.unwrap();
    let eks = eks_client(&tb).await;
    let name = tb.cluster_name().to_string();
    let entries = Entries {
        eks: &eks,
        cluster: &name,
    };

    let cluster = eks.describe_cluster().name(&name).send().await.unwrap();
    let c = cluster.cluster().unwrap();
    assert_eq!(c.endpoint(), Some(tb.url()));
    assert_eq!(c.status(), Some(&aws_sdk_eks::types::ClusterStatus::Active));
    let ca = base64::engine::general_purpose::STANDARD
        .decode(c.certificate_authority().unwrap().data().unwrap())
        .unwrap();
    assert_eq!(ca, tb.ca_pem().as_bytes());
    assert!(c.created_at().is_some());
    let e = eks
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");

    // Create (a role ARN with a path, URL-encoded by the SDK in later calls).
    let entry = entries.create(ROLE, &["iam-sync"]).await.unwrap();
    assert_eq!(entry.principal_arn(), Some(ROLE));
    assert_eq!(entry.kubernetes_groups(), ["iam-sync".to_string()]);
    assert_eq!(entry.r#type(), Some("STANDARD"));
    assert_eq!(
        entry.username(),
        Some("arn:aws:sts::123456789012:assumed-role/iam-sync/{{SessionName}}")
    );
    assert!(entry.created_at().is_some() && entry.modified_at().is_some());

    let e = entries.create(ROLE, &[]).await.unwrap_err();
    assert!(e.is_resource_in_use_exception(), "{e:?}");
    let e = entries
        .create("arn:aws:iam::123456789012:role/x", &["system:masters"])
        .await
        .unwrap_err();
    assert!(e.is_invalid_parameter_exception(), "{e:?}");

    let got = entries.describe(ROLE).await.unwrap();
    assert_eq!(got.kubernetes_groups(), ["iam-sync".to_string()]);

    let updated = eks
        .update_access_entry()
        .cluster_name(&name)
        .principal_arn(ROLE)
        .kubernetes_groups("a")
        .kubernetes_groups("b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.access_entry().unwrap().kubernetes_groups(),
        ["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        tb.eks_api().access_entries()[0].kubernetes_groups,
        vec!["a".to_string(), "b".to_string()]
    );

    // Paginated listing through the SDK's paginator.
    for i in 0..4 {
        entries
            .create(&format!("arn:aws:iam::123456789012:user/u{i}"), &[])
            .await
            .unwrap();
    }
    let pages: Vec<_> = eks
        .list_access_entries()
        .cluster_name(&name)
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let all: Vec<String> = pages
        .iter()
        .flat_map(|p| p.access_entries().to_vec())
        .collect();
    assert_eq!(all.len(), 5);
    assert!(all.contains(&ROLE.to_string()));

    entries.delete(ROLE).await.unwrap();
    let e = entries.describe(ROLE).await.unwrap_err();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = entries.delete(ROLE).await.unwrap_err();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
}
