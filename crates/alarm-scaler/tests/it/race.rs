//! One notification delivered to several function processes at once (SNS delivering a
//! message twice, to two sandboxes, at the same moment): the claims of the step are held at
//! the cluster's front until every delivery has made its own, so they race on one
//! resourceVersion. The API server takes one and refuses the others with 409; those look
//! again, find the step recorded and answer `duplicate`. One step, one Event.
use testbed::harness::cluster::Barrier;

use crate::kinds::{now, sns};
use crate::support::{self, FUNCTION};

const NS: &str = "web";
const DELIVERIES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_raced_by_four_processes_steps_once_and_the_others_lose_with_409() {
    let (w, up) = support::web_world().await;
    let _sandboxes: Vec<_> = (0..DELIVERIES).map(|_| w.spawn(FUNCTION, &[])).collect();
    // The claim: a merge patch of the resource's status, guarded by its resourceVersion.
    w.cluster.set_barrier(Some(Barrier::new(
        &["patch"],
        &["k8smetricalarms/status"],
        DELIVERIES,
    )));
    let event = sns(&up, "ALARM", now(), "msg-raced");
    let outs =
        tokio::task::block_in_place(|| w.invoke_concurrently(FUNCTION, &vec![event; DELIVERIES]));
    let claims = w.cluster.barrier_report();
    w.cluster.set_barrier(None);

    let mut decisions = std::collections::BTreeMap::<String, usize>::new();
    for out in &outs {
        let out = out.as_ref().expect("every delivery answers");
        let decision = out["outcomes"][0]["decision"].as_str().unwrap_or("?");
        *decisions.entry(decision.to_owned()).or_default() += 1;
    }
    println!("{DELIVERIES} deliveries at once: {decisions:?}; claims {claims:?}");
    // All four claims were at the front together; one went through, three met 409.
    assert!(claims.filled && !claims.timed_out, "{claims:?}");
    assert_eq!(
        (claims.answered(200), claims.answered(409)),
        (1, DELIVERIES - 1),
        "{claims:?}"
    );
    assert_eq!(decisions.get("scale_up"), Some(&1), "{decisions:?}");
    assert_eq!(
        decisions.get("duplicate"),
        Some(&(DELIVERIES - 1)),
        "{decisions:?}"
    );
    // Up: the larger of 2 pods and 50 %, once.
    assert_eq!(w.replicas(NS, "web").await, 6);
    assert_eq!(w.events(NS, "web").await.len(), 1);
}
