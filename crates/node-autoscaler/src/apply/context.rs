//! What the function builds once at init and warm invocations share, and where the cluster
//! is found at each run.
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use lambda_support::aws::LazyClient;

use crate::config::Config;
use crate::ec2::{Ec2, Instance};
use crate::error::Error;
use crate::event::Event;
use crate::kube_client::KubeClients;
use crate::prometheus::Prometheus;
use crate::ssm::Ssm;
use crate::store::Store;

pub(super) const K3S_API_PORT: u16 = 6443;

pub struct Context {
    pub config: Config,
    pub ec2: Ec2,
    pub store: Store,
    pub ssm: Ssm,
    pub kube: KubeClients,
    pub prometheus: Prometheus,
    /// For the workers' user data (`aws ssm get-parameter --region`).
    pub region: String,
    invocations: AtomicU64,
}

/// The cluster's control plane, as found at each run: its instance, its Prometheus, a
/// client of its API server.
pub(super) struct ControlPlane {
    pub instance: Instance,
    pub prometheus: String,
    pub kube: kube::Client,
}

impl Context {
    /// The AWS clients are built on first use (`LazyClient`): an invocation pays only for
    /// those it calls.
    pub fn new(config: Config, sdk: &SdkConfig) -> Context {
        let store = Store::new(
            LazyClient::new(sdk, aws_sdk_dynamodb::Client::new),
            config.state_table.clone(),
            config.logs_table.clone(),
            config.log_ttl,
        );
        let ssm = Ssm::new(LazyClient::new(sdk, aws_sdk_ssm::Client::new));
        let kube = KubeClients::new(
            config.cluster_ca.clone(),
            ssm.clone(),
            config.api_token_param.clone(),
        );
        Context {
            ec2: Ec2::new(LazyClient::new(sdk, aws_sdk_ec2::Client::new)),
            store,
            ssm,
            kube,
            prometheus: Prometheus::default(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            invocations: AtomicU64::new(0),
            config,
        }
    }

    /// Who holds a lease taken for `event`: unique per event, process and invocation.
    pub(super) fn owner(&self, event: &Event) -> String {
        format!(
            "{}/{}/{}",
            event.id,
            std::process::id(),
            self.invocations.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The control plane, at the URLs `API_SERVER` and `PROMETHEUS_URL` fix or its private
    /// IP gives.
    pub(super) async fn control_plane(&self) -> Result<ControlPlane, Error> {
        let c = &self.config;
        // The cluster CA and the service-account token while EC2 finds the instance.
        let (instance, ()) = tokio::join!(self.ec2.control_plane(&c.tags), self.kube.prepare());
        let instance = instance?;
        let ip = instance.private_ip.clone().unwrap_or_default();
        let api_server = c
            .api_server
            .clone()
            .unwrap_or_else(|| format!("https://{ip}:{K3S_API_PORT}"));
        let prometheus = c
            .prometheus_url
            .clone()
            .unwrap_or_else(|| format!("http://{ip}:{}", c.prom_nodeport));
        Ok(ControlPlane {
            kube: self.kube.client(&api_server).await?,
            instance,
            prometheus,
        })
    }
}
