//! aws-iam-authenticator in server mode: kube-apiserver's token webhook, with EKS's two
//! sources of identities, access entries (its `DynamicFile` backend, fed by the EKS API
//! stand-in) and the cluster's `aws-auth` ConfigMap (`EKSConfigMap`), in that order.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::components::bin;
use super::{ClusterConfig, START_DEADLINE, pki, sts_tls, write};
use crate::harness::{Error, Result, Supervised};

/// Where the access entries are written for the authenticator's `DynamicFile` backend.
pub(super) fn access_entries_file(dir: &Path) -> PathBuf {
    dir.join("access-entries.json")
}

/// The access entries as aws-iam-authenticator's `DynamicFile` mapping (what EKS's own
/// authenticator is fed), written whole and renamed into place so a reader never sees half.
/// A role is mapped by its ARN without path, as the authenticator canonicalises an assumed
/// role; a user by its ARN.
pub(super) fn write_access_entries(file: &Path, entries: &[super::eks_api::AccessEntry]) {
    let mut roles = Vec::new();
    let mut users = Vec::new();
    for e in entries {
        match e.principal_arn.split_once(":role/") {
            Some((prefix, rest)) => {
                let name = rest.rsplit('/').next().unwrap_or(rest);
                roles.push(json!({"rolearn": format!("{prefix}:role/{name}"),
                    "username": e.username, "groups": e.kubernetes_groups}));
            }
            None => users.push(json!({"userarn": e.principal_arn,
                "username": e.username, "groups": e.kubernetes_groups})),
        }
    }
    let doc = json!({"Version": jiff::Timestamp::now().as_millisecond().to_string(),
        "LastUpdatedDateTime": jiff::Timestamp::now().as_second().to_string(),
        "mapRoles": roles, "mapUsers": users, "mapAccounts": []});
    let tmp = file.with_extension("json.tmp");
    if std::fs::write(&tmp, doc.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// aws-iam-authenticator in server mode, prepared before the API server starts.
pub(super) struct Webhook {
    dir: PathBuf,
    pub kubeconfig: PathBuf,
    port: u16,
    gateway: SocketAddr,
    sts_host: String,
    sts_cert: (String, String),
    ca: PathBuf,
    access_entries: PathBuf,
}

impl Webhook {
    /// The webhook will listen on `port`, chosen with the control plane's other ports.
    pub fn prepare(
        dir: &Path,
        pki: &pki::Pki,
        gateway: &str,
        sts_host: &str,
        port: u16,
    ) -> Result<Webhook> {
        let gateway: SocketAddr = gateway
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::new(format!("STS gateway {gateway}: {e}")))?;
        write_access_entries(&access_entries_file(dir), &[]);
        let state = dir.join("authenticator");
        std::fs::create_dir_all(&state).map_err(|e| Error::new(format!("{state:?}: {e}")))?;
        let (cert, key) = pki.webhook_cert()?;
        write(&state.join("cert.pem"), &cert)?;
        write(&state.join("key.pem"), &key)?;
        let kubeconfig = state.join("webhook.kubeconfig");
        write(
            &kubeconfig,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: aws-iam-authenticator\n  cluster:\n    server: https://127.0.0.1:{port}/authenticate\n    certificate-authority: {}\nusers:\n- name: apiserver\ncontexts:\n- name: webhook\n  context: {{cluster: aws-iam-authenticator, user: apiserver}}\ncurrent-context: webhook\n",
                pki.ca.display()
            ),
        )?;
        Ok(Webhook {
            dir: state,
            kubeconfig,
            port,
            gateway,
            sts_host: sts_host.to_owned(),
            sts_cert: (pki.sts_cert_pem.clone(), pki.sts_key_pem.clone()),
            ca: pki.ca.clone(),
            access_entries: access_entries_file(dir),
        })
    }

    pub fn start(
        self,
        admin_kubeconfig: &Path,
        cfg: &ClusterConfig,
    ) -> Result<(Supervised, sts_tls::StsTls)> {
        let sts = sts_tls::start(&self.sts_cert.0, &self.sts_cert.1, self.gateway)?;
        let hosts = self.dir.join("hosts");
        write(
            &hosts,
            &format!("127.0.0.1 localhost\n{} {}\n", sts.ip, self.sts_host),
        )?;
        let config = self.dir.join("config.yaml");
        write(
            &config,
            &format!(
                "clusterID: {}\nserver:\n  port: {}\n  address: 127.0.0.1\n  hostname: 127.0.0.1\n  stateDir: {}\n  kubeconfig: {}\n  kubeconfigPregenerated: true\n  generateKubeconfig: {}\n  backendMode: [DynamicFile, EKSConfigMap]\n  dynamicfilepath: {}\n  partition: aws\n",
                cfg.cluster_name,
                self.port,
                self.dir.display(),
                admin_kubeconfig.display(),
                self.kubeconfig.display(),
                self.access_entries.display(),
            ),
        )?;
        // A mount namespace of its own, where /etc/hosts names the STS forwarder.
        let mut command = Supervised::wrapped_command("unshare");
        command
            .args([
                "--mount",
                "sh",
                "-c",
                "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
            ])
            .arg(&hosts)
            .arg(bin("aws-iam-authenticator")?)
            .args(["server", "--config"])
            .arg(&config)
            .env("SSL_CERT_FILE", &self.ca)
            .env("AWS_REGION", &cfg.region)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let mut process = Supervised::spawn("aws-iam-authenticator", command)?;
        let port = self.port;
        process.wait_until(START_DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        Ok((process, sts))
    }
}
