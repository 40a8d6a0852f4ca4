//! The forecast end to end: with `FORECAST_PERIOD_SEC` set, each run records the demand it
//! saw in the state table's `demand` item, and demand seen one period ago, just ahead of now,
//! launches workers before any pod waits; off (the default), neither.
use aws_sdk_dynamodb::types::AttributeValue;
use testbed::world::k3s::{FUNCTION, K3s, STATE_TABLE, steady_metrics};
use testbed::world::{scheduled, t0};

use crate::support::{DUE_AT_T0, decision_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_seen_a_period_ago_launches_ahead_and_each_run_records_its_own() {
    let w = K3s::start(&steady_metrics(0.3, 0)).await;
    w.worker(0, "worker-a").await;
    // Two pods of 500m run; nothing waits.
    w.deployment("web", 2, "500m", 0);
    w.settle("web", 2);
    let t0 = t0();
    let minute = |t: i64| t - t.rem_euclid(60);
    let now = t0.as_second();
    // An hour ago, two minutes ahead of now: 12 pod slots were asked.
    let ago = minute(now - 3600 + 120);
    w.ddb
        .put_item()
        .table_name(STATE_TABLE)
        .item("pk", AttributeValue::S("demand".into()))
        .item(
            "slots",
            AttributeValue::M([(ago.to_string(), AttributeValue::N("12".into()))].into()),
        )
        .send()
        .await
        .expect("seed the history");
    let slots = || async {
        let item = w
            .ddb
            .get_item()
            .table_name(STATE_TABLE)
            .key("pk", AttributeValue::S("demand".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get demand");
        let item = item.item().cloned().unwrap_or_default();
        let mut slots: Vec<(i64, String)> = item
            .get("slots")
            .and_then(|v| v.as_m().ok())
            .into_iter()
            .flatten()
            .map(|(t, v)| (t.parse().unwrap(), v.as_n().unwrap().clone()))
            .collect();
        slots.sort();
        slots
    };

    // Off (the default): the history is neither read nor written; nothing to do.
    {
        let mut off = w.spawn(FUNCTION, &[DUE_AT_T0]);
        let out = w.invoke(FUNCTION, &scheduled(t0)).expect("forecast off");
        assert_ne!(decision_of(&out), "scale_up", "{out}");
        assert_eq!(slots().await, [(ago, "12".to_owned())], "untouched");
        off.kill();
    }

    // On: 12 expected within the lookahead, 2 asked now: 10 free slots wanted, 2 free on
    // worker-a (2 CPU, 1 used, 500m a slot): ⌈8 / 4⌉ = 2 workers, before any pod waits.
    let _on = w.spawn(FUNCTION, &[DUE_AT_T0, ("FORECAST_PERIOD_SEC", "3600")]);
    let out = w.invoke(FUNCTION, &scheduled(t0)).expect("forecast on");
    assert_eq!(decision_of(&out), "scale_up", "{out}");
    let reason = out["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("forecast: 12 pod slots asked one FORECAST_PERIOD_SEC ago, 2 now"),
        "{out}"
    );
    assert_eq!(out["launched"].as_array().map(Vec::len), Some(2), "{out}");
    assert_eq!(w.live_workers().await.len(), 3);
    // This run's demand is recorded beside the older sample, which a later run still reads.
    assert_eq!(
        slots().await,
        [(ago, "12".to_owned()), (minute(now), "2".to_owned())]
    );
}
