//! The original k3s autoscaler's environment (`original.env`: its names and values exactly)
//! on the real binary. As it is, without a CA, the init fails with the error
//! docs/node-autoscaler.md documents, before touching anything. Given a CA (and the
//! stand-ins' tables, subnets, AMI and parameters in place of its Pulumi outputs), it runs
//! with the same meaning: the control plane and workers are found by its `Role` and
//! `Cluster` tags, `CPU_UP=0.70` is 70 % — a cluster at 50 % CPU holds, at 90 % it scales up
//! (read as 0.7 %, both would) — and the worker is a `WORKER_INSTANCE_TYPE`, tagged as the
//! original tagged its workers.
use std::time::Duration;

use base64::Engine;
use node_autoscaler::config::NO_CA;
use node_autoscaler::config::known::VARIABLES;
use testbed::harness::eventually;
use testbed::world::k3s::{FUNCTION, K3s, phased_metrics};
use testbed::world::{at, scheduled, t0};

use crate::support::Scenarios;

/// The original's variables whose values are Pulumi outputs there: the stand-ins' own here.
const STAND_INS: [&str; 9] = [
    "STATE_TABLE",
    "LOGS_TABLE",
    "WORKER_AMI_ID",
    "WORKER_SUBNET_IDS",
    "WORKER_SG_ID",
    "K3S_CLUSTER_TOKEN_PARAM",
    "K8S_API_TOKEN_PARAM",
    "WORKER_INSTANCE_PROFILE",
    "WORKER_KEY_NAME",
];

fn original() -> Vec<(&'static str, &'static str)> {
    include_str!("original.env")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('=').expect("KEY=VALUE"))
        .collect()
}

/// The original's tags (`Role` for both roles, `Cluster` on both).
const MASTER: [(&str, &str); 2] = [("Role", "k3s-control-plane"), ("Cluster", "k3s-autoscaler")];
const WORKER: [(&str, &str); 2] = [("Role", "k3s-worker"), ("Cluster", "k3s-autoscaler")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_environment_fails_for_its_ca_alone_then_keeps_its_meaning() {
    let t0 = t0();
    // 50 % CPU until t0 + 60 s, 90 % from then on; nothing pending.
    let w = K3s::start(&phased_metrics(t0.as_second() + 60, (0.5, 0), (0.9, 0))).await;
    w.tag(&[&w.master], &MASTER).await;
    let mut workers = Vec::new();
    for (zone, node) in [(0, "worker-a"), (1, "worker-b")] {
        let id = w.instance(zone, &WORKER).await;
        w.join(&id, node).await;
        workers.push(id);
    }

    // As it is: every variable of this function the fixture does not set is unset (the
    // stand-ins' ones included), so the process sees the original's environment alone (plus
    // AWS's own variables). The init fails with the one documented problem.
    let fixture = original();
    let exact: Vec<(&str, &str)> = VARIABLES
        .iter()
        .map(|v| {
            let value = fixture.iter().find(|(k, _)| k == v).map_or("", |(_, x)| *x);
            (*v, value)
        })
        .collect();
    let mut p = w.spawn(FUNCTION, &exact);
    eventually(
        "the function to exit at init",
        Duration::from_secs(30),
        || {
            let exited = p.try_wait();
            async move { exited }
        },
    )
    .await;
    // main returns the configuration error: its problems, this one alone.
    let output = p.output_tail();
    assert!(
        output.contains(&format!("problems: [{NO_CA:?}]")),
        "{output}"
    );
    assert!(
        !output.contains("ignored: variables"),
        "no name of the original is unknown: {output}"
    );
    for id in workers.iter().chain([&w.master]) {
        assert_eq!(w.state(id).await, "running");
    }
    assert!(w.items().await.is_empty(), "nothing written");

    // Given a CA (the stand-ins' CERT_AUTHORITY, which the world sets, is left in place), and
    // the stand-ins' resources for the Pulumi outputs. One more variable, a name the original
    // never had, shows how an unknown one is reported.
    let mut env: Vec<(&str, &str)> = fixture
        .iter()
        .copied()
        .filter(|(k, _)| !STAND_INS.contains(k))
        .collect();
    // The world's own settings of this function that the original's environment leaves to
    // their defaults.
    env.extend([
        ("WORKER_INSTANCE_TYPES", ""),
        ("LEASE_SEC", ""),
        ("SPOT_DRAIN_SEC", ""),
        ("MAX_BATCH_DOWN", "1"),
    ]);
    let mut p = w.spawn(FUNCTION, &env);
    let warned = p
        .wait_for_json(Duration::from_secs(10), |v| {
            v["fields"]["variables"].is_string()
        })
        .expect("the unknown variable reported at init");
    assert_eq!(warned["fields"]["variables"], "MAX_BATCH_DOWN", "{warned}");
    assert!(
        warned["level"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case("warn")),
        "{warned}"
    );

    // 50 % CPU, two workers (MIN_WORKERS=2): CPU_UP is 70 %, not 0.7 %.
    let out = w.invoke(FUNCTION, &scheduled(t0)).expect("run at 50 %");
    assert_eq!(
        (
            out["decision"].as_str(),
            out["why"].as_str(),
            out["workers"].as_u64()
        ),
        (Some("hold"), Some("steady"), Some(2)),
        "{out}"
    );
    // 90 %: above 70 %; ⌈2 × 90 / 70⌉ − 2 = 1 worker.
    let out = w
        .invoke(FUNCTION, &scheduled(at(t0, 600)))
        .expect("run at 90 %");
    assert_eq!(
        (
            out["decision"].as_str(),
            out["from"].as_u64(),
            out["to"].as_u64()
        ),
        (Some("scale_up"), Some(2), Some(3)),
        "{out}"
    );
    assert!(
        out["reason"]
            .as_str()
            .is_some_and(|r| r.contains("above CPU_UP 70%")),
        "{out}"
    );
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 1, "{out}");
    let i = w.describe(&launched[0]).await;
    assert_eq!(i["type"], "t3.medium", "WORKER_INSTANCE_TYPE: {i}");
    for (k, v) in WORKER {
        assert_eq!(i["tags"][k], v, "{i}");
    }
    // It joins the original's control plane.
    let data = w
        .ec2
        .describe_instance_attribute()
        .instance_id(&launched[0])
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let data = base64::engine::general_purpose::STANDARD
        .decode(data.user_data().and_then(|d| d.value()).unwrap_or_default())
        .expect("base64");
    let master_ip = private_ip(&w, &w.master).await;
    assert!(
        String::from_utf8_lossy(&data).contains(&format!("K3S_URL='https://{master_ip}:6443'")),
        "joins {master_ip}"
    );
    p.kill();
}

/// The private IP moto gave instance `id`.
pub async fn private_ip(w: &K3s, id: &str) -> String {
    w.instance_of(id)
        .await
        .private_ip_address()
        .expect("a private IP")
        .to_owned()
}
