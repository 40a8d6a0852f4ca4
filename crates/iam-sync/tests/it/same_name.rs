//! The opt-in "same name" mapping (`sameNameGroups: "true"` in the mapping ConfigMap): every
//! IAM group gives the Kubernetes group of its own name, as the original copied the IAM group
//! name into `mapUsers`, with no per-group configuration; explicit entries still win, and
//! `system:` groups are still refused.
use k8s_openapi::api::core::v1::ConfigMap;

use crate::support::{self, FUNCTION, Identities, scheduled, user_arn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_groups_need_no_per_group_configuration() {
    let w = support::world().await;
    // Only the opt-in: no mapGroups at all.
    let api = kube::Api::<ConfigMap>::namespaced(w.admin.clone(), "kube-system");
    set_mapping(&api, "  sameNameGroups: \"true\"\n").await;

    for g in ["Platform-Admins", "ops"] {
        w.group(g).await;
    }
    w.user("bob", "/").await;
    let bob_arn = user_arn("/bob");
    let _function = w.spawn(FUNCTION, &[]);

    // An event of any group: the Kubernetes group of its name, as IAM spells it.
    let summary = w
        .invoke(FUNCTION, &w.add("bob", "Platform-Admins").await)
        .expect("add");
    assert_eq!(summary["decision"], "applied", "{summary}");
    assert_eq!(
        w.groups_of(&bob_arn).await,
        Some(vec!["Platform-Admins".to_owned()])
    );
    let record = w.record("bob", "Platform-Admins").await.expect("record");
    // `-` in a name: the original's `<user>-<group>` could be ambiguous, so a hash follows.
    let name = record.metadata.name.clone().unwrap();
    assert!(name.starts_with("bob-platform-admins-"), "{name}");
    assert_eq!(record.spec.iam_groups, ["Platform-Admins"]);
    assert_eq!(
        record.status.unwrap().kubernetes_groups,
        ["Platform-Admins"]
    );

    // A missed join heals at the resync, which reads every IAM group.
    w.join("bob", "ops").await;
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(summary["changes"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(
        w.groups_of(&bob_arn).await,
        Some(vec!["Platform-Admins".to_owned(), "ops".to_owned()])
    );

    // Removal: the group of that name goes; the hand-written entry keeps its system:masters.
    w.invoke(FUNCTION, &w.remove("bob", "Platform-Admins").await)
        .expect("remove");
    assert_eq!(w.groups_of(&bob_arn).await, Some(vec!["ops".to_owned()]));
    assert_eq!(
        w.groups_of(&user_arn("/ops")).await,
        Some(vec!["system:masters".to_owned()])
    );

    // An explicit entry wins for its group; system: is refused even with the opt-in, and a
    // value other than true/false is named.
    for (data, expected) in [
        (
            "  sameNameGroups: \"true\"\n  mapGroups: |\n    - iamGroup: ops\n      kubernetesGroups: [system:masters]\n",
            "\"system:masters\" is not allowed",
        ),
        (
            "  sameNameGroups: \"yes\"\n",
            "data.sameNameGroups \"yes\" is invalid (expected \"true\" or \"false\")",
        ),
    ] {
        set_mapping(&api, data).await;
        let err = w
            .invoke(FUNCTION, &scheduled("us-east-1"))
            .expect_err("refused");
        // cargo lambda wraps the message in a box: compare its words.
        let words = err.replace('│', " ");
        let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(expected), "{err}");
        assert!(words.contains("MappingInvalid"), "{err}");
    }
    assert_eq!(
        w.groups_of(&bob_arn).await,
        Some(vec!["ops".to_owned()]),
        "a refused mapping changes nothing"
    );
    set_mapping(
        &api,
        "  sameNameGroups: \"true\"\n  mapGroups: |\n    - iamGroup: ops\n      kubernetesGroups: [operators]\n",
    )
    .await;
    w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(
        w.groups_of(&bob_arn).await,
        Some(vec!["operators".to_owned()])
    );
}

/// Replaces the mapping ConfigMap's data with `data` (YAML lines under `data:`): a plain
/// update, so no key of the world's mapping survives.
async fn set_mapping(api: &kube::Api<ConfigMap>, data: &str) {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: iam-sync-groups, namespace: kube-system}}\ndata:\n{data}"
    );
    let wanted: ConfigMap = serde_saphyr::from_str(&text).expect("ConfigMap YAML");
    let mut cm = api.get("iam-sync-groups").await.unwrap();
    cm.data = wanted.data;
    api.replace("iam-sync-groups", &Default::default(), &cm)
        .await
        .unwrap();
}
