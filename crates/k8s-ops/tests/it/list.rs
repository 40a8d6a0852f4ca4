//! `k8s_ops::list::all` against the real control plane: every object, a page at a time.
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use testbed::harness::{Cluster, ClusterConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_is_listed_across_pages_and_each_page_is_one_call() {
    let tb = Cluster::start(ClusterConfig::default())
        .await
        .expect("cluster starts");
    let n = 2 * k8s_ops::list::PAGE as usize + 1;
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: paged}\n".to_owned();
    let yaml: Vec<String> = std::iter::once(namespace)
        .chain((0..n)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:04}, namespace: paged}}\ndata: {{i: \"{i}\"}}\n")))
        .collect();
    tb.load_yaml(&yaml.join("---\n")).expect("config maps");
    let api: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "paged");

    let mut calls = 0;
    let all = k8s_ops::list::all(&api, || calls += 1).await.expect("list");
    assert_eq!(calls, 3, "{n} objects in pages of {}", k8s_ops::list::PAGE);
    let mut names: Vec<String> = all.into_iter().filter_map(|c| c.metadata.name).collect();
    let listed = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), listed, "no object twice");
    // The controller manager adds its kube-root-ca.crt to every namespace.
    names.retain(|name| name != "kube-root-ca.crt");
    assert_eq!(names.len(), n, "every object");
    assert_eq!(names.last().map(String::as_str), Some("cm-1000"));

    // An empty namespace: one call, nothing.
    let empty: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "nothing-here");
    let mut calls = 0;
    let none = k8s_ops::list::all(&empty, || calls += 1)
        .await
        .expect("list");
    assert_eq!((none.len(), calls), (0, 1));
}
