//! `make link-order`: writes link/init-order.ld, the linker script that puts the code each
//! function runs from spawn to its first Runtime API poll ahead of the rest of `.text`.
//!
//! Why: init runs a few hundred KB of code spread over the binary's 5–8 MB of `.text`, and a
//! page fault on a cached file maps its neighbourhood (fault-around), on newer kernels the
//! whole large folio it falls in, so init alone made 3.4–4.4 MB of code resident. Together,
//! that code fits in a few folios (BENCHMARKS.md, "Peak RSS: init code together").
//!
//! How: each binary (unstripped: `--release-dir`, built by `make link-order` with
//! `CARGO_PROFILE_RELEASE_STRIP=false`) runs under callgrind until its first poll, then gets
//! SIGTERM, on which callgrind writes what ran. The functions that ran and are the binary's own
//! (its symbol table, `nm`) become input-section patterns, one list for the six binaries. A
//! symbol's crate hashes differ between profiles and targets (`cargo lambda build` for arm64),
//! so they are globbed: the same list serves every build. That needs v0 mangling
//! (.cargo/config.toml): a legacy name's hash is not a field of its own but its end, and
//! differs between builds, so this refuses a binary whose own functions are mangled so.
//! Sections it names that a binary lacks match nothing, and code the list misses stays where
//! it was: a stale list costs memory, never correctness.
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testbed::bench::link_order::{functions_named, is_legacy_rust, script, section_pattern};
use testbed::bench::{FUNCTIONS, env_pairs, startup_env, until_first_poll};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut out) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--release-dir" => dir = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            _ => fail(&format!("unknown argument {a:?}")),
        }
    }
    let (Some(dir), Some(out)) = (dir, out) else {
        fail("usage: link-order --release-dir DIR --out link/init-order.ld")
    };
    let work = std::env::temp_dir().join(format!("link-order-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap_or_else(|e| fail(&format!("{}: {e}", work.display())));
    let mut patterns = BTreeSet::new();
    for (name, extra) in FUNCTIONS {
        let binary = dir.join(name);
        let ran = ran_until_first_poll(&binary, extra, &work.join(format!("{name}.callgrind")));
        let own = text_symbols(&binary);
        let kept: Vec<&String> = ran.iter().filter(|f| own.contains_key(*f)).collect();
        if let Some(legacy) = kept.iter().find(|f| is_legacy_rust(f)) {
            fail(&format!(
                "{name}: {} of its functions are mangled the legacy way (e.g. {legacy}), whose \
                 hashes change with every build: build with .cargo/config.toml's v0 mangling \
                 (is RUSTFLAGS set?)",
                kept.iter().filter(|f| is_legacy_rust(f)).count()
            ));
        }
        let bytes: u64 = kept.iter().map(|f| own[*f]).sum();
        eprintln!(
            "link-order: {name}: {} functions ran to the first poll, {} of them its own ({} KB)",
            ran.len(),
            kept.len(),
            bytes / 1000
        );
        patterns.extend(kept.iter().map(|f| section_pattern(f)));
    }
    let _ = std::fs::remove_dir_all(&work);
    std::fs::write(&out, script(&patterns))
        .unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    eprintln!(
        "link-order: {} patterns → {}",
        patterns.len(),
        out.display()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("link-order: {message}");
    std::process::exit(2)
}

/// The (mangled) names of the functions `binary` ran from spawn to its first poll.
fn ran_until_first_poll(binary: &Path, extra: &[(&str, &str)], out: &Path) -> BTreeSet<String> {
    let mut valgrind = Command::new("valgrind");
    valgrind
        .arg("--tool=callgrind")
        .arg("--demangle=no")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary);
    let env = startup_env(extra);
    let env = env_pairs(&env);
    let mut polling = until_first_poll(valgrind, &env, Duration::from_secs(120))
        .unwrap_or_else(|e| fail(&format!("{}: {e}", binary.display())));
    // SIGTERM, not SIGKILL: callgrind writes its profile as the process ends.
    let pid = polling.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    if !killed.is_ok_and(|s| s.success()) {
        fail(&format!("could not signal valgrind ({pid})"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while polling.child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = polling.child.kill();
            fail(&format!("valgrind on {} did not end", binary.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let profile =
        std::fs::read_to_string(out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    functions_named(&profile)
}

/// `binary`'s own code symbols and their sizes, from its symbol table.
fn text_symbols(binary: &Path) -> HashMap<String, u64> {
    let out = Command::new("nm")
        .args(["--defined-only", "-S"])
        .arg(binary)
        .output()
        .unwrap_or_else(|e| fail(&format!("nm: {e}")));
    if !out.status.success() || out.stdout.is_empty() {
        fail(&format!(
            "{} has no symbol table: build it with CARGO_PROFILE_RELEASE_STRIP=false",
            binary.display()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [_, size, kind, name] = f[..] else {
                return None;
            };
            let code = matches!(kind, "t" | "T" | "W");
            code.then(|| Some((name.to_string(), u64::from_str_radix(size, 16).ok()?)))?
        })
        .collect()
}
