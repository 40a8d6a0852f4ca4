//! The EC2 adapter: the control plane, this cluster's workers, launches with Spot and
//! instance-type fallback, and terminations that re-check ownership first.
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileSpecification, Instance as Ec2Instance, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceType, LaunchTemplateSpecification, MarketType,
    ResourceType, SpotInstanceType, SpotMarketOptions, Tag, TagSpecification,
};
use base64::Engine;
use lambda_support::aws::LazyClient;

/// Tag on every instance the function launched (with the worker tag): which run.
pub const LAUNCHED_BY_TAG: &str = "node-autoscaler/launched-by";
pub const MARKET_TAG: &str = "node-autoscaler/market";

#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    #[error("EC2 {op}: {message}")]
    Api { op: &'static str, message: String },
    #[error("no running control-plane instance tagged {tags}")]
    NoControlPlane { tags: String },
    /// Several clusters may share the master tag: picking one would scale a cluster with
    /// another's control plane.
    #[error(
        "{count} running instances carry the master tag {tag} ({ids}) and no cluster tag says which is this cluster's: tag each cluster's control plane and workers with its own cluster tag and set CLUSTER_TAG_KEY and CLUSTER_TAG_VALUE"
    )]
    AmbiguousControlPlane {
        tag: String,
        count: usize,
        ids: String,
    },
    #[error("no capacity for any of {tried}: {last}")]
    NoCapacity { tried: String, last: String },
}

fn api<E: std::error::Error + 'static>(op: &'static str) -> impl Fn(E) -> Ec2Error {
    move |e| Ec2Error::Api {
        op,
        message: DisplayErrorContext(&e).to_string(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub zone: String,
    pub private_ip: Option<String>,
    pub private_dns: Option<String>,
    /// Unix seconds.
    pub launched: i64,
    pub state: String,
    pub spot: bool,
    pub tags: Vec<(String, String)>,
}

impl Instance {
    pub fn tagged(&self, (key, value): &(String, String)) -> bool {
        self.tags.iter().any(|(k, v)| k == key && v == value)
    }
}

/// Which instances are this cluster's, by their tags: the control plane carries the master
/// tag; a worker the worker tag and never the master tag; both the cluster tag when one is
/// set (`CLUSTER_TAG_KEY`/`CLUSTER_TAG_VALUE`), so clusters that share the master and worker
/// tags (the original k3s autoscaler tagged every cluster `Role=k3s-control-plane` /
/// `Role=k3s-worker`) stay apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tags {
    pub master: (String, String),
    pub worker: (String, String),
    pub cluster: Option<(String, String)>,
}

impl Tags {
    fn in_cluster(&self, i: &Instance) -> bool {
        self.cluster.as_ref().is_none_or(|t| i.tagged(t))
    }

    /// One of this cluster's workers (any state).
    pub fn is_worker(&self, i: &Instance) -> bool {
        i.tagged(&self.worker) && !i.tagged(&self.master) && self.in_cluster(i)
    }

    /// What a worker is launched with: the worker tag, and the cluster tag when set.
    pub fn of_worker(&self) -> Vec<(String, String)> {
        std::iter::once(self.worker.clone())
            .chain(self.cluster.clone())
            .collect()
    }

    /// What the control plane carries: the master tag, and the cluster tag when set.
    fn of_control_plane(&self) -> Vec<(String, String)> {
        std::iter::once(self.master.clone())
            .chain(self.cluster.clone())
            .collect()
    }
}

fn shown(tags: &[(String, String)]) -> String {
    let each: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    each.join(" and ")
}

/// The control plane among the running instances that carry its tags: the newest one of
/// this cluster. Without a cluster tag, several candidates may be several clusters': refused.
pub fn pick_control_plane(tags: &Tags, running: Vec<Instance>) -> Result<Instance, Ec2Error> {
    let mut candidates: Vec<Instance> = running
        .into_iter()
        .filter(|i| i.tagged(&tags.master) && tags.in_cluster(i))
        .collect();
    if tags.cluster.is_none() && candidates.len() > 1 {
        candidates.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<&str> = candidates.iter().map(|i| i.id.as_str()).collect();
        return Err(Ec2Error::AmbiguousControlPlane {
            tag: shown(std::slice::from_ref(&tags.master)),
            count: candidates.len(),
            ids: ids.join(", "),
        });
    }
    // Several control planes of one cluster (k3s servers in HA): the newest, as before.
    candidates
        .into_iter()
        .max_by_key(|i| (i.launched, i.id.clone()))
        .ok_or_else(|| Ec2Error::NoControlPlane {
            tags: shown(&tags.of_control_plane()),
        })
}

fn instance(i: &Ec2Instance) -> Instance {
    Instance {
        id: i.instance_id().unwrap_or_default().to_owned(),
        zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_owned(),
        private_ip: i.private_ip_address().map(str::to_owned),
        private_dns: i.private_dns_name().map(str::to_owned),
        launched: i.launch_time().map_or(0, |t| t.secs()),
        state: i
            .state()
            .and_then(|s| s.name())
            .map_or_else(String::new, |n| n.as_str().to_owned()),
        spot: i.instance_lifecycle().is_some_and(|l| l.as_str() == "spot"),
        tags: i
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    }
}

/// What a launch needs besides the subnet.
pub struct LaunchSpec<'a> {
    pub ami_id: Option<&'a str>,
    pub launch_template: Option<&'a str>,
    pub instance_types: &'a [String],
    pub spot: bool,
    pub security_group: &'a str,
    pub instance_profile: Option<&'a str>,
    pub key_name: Option<&'a str>,
    /// Plain text; base64-encoded here. May hold the join token: never logged.
    pub user_data: &'a str,
    pub tags: Vec<(String, String)>,
}

/// Errors that mean "try another type or market", not "stop".
const CAPACITY_ERRORS: [&str; 7] = [
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InsufficientHostCapacity",
    "Unsupported",
    "UnfulfillableCapacity",
];

#[derive(Clone)]
pub struct Ec2 {
    client: LazyClient<Client>,
}

impl Ec2 {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Ec2 {
        Ec2 {
            client: client.into(),
        }
    }

    async fn describe(
        &self,
        filters: Vec<Filter>,
        ids: &[String],
    ) -> Result<Vec<Instance>, Ec2Error> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .set_instance_ids((!ids.is_empty()).then(|| ids.to_vec()))
                .set_next_token(token)
                .send()
                .await
                .map_err(api("DescribeInstances"))?;
            for r in page.reservations() {
                out.extend(r.instances().iter().map(instance));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    fn live() -> Filter {
        Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .build()
    }

    fn tag((key, value): &(String, String)) -> Filter {
        Filter::builder()
            .name(format!("tag:{key}"))
            .values(value)
            .build()
    }

    /// This cluster's control plane ([`pick_control_plane`]).
    pub async fn control_plane(&self, tags: &Tags) -> Result<Instance, Ec2Error> {
        let running = Filter::builder()
            .name("instance-state-name")
            .values("running")
            .build();
        let mut filters: Vec<Filter> = tags.of_control_plane().iter().map(Self::tag).collect();
        filters.push(running);
        pick_control_plane(tags, self.describe(filters, &[]).await?)
    }

    /// This cluster's pending and running workers ([`Tags::is_worker`]).
    pub async fn workers(&self, tags: &Tags) -> Result<Vec<Instance>, Ec2Error> {
        let mut filters: Vec<Filter> = tags.of_worker().iter().map(Self::tag).collect();
        filters.push(Self::live());
        let mut all = self.describe(filters, &[]).await?;
        all.retain(|i| tags.is_worker(i));
        Ok(all)
    }

    /// One instance by id, if it exists (any state).
    pub async fn get(&self, id: &str) -> Result<Option<Instance>, Ec2Error> {
        match self.describe(Vec::new(), &[id.to_owned()]).await {
            Ok(mut v) => Ok(v.pop()),
            Err(Ec2Error::Api { message, .. }) if message.contains("InvalidInstanceID") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `(subnet, zone)` of each subnet, in the given order.
    pub async fn subnet_zones(&self, ids: &[String]) -> Result<Vec<(String, String)>, Ec2Error> {
        let out = self
            .client
            .describe_subnets()
            .set_subnet_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(api("DescribeSubnets"))?;
        let mut zones = Vec::new();
        for id in ids {
            if let Some(s) = out.subnets().iter().find(|s| s.subnet_id() == Some(id)) {
                zones.push((
                    id.clone(),
                    s.availability_zone().unwrap_or_default().to_owned(),
                ));
            }
        }
        Ok(zones)
    }

    /// Launches one instance in `subnet`: Spot in each type, then On-Demand in each type,
    /// moving on only on capacity errors. Returns the instance and its market.
    pub async fn launch(&self, subnet: &str, spec: &LaunchSpec<'_>) -> Result<Instance, Ec2Error> {
        let markets: &[bool] = if spec.spot { &[true, false] } else { &[false] };
        let mut tried = Vec::new();
        let mut last = String::new();
        for &spot in markets {
            for instance_type in spec.instance_types {
                match self.run(subnet, spec, instance_type, spot).await {
                    Ok(i) => return Ok(i),
                    Err(e) => {
                        let code = e.code().unwrap_or_default().to_owned();
                        let message = DisplayErrorContext(&e).to_string();
                        if !CAPACITY_ERRORS.contains(&code.as_str()) {
                            return Err(Ec2Error::Api {
                                op: "RunInstances",
                                message,
                            });
                        }
                        tracing::warn!(
                            subnet,
                            instance_type,
                            spot,
                            code,
                            "no capacity; trying the next type or market"
                        );
                        tried.push(format!(
                            "{instance_type} {}",
                            if spot { "spot" } else { "on-demand" }
                        ));
                        last = message;
                    }
                }
            }
        }
        Err(Ec2Error::NoCapacity {
            tried: tried.join(", "),
            last,
        })
    }

    async fn run(
        &self,
        subnet: &str,
        spec: &LaunchSpec<'_>,
        instance_type: &str,
        spot: bool,
    ) -> Result<
        Instance,
        aws_sdk_ec2::error::SdkError<aws_sdk_ec2::operation::run_instances::RunInstancesError>,
    > {
        let mut tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        tags.push(
            Tag::builder()
                .key(MARKET_TAG)
                .value(if spot { "spot" } else { "on-demand" })
                .build(),
        );
        let mut request = self
            .client
            .run_instances()
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .security_group_ids(spec.security_group)
            .instance_type(InstanceType::from(instance_type))
            .user_data(base64::engine::general_purpose::STANDARD.encode(spec.user_data))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tags))
                    .build(),
            )
            .set_image_id(spec.ami_id.map(str::to_owned))
            .set_key_name(spec.key_name.map(str::to_owned));
        if let Some(profile) = spec.instance_profile {
            let p = IamInstanceProfileSpecification::builder();
            let p = if profile.starts_with("arn:") {
                p.arn(profile)
            } else {
                p.name(profile)
            };
            request = request.iam_instance_profile(p.build());
        }
        if let Some(template) = spec.launch_template {
            let t = LaunchTemplateSpecification::builder().version("$Latest");
            let t = if template.starts_with("lt-") {
                t.launch_template_id(template)
            } else {
                t.launch_template_name(template)
            };
            request = request.launch_template(t.build());
        }
        if spot {
            request = request.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .spot_options(
                        SpotMarketOptions::builder()
                            .spot_instance_type(SpotInstanceType::OneTime)
                            .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = request.send().await?;
        let mut i = out
            .instances()
            .first()
            .map(instance)
            .unwrap_or_else(|| Instance {
                id: String::new(),
                zone: String::new(),
                private_ip: None,
                private_dns: None,
                launched: 0,
                state: String::new(),
                spot,
                tags: Vec::new(),
            });
        i.spot = spot;
        Ok(i)
    }

    /// Terminates those of `ids` that are still this cluster's workers ([`Tags::is_worker`])
    /// — checked right before, whatever the caller believes. Returns them.
    pub async fn terminate_owned(
        &self,
        ids: &[String],
        tags: &Tags,
    ) -> Result<Vec<String>, Ec2Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let owned: Vec<String> = self
            .describe(Vec::new(), ids)
            .await?
            .into_iter()
            .filter(|i| tags.is_worker(i))
            .filter(|i| i.state != "terminated" && i.state != "shutting-down")
            .map(|i| i.id)
            .collect();
        if owned.is_empty() {
            return Ok(owned);
        }
        self.client
            .terminate_instances()
            .set_instance_ids(Some(owned.clone()))
            .send()
            .await
            .map_err(api("TerminateInstances"))?;
        Ok(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    fn instance(id: &str, launched: i64, tags: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            zone: "z".into(),
            private_ip: None,
            private_dns: None,
            launched,
            state: "running".into(),
            spot: false,
            tags: tags.iter().map(|(k, v)| tag(k, v)).collect(),
        }
    }

    /// The original k3s autoscaler's tags: one key for both roles, and a cluster tag.
    fn tags(cluster: Option<&str>) -> Tags {
        Tags {
            master: tag("Role", "k3s-control-plane"),
            worker: tag("Role", "k3s-worker"),
            cluster: cluster.map(|c| tag("Cluster", c)),
        }
    }

    #[test]
    fn the_control_plane_is_this_clusters_never_a_guess() {
        let blue = instance(
            "i-blue",
            100,
            &[("Role", "k3s-control-plane"), ("Cluster", "blue")],
        );
        let green = instance(
            "i-green",
            200,
            &[("Role", "k3s-control-plane"), ("Cluster", "green")],
        );
        let blue_2 = instance(
            "i-blue-2",
            150,
            &[("Role", "k3s-control-plane"), ("Cluster", "blue")],
        );
        type Case = (
            &'static str,
            Option<&'static str>,
            Vec<Instance>,
            Result<&'static str, &'static str>,
        );
        let table: [Case; 6] = [
            (
                "one, no cluster tag",
                None,
                vec![blue.clone()],
                Ok("i-blue"),
            ),
            (
                "two clusters, no cluster tag: refused, naming both",
                None,
                vec![green.clone(), blue.clone()],
                Err(
                    "2 running instances carry the master tag Role=k3s-control-plane (i-blue, i-green) and no cluster tag says which is this cluster's: tag each cluster's control plane and workers with its own cluster tag and set CLUSTER_TAG_KEY and CLUSTER_TAG_VALUE",
                ),
            ),
            (
                "two clusters, the cluster tag picks ours though the other is newer",
                Some("blue"),
                vec![green.clone(), blue.clone()],
                Ok("i-blue"),
            ),
            (
                "two servers of our cluster: the newest",
                Some("blue"),
                vec![blue.clone(), green.clone(), blue_2],
                Ok("i-blue-2"),
            ),
            (
                "only the other cluster's",
                Some("blue"),
                vec![green],
                Err(
                    "no running control-plane instance tagged Role=k3s-control-plane and Cluster=blue",
                ),
            ),
            (
                "none",
                None,
                vec![],
                Err("no running control-plane instance tagged Role=k3s-control-plane"),
            ),
        ];
        for (name, cluster, running, want) in table {
            let got = pick_control_plane(&tags(cluster), running)
                .map(|i| i.id)
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                want.map(str::to_owned).map_err(str::to_owned),
                "{name}"
            );
        }
    }

    #[test]
    fn workers_are_this_clusters_and_never_a_control_plane() {
        let table = [
            (
                "ours",
                Some("blue"),
                vec![("Role", "k3s-worker"), ("Cluster", "blue")],
                true,
            ),
            (
                "another cluster's",
                Some("blue"),
                vec![("Role", "k3s-worker"), ("Cluster", "green")],
                false,
            ),
            (
                "no cluster tag on it",
                Some("blue"),
                vec![("Role", "k3s-worker")],
                false,
            ),
            (
                "no cluster tag configured",
                None,
                vec![("Role", "k3s-worker")],
                true,
            ),
            (
                "the control plane",
                None,
                vec![("Role", "k3s-control-plane")],
                false,
            ),
            (
                "no worker tag",
                Some("blue"),
                vec![("Cluster", "blue")],
                false,
            ),
        ];
        for (name, cluster, on_it, want) in table {
            let i = instance("i-1", 0, &on_it);
            assert_eq!(tags(cluster).is_worker(&i), want, "{name}");
        }
        assert_eq!(
            tags(Some("blue")).of_worker(),
            [tag("Role", "k3s-worker"), tag("Cluster", "blue")]
        );
        assert_eq!(tags(None).of_worker(), [tag("Role", "k3s-worker")]);
    }
}
