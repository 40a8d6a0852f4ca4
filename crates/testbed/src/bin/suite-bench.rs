//! `make bench`: prints the suite's figures as a Markdown table. Measures, never asserts.
//!
//! usage: suite-bench --release-dir target/release [--eks-token-only | --cold-start-only]
//!        suite-bench --rss-breakdown BINARY [--runs N] [--cached]
//!
//! `--rss-breakdown`, by hand: BINARY's peak RSS at its first poll, N starts (7), and which
//! mappings held it in the last (`testbed::bench::resident_at_first_poll`; `--cached`: the
//! binary read whole before each start, as `make bench` reads it).
//!
//! With `SUITE_BENCH_FIGURES=<file>`, each figure a target of BENCHMARKS.md applies to is also
//! appended to that file as a JSON line `{"figure", "subject", "value"}` for `make
//! bench-check`, which compares it with the targets table.
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testbed::bench::{
    FUNCTIONS, env_pairs, median_iqr, process_time, resident_at_first_poll, sorted, startup,
    startup_env,
};

/// Every function binary of the suite, with the variables its init needs beyond the common
/// ones (its init must succeed for it to reach its first poll).
const STARTUP_RUNS: usize = 30;
const PROCESS_RUNS: usize = 20;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("target/release");
    let (mut eks_token_only, mut cold_start_only, mut cached) = (false, false, false);
    let (mut breakdown, mut runs) = (None, 7);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--release-dir" => {
                dir = PathBuf::from(args.next().expect("--release-dir needs a value"))
            }
            "--rss-breakdown" => {
                breakdown = Some(PathBuf::from(
                    args.next().expect("--rss-breakdown needs a binary"),
                ))
            }
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--runs needs a number")
            }
            _ => {}
        }
        eks_token_only |= a == "--eks-token-only";
        cold_start_only |= a == "--cold-start-only";
        cached |= a == "--cached";
    }
    if let Some(binary) = breakdown {
        rss_breakdown(&binary, runs, cached);
        return;
    }
    println!("| figure | median | p25–p75 | runs | command |");
    println!("|---|---|---|---|---|");
    if eks_token_only {
        eks_token(&dir);
        return;
    }
    if cold_start_only {
        cold_start(&dir);
        return;
    }

    // Start-up floor: the bare lambda_runtime function, measured alone first (its own
    // figure), then again interleaved with each function's runs, so that each ratio compares
    // runs made under the same conditions (a 2-core machine's load drifts within a minute).
    let floor = dir.join("lambda-floor");
    let samples = sorted(STARTUP_RUNS, || {
        let s = startup(&floor, &[]).expect("floor start-up");
        (s.to_first_poll, s.peak_rss_kib)
    });
    let (times, rss) = split(&samples);
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
    functions(&dir, &floor);
    eks_token(&dir);
    cold_start(&dir);
}

/// A figure a target applies to, for `make bench-check` (see the module's notes).
fn figure(id: &str, subject: &str, value: f64) {
    let Some(path) = std::env::var_os("SUITE_BENCH_FIGURES") else {
        return;
    };
    let line = serde_json::json!({ "figure": id, "subject": subject, "value": value });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("SUITE_BENCH_FIGURES file");
    std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).expect("figures");
}

/// Cold start, whole: each function to its first invocation's response on its stand-ins,
/// against (a), (b) and (c) making its first remote calls (its first AWS call and its first
/// Kubernetes request) in the same run, then the same work warm ([`testbed::bench::cold`]):
/// its rows, then its ratios — of the whole cold starts (unlike work: the function does its
/// whole job, the others its first calls) and of
/// the cold extras (whole less warm: like with like), the latter checked against the targets.
fn cold_start(dir: &std::path::Path) {
    for (subject, rows) in testbed::bench::cold::measure(dir) {
        let name = subject.function;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                println!("| cold start, whole: {name} | failed: {e} | | | make bench |");
                continue;
            }
        };
        for row in &rows {
            let (m, lo, hi) = median_iqr(&row.to_response);
            let (x, xlo, xhi) = median_iqr(&row.cold_extra);
            let (rss, rlo, rhi) = median_iqr(&row.peak_rss_kib);
            println!(
                "| cold start, whole (spawn → first response); cold extra (whole − warm): {} | {}; {} ({rss} KiB peak RSS) | {}–{}; {}–{} ({rlo}–{rhi} KiB) | {} | make bench |",
                row.name,
                ms(m),
                ms(x),
                ms(lo),
                ms(hi),
                ms(xlo),
                ms(xhi),
                row.to_response.len()
            );
        }
        // Not a figure: what the function's steady runs did, for a reader to check.
        eprintln!("{name}'s last measured response: {}", rows[0].response);
        let ratios = |of: fn(&testbed::bench::cold::Row) -> f64| {
            let function = of(&rows[0]);
            (
                function / of(&rows[1]),
                function / of(&rows[2]),
                of(&rows[3]) / function,
            )
        };
        let (floor, defaults, python) = ratios(|r| r.median().0.as_secs_f64());
        let (x_floor, x_defaults, x_python) = ratios(|r| r.median().1.as_secs_f64());
        println!(
            "| cold start, whole: {name} ÷ (a), ÷ (b); (c) ÷ {name} (unlike work, not checked) | {floor:.2}×, {defaults:.2}×; {python:.1}× | | | make bench |"
        );
        println!(
            "| cold extra: {name} ÷ (a) (target ≤ 1.3×), ÷ (b) (target < 1×); (c) ÷ {name} (target ≥ 20×) | {x_floor:.2}×, {x_defaults:.2}×; {x_python:.1}× | | | make bench |"
        );
        figure("cold_vs_floor_call", name, floor);
        figure("cold_vs_defaults", name, defaults);
        figure("cold_python_speedup", name, python);
        figure("cold_extra_vs_floor_call", name, x_floor);
        figure("cold_extra_vs_defaults", name, x_defaults);
        figure("cold_extra_python_speedup", name, x_python);
    }
}

fn eks_token(dir: &std::path::Path) {
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
    let speedup = tm.as_secs_f64() / om.as_secs_f64();
    println!(
        "| eks-token speed-up over aws eks get-token (target ≥ 50×) | {speedup:.0}× | | | make bench |"
    );
    figure("eks_token_speedup", "eks-token", speedup);
    with_role(dir);
}

/// `--role-arn` from a profile, AssumeRole on moto's STS: eks-token with a warm `--cache`,
/// without it, and `aws eks get-token`, whole process, same run.
fn with_role(dir: &std::path::Path) {
    let moto = testbed::harness::Moto::start().expect("moto");
    let home = std::env::temp_dir().join(format!("suite-bench-role-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("bench home");
    let credentials = home.join("credentials");
    std::fs::write(
        &credentials,
        "[bench]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
         aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    )
    .expect("credentials file");
    let role = "arn:aws:iam::123456789012:role/eks-admin";
    let run = |program: &PathBuf, aws: bool, cache: bool| {
        let mut c = Command::new(program);
        if aws {
            c.args(["eks", "get-token"]);
        }
        c.args([
            "--cluster-name",
            "bench",
            "--region",
            "us-west-2",
            "--role-arn",
            role,
        ]);
        if cache {
            c.arg("--cache");
        }
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_PROFILE", "bench")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_STS", moto.endpoint())
            .env("EKS_TOKEN_CACHE_FILE", home.join("cache.json"));
        process_time(&mut c).expect("token process")
    };
    let ours = dir.join("eks-token");
    run(&ours, false, true); // warms the cache
    let rows = [
        (
            "eks-token --role-arn, warm --cache",
            sorted(PROCESS_RUNS, || run(&ours, false, true)),
        ),
        (
            "eks-token --role-arn, no cache (AssumeRole each run)",
            sorted(PROCESS_RUNS, || run(&ours, false, false)),
        ),
        (
            "aws eks get-token --role-arn (AssumeRole each run)",
            sorted(PROCESS_RUNS / 2, || run(&PathBuf::from("aws"), true, false)),
        ),
    ];
    for (figure, times) in &rows {
        let (m, lo, hi) = median_iqr(times);
        println!(
            "| {figure}, moto STS | {} | {}–{} | {} | make bench |",
            ms(m),
            ms(lo),
            ms(hi),
            times.len()
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// `--rss-breakdown`: `binary`'s peak RSS at its first poll over `runs` starts (with the
/// settings [`functions`] gives it, by its file name), then the resident KiB of each mapping
/// of 64 KiB or more in the last start.
fn rss_breakdown(binary: &std::path::Path, runs: usize, cached: bool) {
    let binary = binary
        .canonicalize()
        .expect("--rss-breakdown: no such binary");
    let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let extra = FUNCTIONS
        .iter()
        .find(|(f, _)| *f == name)
        .map_or(&[][..], |(_, e)| e);
    let env = startup_env(extra);
    let env = env_pairs(&env);
    let runs = runs.max(1);
    let starts: Vec<_> = (0..runs)
        .map(|_| resident_at_first_poll(&binary, &env, cached).expect("start to the first poll"))
        .collect();
    let mut peaks: Vec<u64> = starts.iter().map(|(peak, _)| *peak).collect();
    peaks.sort();
    let (m, lo, hi) = median_iqr(&peaks);
    let read = if cached {
        ", binary read whole first"
    } else {
        ""
    };
    println!("{name}: peak RSS at the first poll {m} KiB (p25–p75 {lo}–{hi}, {runs} starts{read})");
    let (_, last) = starts.last().expect("at least one start");
    for (mapping, kib) in last {
        if *kib >= 64 {
            println!("  {mapping}: {kib} KiB");
        }
    }
}

/// Per function: binary and zip size, start-up and peak RSS as ratios to the floor.
fn functions(dir: &std::path::Path, floor: &std::path::Path) {
    for (name, extra) in FUNCTIONS {
        let binary = dir.join(name);
        if !binary.exists() {
            println!("| {name} | not built | | | make bench |");
            continue;
        }
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let zip = zip_size(&binary);
        if let Some(z) = zip {
            figure("zip_mb", name, z as f64 / 1e6);
        }
        println!(
            "| {name} binary / zip (target zip ≤ 8 MB) | {:.2} MB / {} | | | make bench |",
            size as f64 / 1e6,
            zip.map(|z| format!("{:.2} MB", z as f64 / 1e6))
                .unwrap_or_else(|| "zip failed".into())
        );
        let env = startup_env(extra);
        let env = env_pairs(&env);
        let mut failure = None;
        let mut floor_samples = Vec::with_capacity(STARTUP_RUNS);
        let samples = sorted(STARTUP_RUNS, || {
            let f = startup(floor, &[]).expect("floor start-up");
            floor_samples.push((f.to_first_poll, f.peak_rss_kib));
            match startup(&binary, &env) {
                Ok(s) => (s.to_first_poll, s.peak_rss_kib),
                Err(e) => {
                    failure = Some(e.to_string());
                    (Duration::ZERO, 0)
                }
            }
        });
        if let Some(e) = failure {
            println!("| {name} start-up | failed: {e} | | | make bench |");
            continue;
        }
        let (t, r) = split(&samples);
        let (ft, fr) = split(&floor_samples);
        let (tm, tlo, thi) = median_iqr(&t);
        let (rm, rlo, rhi) = median_iqr(&r);
        let (floor_time, floor_rss) = (median_iqr(&ft).0, median_iqr(&fr).0);
        figure(
            "startup_ratio",
            name,
            tm.as_secs_f64() / floor_time.as_secs_f64(),
        );
        figure("rss_ratio", name, rm as f64 / floor_rss as f64);
        println!(
            "| {name} start-up (target ≤ 1.5× floor) | {} = {:.2}× floor ({} in the interleaved floor runs) | {}–{} | {STARTUP_RUNS} | make bench |",
            ms(tm),
            tm.as_secs_f64() / floor_time.as_secs_f64(),
            ms(floor_time),
            ms(tlo),
            ms(thi)
        );
        println!(
            "| {name} peak RSS (target ≤ 2× floor) | {rm} KiB = {:.2}× floor ({floor_rss} KiB) | {rlo}–{rhi} KiB | {STARTUP_RUNS} | make bench |",
            rm as f64 / floor_rss as f64
        );
    }
}

/// Start-up samples as sorted times and sorted peak RSS.
fn split(samples: &[(Duration, u64)]) -> (Vec<Duration>, Vec<u64>) {
    let mut t: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut r: Vec<u64> = samples.iter().map(|s| s.1).collect();
    t.sort();
    r.sort();
    (t, r)
}

/// Size of `binary` zipped as Lambda's `bootstrap` (deflate, as `cargo lambda build
/// --output-format zip` makes it), with Python's zipfile (on every machine the tests run).
fn zip_size(binary: &std::path::Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("suite-bench-{}.zip", std::process::id()));
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z: z.write(sys.argv[1], 'bootstrap')",
        ])
        .arg(binary)
        .arg(&out)
        .status()
        .ok()?;
    let size = status
        .success()
        .then(|| std::fs::metadata(&out).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&out);
    size
}
