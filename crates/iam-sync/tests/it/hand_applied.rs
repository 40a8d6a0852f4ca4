//! IamUserGroups applied by hand, as with the original operator: inputs that map their user,
//! never deleted or overwritten by any resync, unmapped when deleted; records of someone else
//! (another `managed-by`, the original's Lambda) left alone and reported; records an earlier
//! iam-sync wrote converged. End to end: the real binary, moto IAM, the real control plane
//! and the users' own tokens through aws-iam-authenticator.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_ops::crd::iam_user_group::IamUserGroup;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use testbed::harness::manifests::{Subject, grant};
use testbed::world::World;

use crate::support::{self, FUNCTION, Identities, abilities_become, scheduled, user_arn};

const FINALIZER: &str = "k8s-lambda.dev/iam-sync";

/// An IamUserGroup of kube-system in the original's shape, with `labels`.
fn record(name: &str, labels: Value, iam_user: &str, username: &str, groups: &[&str]) -> String {
    json!({
        "apiVersion": "octank.com/v1", "kind": "IamUserGroup",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {"iamUser": iam_user, "username": username, "iamGroups": groups}
    })
    .to_string()
}

/// What no resync may change of a record it does not own: its labels, spec and generation.
async fn untouched(w: &World, name: &str) -> (Value, Value, Option<i64>) {
    let r = w
        .record_named(name)
        .await
        .unwrap_or_else(|| panic!("{name} is gone"));
    (
        json!(r.metadata.labels),
        json!(r.spec),
        r.metadata.generation,
    )
}

fn api(w: &World) -> Api<IamUserGroup> {
    Api::namespaced(w.admin.clone(), "kube-system")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_applied_records_are_mapped_survive_every_resync_and_unmap_when_deleted() {
    let w = support::world().await;
    w.group("developers").await;
    for (user, path) in [("viji", "/"), ("alice", "/eng/"), ("carol", "/")] {
        w.user(user, path).await;
    }
    w.join("alice", "developers").await;
    w.join("carol", "developers").await;
    let (viji_arn, alice_arn, carol_arn) = (
        user_arn("/viji"),
        user_arn("/eng/alice"),
        user_arn("/carol"),
    );
    // The original's group `developers` may read pods, as its rbac-developers.yaml allowed.
    let pods = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]);
    w.cluster
        .load_yaml(&grant(
            None,
            "developers-read",
            pods,
            Subject::Group("developers"),
        ))
        .unwrap();

    // The original's sample, unchanged: viji (by ARN) as viji in Kubernetes group developers.
    w.apply("infra/k8s/samples/iam-usergroup.yaml");
    let hand = [
        // alice by name: IAM knows her path; a group of her own joins IAM's.
        record("alice-oncall", json!({}), "alice", "alice", &["oncall"]),
        // Someone else's (Helm), and invalid: a role, system:masters.
        record(
            "helm-admin",
            json!({"app.kubernetes.io/managed-by": "Helm"}),
            "arn:aws:iam::123456789012:role/admin",
            "admin",
            &["system:masters"],
        ),
        // What the original's Lambda wrote for carol's membership: no label, and the very name
        // iam-sync gives its own record of that membership.
        record(
            "carol-developers",
            json!(null),
            &carol_arn,
            "carol",
            &["developers"],
        ),
        // The per-user record an earlier iam-sync wrote: iam-sync's, to converge.
        record(
            "alice",
            json!({"app.kubernetes.io/managed-by": "iam-sync"}),
            "alice",
            "alice",
            &["developers"],
        ),
    ];
    for r in &hand {
        w.cluster.load_yaml(r).unwrap();
    }
    let unowned = [
        "viji-developers",
        "alice-oncall",
        "helm-admin",
        "carol-developers",
    ];
    let mut before = BTreeMap::new();
    for name in unowned {
        before.insert(name, untouched(&w, name).await);
    }
    let viji = w.client_as("viji").await;
    let mut function = w.spawn(FUNCTION, &[]);

    for run in 0..3 {
        let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
        let counts = |k: &str| summary[k].as_u64();
        assert_eq!(
            (
                counts("unownedRecords"),
                counts("invalidRecords"),
                counts("skippedRecords")
            ),
            (Some(4), Some(1), Some(1)),
            "run {run}: {summary}"
        );
        if run > 0 {
            assert_eq!(summary["decision"], "unchanged", "run {run}: {summary}");
            assert_eq!(
                summary["records"], 0,
                "run {run}: a steady resync writes nothing"
            );
        }
        // Never deleted, never overwritten: labels, spec, generation as applied.
        for name in unowned {
            assert_eq!(untouched(&w, name).await, before[name], "run {run}: {name}");
        }
        // Mapped: the records' groups, with IAM's for the same user (one entry, the union).
        let users = w.map_users().await;
        let entry = |arn: &str| {
            users.iter().find(|(a, _, _)| a == arn).map(|(_, u, g)| {
                let mut g = g.clone();
                g.sort();
                (u.clone(), g)
            })
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(entry(&viji_arn), Some(("viji".into(), s(&["developers"]))));
        assert_eq!(
            entry(&alice_arn),
            Some(("alice".into(), s(&["dev-readers", "oncall"])))
        );
        assert_eq!(
            entry(&carol_arn),
            Some(("carol".into(), s(&["dev-readers", "developers"])))
        );
        // iam-sync's own record for alice; the earlier per-user one converged away.
        let own = w
            .record("alice", "developers")
            .await
            .expect("alice-developers");
        assert_eq!(own.spec.iam_user, alice_arn);
        assert!(w.record_named("alice").await.is_none(), "run {run}");
    }

    // Statuses say what was applied, or why not; the spec stays as written.
    let status = |r: IamUserGroup| r.status.unwrap_or_default();
    let sample = w.record_named("viji-developers").await.unwrap();
    assert!(
        sample
            .metadata
            .finalizers
            .unwrap()
            .contains(&FINALIZER.to_owned())
    );
    let s = status(w.record_named("viji-developers").await.unwrap());
    assert_eq!(
        (
            s.user_arn.as_deref(),
            s.kubernetes_groups.as_slice(),
            s.error
        ),
        (
            Some(viji_arn.as_str()),
            &["developers".to_owned()][..],
            None
        )
    );
    let s = status(w.record_named("alice-oncall").await.unwrap());
    assert_eq!(
        s.user_arn.as_deref(),
        Some(alice_arn.as_str()),
        "name → ARN with path"
    );
    let s = status(w.record_named("helm-admin").await.unwrap());
    let error = s.error.expect("an error");
    assert!(
        error.starts_with("spec.iamUser: expected an IAM user ARN"),
        "{error}"
    );
    assert!(s.user_arn.is_none() && s.kubernetes_groups.is_empty());
    // …and the log, one line naming the record and the field.
    let line = function
        .wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["decision"] == "record_invalid" && v["fields"]["record"] == "helm-admin"
        })
        .expect("a record_invalid line");
    assert!(
        line["fields"]["error"]
            .as_str()
            .unwrap()
            .starts_with("spec.iamUser"),
        "{line}"
    );

    // The user's own token: the sample's group grants what the original's RBAC allowed.
    abilities_become(&viji, (Ok(()), Err(403)), "viji through the sample").await;

    // An event judges alice's entry with her hand-applied groups: IAM's go, hers stay.
    let summary = w
        .invoke(FUNCTION, &w.remove("alice", "developers").await)
        .expect("remove");
    assert_eq!(summary["unownedRecords"], 4, "{summary}");
    assert_eq!(
        w.groups_of(&alice_arn).await,
        Some(vec!["oncall".to_owned()])
    );
    assert!(w.record("alice", "developers").await.is_none());

    // Deleting the sample unmaps viji at the next resync; until then the record stays
    // (Terminating) and says what is still applied.
    api(&w)
        .delete("viji-developers", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = w.record_named("viji-developers").await.expect("held");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert!(w.groups_of(&viji_arn).await.is_some());
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(summary["changes"][0]["action"], "delete", "{summary}");
    assert_eq!(w.groups_of(&viji_arn).await, None);
    w.until_record_gone("viji-developers").await;
    abilities_become(&viji, (Err(401), Err(401)), "viji after the delete").await;

    // Handing the original Lambda's record to iam-sync (its label): the next resync makes it
    // iam-sync's record of carol's membership and withdraws what it gave as an input.
    w.cluster
        .load_yaml(&record(
            "carol-developers",
            json!({"k8s-lambda.dev/managed-by": "iam-sync"}),
            &carol_arn,
            "carol",
            &["developers"],
        ))
        .unwrap();
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(
        (
            summary["unownedRecords"].as_u64(),
            summary["skippedRecords"].as_u64()
        ),
        (Some(2), Some(0)),
        "{summary}"
    );
    assert_eq!(
        w.groups_of(&carol_arn).await,
        Some(vec!["dev-readers".to_owned()])
    );
    let handed = w.record("carol", "developers").await.unwrap();
    let finalizers = handed.metadata.finalizers.clone().unwrap_or_default();
    assert!(
        !finalizers.contains(&FINALIZER.to_owned()),
        "{finalizers:?}"
    );
    assert_eq!(status(handed).kubernetes_groups, ["dev-readers"]);
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(summary["decision"], "unchanged", "{summary}");
    assert_eq!(summary["records"], 0, "{summary}");
    // The invalid one of someone else is still there, as applied.
    assert_eq!(untouched(&w, "helm-admin").await, before["helm-admin"]);
}

/// With access entries the sample maps viji the same way, and deleting it removes the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_applied_records_in_access_entries() {
    let w = support::world().await;
    w.group("developers").await;
    w.user("viji", "/").await;
    let viji_arn = user_arn("/viji");
    w.apply("infra/k8s/samples/iam-usergroup.yaml");
    let _function = w.spawn(FUNCTION, &[("BACKEND", "access-entries")]);
    let entry = |arn: &str| w.access_entry(arn);
    for _ in 0..2 {
        w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
        assert_eq!(
            entry(&viji_arn),
            Some(("viji".to_owned(), vec!["developers".to_owned()]))
        );
    }
    let s = w
        .record_named("viji-developers")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(s.backend.as_deref(), Some("access-entries"));
    api(&w)
        .delete("viji-developers", &DeleteParams::default())
        .await
        .unwrap();
    w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(entry(&viji_arn), None);
    w.until_record_gone("viji-developers").await;
}
