//! `make demo` works: the demo binary runs every function on the stand-ins, each acts as
//! the scenario says, and no credential reaches a function's log.
use std::process::Command;

#[test]
fn the_demo_shows_every_function_acting() {
    let out = Command::new(env!("CARGO_BIN_EXE_suite-demo"))
        .output()
        .expect("suite-demo runs");
    assert_every_function_acted(&out);
}

/// The demo ran to its end, and every function did what the scenario says.
pub fn assert_every_function_acted(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for function in demo::BINARIES {
        assert!(
            stdout.contains(&format!("━━━ {function} ━━━")),
            "{function} missing:\n{stdout}"
        );
    }
    for expected in [
        "CloudWatch alarms: web-http-rate-high, web-cpu-low",
        "deployment web/web replicas=4, alarm web-http-rate-high OK",
        "deployment default/worker replicas=3",
        "orders-consumer reserved concurrency 6",
        "(unchanged: dry run)",
        "as \"alice@example.com\" in [\"dev-readers\"]",
        "launched: i-",
        ": 0 found.",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
}
