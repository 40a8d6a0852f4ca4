//! A real Kubernetes control plane, one per [`Cluster::start`]: etcd, kube-apiserver (RBAC
//! authorizer, default admission plugins, aws-iam-authenticator as its token webhook),
//! kube-controller-manager, kube-scheduler and KWOK's fake kubelets, built from the Go modules
//! pinned in `tools/cluster` (`scripts/cluster-build.sh`; their command lines are in
//! [`components`]). Every process is stopped when the `Cluster` is dropped, and when the test
//! process dies (see [`super::process`]).
//!
//! Authentication is EKS's: a bearer token `k8s-aws-v1.…` goes to aws-iam-authenticator
//! ([`webhook`]: identities from access entries, then from the cluster's own `aws-auth`
//! ConfigMap), which sends the presigned GetCallerIdentity to STS. The authenticator only
//! calls real STS hostnames, so it runs in a mount namespace of its own where
//! `sts.<region>.amazonaws.com` resolves to a loopback address served by [`sts_tls`] (TLS
//! from the cluster's CA, which the authenticator trusts through `SSL_CERT_FILE`), which
//! forwards to the moto gateway. A static admin token (`system:masters`, kube-apiserver's
//! `--token-auth-file`) serves set-up and assertions.
//!
//! Nodes are registered as a k3s agent would register them ([`NodeSpec`]) and run by KWOK:
//! Ready while KWOK keeps their heartbeat, pods bound to them become Running and Ready, and
//! deleted or evicted pods finish terminating, without containers.
//!
//! Clients reach kube-apiserver through [`front`], which adds what the control plane lacks:
//! fault injection ([`faults`]), a barrier for concurrency tests ([`barrier`]) and the EKS
//! API stand-in ([`eks_api`], under `/clusters/…`).
//! [`Cluster::kubeconfig_yaml`] gives kubectl a kubeconfig using the `eks-token` exec plugin.

mod arn;
pub mod barrier;
mod components;
pub mod eks_api;
pub mod faults;
mod front;
mod kubeconfig;
pub mod nodes;
mod objects;
mod pki;
mod sts_tls;
mod webhook;

pub use barrier::{Barrier, BarrierReport};
pub use components::binaries;
pub use faults::{FaultAction, FaultConfig, FaultRule, Served};
pub use nodes::NodeSpec;
pub use pki::other_ca_pem;

use components::TokenWebhook;
use webhook::{Webhook, access_entries_file, write_access_entries};

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Error, Result, Supervised};

/// How long the control plane may take to come up on a loaded 2-core machine.
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(120);

/// The annotation KWOK manages nodes by (its `--manage-nodes-with-annotation-selector`).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// How to start a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The EKS cluster name: tokens must be signed for it (`x-k8s-aws-id`).
    pub cluster_name: String,
    pub region: String,
    /// The moto gateway (`http://127.0.0.1:PORT`) that answers STS for the token webhook;
    /// `None` = no webhook (only the admin token authenticates).
    pub sts_gateway: Option<String>,
    /// Manifests applied (server-side) once the cluster is up: CRDs, RBAC, anything.
    pub manifests: Vec<PathBuf>,
    /// Nodes registered at start (Ready before `start` returns, unless not ready).
    pub nodes: Vec<NodeSpec>,
    /// How long kube-apiserver keeps a token webhook answer
    /// (`--authentication-token-webhook-cache-ttl`; EKS keeps the default, 2 minutes). Tests
    /// that revoke an identity and expect the next request refused set it to zero.
    pub token_cache_ttl: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            cluster_name: "testbed".into(),
            region: "us-east-1".into(),
            sts_gateway: None,
            manifests: Vec::new(),
            nodes: Vec::new(),
            token_cache_ttl: Duration::from_secs(120),
        }
    }
}

/// A running control plane; stopped (and its directory removed) when dropped.
pub struct Cluster {
    // Dropped in reverse start order: the kubelets and controllers before the API server,
    // the API server before etcd.
    processes: Vec<Supervised>,
    _sts: Option<sts_tls::StsTls>,
    front: Option<front::Front>,
    dir: PathBuf,
    /// kube-apiserver itself; clients get the front's address ([`Cluster::url`]).
    apiserver_url: String,
    ca_pem: String,
    ca_der: Vec<u8>,
    admin_token: String,
    cluster_name: String,
    region: String,
    startup: Duration,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("control plane's last output:\n{}", self.output_tail());
        }
        while let Some(p) = self.processes.pop() {
            drop(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `N` loopback ports free now and distinct from each other: all bound before any is
/// released. Taken one at a time, the kernel may hand the same port out again once its
/// listener is gone: kube-apiserver then failed to start, "address already in use" by the
/// etcd started before it.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::new(format!("no free port: {e}")))?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::new(format!("no free port: {e}")))?;
    Ok(ports.try_into().expect("one port per listener"))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::new(format!("{}: {e}", path.display())))
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

fn kubeconfig(url: &str, ca: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: admin\n  context: {{cluster: cluster, user: admin}}\ncurrent-context: admin\n",
        ca = ca.display()
    )
}

impl Cluster {
    /// Starts etcd, kube-apiserver, the token webhook (when `sts_gateway` is set), the
    /// controller manager, the scheduler and KWOK; waits until the API server is ready and
    /// the `default` service account exists; applies the manifests and registers the nodes.
    pub async fn start(cfg: ClusterConfig) -> Result<Cluster> {
        let began = Instant::now();
        let dir = std::env::temp_dir().join(format!(
            "k8s-cluster-{}-{}",
            std::process::id(),
            &random_hex()[..8]
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{dir:?}: {e}")))?;
        let sts_host = format!("sts.{}.amazonaws.com", cfg.region);
        let pki = pki::write(&dir, &sts_host)?;
        let admin_token = format!("admin-{}", random_hex());
        // Every port of the control plane at once, so that no two are the same.
        let [port, etcd_client, etcd_peer, webhook_port] = free_ports()?;
        let url = format!("https://127.0.0.1:{port}");
        let mut cluster = Cluster {
            processes: Vec::new(),
            _sts: None,
            front: None,
            dir: dir.clone(),
            apiserver_url: url.clone(),
            ca_pem: pki.ca_pem.clone(),
            ca_der: pki.ca_der.clone(),
            admin_token: admin_token.clone(),
            cluster_name: cfg.cluster_name.clone(),
            region: cfg.region.clone(),
            startup: Duration::ZERO,
        };
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        write(&admin_kubeconfig, &kubeconfig(&url, &pki.ca, &admin_token))?;

        let (etcd, etcd_url) = components::etcd(&dir, [etcd_client, etcd_peer])?;
        cluster.processes.push(etcd);

        // The token webhook: its serving certificate from the cluster CA, its kubeconfig for
        // the API server written here, so the API server starts first and the authenticator's
        // first watch of aws-auth succeeds.
        let webhook = match &cfg.sts_gateway {
            Some(gateway) => Some(Webhook::prepare(
                &dir,
                &pki,
                gateway,
                &sts_host,
                webhook_port,
            )?),
            None => None,
        };
        let apiserver = components::kube_apiserver(
            &dir,
            &pki,
            port,
            &etcd_url,
            &admin_token,
            webhook.as_ref().map(|w| TokenWebhook {
                kubeconfig: &w.kubeconfig,
                cache_ttl: cfg.token_cache_ttl,
            }),
        )?;
        cluster.processes.push(apiserver);
        cluster.front = Some(front::start(
            pki.server_tls()?,
            SocketAddr::from(([127, 0, 0, 1], port)),
            &pki.ca_der,
            |front_url| {
                let file = access_entries_file(&dir);
                eks_api::EksApi::new(&cfg.cluster_name, front_url, &pki.ca_pem)
                    .with_account(&cfg.region, super::moto::ACCOUNT_ID)
                    .with_listener(std::sync::Arc::new(move |entries| {
                        write_access_entries(&file, entries)
                    }))
            },
        )?);
        cluster.wait_ready().await?;

        if let Some(w) = webhook {
            let (process, sts) = w.start(&admin_kubeconfig, &cfg)?;
            cluster.processes.push(process);
            cluster._sts = Some(sts);
        }

        cluster
            .processes
            .extend(components::controllers(&admin_kubeconfig, &pki)?);

        let admin = cluster.kube_client_admin();
        cluster
            .wait_for("the default service account", || async {
                kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
                    admin.clone(),
                    "default",
                )
                .get_opt("default")
                .await
                .ok()
                .flatten()
                .map(|_| ())
            })
            .await?;
        cluster.load_manifests(&cfg.manifests).map_err(Error::new)?;
        for node in &cfg.nodes {
            cluster.register_node(node.clone()).map_err(Error::new)?;
        }
        cluster.startup = began.elapsed();
        Ok(cluster)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = self.kube_client_admin();
        self.wait_for("kube-apiserver /readyz", || async {
            let req = http::Request::get("/readyz").body(Vec::new()).ok()?;
            client
                .request_text(req)
                .await
                .ok()
                .filter(|t| t.trim() == "ok")
                .map(|_| ())
        })
        .await
    }

    /// Polls `check` every 50 ms until it returns `Some`, failing with the processes'
    /// output when one of them exits or the start deadline passes.
    async fn wait_for<T, F, Fut>(&mut self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let until = Instant::now() + START_DEADLINE;
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            for p in &mut self.processes {
                if let Some(status) = p.try_wait() {
                    return Err(Error::new(format!(
                        "waiting for {what}: a control-plane process exited ({status}):\n{}",
                        p.output_tail()
                    )));
                }
            }
            if Instant::now() >= until {
                return Err(Error::new(format!(
                    "{what}: not within {START_DEADLINE:?}; last output:\n{}",
                    self.output_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn front(&self) -> &front::Front {
        self.front
            .as_ref()
            .expect("the front starts with the cluster")
    }

    /// `https://127.0.0.1:PORT`: the cluster's address for clients (the front, which passes
    /// everything to kube-apiserver but injected faults and `/clusters/…`).
    pub fn url(&self) -> &str {
        &self.front().url
    }
    /// kube-apiserver's own address (no faults), as the control plane's components use it.
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }
    /// Replaces the fault-injection rules applied to requests through [`Cluster::url`].
    pub fn set_faults(&self, faults: FaultConfig) {
        self.front().set_faults(faults);
    }
    pub fn clear_faults(&self) {
        self.set_faults(Default::default());
    }
    /// How many times each fault rule fired.
    pub fn faults_fired(&self) -> Vec<u64> {
        self.front().faults_fired()
    }
    /// Pauses the fault rules (`true`: requests pass untouched and unlogged) or resumes them
    /// where they were (see [`faults::Faults::pause`]).
    pub fn pause_faults(&self, paused: bool) {
        self.front().pause_faults(paused);
    }
    /// Every request through [`Cluster::url`] since the faults were last set, with the fault
    /// it got and its answer's status (for [`faults::unaccounted`]).
    pub fn fault_log(&self) -> Vec<Served> {
        self.front().fault_log()
    }
    /// Arms `barrier` at the front (`None` disarms it): the first `parties` requests it
    /// selects wait for each other there.
    pub fn set_barrier(&self, barrier: Option<Barrier>) {
        self.front().set_barrier(barrier);
    }
    /// What the barrier armed last saw.
    pub fn barrier_report(&self) -> BarrierReport {
        self.front().barrier_report()
    }
    /// The protocol negotiated on each connection a client opened to [`Cluster::url`], in
    /// order: `h2` or `http/1.1`.
    pub fn connections(&self) -> Vec<String> {
        self.front().connections()
    }
    /// Every bearer token a client sent through [`Cluster::url`] (EKS tokens, service
    /// account tokens, the admin's).
    pub fn bearer_tokens(&self) -> Vec<String> {
        self.front().bearer_tokens()
    }
    /// How long the front waits for kube-apiserver to connect or answer before it replaces its
    /// connection (30 s unless set; see [`front`]'s `UPSTREAM_DEADLINE`).
    pub fn set_upstream_deadline(&self, deadline: Duration) {
        self.front().set_upstream_deadline(deadline);
    }
    /// Stops kube-apiserver (SIGSTOP) until the guard is dropped (SIGCONT): a server that
    /// accepts connections and answers nothing, as a wedged one does.
    pub fn freeze_apiserver(&self) -> Frozen {
        let wrapper = self.processes.iter().find(|p| p.name() == "kube-apiserver");
        let pids: Vec<u32> = wrapper
            .map(|w| children(w.id()))
            .unwrap_or_default()
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "kube-apiserver")
            })
            .collect();
        assert!(!pids.is_empty(), "kube-apiserver's process not found");
        signal(&pids, "STOP");
        Frozen(pids)
    }
    /// The EKS control-plane stand-in served under `/clusters/…` of [`Cluster::url`].
    pub fn eks_api(&self) -> &eks_api::EksApi {
        self.front().eks_api()
    }
    /// The CA that signed the API server's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The admin kubeconfig file (static token, CA file), e.g. for `kubectl --kubeconfig`.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }
    /// From the call to `start` until it returned.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The last output lines of every control-plane process.
    pub fn output_tail(&self) -> String {
        self.processes
            .iter()
            .map(|p| format!("[{}]\n{}", p.name(), p.output_tail()))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// Resident memory of the control plane's processes (each wrapper's whole tree), KiB.
    pub fn rss_kib(&self) -> u64 {
        self.processes.iter().map(|p| tree_rss_kib(p.id())).sum()
    }

    /// What a function needs to reach this cluster, as its environment: `CLUSTER_NAME`,
    /// `API_SERVER` and `CERT_AUTHORITY` (base64 of the CA's PEM, as `aws eks
    /// describe-cluster` gives it).
    pub fn cluster_env(&self) -> Vec<(String, String)> {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem());
        [
            ("CLUSTER_NAME", self.cluster_name.clone()),
            ("API_SERVER", self.url().to_owned()),
            ("CERT_AUTHORITY", ca),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into()
    }

    /// Maps each `(execution role ARN, function)` in `aws-auth` to username `function` and
    /// group `lambda:<function>`, as infra/k8s/aws-auth-functions.yaml does, which the
    /// function's RBAC file binds.
    pub fn map_function_roles(
        &self,
        functions: &[(&str, &str)],
    ) -> std::result::Result<(), String> {
        let map_roles: String = functions
            .iter()
            .map(|(role, f)| {
                format!(
                    "    - rolearn: {role}\n      username: {f}\n      groups: [\"lambda:{f}\"]\n"
                )
            })
            .collect();
        self.load_yaml(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: aws-auth, namespace: kube-system}}\ndata:\n  mapRoles: |\n{map_roles}"
        ))
        .map(|_| ())
    }

    /// A kube-rs config for this server (TLS verified against the CA) sending `token` as its
    /// bearer token, if any.
    pub fn kube_config(&self, token: Option<&str>) -> kube::Config {
        let mut c = kube::Config::new(self.url().parse().expect("valid url"));
        c.root_cert = Some(vec![self.ca_der.clone()]);
        c.default_namespace = "default".into();
        c.connect_timeout = Some(Duration::from_secs(10));
        // kube-rs waits for an answer for ever by default: a test's call that gets none fails
        // naming itself, not silently at the test runner's timeout. Counted from the request
        // sent, not from when its pooled connection went idle.
        c.read_timeout = Some(Duration::from_secs(60));
        c.reset_reader_on_write = true;
        if let Some(t) = token {
            c.headers.push((
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(&format!("Bearer {t}"))
                    .expect("token is a header value"),
            ));
        }
        c
    }

    /// A kube-rs client with the static admin token (system:masters).
    pub fn kube_client_admin(&self) -> kube::Client {
        self.kube_client_with_token(&self.admin_token)
    }

    /// A kube-rs client as admin straight to kube-apiserver, past the front: its requests
    /// get no injected fault (a test's observations under faults, a kubelet's heartbeat).
    pub fn kube_client_direct(&self) -> kube::Client {
        let mut config = self.kube_config(Some(&self.admin_token));
        config.cluster_url = self.apiserver_url().parse().expect("valid url");
        kube::Client::try_from(config).expect("kube client")
    }

    pub fn kube_client_with_token(&self, token: &str) -> kube::Client {
        kube::Client::try_from(self.kube_config(Some(token))).expect("kube client")
    }
}

/// Runs `serve(listener)` on a thread of its own with a current-thread Tokio runtime, until
/// the returned sender is dropped: the front and the STS forwarder must keep answering while a
/// test blocks its own runtime (a synchronous kubectl call, an invocation).
pub(crate) fn serve_on_thread<F, Fut>(
    name: &str,
    listener: std::net::TcpListener,
    serve: F,
) -> Result<tokio::sync::oneshot::Sender<()>>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::new(format!("{name} listener: {e}")))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                tokio::select! {
                    _ = serve(listener) => {}
                    _ = stopped => {}
                }
            });
        })
        .map_err(|e| Error::new(format!("{name} thread: {e}")))?;
    Ok(stop)
}

/// Whether a Node object's Ready condition is True.
pub fn node_ready(node: &Value) -> bool {
    condition_true(node, "Ready")
}

/// Whether `object`'s condition of type `kind` is `True` (no conditions yet: not).
pub fn condition_true(object: &Value, kind: &str) -> bool {
    object["status"]["conditions"]
        .as_array()
        .is_some_and(|all| {
            all.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

/// VmRSS of `pid` and all its descendants, KiB (0 for processes already gone).
fn tree_rss_kib(pid: u32) -> u64 {
    let own = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    own + children(pid).into_iter().map(tree_rss_kib).sum::<u64>()
}

/// The processes `pid` started (of each of its threads).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn signal(pids: &[u32], signal: &str) {
    for pid in pids {
        crate::harness::process::signal(signal, &pid.to_string());
    }
}

/// kube-apiserver stopped by [`Cluster::freeze_apiserver`]; resumed when dropped, a panic
/// included (a stopped process would not end with its wrapper).
pub struct Frozen(Vec<u32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
    }
}
