//! `eks-token` against its real peer, `aws eks get-token`, with the clock pinned by
//! libfaketime: same credentials, same instant, so both outputs must be byte-identical.
//! Needs `aws` (awscli) and `faketime` on PATH (`make test` installs them).
use std::process::{Command, Output};

const FROZEN: &str = "2026-03-04 05:06:07";

struct Case {
    name: &'static str,
    region: &'static str,
    cluster: &'static str,
    session_token: Option<&'static str>,
}

fn run(program: &str, case: &Case) -> Output {
    let mut cmd = Command::new("faketime");
    cmd.args(["-f", FROZEN, program]);
    if program == "aws" {
        cmd.args(["eks", "get-token"]);
    }
    cmd.args(["--cluster-name", case.cluster, "--region", case.region]);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env(
            "HOME",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()),
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
    if let Some(token) = case.session_token {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}: cannot run {program} under faketime: {e}", case.name));
    assert!(
        out.status.success(),
        "{}: {program} failed: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn token_url(stdout: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    let token = v["status"]["token"].as_str().unwrap();
    eks_auth::token::decode_url(token).unwrap()
}

#[test]
fn byte_identical_to_aws_eks_get_token() {
    let cases = [
        Case {
            name: "us-west-2",
            region: "us-west-2",
            cluster: "prod",
            session_token: None,
        },
        // 14 characters of region: the length at which standard base64 of the URL would
        // contain '+' or '/'; the token must use the URL-safe alphabet.
        Case {
            name: "ap-southeast-1",
            region: "ap-southeast-1",
            cluster: "my-cluster",
            session_token: None,
        },
        Case {
            name: "china partition",
            region: "cn-north-1",
            cluster: "cn",
            session_token: None,
        },
        Case {
            name: "session token",
            region: "eu-central-1",
            cluster: "prod",
            session_token: Some(
                "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def==",
            ),
        },
    ];
    for case in &cases {
        let ours = run(env!("CARGO_BIN_EXE_eks-token"), case);
        let theirs = run("aws", case);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{}: outputs differ",
            case.name
        );
        let url = token_url(&ours.stdout);
        assert!(
            url.contains("X-Amz-Date=20260304T050607Z"),
            "{}: clock not pinned: {url}",
            case.name
        );
        if case.region.starts_with("cn-") {
            assert!(
                url.starts_with("https://sts.cn-north-1.amazonaws.com.cn/"),
                "{url}"
            );
        }
        if case.session_token.is_some() {
            assert!(url.contains("X-Amz-Security-Token="), "{url}");
        }
    }
}

#[test]
fn exec_info_selects_the_api_version() {
    let case = Case {
        name: "v1",
        region: "us-west-2",
        cluster: "c",
        session_token: None,
    };
    for (info, want) in [
        (
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}"#,
            "client.authentication.k8s.io/v1",
        ),
        (
            r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
            "client.authentication.k8s.io/v1beta1",
        ),
        ("not json", "client.authentication.k8s.io/v1beta1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_eks-token"))
            .args(["--cluster-name", case.cluster, "--region", case.region])
            .env("AWS_ACCESS_KEY_ID", "AKID")
            .env("AWS_SECRET_ACCESS_KEY", "SECRET")
            .env("KUBERNETES_EXEC_INFO", info)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["apiVersion"], want, "{info}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let bin = env!("CARGO_BIN_EXE_eks-token");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["--region", "us-west-2"],
            &[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")],
            "missing --cluster-name",
        ),
        (
            &["--cluster-name", "c"],
            &[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")],
            "missing region",
        ),
        (
            &["--cluster-name", "c", "--region", "us-west-2"],
            &[],
            "no AWS credentials",
        ),
        (&["--cluster-name"], &[], "--cluster-name needs a value"),
    ];
    for (args, env, want) in cases {
        let out = Command::new(bin)
            .args(args)
            .env_clear()
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("eks-token: ") && stderr.contains(want),
            "{args:?}: {stderr}"
        );
    }
}
