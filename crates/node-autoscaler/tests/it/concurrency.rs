//! Ten invocations at once, each in its own function process (as ten Lambda sandboxes),
//! held at the moto gateway's barrier on the lease write until all ten have made it, so they
//! truly overlap: exactly one takes the lease and launches, the nine others find it held
//! (`locked`), and nothing is launched twice.
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::{scheduled, t0};

use crate::support::{DUE_AT_T0, decision_of, hold_lease_writes};

const INVOCATIONS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_invocations_one_acts() {
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    w.worker(0, "worker-a").await;
    w.deployment("web", 6, "1500m", 0);
    // No retry of a lease write held at the barrier (a retry is not another party).
    let _sandboxes: Vec<_> = (0..INVOCATIONS)
        .map(|_| {
            w.spawn(
                FUNCTION,
                &[("AWS_ATTEMPT_TIMEOUT_SECONDS", "90"), DUE_AT_T0],
            )
        })
        .collect();
    hold_lease_writes(&w, INVOCATIONS);
    let t0 = t0();
    let events = vec![scheduled(t0); INVOCATIONS];
    let outs = tokio::task::block_in_place(|| w.invoke_concurrently(FUNCTION, &events));
    let barrier = w.moto.barrier_report().expect("the barrier's report");
    w.moto.set_barrier("", &[], 0).expect("barrier disarmed");

    let mut decisions = std::collections::BTreeMap::<String, usize>::new();
    let mut launched = Vec::new();
    for out in &outs {
        let out = out.as_ref().expect("every invocation answers");
        *decisions.entry(decision_of(out)).or_default() += 1;
        if let Some(ids) = out["launched"].as_array() {
            launched.extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
        }
    }
    println!("{INVOCATIONS} concurrent invocations: {decisions:?}; lease writes {barrier:?}");
    // The proof of overlap: all ten lease writes were at the gateway at once, and DynamoDB's
    // condition let one through and refused nine.
    assert!(barrier.filled && !barrier.timed_out, "{barrier:?}");
    assert_eq!(
        (barrier.answered(200), barrier.answered(400)),
        (1, 9),
        "{barrier:?}"
    );
    assert_eq!(decisions.get("scale_up"), Some(&1), "{decisions:?}");
    assert_eq!(
        decisions.get("locked"),
        Some(&(INVOCATIONS - 1)),
        "{decisions:?}"
    );
    assert_eq!(launched.len(), 3, "{outs:?}");
    // One worker before, three launched by the one actor: nothing else in EC2.
    assert_eq!(w.live_workers().await.len(), 4);
}
