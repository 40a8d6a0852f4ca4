//! The arm64 (Graviton) build works: every function is cross-compiled for
//! aarch64-unknown-linux-gnu (glibc) by `make build ARCH=arm64` itself (cargo-lambda with zig;
//! here with PROFILE=dev, so the test does not pay for fat LTO), and the whole demo runs with
//! the binaries of those zips under qemu's user-mode emulation, each function answering its
//! events through the Runtime API emulator on the stand-ins. deploy.rs deploys the same zips.
use std::path::{Path, PathBuf};
use std::process::Command;

use testbed::world::{developer_cargo, repo};

/// ELF e_machine of AArch64.
const EM_AARCH64: u16 = 0xB7;
/// At least this much of a binary's code is in `.text.init`: zig's linker, which links the
/// deployed zips, reads link/init-order.ld, and `cargo lambda build` keeps .cargo/config.toml's
/// v0 mangling, without which the list's patterns match almost nothing (21.8 KB in these
/// dev-profile zips before it; with it, 293–303 KB in the x86_64 dev binaries, 2026-12-06;
/// less than a release build's 400–460 KB, since without inlining part of what init runs has
/// no release-build namesake in the list).
const INIT_CODE_MIN: u64 = 128 * 1024;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target"))
}

/// `make build ARCH=arm64 PROFILE=dev LAMBDA_DIR=…`: the six zips, `<dir>/<function>/bootstrap.zip`,
/// in a lambda dir of `user`'s own, so that `make build`'s target/lambda (the deploy's) is
/// left alone and no other test's `make build` rewrites a zip while `user` reads it (with
/// one dir for both tests, deploy.rs's run re-zipped alarm-sync's while this file's test
/// unpacked it: "File is not a zip file"). The cross-build itself is shared: tests running
/// it at once wait on cargo's lock, and the second finds it up to date.
pub fn arm64_zips(user: &str) -> PathBuf {
    let lambda_dir = target_dir().join("arm64-test").join(user).join("lambda");
    let mut make = Command::new("make");
    make.current_dir(repo(""))
        .env_clear()
        // The developer's environment as cargo sees it, without `make test`'s own make flags.
        .envs(
            developer_cargo()
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
                .filter(|(k, _)| {
                    !["MAKEFLAGS", "MFLAGS", "MAKELEVEL"].contains(&k.to_str().unwrap_or(""))
                }),
        )
        .args(["-s", "build", "ARCH=arm64", "PROFILE=dev"])
        .arg(format!("LAMBDA_DIR={}", lambda_dir.display()));
    let status = make.status().expect("make build");
    assert!(status.success(), "{make:?}");
    lambda_dir
}

/// The `bootstrap` of each function's zip, unpacked as `<dir>/<function>`.
fn unpacked(lambda_dir: &Path) -> PathBuf {
    let by_name = target_dir().join("arm64-test/bin");
    std::fs::create_dir_all(&by_name).unwrap();
    for f in demo::BINARIES {
        let zip = lambda_dir.join(f).join("bootstrap.zip");
        let out = Command::new("python3")
            .args([
                "-c",
                "import os, sys, zipfile\n\
                 data = zipfile.ZipFile(sys.argv[1]).read('bootstrap')\n\
                 open(sys.argv[2], 'wb').write(data)\n\
                 os.chmod(sys.argv[2], 0o755)",
            ])
            .arg(&zip)
            .arg(by_name.join(f))
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}: {}",
            zip.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    by_name
}

fn elf_machine(binary: &Path) -> u16 {
    let bytes = std::fs::read(binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{}: not an ELF file",
        binary.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// Size of `binary`'s `.text.init` section: the init code link/init-order.ld puts together
/// (link/build.rs), 0 without one.
fn init_code_bytes(binary: &Path) -> u64 {
    let out = Command::new("readelf")
        .arg("-SW")
        .arg(binary)
        .output()
        .expect("readelf runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.iter().position(|w| *w == ".text.init")?;
            // [Nr] Name Type Address Off Size ...
            u64::from_str_radix(f.get(name + 4)?, 16).ok()
        })
        .unwrap_or(0)
}

#[test]
fn every_function_runs_as_arm64_under_qemu() {
    let dir = unpacked(&arm64_zips("qemu"));
    for f in demo::BINARIES {
        assert_eq!(
            elf_machine(&dir.join(f)),
            EM_AARCH64,
            "{f}: not an aarch64 binary"
        );
        // zig links the deployed zips: its linker must have read the script too.
        let init = init_code_bytes(&dir.join(f));
        assert!(
            init >= INIT_CODE_MIN,
            "{f}: {init} bytes of init code linked together, expected ≥ {INIT_CODE_MIN}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_suite-demo"))
        .env("SUITE_FUNCTION_DIR", &dir)
        .env("SUITE_FUNCTION_RUNNER", "qemu-aarch64")
        .env("QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu")
        .output()
        .expect("suite-demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "functions: the binaries of {}, each run under qemu-aarch64",
            dir.display()
        )),
        "{stdout}"
    );
    crate::make_demo::assert_every_function_acted(&out);
}
