//! The floor function, a real binary, through the Lambda Runtime API emulator: invoked with
//! `cargo lambda invoke`, answering, and logging JSON lines that carry the request id.
use std::time::Duration;

use testbed::harness::LambdaEmulator;

#[test]
fn floor_answers_through_the_runtime_api_and_logs_json_with_request_id() {
    let emulator = LambdaEmulator::start().expect("emulator");
    let mut function = emulator
        .spawn_function(
            "lambda-floor",
            env!("CARGO_BIN_EXE_lambda-floor").as_ref(),
            [("AWS_REGION", "us-east-1")],
        )
        .expect("function process");

    let event = serde_json::json!({"detail-type": "Scheduled Event", "n": 1});
    assert_eq!(emulator.invoke("lambda-floor", &event).unwrap(), event);
    let second = serde_json::json!({"n": 2});
    assert_eq!(emulator.invoke("lambda-floor", &second).unwrap(), second);

    // Both invocations logged one JSON line each, inside the runtime's span with its id.
    let mut request_ids = Vec::new();
    function
        .wait_for_line(Duration::from_secs(10), |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            if v["fields"]["decision"] == "echo" {
                request_ids.push(v["span"]["requestId"].as_str()?.to_owned());
            }
            (request_ids.len() == 2).then_some(())
        })
        .expect("two JSON log lines with a request id");
    assert_ne!(request_ids[0], request_ids[1]);
    assert!(
        request_ids.iter().all(|id| id.len() == 36),
        "{request_ids:?}"
    );
}
