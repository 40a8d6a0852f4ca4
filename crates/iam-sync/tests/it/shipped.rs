//! What ships beside the binary: the IAM policy names exactly the API operations the code
//! calls, and the samples apply to the generated CRD.
use std::collections::BTreeSet;
use std::path::Path;

use testbed::harness::{Cluster, ClusterConfig};
use testbed::world::repo;

/// `service:Operation` for every `.client.<operation>()` in the adapter of that service.
fn operations_called() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (file, service) in [("src/iam.rs", "iam"), ("src/access_entries.rs", "eks")] {
        let text: String =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
                .unwrap()
                .split_whitespace()
                .collect();
        for call in text.split(".client.").skip(1) {
            let op = call.split('(').next().unwrap();
            let pascal: String = op
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            out.insert(format!("{service}:{pascal}"));
        }
    }
    out
}

#[test]
fn the_iam_policy_lists_exactly_the_operations_called() {
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("infra/iam/iam-sync.json")).unwrap())
            .unwrap();
    let listed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let called = operations_called();
    assert_eq!(called.len(), 9, "{called:?}");
    assert_eq!(listed, called);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_samples_apply_to_the_generated_crd() {
    // A real control plane: its own `view` ClusterRole, which the mapping sample binds.
    let tb = Cluster::start(ClusterConfig {
        manifests: vec![
            repo("infra/k8s/crds/iamusergroups.octank.com.yaml"),
            repo("infra/k8s/rbac/iam-sync.yaml"),
            repo("infra/k8s/samples/iam-usergroup.yaml"),
            repo("infra/k8s/samples/iam-sync-groups.yaml"),
        ],
        ..Default::default()
    })
    .await
    .expect("cluster with the samples");
    assert!(
        tb.get("clusterroles", "", "view").is_some(),
        "the sample binds the cluster's own view"
    );
    // The original's shape, unchanged: the ARN, the groups, the username.
    let record = tb
        .get("iamusergroups.octank.com", "kube-system", "viji-developers")
        .unwrap();
    assert_eq!(
        record["spec"],
        serde_json::json!({
            "iamUser": "arn:aws:iam::123456789012:user/viji",
            "iamGroups": ["developers"],
            "username": "viji"
        })
    );
    let mapping = tb
        .get("configmaps", "kube-system", "iam-sync-groups")
        .unwrap();
    let text = mapping["data"]["mapGroups"].as_str().unwrap();
    assert!(text.contains("iamGroup: developers"), "{text}");
}
