//! Writes every CRD of the suite to `infra/k8s/crds/` (or the directory given).
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/k8s/crds"));
    std::fs::create_dir_all(&dir)?;
    for crd in k8s_ops::crd::all() {
        let path = dir.join(k8s_ops::crd::file_name(&crd));
        std::fs::write(&path, k8s_ops::crd::to_yaml(&crd))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
