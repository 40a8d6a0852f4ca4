//! iam-sync's ConfigMap parsers on any text: the group mapping (`mapGroups`) and aws-auth's
//! `mapUsers` return Ok or Err, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = iam_sync::mapping::Mapping::parse("fuzz", Some(text));
    let _ = iam_sync::aws_auth::parse_map_users(text);
});
