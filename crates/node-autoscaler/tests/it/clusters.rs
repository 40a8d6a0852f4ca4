//! Two clusters share the master and worker tags (as every cluster of the original k3s
//! autoscaler did): without a cluster tag the function refuses to guess whose control plane
//! is whose, and launches or terminates nothing; with `CLUSTER_TAG_KEY`/`CLUSTER_TAG_VALUE` it
//! picks its own control plane (the other was launched after it), counts, launches and tags
//! only its own
//! workers, and never touches the other cluster's instances — not even the other's worker
//! that, having no Node here, would look like one of its own that never joined.
use base64::Engine;
use testbed::world::k3s::{FUNCTION, K3s, MASTER_TAG, WORKER_TAG, steady_metrics};
use testbed::world::{at, scheduled, t0};

use crate::original::private_ip;
use crate::support::{Scenarios, spot_warning};

const OURS: (&str, &str) = ("Cluster", "blue");
const THEIRS: (&str, &str) = ("Cluster", "green");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_share_the_master_tag_and_each_scales_only_its_own() {
    // 5 pods pending for the whole window.
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    w.tag(&[&w.master], &[OURS]).await;
    let ours = w.instance(0, &[WORKER_TAG, OURS]).await;
    w.join(&ours, "worker-a").await;
    // The other cluster: its control plane, launched after ours, and a worker of its own
    // (its Node is in its own cluster, not here).
    let their_master = w.instance(1, &[MASTER_TAG, THEIRS]).await;
    let their_worker = w.instance(2, &[WORKER_TAG, THEIRS]).await;
    assert_ne!(
        private_ip(&w, &w.master).await,
        private_ip(&w, &their_master).await
    );
    // 6 × 1.5 CPU on one 2-CPU worker: 5 pending.
    w.deployment("web", 6, "1500m", 0);
    let t0 = t0();
    let untouched = async || {
        for id in [&w.master, &their_master, &their_worker] {
            assert_eq!(w.state(id).await, "running", "{id}");
        }
        for (id, cluster) in [(&their_master, THEIRS), (&their_worker, THEIRS)] {
            assert_eq!(w.describe(id).await["tags"][cluster.0], cluster.1);
        }
    };

    // No cluster tag: two control planes carry the master tag; refused, nothing launched.
    let mut p = w.spawn(FUNCTION, &[]);
    let err = w
        .invoke(FUNCTION, &scheduled(t0))
        .expect_err("refused to guess");
    // `cargo lambda invoke` wraps the message in a box: compared without it.
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    let mut ids = [w.master.as_str(), their_master.as_str()];
    ids.sort();
    let want = format!(
        "2 running instances carry the master tag {}={} ({}) and no cluster tag says which is this cluster's: tag each cluster's control plane and workers with its own cluster tag and set CLUSTER_TAG_KEY and CLUSTER_TAG_VALUE",
        MASTER_TAG.0,
        MASTER_TAG.1,
        ids.join(", ")
    );
    assert!(squash(&err).contains(&squash(&want)), "{err}");
    assert!(err.contains("ControlPlaneAmbiguous"), "{err}");
    let mut all = vec![ours.clone(), their_worker.clone()];
    all.sort();
    assert_eq!(w.live_workers().await, all, "nothing launched");
    untouched().await;
    p.kill();

    // With the cluster tag, 400 s on (past JOIN_TIMEOUT_SEC of the other's worker, had it
    // been taken for ours): our one worker counted, ours launched, theirs left alone.
    let mut p = w.spawn(
        FUNCTION,
        &[("CLUSTER_TAG_KEY", OURS.0), ("CLUSTER_TAG_VALUE", OURS.1)],
    );
    let out = w
        .invoke(FUNCTION, &scheduled(at(t0, 400)))
        .expect("our run");
    assert_eq!(
        (
            out["decision"].as_str(),
            out["workers"].as_u64(),
            out["from"].as_u64()
        ),
        (Some("scale_up"), Some(1), Some(1)),
        "{out}"
    );
    assert_eq!(out["unjoinedTerminated"], serde_json::json!([]), "{out}");
    let launched: Vec<String> = serde_json::from_value(out["launched"].clone()).unwrap();
    assert_eq!(launched.len(), 3, "{out}");
    let our_ip = private_ip(&w, &w.master).await;
    for id in &launched {
        let i = w.describe(id).await;
        assert_eq!(i["tags"][WORKER_TAG.0], WORKER_TAG.1, "{i}");
        assert_eq!(i["tags"][OURS.0], OURS.1, "{i}");
        let data = w
            .ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .expect("user data");
        let data = base64::engine::general_purpose::STANDARD
            .decode(data.user_data().and_then(|d| d.value()).unwrap_or_default())
            .expect("base64");
        assert!(
            String::from_utf8_lossy(&data).contains(&format!("K3S_URL='https://{our_ip}:6443'")),
            "{id} joins our control plane {our_ip}"
        );
    }
    untouched().await;

    // EC2 events about the other cluster's instances: not ours.
    for (id, why) in [
        (&their_worker, "not_ours"),
        (&their_master, "control_plane"),
    ] {
        let out = w
            .invoke(FUNCTION, &spot_warning(at(t0, 420), id))
            .expect("their warning");
        assert_eq!(
            (out["decision"].as_str(), out["why"].as_str()),
            (Some("ignored"), Some(why)),
            "{out}"
        );
    }
    untouched().await;
    p.kill();
}
