//! `make bench`: prints the suite's figures as a Markdown table. Measures, never asserts.
//!
//! usage: suite-bench --release-dir target/release
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testbed::bench::{median_iqr, process_time, sorted, startup};

const STARTUP_RUNS: usize = 30;
const PROCESS_RUNS: usize = 20;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("target/release");
    while let Some(a) = args.next() {
        if a == "--release-dir" {
            dir = PathBuf::from(args.next().expect("--release-dir needs a value"));
        }
    }
    println!("| figure | median | p25–p75 | runs | command |");
    println!("|---|---|---|---|---|");

    // Start-up floor: the bare lambda_runtime function.
    let floor = dir.join("lambda-floor");
    let samples = sorted(STARTUP_RUNS, || {
        let s = startup(&floor, &[]).expect("floor start-up");
        (s.to_first_poll, s.peak_rss_kib)
    });
    let times: Vec<Duration> = {
        let mut t: Vec<_> = samples.iter().map(|s| s.0).collect();
        t.sort();
        t
    };
    let rss: Vec<u64> = {
        let mut r: Vec<_> = samples.iter().map(|s| s.1).collect();
        r.sort();
        r
    };
    let (m, lo, hi) = median_iqr(&times);
    println!(
        "| floor start-up (spawn → first Runtime API poll) | {} | {}–{} | {STARTUP_RUNS} | make bench |",
        ms(m),
        ms(lo),
        ms(hi)
    );
    let (m, lo, hi) = median_iqr(&rss);
    println!(
        "| floor peak RSS at first poll | {m} KiB | {lo}–{hi} KiB | {STARTUP_RUNS} | make bench |"
    );

    // eks-token against its peer, whole process, same machine, same run.
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let run = |program: &PathBuf, aws: bool| {
        let mut c = Command::new(program);
        if aws {
            c.args(["eks", "get-token"]);
        }
        c.args(["--cluster-name", "bench", "--region", "us-west-2"])
            .envs(creds.iter().copied());
        process_time(&mut c).expect("token process")
    };
    let ours = sorted(PROCESS_RUNS, || run(&dir.join("eks-token"), false));
    let theirs = sorted(PROCESS_RUNS / 2, || run(&PathBuf::from("aws"), true));
    let (om, olo, ohi) = median_iqr(&ours);
    let (tm, tlo, thi) = median_iqr(&theirs);
    println!(
        "| eks-token, whole process | {} | {}–{} | {PROCESS_RUNS} | make bench |",
        ms(om),
        ms(olo),
        ms(ohi)
    );
    println!(
        "| aws eks get-token, whole process | {} | {}–{} | {} | make bench |",
        ms(tm),
        ms(tlo),
        ms(thi),
        PROCESS_RUNS / 2
    );
    println!(
        "| eks-token speed-up over aws eks get-token (target ≥ 50×) | {:.0}× | | | make bench |",
        tm.as_secs_f64() / om.as_secs_f64()
    );
}
