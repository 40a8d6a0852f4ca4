//! The control plane's components as processes: where their binaries are, and each one's
//! command line. [`Cluster::start`](super::Cluster::start) starts them in this order: etcd,
//! kube-apiserver, the token webhook ([`super::webhook`]), then the controllers.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::pki::Pki;
use super::{KWOK_NODE_ANNOTATION, START_DEADLINE, write};
use crate::harness::{Error, Result, Supervised, http_get};

/// The directory holding the control plane's binaries: `scripts/cluster-build.sh` builds
/// them on first use and prints where they are (at once when they are there).
pub fn binaries() -> Result<&'static Path> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("CLUSTER_BIN_DIR") {
            return Ok(PathBuf::from(dir));
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/cluster-build.sh"
        );
        let out = Command::new(script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{script}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{script} failed ({})", out.status));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
    .as_deref()
    .map_err(|e| Error::new(e.clone()))
}

pub(super) fn bin(name: &str) -> Result<PathBuf> {
    Ok(binaries()?.join(name))
}

/// etcd: no fsync (test data), one member on loopback. Returned once healthy, with its
/// client URL.
pub(super) fn etcd(dir: &Path, [client, peer]: [u16; 2]) -> Result<(Supervised, String)> {
    let etcd_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut etcd = Supervised::spawn_wrapped(
        "etcd",
        bin("etcd")?.as_os_str(),
        [
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ],
    )?;
    etcd.wait_until(START_DEADLINE, || {
        http_get(&format!("{etcd_url}/health"))
            .ok()
            .filter(|(s, _)| *s == 200)
    })?;
    Ok((etcd, etcd_url))
}

/// The token webhook kube-apiserver asks: its kubeconfig, and how long an answer is kept.
pub(super) struct TokenWebhook<'a> {
    pub kubeconfig: &'a Path,
    pub cache_ttl: Duration,
}

/// kube-apiserver on `127.0.0.1:port`: RBAC, the static `admin_token` (`system:masters`),
/// the token webhook when there is one, service accounts signed with the cluster's key.
/// Returned started, not yet ready.
pub(super) fn kube_apiserver(
    dir: &Path,
    pki: &Pki,
    port: u16,
    etcd_url: &str,
    admin_token: &str,
    webhook: Option<TokenWebhook<'_>>,
) -> Result<Supervised> {
    let tokens = dir.join("tokens.csv");
    write(
        &tokens,
        &format!("{admin_token},admin,admin-uid,\"system:masters\"\n"),
    )?;
    let mut args = vec![
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", pki.apiserver_cert.display()),
        format!("--tls-private-key-file={}", pki.apiserver_key.display()),
        format!("--client-ca-file={}", pki.ca.display()),
        format!("--token-auth-file={}", tokens.display()),
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", pki.sa_pub.display()),
        format!(
            "--service-account-signing-key-file={}",
            pki.sa_key.display()
        ),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--enable-priority-and-fairness=false".into(),
        "--profiling=false".into(),
        "--v=0".into(),
    ];
    if let Some(w) = webhook {
        args.push(format!(
            "--authentication-token-webhook-config-file={}",
            w.kubeconfig.display()
        ));
        args.push(format!(
            "--authentication-token-webhook-cache-ttl={}s",
            w.cache_ttl.as_secs()
        ));
    }
    Supervised::spawn_wrapped("kube-apiserver", bin("kube-apiserver")?.as_os_str(), args)
}

/// The controllers, in start order, each talking to kube-apiserver as admin: the controller
/// manager, the scheduler, and KWOK running the nodes annotated `KWOK_NODE_ANNOTATION=fake`.
pub(super) fn controllers(admin_kubeconfig: &Path, pki: &Pki) -> Result<Vec<Supervised>> {
    let kubeconfig_arg = format!("--kubeconfig={}", admin_kubeconfig.display());
    Ok(vec![
        Supervised::spawn_wrapped(
            "kube-controller-manager",
            bin("kube-controller-manager")?.as_os_str(),
            [
                kubeconfig_arg.clone(),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--controllers=*".into(),
                format!("--root-ca-file={}", pki.ca.display()),
                format!(
                    "--service-account-private-key-file={}",
                    pki.sa_key.display()
                ),
                "--use-service-account-credentials=false".into(),
                "--v=0".into(),
            ],
        )?,
        Supervised::spawn_wrapped(
            "kube-scheduler",
            bin("kube-scheduler")?.as_os_str(),
            [
                kubeconfig_arg.clone(),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--v=0".into(),
            ],
        )?,
        Supervised::spawn_wrapped(
            "kwok",
            bin("kwok")?.as_os_str(),
            [
                kubeconfig_arg,
                "--manage-all-nodes=false".into(),
                format!("--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake"),
                "--cidr=10.244.0.1/16".into(),
                "--node-lease-duration-seconds=40".into(),
                "--v=0".into(),
            ],
        )?,
    ])
}
