//! Ten invocations at once, each in its own function process (as ten Lambda sandboxes):
//! exactly one takes the lease and launches; the others find it held (or, arriving after,
//! the up cooldown), and nothing is launched twice.
use testbed::world::k3s::{FUNCTION, K3s, steady_metrics};
use testbed::world::{scheduled, t0};

const INVOCATIONS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_invocations_one_acts() {
    let w = K3s::start(&steady_metrics(0.5, 5)).await;
    w.worker(0, "worker-a").await;
    w.deployment("web", 6, "1500m", 0);
    let _sandboxes: Vec<_> = (0..INVOCATIONS).map(|_| w.spawn(FUNCTION, &[])).collect();
    let t0 = t0();
    let events = vec![scheduled(t0); INVOCATIONS];
    let outs = tokio::task::block_in_place(|| w.invoke_concurrently(FUNCTION, &events));

    let mut decisions = std::collections::BTreeMap::<String, usize>::new();
    let mut launched = Vec::new();
    for out in &outs {
        let out = out.as_ref().expect("every invocation answers");
        let decision = match (out["decision"].as_str(), out["why"].as_str()) {
            (Some("hold"), Some(why)) => format!("hold/{why}"),
            (Some(d), _) => d.to_owned(),
            _ => panic!("no decision: {out}"),
        };
        *decisions.entry(decision).or_default() += 1;
        if let Some(ids) = out["launched"].as_array() {
            launched.extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
        }
    }
    println!("{INVOCATIONS} concurrent invocations: {decisions:?}");
    assert_eq!(decisions.get("scale_up"), Some(&1), "{decisions:?}");
    assert!(
        decisions
            .keys()
            .all(|d| d == "scale_up" || d == "locked" || d == "hold/cooldown_up"),
        "{decisions:?}"
    );
    assert_eq!(launched.len(), 3, "{outs:?}");
    // One worker before, three launched by the one actor: nothing else in EC2.
    assert_eq!(w.live_workers().await.len(), 4);
}
