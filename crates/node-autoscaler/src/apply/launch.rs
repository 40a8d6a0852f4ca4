//! New workers: launched across the least populated zones, tagged as this cluster's workers
//! and with the event that launched them, joining the k3s cluster at boot.
use super::Context;
use super::context::K3S_API_PORT;
use crate::answer::Launched;
use crate::config::{Config, JoinToken};
use crate::decide::{self, Worker};
use crate::ec2::{Instance, LAUNCHED_BY_TAG, LaunchSpec};
use crate::error::Error;

/// Launches `count` workers across the least populated zones: the ids launched and the
/// errors (one per failed launch).
pub(super) async fn launch(
    ctx: &Context,
    control_plane: &Instance,
    workers: &[Worker],
    count: u32,
    event_id: &str,
) -> Result<Launched, Error> {
    let c = &ctx.config;
    let token = match c.join_token {
        JoinToken::Embed => Some(ctx.ssm.parameter(&c.k3s_token_param).await?),
        JoinToken::SsmAtBoot => None,
    };
    let subnets = ctx.ec2.subnet_zones(&c.subnet_ids).await?;
    let order = decide::spread(&subnets, workers, count);
    let data = user_data(
        c,
        &ctx.region,
        control_plane.private_ip.as_deref().unwrap_or_default(),
        token.as_ref().map(|t| t.expose()),
    );
    let worker = &c.tags.worker;
    let mut tags = c.tags.of_worker();
    tags.extend([
        ("Name".into(), format!("{}-{}", worker.0, worker.1)),
        (LAUNCHED_BY_TAG.into(), event_id.to_owned()),
    ]);
    let spec = LaunchSpec {
        ami_id: c.ami_id.as_deref(),
        launch_template: c.launch_template.as_deref(),
        instance_types: &c.instance_types,
        spot: c.spot,
        security_group: &c.security_group,
        instance_profile: c.instance_profile.as_deref(),
        key_name: c.key_name.as_deref(),
        user_data: &data,
        tags,
    };
    let results =
        futures_util::future::join_all(order.iter().map(|subnet| ctx.ec2.launch(subnet, &spec)))
            .await;
    let mut out = Launched {
        launched: Vec::new(),
        errors: Vec::new(),
    };
    for (subnet, r) in order.iter().zip(results) {
        match r {
            Ok(i) => {
                tracing::info!(
                    decision = "launched",
                    instance = i.id,
                    subnet,
                    zone = i.zone,
                    spot = i.spot,
                    "worker launched"
                );
                out.launched.push(i.id);
            }
            Err(e) => {
                tracing::warn!(subnet, error = %e, "launch failed");
                out.errors.push(e.to_string());
            }
        }
    }
    Ok(out)
}

/// The live instances an earlier attempt at the event `event_id` launched.
pub(super) fn launched_by(instances: &[Instance], event_id: &str) -> Vec<String> {
    if event_id.is_empty() {
        return Vec::new();
    }
    let tag = (LAUNCHED_BY_TAG.to_owned(), event_id.to_owned());
    instances
        .iter()
        .filter(|i| i.tagged(&tag) && matches!(i.state.as_str(), "pending" | "running"))
        .map(|i| i.id.clone())
        .collect()
}

fn user_data(c: &Config, region: &str, server_ip: &str, token: Option<&str>) -> String {
    let token_line = match token {
        Some(t) => format!("K3S_TOKEN='{t}'"),
        None => format!(
            "K3S_TOKEN=\"$(aws ssm get-parameter --region {region} --with-decryption --name '{}' --query Parameter.Value --output text)\"",
            c.k3s_token_param
        ),
    };
    format!(
        r#"#!/bin/bash
# node-autoscaler: join the k3s cluster as an agent. The provider id lets the autoscaler
# match this node to its instance.
set -euo pipefail
IMDS=http://169.254.169.254/latest
T=$(curl -sf -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
ID=$(curl -sf -H "X-aws-ec2-metadata-token: $T" $IMDS/meta-data/instance-id)
AZ=$(curl -sf -H "X-aws-ec2-metadata-token: $T" $IMDS/meta-data/placement/availability-zone)
{token_line}
export K3S_TOKEN
curl -sfL https://get.k3s.io | K3S_URL='https://{server_ip}:{K3S_API_PORT}' sh -s - agent --kubelet-arg="provider-id=aws:///$AZ/$ID"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_event_finds_the_replacement_it_launched() {
        let i = |id: &str, state: &str, by: &str| Instance {
            id: id.into(),
            zone: "z".into(),
            private_ip: None,
            private_dns: None,
            launched: 0,
            state: state.into(),
            spot: true,
            tags: vec![(LAUNCHED_BY_TAG.into(), by.into())],
        };
        let instances = [
            i("i-1", "running", "evt-1"),
            i("i-2", "running", "evt-2"),
            i("i-3", "terminated", "evt-1"),
            i("i-4", "pending", "evt-1"),
        ];
        assert_eq!(launched_by(&instances, "evt-1"), ["i-1", "i-4"]);
        assert!(launched_by(&instances, "evt-3").is_empty());
        assert!(launched_by(&[i("i-5", "running", "")], "").is_empty());
    }

    #[test]
    fn user_data_fetches_the_token_at_boot_unless_embedded() {
        let env = crate::config::tests::minimal();
        let c = Config::from_env(lambda_support::Env::from_pairs(env)).unwrap();
        let boot = user_data(&c, "eu-west-1", "10.0.0.10", None);
        assert!(boot.contains(
            "aws ssm get-parameter --region eu-west-1 --with-decryption --name '/k3s/token'"
        ));
        assert!(boot.contains("K3S_URL='https://10.0.0.10:6443'"));
        assert!(boot.contains("provider-id=aws:///$AZ/$ID"));
        let embedded = user_data(&c, "eu-west-1", "10.0.0.10", Some("K10abc::server:xyz"));
        assert!(embedded.contains("K3S_TOKEN='K10abc::server:xyz'"));
        assert!(!embedded.contains("get-parameter"));
    }
}
