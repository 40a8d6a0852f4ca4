//! Supervised processes: clear start-up errors, and no orphans even when the test process is
//! SIGKILLed (a child test process starts a stand-in, is killed, and the stand-in's port must
//! stop answering).

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use testbed::harness::{Moto, Prometheus, Supervised, http_get};

const CHILD_ENV: &str = "TESTBED_HARNESS_CHILD";

/// Runs only as the child of `stand_ins_die_with_a_killed_test_process`: starts the stand-in
/// named by the environment, prints its URL, and waits to be killed.
#[test]
#[ignore = "helper run by stand_ins_die_with_a_killed_test_process"]
fn hold_stand_in_until_killed() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (_moto, _prometheus, url) = match kind.as_str() {
        "moto" => {
            let moto = Moto::start().unwrap();
            let url = format!("{}/moto-api/", moto.endpoint());
            (Some(moto), None, url)
        }
        "prometheus" => {
            let prom = Prometheus::start_backfilled("x 1 1700000000\n").unwrap();
            let url = format!("{}/-/ready", prom.url());
            (None, Some(prom), url)
        }
        other => panic!("unknown {CHILD_ENV}={other}"),
    };
    println!("CHILD-READY {url}");
    loop {
        std::thread::park();
    }
}

fn port_of(url: &str) -> u16 {
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

fn assert_dies_with_killed_parent(kind: &str) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            // The test's name in this binary (`--exact`): its module path under the crate.
            "harness_process::hold_stand_in_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, kind);
    let mut test_process = Supervised::spawn("child test process", command).unwrap();
    let url = test_process
        .wait_for_line(Duration::from_secs(90), |line| {
            line.strip_prefix("CHILD-READY ").map(str::to_owned)
        })
        .unwrap();
    let (status, _) = http_get(&url).unwrap();
    assert_eq!(status, 200, "{kind} is up before the kill");

    test_process.kill(); // SIGKILL: no destructor of the child test process runs
    let port = port_of(&url);
    let until = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < until,
            "{kind} on port {port} outlived its SIGKILLed test process"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn moto_dies_with_a_killed_test_process() {
    assert_dies_with_killed_parent("moto");
}

#[test]
fn prometheus_dies_with_a_killed_test_process() {
    assert_dies_with_killed_parent("prometheus");
}

#[test]
fn early_exit_reports_status_and_output() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "echo starting; echo 'bind: address in use' >&2; exit 3",
    ]);
    let mut p = Supervised::spawn("failing", command).unwrap();
    let err = p
        .wait_for_line(Duration::from_secs(30), |l| {
            l.strip_prefix("ready").map(|_| ())
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("failing exited early"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("bind: address in use"), "{err}");
    assert!(err.contains("starting"), "{err}");
}

#[test]
fn silent_child_times_out_and_is_stopped() {
    let mut p = Supervised::spawn_wrapped("sleeper", "sleep", ["300"]).unwrap();
    let began = Instant::now();
    let err = p
        .wait_for_line(Duration::from_millis(300), |_| Some(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sleeper not ready within 300ms"), "{err}");
    assert!(began.elapsed() < Duration::from_secs(10));
    assert!(
        p.try_wait().is_some(),
        "the child is stopped after a failed start"
    );
}

#[test]
fn wait_until_sees_a_wrapped_program_exit() {
    let mut p = Supervised::spawn_wrapped("false", "sh", ["-c", "echo oops >&2; exit 7"]).unwrap();
    let err = p
        .wait_until(Duration::from_secs(30), || None::<()>)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exit status: 7"), "{err}");
    assert!(err.contains("oops"), "{err}");
}

#[test]
fn dropping_a_wrapped_program_stops_it_and_its_children() {
    // The wrapped program starts a child of its own and writes both pids.
    let mut p =
        Supervised::spawn_wrapped("family", "sh", ["-c", "sleep 300 & echo $$ $!; wait"]).unwrap();
    let pids: Vec<u32> = p
        .wait_for_line(Duration::from_secs(30), |l| {
            let pids: Vec<u32> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (pids.len() == 2).then_some(pids)
        })
        .unwrap();
    for pid in &pids {
        assert!(alive(*pid), "{pid} runs before the drop");
    }
    drop(p);
    let until = Instant::now() + Duration::from_secs(10);
    while let Some(pid) = pids.iter().find(|pid| alive(**pid)) {
        assert!(Instant::now() < until, "{pid} survived the drop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running, as opposed to gone or a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
}
