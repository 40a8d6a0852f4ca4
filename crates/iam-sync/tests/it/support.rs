//! iam-sync's world: the shared [`World`] with this function deployed (its RBAC file and
//! the IamUserGroup CRD only; tokens verified by aws-iam-authenticator against moto's STS,
//! identities from access entries and aws-auth, never cached, so that a revoked identity's
//! next request is refused; the EKS access-entry API stand-in in the cluster's front), a
//! group mapping with RBAC for the mapped groups, an aws-auth other tools wrote; and what only
//! its tests need: IAM users and groups, their CloudTrail events, what a user may do.
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_ops::crd::iam_user_group::{IamUserGroup, record_name_for};
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use testbed::harness::eventually;
use testbed::harness::manifests::{Subject, grant};
use testbed::world::{ACCOUNT, CLUSTER, World};

pub const FUNCTION: &str = "iam-sync";

/// The aws-auth keys other tools own: iam-sync must give them back byte for byte.
pub const MAP_ROLES: &str = "- rolearn: arn:aws:iam::123456789012:role/iam-sync\n  username: iam-sync\n  groups: [\"lambda:iam-sync\"]\n# nodes, kept as the node group wrote them\n- rolearn: arn:aws:iam::123456789012:role/nodes\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n";
pub const MAP_USERS: &str = "# hand-written: the on-call admin\n- userarn: arn:aws:iam::123456789012:user/ops\n  username: ops     # keep this comment\n  groups:\n    - system:masters\n";

/// The group mapping: IAM group `developers` maps to `dev-readers`, `QA` to `qa-editors`
/// (and namespace `qa`, where `qa-editors` may write).
const MAPPING: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: qa}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: iam-sync-groups, namespace: kube-system}
data:
  mapGroups: |
    - iamGroup: developers
      kubernetesGroups: [dev-readers]
    - iamGroup: QA
      kubernetesGroups: [qa-editors]
"#;

/// The group mapping and the RBAC the mapped groups get: `dev-readers` may read pods
/// cluster-wide; `qa-editors` may edit ConfigMaps in `qa`.
fn mapping_and_rbac() -> String {
    let pods = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]);
    let configmaps = json!([
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create"]}
    ]);
    let readers = grant(None, "pod-reader", pods, Subject::Group("dev-readers"));
    let editors = grant(
        Some("qa"),
        "cm-editor",
        configmaps,
        Subject::Group("qa-editors"),
    );
    format!("{MAPPING}---\n{readers}---\n{editors}")
}

pub async fn world() -> World {
    let aws_auth = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "aws-auth", "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "eksctl", "team": "platform"},
            "annotations": {"note": "edited by hand and by iam-sync"}
        },
        "data": {"mapRoles": MAP_ROLES, "mapUsers": MAP_USERS, "mapAccounts": "[]\n"}
    });
    let w = World::builder()
        .function(FUNCTION)
        .manifests([
            "infra/k8s/crds/iamusergroups.octank.com.yaml",
            "infra/k8s/rbac/iam-sync.yaml",
        ])
        // The tests revoke identities (a user leaves every mapped group) and expect the
        // user's next request refused: kube-apiserver must ask the webhook every time
        // rather than keep its answer for EKS's 2 minutes.
        .token_cache_ttl(Duration::ZERO)
        .eks_api()
        .yaml(mapping_and_rbac())
        .yaml(aws_auth.to_string())
        .start()
        .await;
    // The authenticator picks aws-auth up through a watch: the function's own identity
    // works (and its Role is in force) before any test invokes it.
    let function = w
        .cluster
        .kube_client_with_token(&eks_token(w.credentials(FUNCTION)));
    eventually(
        "iam-sync's execution role reads its group mapping",
        Duration::from_secs(30),
        async || {
            Api::<ConfigMap>::namespaced(function.clone(), "kube-system")
                .get("iam-sync-groups")
                .await
                .ok()
                .map(drop)
        },
    )
    .await;
    w
}

/// What iam-sync's tests do with the world.
pub trait Identities {
    fn iam(&self) -> aws_sdk_iam::Client;
    async fn group(&self, name: &str);
    async fn user(&self, name: &str, path: &str);
    /// Adds `user` to `group` in IAM only: no event (one EventBridge missed).
    async fn join(&self, user: &str, group: &str);
    /// Removes `user` from `group` in IAM only.
    async fn leave(&self, user: &str, group: &str);
    /// Changes IAM, then returns the CloudTrail event EventBridge would deliver for it.
    async fn add(&self, user: &str, group: &str) -> Value;
    async fn remove(&self, user: &str, group: &str) -> Value;
    async fn aws_auth(&self) -> ConfigMap;
    /// `mapUsers` of aws-auth as (userarn, username, groups).
    async fn map_users(&self) -> Vec<(String, String, Vec<String>)>;
    /// The groups of `arn`'s mapUsers entry (None: no entry).
    async fn groups_of(&self, arn: &str) -> Option<Vec<String>>;
    /// The record iam-sync writes for `user`'s membership of IAM group `group`.
    async fn record(&self, user: &str, group: &str) -> Option<IamUserGroup>;
    /// The `IamUserGroup` `name` of kube-system, whoever wrote it.
    async fn record_named(&self, name: &str) -> Option<IamUserGroup>;
    async fn records(&self) -> Vec<IamUserGroup>;
    /// Waits until the record `name` is gone (its finalizer released after a delete).
    async fn until_record_gone(&self, name: &str);
    /// `arn`'s EKS access entry as (username, Kubernetes groups), if it has one.
    fn access_entry(&self, arn: &str) -> Option<(String, Vec<String>)>;
    /// A kube client authenticating as the IAM user (an access key made in moto, an EKS
    /// token presigned with it, verified by aws-iam-authenticator through moto's STS).
    async fn client_as(&self, user: &str) -> kube::Client;
    /// Waits until the API server's RBAC authorizer answers `allowed` for iam-sync's
    /// identity (group `lambda:iam-sync`) doing `verb` on what `rule` names in kube-system:
    /// a changed Role reaches the authorizer through its informer, a moment after the write.
    async fn until_iam_sync_may(
        &self,
        verb: &str,
        rule: &k8s_openapi::api::rbac::v1::PolicyRule,
        allowed: bool,
    );
}

impl Identities for World {
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.aws)
    }

    async fn group(&self, name: &str) {
        self.iam()
            .create_group()
            .group_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("group {name}: {e:?}"));
    }

    async fn user(&self, name: &str, path: &str) {
        self.iam()
            .create_user()
            .user_name(name)
            .path(path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("user {name}: {e:?}"));
    }

    async fn join(&self, user: &str, group: &str) {
        self.iam()
            .add_user_to_group()
            .user_name(user)
            .group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("AddUserToGroup {user} {group}: {e:?}"));
    }

    async fn leave(&self, user: &str, group: &str) {
        self.iam()
            .remove_user_from_group()
            .user_name(user)
            .group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("RemoveUserFromGroup {user} {group}: {e:?}"));
    }

    async fn add(&self, user: &str, group: &str) -> Value {
        self.join(user, group).await;
        cloudtrail("AddUserToGroup", user, group, "us-east-1")
    }

    async fn remove(&self, user: &str, group: &str) -> Value {
        self.leave(user, group).await;
        cloudtrail("RemoveUserFromGroup", user, group, "us-east-1")
    }

    async fn aws_auth(&self) -> ConfigMap {
        Api::<ConfigMap>::namespaced(self.admin.clone(), "kube-system")
            .get("aws-auth")
            .await
            .expect("aws-auth")
    }

    async fn map_users(&self) -> Vec<(String, String, Vec<String>)> {
        let cm = self.aws_auth().await;
        let text = cm
            .data
            .unwrap_or_default()
            .remove("mapUsers")
            .unwrap_or_default();
        let v: Value = serde_saphyr::from_str(&text).expect("mapUsers is YAML");
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["userarn"].as_str().unwrap_or("").to_owned(),
                    e["username"].as_str().unwrap_or("").to_owned(),
                    e["groups"]
                        .as_array()
                        .map(|g| g.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn groups_of(&self, arn: &str) -> Option<Vec<String>> {
        self.map_users()
            .await
            .into_iter()
            .find(|(a, _, _)| a == arn)
            .map(|(_, _, mut g)| {
                g.sort();
                g
            })
    }

    async fn record(&self, user: &str, group: &str) -> Option<IamUserGroup> {
        self.record_named(&record_name_for(user, group)).await
    }

    async fn record_named(&self, name: &str) -> Option<IamUserGroup> {
        Api::<IamUserGroup>::namespaced(self.admin.clone(), "kube-system")
            .get_opt(name)
            .await
            .expect("record")
    }

    async fn until_record_gone(&self, name: &str) {
        eventually(
            &format!("the deleted record {name} goes"),
            Duration::from_secs(10),
            async || self.record_named(name).await.is_none().then_some(()),
        )
        .await;
    }

    fn access_entry(&self, arn: &str) -> Option<(String, Vec<String>)> {
        self.cluster
            .eks_api()
            .access_entries()
            .into_iter()
            .find(|e| e.principal_arn == arn)
            .map(|e| (e.username, e.kubernetes_groups))
    }

    async fn records(&self) -> Vec<IamUserGroup> {
        Api::<IamUserGroup>::namespaced(self.admin.clone(), "kube-system")
            .list(&ListParams::default())
            .await
            .expect("records")
            .items
    }

    async fn client_as(&self, user: &str) -> kube::Client {
        let key = self
            .iam()
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .expect("access key")
            .access_key
            .expect("key");
        let creds = Credentials::new(key.access_key_id, key.secret_access_key, None, None, "user");
        self.cluster.kube_client_with_token(&eks_token(&creds))
    }

    async fn until_iam_sync_may(
        &self,
        verb: &str,
        rule: &k8s_openapi::api::rbac::v1::PolicyRule,
        allowed: bool,
    ) {
        let resource = &rule.resources.as_ref().expect("resources")[0];
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
            None => (resource.clone(), None),
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(FUNCTION.into()),
                groups: Some(vec![
                    "lambda:iam-sync".into(),
                    "system:authenticated".into(),
                ]),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some("kube-system".into()),
                    verb: Some(verb.into()),
                    group: rule.api_groups.as_ref().and_then(|g| g.first().cloned()),
                    resource: Some(resource),
                    subresource,
                    name: rule
                        .resource_names
                        .as_ref()
                        .and_then(|n| n.first().cloned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api = Api::<SubjectAccessReview>::all(self.admin.clone());
        eventually(
            &format!("RBAC: iam-sync may {verb} {:?} = {allowed}", rule.resources),
            Duration::from_secs(30),
            async || {
                api.create(&Default::default(), &review)
                    .await
                    .ok()
                    .and_then(|r| r.status)
                    .is_some_and(|s| s.allowed == allowed)
                    .then_some(())
            },
        )
        .await;
    }
}

/// An EKS token for `creds` (a user's access key, an assumed role), signed for the cluster
/// and verified by aws-iam-authenticator through moto's STS.
fn eks_token(creds: &Credentials) -> String {
    eks_auth::presign(
        creds,
        CLUSTER,
        "us-east-1",
        &eks_auth::StsEndpoint::regional("us-east-1"),
        SystemTime::now(),
    )
    .expect("token")
    .token
    .expose()
    .to_owned()
}

/// Polls [`abilities`] until they are `want`, within a deadline: what iam-sync wrote reaches
/// aws-iam-authenticator asynchronously (a watch of aws-auth, a file of access entries), as
/// it does on EKS. Fails with the last answer.
pub async fn abilities_become(
    client: &kube::Client,
    want: (Result<(), u16>, Result<(), u16>),
    what: &str,
) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = abilities(client).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{what}: abilities {got:?}, expected {want:?} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the user may do, as the API server answers: (list pods, create a ConfigMap in `qa`),
/// each `Ok` or the HTTP status code.
pub async fn abilities(client: &kube::Client) -> (Result<(), u16>, Result<(), u16>) {
    let code = |e: kube::Error| match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API answer: {other}"),
    };
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(drop)
        .map_err(code);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"generateName": "probe-", "namespace": "qa"}, "data": {"a": "b"}
    }))
    .unwrap();
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "qa")
        .create(&Default::default(), &cm)
        .await
        .map(drop)
        .map_err(code);
    (pods, cms)
}

pub fn cloudtrail(event_name: &str, user: &str, group: &str, region: &str) -> Value {
    let partition = match region {
        r if r.starts_with("us-gov-") => "aws-us-gov",
        r if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    };
    json!({
        "version": "0",
        "id": format!("eb-{event_name}-{user}-{group}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": jiff::Timestamp::now().to_string(),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:{partition}:iam::{ACCOUNT}:user/admin"), "accountId": ACCOUNT, "userName": "admin"},
            "eventTime": jiff::Timestamp::now().to_string(),
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": {"groupName": group, "userName": user},
            "responseElements": null,
            "eventID": format!("ct-{event_name}-{user}-{group}"),
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT
        }
    })
}

pub fn scheduled(region: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("resync-{}", jiff::Timestamp::now().as_millisecond()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": jiff::Timestamp::now().to_string(),
        "region": region,
        "resources": [],
        "detail": {}
    })
}

pub fn user_arn(path_and_name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user{path_and_name}")
}
