//! The arm64 (Graviton) build works: every function is cross-compiled for
//! aarch64-unknown-linux-gnu (glibc) as `make build ARCH=arm64` does it (cargo-lambda with zig; here
//! in the dev profile, so the test does not pay for fat LTO), and the whole demo runs with
//! those binaries under qemu's user-mode emulation, each function answering its events
//! through the Runtime API emulator on the stand-ins.
use std::path::{Path, PathBuf};
use std::process::Command;

use testbed::world::{developer_cargo, repo};

/// ELF e_machine of AArch64.
const EM_AARCH64: u16 = 0xB7;

/// Builds the six functions for arm64 with cargo-lambda and returns a directory holding them
/// by name. cargo-lambda moves each binary to `<lambda dir>/<name>/bootstrap`; its own
/// directory here, so `make build`'s `target/lambda` is left alone.
fn build_arm64() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target"));
    let lambda_dir = target.join("arm64-test/lambda");
    let mut cargo = developer_cargo();
    cargo
        .args(["lambda", "build", "--arm64", "--quiet", "--lambda-dir"])
        .arg(&lambda_dir);
    for f in demo::BINARIES {
        cargo.args(["--bin", f]);
    }
    let status = cargo.status().expect("cargo lambda build --arm64");
    assert!(status.success(), "{cargo:?}");
    let by_name = target.join("arm64-test/bin");
    std::fs::create_dir_all(&by_name).unwrap();
    for f in demo::BINARIES {
        let link = by_name.join(f);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(lambda_dir.join(f).join("bootstrap"), &link).unwrap();
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

#[test]
fn every_function_runs_as_arm64_under_qemu() {
    let dir = build_arm64();
    for f in demo::BINARIES {
        assert_eq!(
            elf_machine(&dir.join(f)),
            EM_AARCH64,
            "{f}: not an aarch64 binary"
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
