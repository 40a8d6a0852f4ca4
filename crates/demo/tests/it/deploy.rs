//! `cargo lambda deploy`, as docs/deploy.md documents it, run for each function against moto's
//! Lambda API: the function is created with its execution role, the memory, timeout, tracing
//! and runtime of its crate's `[package.metadata.lambda.deploy]`, the environment of its env
//! file, the architecture of its binary, and exactly the zip `make build` made (moto's
//! CodeSha256 is the zip's). The zips are built as arm64.rs builds them (`make build
//! ARCH=arm64 PROFILE=dev`, into a lambda dir of this test's own), so one cross-build serves
//! both tests.
use std::process::Command;

use aws_credential_types::Credentials;
use testbed::harness::moto::{Moto, SETUP_ACCESS_KEY_ID, SETUP_SECRET_ACCESS_KEY};
use testbed::world::{deploy_metadata, developer_cargo, repo};

const TRUST_LAMBDA: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Lambda's CodeSha256 of a file: base64 of its SHA-256.
fn code_sha256(path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64, hashlib, sys\n\
             print(base64.b64encode(hashlib.sha256(open(sys.argv[1], 'rb').read()).digest()).decode())",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_lambda_deploy_creates_each_function_from_its_crate_metadata_and_zip() {
    let zips = tokio::task::block_in_place(|| crate::arm64::arm64_zips("deploy"));
    let metadata = deploy_metadata();
    let moto = Moto::start().expect("moto");
    let config = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let setup = Credentials::new(
        SETUP_ACCESS_KEY_ID,
        SETUP_SECRET_ACCESS_KEY,
        None,
        None,
        "deploy-test",
    );
    let scratch = std::env::temp_dir().join(format!("deploy-test-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    for f in demo::BINARIES {
        let d = &metadata[f];
        let role = iam
            .create_role()
            .role_name(f)
            .assume_role_policy_document(TRUST_LAMBDA)
            .send()
            .await
            .expect("CreateRole")
            .role
            .expect("role")
            .arn;
        // The env file docs/deploy.md describes: one KEY=VALUE line per name of env_names
        // (given on the command line: the crate's own infra/env/<f>.env is the user's).
        let env: Vec<(String, String)> = d["env_names"]
            .as_array()
            .expect("env_names")
            .iter()
            .map(|n| {
                let n = n.as_str().unwrap();
                (n.to_owned(), format!("{}-of-{f}", n.to_lowercase()))
            })
            .collect();
        let env_file = scratch.join(format!("{f}.env"));
        let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, lines).unwrap();

        let mut deploy = developer_cargo();
        deploy
            .current_dir(repo(""))
            .envs(moto.env_for(&setup))
            .args(["lambda", "deploy", f, "--iam-role", &role, "--lambda-dir"])
            .arg(&zips)
            .args(["--endpoint-url", moto.endpoint(), "--region", moto.region()])
            .arg("--env-file")
            .arg(&env_file)
            .env("NO_COLOR", "1");
        let out = tokio::task::block_in_place(|| deploy.output()).expect("cargo lambda deploy");
        assert!(
            out.status.success(),
            "{f}: {deploy:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let c = lambda
            .get_function()
            .function_name(f)
            .send()
            .await
            .expect("GetFunction")
            .configuration
            .expect("configuration");
        assert_eq!(c.role(), Some(role.as_str()), "{f}: its execution role");
        assert_eq!(
            c.memory_size().map(i64::from),
            d["memory"].as_i64(),
            "{f}: memory"
        );
        assert_eq!(
            c.timeout().map(i64::from),
            d["timeout"].as_i64(),
            "{f}: timeout"
        );
        assert_eq!(
            c.runtime().map(|r| r.as_str()),
            d["runtime"].as_str(),
            "{f}: runtime"
        );
        assert_eq!(
            c.tracing_config()
                .and_then(|t| t.mode())
                .map(|m| m.as_str().to_lowercase()),
            d["tracing"].as_str().map(str::to_owned),
            "{f}: tracing"
        );
        assert_eq!(
            c.architectures()
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>(),
            ["arm64"],
            "{f}: the architecture of the zip's binary"
        );
        let mut deployed: Vec<(String, String)> = c
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        deployed.sort();
        let mut expected = env.clone();
        expected.sort();
        assert_eq!(deployed, expected, "{f}: the env file's variables");
        assert_eq!(
            c.code_sha256(),
            Some(code_sha256(&zips.join(f).join("bootstrap.zip")).as_str()),
            "{f}: the zip make build made, as is"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
