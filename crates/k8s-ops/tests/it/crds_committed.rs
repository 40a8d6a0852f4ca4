//! The committed CRD YAML is what the Rust types generate: edit the types, then run
//! `cargo run -p k8s-ops --bin crdgen`.
use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/k8s/crds");
    let mut expected: Vec<String> = Vec::new();
    for crd in k8s_ops::crd::all() {
        let name = k8s_ops::crd::file_name(&crd);
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}; run `cargo run -p k8s-ops --bin crdgen`"));
        assert_eq!(
            committed,
            k8s_ops::crd::to_yaml(&crd),
            "{name} is stale; run `cargo run -p k8s-ops --bin crdgen`"
        );
        expected.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "a CRD file no type generates");
}
