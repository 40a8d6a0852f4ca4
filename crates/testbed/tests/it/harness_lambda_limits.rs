//! The emulator enforces each function's memory size and timeout as Lambda does
//! (`harness::lambda::limits`): a test function past its memory size fails, one past its
//! timeout is failed at the timeout and its process killed, and the suite's functions run
//! with the template's values.
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use testbed::harness::LambdaEmulator;
use testbed::harness::lambda::Limits;

const PROBE: &str = "lambda-probe";

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lambda-probe"))
}

const NO_ENV: [(&str, &str); 0] = [];

#[test]
fn a_function_needing_more_than_its_memory_size_fails() {
    let emulator = LambdaEmulator::start().unwrap();
    let limits = Limits {
        memory_mb: 128,
        timeout: Duration::from_secs(30),
    };
    let limited = emulator
        .spawn_limited(PROBE, probe(), NO_ENV, Some(limits))
        .unwrap();
    let fits = emulator.invoke(PROBE, &json!({"allocate_mb": 64})).unwrap();
    assert_eq!(fits["allocated_mb"], 64, "{fits}");
    let err = emulator
        .invoke(PROBE, &json!({"allocate_mb": 160}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Runtime exited"), "{err}");
    drop(limited);
    // The same allocation without the limit succeeds: the limit failed it, not the machine.
    let _unlimited = emulator
        .spawn_limited(PROBE, probe(), NO_ENV, None)
        .unwrap();
    let big = emulator
        .invoke(PROBE, &json!({"allocate_mb": 160}))
        .unwrap();
    assert_eq!(big["allocated_mb"], 160, "{big}");
}

#[test]
fn a_function_running_past_its_timeout_is_failed_at_the_timeout_and_killed() {
    let emulator = LambdaEmulator::start().unwrap();
    let limits = Limits {
        memory_mb: 128,
        timeout: Duration::from_secs(2),
    };
    let mut function = emulator
        .spawn_limited(PROBE, probe(), NO_ENV, Some(limits))
        .unwrap();
    let quick = emulator.invoke(PROBE, &json!({"sleep_ms": 200})).unwrap();
    assert_eq!(quick["allocated_mb"], 0, "{quick}");
    let began = Instant::now();
    let err = emulator
        .invoke(PROBE, &json!({"sleep_ms": 60_000}))
        .unwrap_err()
        .to_string();
    let took = began.elapsed();
    // cargo lambda invoke wraps its error message in a box of its own: words only.
    let err = err
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(err.contains("Task timed out after 2.00 seconds"), "{err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "failed after {took:?}"
    );
    // Discarded as Lambda discards the sandbox: the process is gone.
    let until = Instant::now() + Duration::from_secs(5);
    while function.try_wait().is_none() {
        assert!(Instant::now() < until, "the timed-out function still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_suites_functions_run_with_the_templates_memory_size_and_timeout() {
    let out = std::process::Command::new("python3")
        .current_dir(testbed::world::repo(""))
        .args([
            "scripts/sam-expand.py",
            "ClusterName=x",
            "ApiServer=https://x",
            "CertAuthority=eA==",
        ])
        .output()
        .expect("python3 scripts/sam-expand.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut seen = 0;
    for resource in template["Resources"].as_object().unwrap().values() {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let p = &resource["Properties"];
        let name = p["FunctionName"].as_str().unwrap();
        assert_eq!(
            Limits::of_function(name),
            Some(Limits {
                memory_mb: p["MemorySize"].as_u64().unwrap(),
                timeout: Duration::from_secs(p["Timeout"].as_u64().unwrap()),
            }),
            "{name}"
        );
        seen += 1;
    }
    assert_eq!(seen, 6, "the template's functions");
}
