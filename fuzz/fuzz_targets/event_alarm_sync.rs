//! alarm-sync's event decoder on arbitrary bytes: whatever JSON arrives, `event::decode` returns
//! Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = alarm_sync::event::decode(event);
});
