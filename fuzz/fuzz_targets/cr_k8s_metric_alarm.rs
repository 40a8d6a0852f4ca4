//! A K8sMetricAlarm as the API server could return it: deserialized, then everything that
//! reads its spec without I/O (alarm names, alarm-sync's config check, alarm-scaler's step
//! and target from several replica counts) returns, never panics.
#![no_main]

use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, alarm_name_in, owner_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(alarm) = serde_json::from_slice::<K8sMetricAlarm>(data) else {
        return;
    };
    for direction in [Direction::Up, Direction::Down] {
        if let Some(config) = alarm.spec.alarm_config(direction) {
            let _ = alarm_name_in(config);
            let _ = alarm_sync::alarm::parse(config);
        }
        for current in [i32::MIN, -1, 0, 1, 7, 1_000, i32::MAX - 1, i32::MAX] {
            let _ = alarm_scaler::decide::step(alarm.spec.behavior(direction), current);
            let _ = alarm_scaler::decide::target(&alarm.spec, direction, current);
        }
        if let Some(status) = &alarm.status {
            let _ = status.last_scale(direction);
        }
    }
    let name = alarm_name_in(alarm.spec.scale_up_alarm_config.as_deref().unwrap_or("{}"));
    let _ = owner_of(std::slice::from_ref(&alarm), name.as_deref().unwrap_or(""));
});
