//! The one world the functions' end-to-end tests and `make demo` run on: moto behind its
//! gateway, the real control plane ([`Cluster`]), the Lambda Runtime API emulator, a
//! backfilled Prometheus when asked, and the functions deployed on them. Each function gets
//! what Lambda would give it: its execution role's credentials (issued by moto's STS, so EKS
//! tokens made with them verify), that role mapped in `aws-auth` to user `<function>` and
//! group `lambda:<function>` as `infra/k8s` documents, and the cluster's address.
//!
//! ```ignore
//! let w = World::builder()
//!     .function("queue-scaler")
//!     .manifests(["infra/k8s/crds/sqsqueuescalers.autoscaling.k8s-lambda.dev.yaml",
//!                 "infra/k8s/rbac/queue-scaler.yaml"])
//!     .start()
//!     .await;
//! let _function = w.spawn("queue-scaler", &[]);
//! let summary = w.invoke("queue-scaler", &scheduled(t0()))?;
//! ```
//!
//! - [`events`]: EventBridge events at a time, and the times a test decides at.
//! - [`cloudwatch`]: the alarms alarm-sync keeps and the notifications alarm-scaler gets.
//! - [`k3s`]: node-autoscaler's stand-ins (a self-managed k3s cluster on EC2).
//! - [`grants`]: RBAC experiments, one grant of a function's ClusterRole withheld per run.
//! - [`iam`]: the template's execution roles in moto, with moto's IAM enforcement on.
//! - [`scaler_pass`]: what queue-scaler's and concurrency-scaler's tests share (both run
//!   sqs_depth's scaler pass).
//!
//! The world also handles, as admin, manifests, namespaces, Deployments and their replicas, and
//! reads the Events its functions record (`world/objects.rs`); creates custom resources and
//! reads their status ([`resources`]).
//!
//! What only one crate's tests need stays in that crate's test binary.
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::Value;

use crate::harness::{
    Cluster, ClusterConfig, Error, LambdaEmulator, Moto, Prometheus, Result, Supervised,
};

mod binaries;
pub mod cloudwatch;
pub mod consumers;
pub mod events;
pub mod grants;
pub mod iam;
pub mod k3s;
pub mod leaks;
mod objects;
pub mod resources;
pub mod scaler_pass;
pub mod sqs;

pub use crate::harness::cargo::{deploy_metadata, developer_cargo};
pub use binaries::build;
use binaries::next_to_this_executable;
pub use events::{at, event, sample, scheduled, t0};

/// The EKS cluster name the worlds use (tokens are signed for it).
pub const CLUSTER: &str = "demo";
/// moto's account: the functions' own.
pub const ACCOUNT: &str = crate::harness::moto::ACCOUNT_ID;

pub use crate::harness::repo;

/// The execution role of `function` in the functions' account.
fn execution_role(function: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{function}")
}

/// How to start a [`World`]: see [`World::builder`].
#[derive(Default)]
pub struct Builder {
    functions: Vec<(String, Option<PathBuf>)>,
    manifests: Vec<PathBuf>,
    yaml: Vec<String>,
    env: Vec<(String, String)>,
    moto_env: Vec<(String, String)>,
    prometheus: Option<String>,
    own_cluster_auth: bool,
    eks_api: bool,
    token_cache_ttl: Option<Duration>,
}

impl Builder {
    /// Deploys `name`: the binary of that name next to the running executable (cargo builds
    /// a package's own binaries before its tests; see [`Builder::binary`] for others).
    pub fn function(mut self, name: &str) -> Builder {
        self.functions.push((name.to_owned(), None));
        self
    }

    /// Runs `function` from `path` (e.g. what [`build`] returns for another package's).
    pub fn binary(mut self, function: &str, path: impl Into<PathBuf>) -> Builder {
        let path = Some(path.into());
        match self.functions.iter_mut().find(|(f, _)| f == function) {
            Some(f) => f.1 = path,
            None => self.functions.push((function.to_owned(), path)),
        }
        self
    }

    /// Manifest files (workspace-relative or absolute) the cluster starts with: CRDs, the
    /// functions' RBAC, samples.
    pub fn manifests<P: AsRef<Path>>(mut self, paths: impl IntoIterator<Item = P>) -> Builder {
        self.manifests.extend(paths.into_iter().map(repo));
        self
    }

    /// YAML applied once the functions' roles are mapped (so it may replace `aws-auth`).
    pub fn yaml(mut self, text: impl Into<String>) -> Builder {
        self.yaml.push(text.into());
        self
    }

    /// An environment variable of every function.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Builder {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// An environment variable of moto (its own settings, e.g. a Lambda quota).
    pub fn moto_env(mut self, key: &str, value: &str) -> Builder {
        self.moto_env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// A Prometheus backfilled with `openmetrics` ([`Prometheus::start_backfilled`]).
    pub fn prometheus(mut self, openmetrics: impl Into<String>) -> Builder {
        self.prometheus = Some(openmetrics.into());
        self
    }

    /// The functions reach the cluster with a bearer token of their own (a self-managed
    /// cluster's service-account token), not EKS's: no token webhook, no `aws-auth` mapping,
    /// no `CLUSTER_NAME`.
    pub fn own_cluster_auth(mut self) -> Builder {
        self.own_cluster_auth = true;
        self
    }

    /// The functions call the cluster's EKS API stand-in (access entries): their SDK is
    /// pointed at it (`AWS_ENDPOINT_URL_EKS`) and trusts its CA through `SSL_CERT_FILE`, as
    /// it would trust a corporate proxy's; nothing in a function knows about the stand-in.
    pub fn eks_api(mut self) -> Builder {
        self.eks_api = true;
        self
    }

    /// How long kube-apiserver keeps a token webhook answer (EKS: 2 minutes). Tests that
    /// revoke an identity and expect its next request refused set zero.
    pub fn token_cache_ttl(mut self, ttl: Duration) -> Builder {
        self.token_cache_ttl = Some(ttl);
        self
    }

    /// Starts everything; panics saying what could not start.
    pub async fn start(self) -> World {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("the world did not start: {e}"))
    }

    /// [`Builder::start`], saying what could not start instead of panicking.
    pub async fn try_start(self) -> Result<World> {
        let moto_env: Vec<(&str, &str)> = self
            .moto_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let moto = Moto::start_with("us-east-1", &moto_env)?;
        let prometheus = match &self.prometheus {
            Some(metrics) => Some(Prometheus::start_backfilled(metrics)?),
            None => None,
        };
        let mut config = ClusterConfig {
            cluster_name: CLUSTER.into(),
            sts_gateway: (!self.own_cluster_auth).then(|| moto.endpoint().to_owned()),
            manifests: self.manifests,
            ..Default::default()
        };
        if let Some(ttl) = self.token_cache_ttl {
            config.token_cache_ttl = ttl;
        }
        let cluster = Cluster::start(config).await?;
        if !self.own_cluster_auth {
            let roles: Vec<(String, &str)> = self
                .functions
                .iter()
                .map(|(f, _)| (execution_role(f), f.as_str()))
                .collect();
            let roles: Vec<(&str, &str)> = roles.iter().map(|(r, f)| (r.as_str(), *f)).collect();
            cluster.map_function_roles(&roles).map_err(Error::new)?;
        }
        for text in &self.yaml {
            cluster.load_yaml(text).map_err(Error::new)?;
        }
        let ca_dir = self
            .eks_api
            .then(|| TempDir::with_ca(&cluster))
            .transpose()?;
        let mut cluster_env = cluster.cluster_env();
        if self.own_cluster_auth {
            cluster_env.retain(|(k, _)| k != "CLUSTER_NAME");
        }
        if let Some(dir) = &ca_dir {
            cluster_env.push(("AWS_ENDPOINT_URL_EKS".into(), cluster.url().into()));
            cluster_env.push(("SSL_CERT_FILE".into(), dir.ca().display().to_string()));
        }
        let mut functions = Vec::new();
        for (name, binary) in self.functions {
            let credentials = moto.assume_role(&execution_role(&name), &name).await?;
            let mut env = moto.env_for(&credentials);
            env.extend(cluster_env.iter().cloned());
            env.extend(self.env.iter().cloned());
            functions.push(Function {
                binary: binary.unwrap_or_else(|| next_to_this_executable(&name)),
                name,
                env,
                credentials,
            });
        }
        Ok(World {
            aws: moto.sdk_config().await,
            admin: cluster.kube_client_admin(),
            emulator: LambdaEmulator::start()?,
            moto,
            cluster,
            prometheus,
            functions,
            _ca_dir: ca_dir,
        })
    }
}

/// A function as deployed: its binary and the environment Lambda would give it.
struct Function {
    name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    credentials: Credentials,
}

/// Everything started; stopped when dropped.
pub struct World {
    pub moto: Moto,
    pub cluster: Cluster,
    pub emulator: LambdaEmulator,
    pub prometheus: Option<Prometheus>,
    /// AWS for set-up and assertions (static credentials; the functions have their own).
    pub aws: SdkConfig,
    /// The cluster as admin (`system:masters`).
    pub admin: kube::Client,
    functions: Vec<Function>,
    _ca_dir: Option<TempDir>,
}

impl World {
    /// moto, the cluster (named [`CLUSTER`]) and the emulator, with nothing deployed: add
    /// functions, manifests and the rest, then [`Builder::start`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn function(&self, name: &str) -> Result<&Function> {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| Error::new(format!("{name} is not deployed in this world")))
    }

    /// The credentials of `function`'s execution role.
    pub fn credentials(&self, function: &str) -> &Credentials {
        &self
            .function(function)
            .expect("a deployed function")
            .credentials
    }

    /// The environment `function` runs with (what [`World::try_spawn`] gives it), for a
    /// Runtime API of another harness's (the cold-start bench's).
    pub fn env_of(&self, function: &str) -> Result<Vec<(String, String)>> {
        Ok(self.function(function)?.env.clone())
    }

    /// Sets `key` in `function`'s environment, for what is known only once the stand-ins run
    /// (ids of seeded resources).
    pub(crate) fn set_env(&mut self, function: &str, key: &str, value: impl Into<String>) {
        let f = self
            .functions
            .iter_mut()
            .find(|f| f.name == function)
            .expect("a deployed function");
        f.env.retain(|(k, _)| k != key);
        f.env.push((key.to_owned(), value.into()));
    }

    /// Starts a process of `function` under the emulator, with its environment plus `extra`
    /// (which wins over it).
    pub fn try_spawn(&self, function: &str, extra: &[(&str, &str)]) -> Result<Supervised> {
        let f = self.function(function)?;
        if !f.binary.exists() {
            return Err(Error::new(format!(
                "{} is not built (`make demo` builds every function; a test's package has its \
                 own built for it, and testbed::world::build builds another's)",
                f.binary.display()
            )));
        }
        let env = f.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        self.emulator
            .spawn_function(function, &f.binary, env.chain(extra.iter().copied()))
    }

    /// [`World::try_spawn`], panicking when the process cannot start.
    pub fn spawn(&self, function: &str, extra: &[(&str, &str)]) -> Supervised {
        self.try_spawn(function, extra)
            .unwrap_or_else(|e| panic!("{function}: {e}"))
    }

    /// One invocation through `cargo lambda invoke`: the function's response, or its error.
    pub fn invoke(&self, function: &str, event: &Value) -> std::result::Result<Value, String> {
        tokio::task::block_in_place(|| self.emulator.invoke(function, event))
            .map_err(|e| e.to_string())
    }

    /// One invocation through the emulator's Invoke API (no `cargo lambda invoke` process):
    /// for tests that invoke hundreds of times.
    pub async fn invoke_http(
        &self,
        function: &str,
        event: &Value,
    ) -> std::result::Result<Value, String> {
        self.emulator
            .invoke_http(function, event)
            .await
            .map_err(|e| e.to_string())
    }

    /// Invokes `function` with a sample event file as a developer would: `cargo lambda
    /// invoke --data-file <file>`.
    pub fn invoke_file(&self, function: &str, file: &str) -> std::result::Result<Value, String> {
        let data = repo(file);
        tokio::task::block_in_place(|| {
            lambda_invoke(
                self.emulator.port(),
                function,
                &["--data-file"],
                data.as_os_str(),
            )
        })
    }

    /// Invokes `function` with each event at once, one `cargo lambda invoke` per thread.
    pub fn invoke_concurrently(
        &self,
        function: &str,
        events: &[Value],
    ) -> Vec<std::result::Result<Value, String>> {
        let port = self.emulator.port();
        std::thread::scope(|s| {
            let handles: Vec<_> = events
                .iter()
                .map(|e| {
                    let data = e.to_string();
                    s.spawn(move || lambda_invoke(port, function, &["--data-ascii"], data.as_ref()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// Every secret access key and session token handed to a function, to prove none reaches
    /// a log.
    pub fn secrets(&self) -> Vec<String> {
        self.functions
            .iter()
            .flat_map(|f| {
                let c = &f.credentials;
                std::iter::once(c.secret_access_key().to_owned())
                    .chain(c.session_token().map(str::to_owned))
            })
            .collect()
    }

    /// AWS as role `role_arn` sees it (e.g. in another account: moto keeps accounts apart).
    pub async fn aws_as(&self, role_arn: &str) -> SdkConfig {
        let credentials = self
            .moto
            .assume_role(role_arn, "setup")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.moto.sdk_config_for(&credentials).await
    }

    /// The rules `infra/k8s/rbac/<function>.yaml` grants.
    pub fn rules_of(function: &str) -> Vec<Value> {
        crate::harness::rbac::rules_of(repo(format!("infra/k8s/rbac/{function}.yaml")))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Replaces the rules of ClusterRole `lambda:<function>` (RBAC experiments).
    pub async fn set_rules(&self, function: &str, rules: Value) {
        crate::harness::rbac::set_rules(&self.admin, &format!("lambda:{function}"), rules)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `cargo lambda invoke` of `function` on the emulator at `port` with `data` after `flag`:
/// the response, or the function's (or the emulator's) error.
fn lambda_invoke(
    port: u16,
    function: &str,
    flag: &[&str],
    data: &std::ffi::OsStr,
) -> std::result::Result<Value, String> {
    crate::harness::lambda::invoke_on(port, function, flag, data).map_err(|e| e.to_string())
}

/// A directory of this process's under the system temp dir, removed on drop: the cluster's
/// CA as a file.
struct TempDir(PathBuf);

impl TempDir {
    fn with_ca(cluster: &Cluster) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = TempDir(
            std::env::temp_dir().join(format!("testbed-ca-{}-{nanos}", std::process::id())),
        );
        let io = |e: std::io::Error| Error::new(format!("{}: {e}", dir.0.display()));
        std::fs::create_dir_all(&dir.0).map_err(io)?;
        std::fs::write(dir.ca(), cluster.ca_pem()).map_err(io)?;
        Ok(dir)
    }

    fn ca(&self) -> PathBuf {
        self.0.join("ca.pem")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
