//! A K8sMetricAlarm's `scaleUpAlarmConfig` / `scaleDownAlarmConfig` string (CloudWatch
//! PutMetricAlarm JSON): alarm-sync's parse-and-check and k8s-ops' lenient alarm-name read
//! return Ok or Err on any text, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = k8s_ops::crd::metric_alarm::alarm_name_in(text);
    if let Ok(config) = alarm_sync::alarm::parse(text) {
        let _ = config.tags();
        let actions = ["arn:aws:sns:us-east-1:123456789012:scaling".to_owned()];
        let defaults = alarm_sync::alarm::Defaults {
            alarm_actions: &actions,
        };
        let _ = config.to_spec(&defaults);
    }
});
