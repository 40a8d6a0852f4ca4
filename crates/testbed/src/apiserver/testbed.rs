//! [`Testbed`]: start the server in process, reach it with kube-rs, drive the simulation.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::authn::{Authenticator, AuthnConfig};
use super::eks_api::EksApi;
use super::faults::FaultConfig;
use super::handlers;
use super::kubeconfig::{KubeconfigParams, render};
use super::manifests;
use super::nodes::{NodeSpec, node_object, ready_condition};
use super::routes::Query;
use super::security::bootstrap_rbac;
use super::server::{Shared, serve};
use super::sim;
use super::state::State;
use super::static_tokens::ServiceAccountRef;
use super::status::{ApiError, ApiResult};
use super::tls;
use super::util::{Rng, fmt_time, str_at};

/// How to start a [`Testbed`]. `Default` gives a loopback server on a free port for cluster
/// `testbed` in `us-east-1`, with no nodes, no STS (only the admin token authenticates).
#[derive(Clone, Debug)]
pub struct TestbedConfig {
    /// Where to listen; port 0 picks a free one.
    pub addr: SocketAddr,
    /// The EKS cluster name: tokens must be signed for it (`x-k8s-aws-id`).
    pub cluster_name: String,
    pub region: String,
    /// STS endpoint the token verifier re-sends presigned requests to (the moto gateway,
    /// `http://127.0.0.1:PORT`); `None` = only the admin token authenticates.
    pub sts_endpoint: Option<String>,
    /// Static admin token (system:masters); random when `None`.
    pub admin_token: Option<String>,
    /// YAML manifests loaded at start (RBAC, CRDs, anything).
    pub manifests: Vec<PathBuf>,
    /// Nodes registered at start.
    pub nodes: Vec<NodeSpec>,
    /// Seed of generated names and uids (fault injection has its own seed).
    pub seed: u64,
    /// Period of the background ticker that ends grace periods as real time passes.
    pub tick: Duration,
}

impl Default for TestbedConfig {
    fn default() -> Self {
        TestbedConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            cluster_name: "testbed".into(),
            region: "us-east-1".into(),
            sts_endpoint: None,
            admin_token: None,
            manifests: Vec::new(),
            nodes: Vec::new(),
            seed: 1,
            tick: Duration::from_millis(100),
        }
    }
}

struct Guard {
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// A running API server. Cheap to clone; it stops when the last clone is dropped.
#[derive(Clone)]
pub struct Testbed {
    shared: Arc<Shared>,
    cluster_name: String,
    region: String,
    _guard: Arc<Guard>,
}

fn random_token() -> String {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 32);
    let mut rng = Rng::new(seed);
    format!(
        "testbed-admin-{:016x}{:016x}",
        rng.next_u64(),
        rng.next_u64()
    )
}

impl Testbed {
    /// Binds, makes the CA and serving certificate, seeds the default namespaces and
    /// bootstrap RBAC, loads the manifests, registers the nodes and starts serving.
    pub async fn start(cfg: TestbedConfig) -> std::io::Result<Testbed> {
        let listener = TcpListener::bind(cfg.addr).await?;
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let address = format!("{host}:{}", local.port());
        let url = format!("https://{address}");
        let certs = tls::generate(&[])?;
        let admin_token = cfg.admin_token.clone().unwrap_or_else(random_token);
        let authn = Authenticator::new(AuthnConfig {
            cluster_id: cfg.cluster_name.clone(),
            region: cfg.region.clone(),
            sts_endpoint: cfg.sts_endpoint.clone(),
            admin_token: admin_token.clone(),
        });
        let eks = EksApi::new(&cfg.cluster_name, &url, &certs.ca_pem);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(cfg.seed)),
            clock: Default::default(),
            authn,
            eks,
            admin_token,
            url,
            ca_pem: certs.ca_pem.clone(),
            ca_der: certs.ca_der.clone(),
            address,
        });
        seed(&shared).map_err(|e| std::io::Error::other(e.message))?;
        for path in &cfg.manifests {
            let text = std::fs::read_to_string(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            load_yaml(&shared, &text)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        }
        for n in &cfg.nodes {
            register_node(&shared, n).map_err(|e| std::io::Error::other(e.message))?;
        }
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve(
            listener,
            TlsAcceptor::from(certs.server),
            shared.clone(),
            rx.clone(),
        ));
        let ticker = {
            let shared = shared.clone();
            let period = cfg.tick;
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(period);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    iv.tick().await;
                    shared.tick();
                }
            })
        };
        Ok(Testbed {
            shared,
            cluster_name: cfg.cluster_name,
            region: cfg.region,
            _guard: Arc::new(Guard {
                shutdown: tx,
                tasks: Mutex::new(vec![server, ticker]),
            }),
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }
    /// The CA that signed the serving certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.shared.ca_pem
    }
    pub fn admin_token(&self) -> &str {
        &self.shared.admin_token
    }
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
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
    pub fn map_function_roles(&self, functions: &[(&str, &str)]) -> Result<(), String> {
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

    /// A kube-rs config for this server (TLS verified against the CA) sending `token`
    /// as its bearer token, if any.
    pub fn kube_config(&self, token: Option<&str>) -> kube::Config {
        let mut c = kube::Config::new(self.url().parse().expect("valid url"));
        c.root_cert = Some(vec![self.shared.ca_der.clone()]);
        c.default_namespace = "default".into();
        c.connect_timeout = Some(Duration::from_secs(10));
        if let Some(t) = token {
            c.headers.push((
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(&format!("Bearer {t}"))
                    .expect("token is a header value"),
            ));
        }
        c
    }

    /// Registers (or re-points) a static bearer token for a service account, as a k3s
    /// cluster accepts a service-account token; see [`super::static_tokens`].
    pub fn add_static_token(&self, token: &str, sa: ServiceAccountRef) {
        self.shared.authn.static_tokens().insert(token, sa);
    }

    /// Revokes a static token: requests with it get 401 from now on. `false` if unknown.
    pub fn remove_static_token(&self, token: &str) -> bool {
        self.shared.authn.static_tokens().remove(token)
    }

    /// A kube-rs client with the static admin token (system:masters).
    pub fn kube_client_admin(&self) -> kube::Client {
        self.kube_client_with_token(self.admin_token())
    }

    pub fn kube_client_with_token(&self, token: &str) -> kube::Client {
        kube::Client::try_from(self.kube_config(Some(token))).expect("kube client")
    }

    /// The kubeconfig `testbed serve` writes (contexts `eks` with the `exec_command`
    /// plugin, and `admin`), as YAML.
    pub fn kubeconfig_yaml(&self, exec_command: &str) -> String {
        render(&KubeconfigParams {
            server: self.url(),
            ca_pem: self.ca_pem(),
            cluster_name: &self.cluster_name,
            region: &self.region,
            admin_token: self.admin_token(),
            exec_command,
        })
    }

    /// Simulated now (real time + every advance so far).
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.clock.now()
    }

    /// Moves the sim clock forward and runs the simulation (grace periods end, ...).
    pub fn advance(&self, by: Duration) {
        advance(&self.shared, by)
    }

    /// Registers a Node for an EC2 instance, as a k3s agent joining does; pods that were
    /// Pending for lack of room get scheduled on it.
    pub fn register_node(&self, spec: NodeSpec) -> Result<Value, ApiError> {
        register_node(&self.shared, &spec)
    }

    /// Removes a Node (instance terminated); its pods are deleted and their controllers
    /// create replacements.
    pub fn remove_node(&self, name: &str) -> Result<Value, ApiError> {
        remove_node(&self.shared, name)
    }

    /// Sets the node's Ready condition (a NotReady node takes no pods; its pods turn unready).
    pub fn set_node_ready(&self, name: &str, ready: bool) -> Result<Value, ApiError> {
        set_node_ready(&self.shared, name, ready)
    }

    /// Replaces the fault-injection rules.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.shared.lock().faults.set(faults);
    }
    pub fn clear_faults(&self) {
        self.set_faults(FaultConfig::default());
    }
    /// How many times each fault rule fired.
    pub fn faults_fired(&self) -> Vec<u64> {
        self.shared.lock().faults.fired().to_vec()
    }

    /// Loads YAML manifest files (multi-document). Returns how many objects were applied.
    pub fn load_manifests<P: AsRef<std::path::Path>>(&self, paths: &[P]) -> Result<usize, String> {
        let mut n = 0;
        for p in paths {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.as_ref().display()))?;
            n += load_yaml(&self.shared, &text)
                .map_err(|e| format!("{}: {e}", p.as_ref().display()))?;
        }
        Ok(n)
    }

    /// Loads manifests from YAML text.
    pub fn load_yaml(&self, text: &str) -> Result<usize, String> {
        load_yaml(&self.shared, text)
    }

    /// Reads an object straight from the store (no auth, no faults), e.g. for assertions:
    /// `get("deployments.apps", "default", "web")`; `ns` is "" for cluster-scoped kinds.
    pub fn get(&self, group_resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.shared
            .lock()
            .store
            .get(group_resource, ns, name)
            .cloned()
    }

    /// Lists objects straight from the store, one namespace or all (`None`).
    pub fn list(&self, group_resource: &str, ns: Option<&str>) -> Vec<Value> {
        self.shared.lock().store.list_owned(group_resource, ns)
    }

    /// Runs the simulation now (it also runs after every write and on a ticker).
    pub fn reconcile(&self) {
        self.shared.reconcile();
    }

    /// The EKS control-plane stand-in served under `/clusters/…`.
    pub fn eks_api(&self) -> &EksApi {
        &self.shared.eks
    }
}

fn seed(shared: &Shared) -> ApiResult<()> {
    let now = shared.clock.now();
    let mut st = shared.lock();
    let q = Query::default();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let rt = st.rt("namespaces")?;
        handlers::create(
            &mut st,
            &rt,
            "v1",
            None,
            json!({"metadata": {"name": ns}}),
            &q,
            now,
        )?;
    }
    for ns in ["default", "kube-system"] {
        let rt = st.rt("serviceaccounts")?;
        handlers::create(
            &mut st,
            &rt,
            "v1",
            Some(ns),
            json!({"metadata": {"name": "default"}}),
            &q,
            now,
        )?;
    }
    for obj in bootstrap_rbac() {
        let kind = str_at(&obj, &["kind"]).to_string();
        let rt = st
            .registry
            .by_kind("rbac.authorization.k8s.io/v1", &kind)
            .cloned()
            .expect("rbac kinds");
        handlers::create(&mut st, &rt, "v1", None, obj, &q, now)?;
    }
    Ok(())
}

pub(crate) fn advance(shared: &Shared, by: Duration) {
    shared.clock.advance(by);
    shared.reconcile();
}

pub(crate) fn register_node(shared: &Shared, spec: &NodeSpec) -> ApiResult<Value> {
    if spec.name.is_empty() {
        return Err(ApiError::bad_request("a node needs a name"));
    }
    let now = shared.clock.now();
    let mut st = shared.lock();
    st.next_ip += 1;
    let ip = format!("10.0.{}.{}", st.next_ip / 250, st.next_ip % 250 + 2);
    let node = node_object(spec, &ip, &fmt_time(now));
    let rt = st.rt("nodes")?;
    let created = handlers::create(&mut st, &rt, "v1", None, node, &Query::default(), now)?;
    sim::reconcile(&mut st, now);
    Ok(created)
}

pub(crate) fn remove_node(shared: &Shared, name: &str) -> ApiResult<Value> {
    let now = shared.clock.now();
    let mut st = shared.lock();
    let rt = st.rt("nodes")?;
    let gone = handlers::delete(&mut st, &rt, "", name, None, now)?;
    sim::reconcile(&mut st, now);
    Ok(gone)
}

pub(crate) fn set_node_ready(shared: &Shared, name: &str, ready: bool) -> ApiResult<Value> {
    let now = shared.clock.now();
    let mut st = shared.lock();
    let mut node = st
        .store
        .get("nodes", "", name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "nodes", name))?;
    let mut conds: Vec<Value> = node["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "Ready")
        .collect();
    conds.push(ready_condition(ready, &fmt_time(now)));
    node["status"]["conditions"] = json!(conds);
    let stored = st.store.update("nodes", node);
    sim::reconcile(&mut st, now);
    Ok(stored)
}

pub(crate) fn load_yaml(shared: &Shared, text: &str) -> Result<usize, String> {
    let docs = manifests::parse(text)?;
    let now = shared.clock.now();
    let mut st = shared.lock();
    let n = manifests::load(&mut st, now, docs)?;
    sim::reconcile(&mut st, now);
    Ok(n)
}
