//! `eks-token` as the AWS CLI's users run it: the arguments `aws eks update-kubeconfig`
//! writes, `--profile`/`AWS_PROFILE` with the CLI's precedence, `credential_process` and
//! `role_arn` profiles, `--role-arn`'s session name (against `aws eks get-token` itself, on
//! moto's STS, clock pinned by libfaketime), and the `--cache`.
use std::path::PathBuf;
use std::process::{Command, Output};

use testbed::harness::Moto;

const ROLE: &str = "arn:aws:iam::123456789012:role/eks-admin";

/// A scratch HOME with an AWS config file: `credential_process` profiles whose script
/// counts its runs in `runs`, and a `role_arn` profile on top of one.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(name: &str, process_expires_in_secs: i64) -> Home {
        let dir = std::env::temp_dir().join(format!("eks-token-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("process.sh");
        // Prints credentials for the access key given as $1, expiring in N seconds.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> {runs}\nexp=$(date -u -d @$(( $(date +%s) + {process_expires_in_secs} )) +%Y-%m-%dT%H:%M:%SZ)\n\
                 printf '{{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-session\", \"Expiration\": \"%s\"}}' \"$1\" \"$exp\"\n",
                runs = dir.join("runs").display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let s = script.display();
        std::fs::write(
            dir.join("config"),
            format!(
                "[profile dev]\ncredential_process = {s} ASIADEVPROCESS\nregion = eu-west-1\n\n\
                 [profile ops]\ncredential_process = {s} ASIAOPSPROCESS\n\n\
                 [profile admin]\nrole_arn = {ROLE}\nsource_profile = dev\n"
            ),
        )
        .unwrap();
        Home { dir }
    }

    fn append_config(&self, text: &str) {
        let path = self.dir.join("config");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(text);
        std::fs::write(path, config).unwrap();
    }

    /// The access token `aws sso login` leaves in `~/.aws/sso/cache/<sha1 of key>.json`, key
    /// being the start URL (legacy profiles) or the `sso-session` name.
    fn sso_login(&self, key: &str, start_url: &str, expires_in_secs: i64) {
        let out = Command::new("python3")
            .args([
                "-c",
                "import hashlib, sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest())",
                key,
            ])
            .output()
            .unwrap();
        let name = String::from_utf8(out.stdout).unwrap();
        let dir = self.dir.join(".aws/sso/cache");
        std::fs::create_dir_all(&dir).unwrap();
        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(expires_in_secs);
        let token = serde_json::json!({
            "startUrl": start_url,
            "region": "us-east-1",
            "accessToken": "sso-access-token",
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        std::fs::write(dir.join(format!("{}.json", name.trim())), token.to_string()).unwrap();
    }

    fn process_runs(&self) -> usize {
        std::fs::read_to_string(self.dir.join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn cache_file(&self) -> PathBuf {
        self.dir.join(".kube/cache/eks-token/credentials.json")
    }

    /// `program args` with this HOME and config, and `env` on top; nothing else of the
    /// machine's AWS set-up.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_CONFIG_FILE", self.dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The presigned URL inside an ExecCredential's token.
fn url_of(credential: &serde_json::Value) -> String {
    eks_auth::token::decode_url(credential["status"]["token"].as_str().unwrap()).unwrap()
}

/// The access key a token was signed with.
fn signer(credential: &serde_json::Value) -> String {
    let url = url_of(credential);
    let at = url.find("X-Amz-Credential=").unwrap() + "X-Amz-Credential=".len();
    url[at..].split("%2F").next().unwrap().to_owned()
}

const EKS_TOKEN: &str = env!("CARGO_BIN_EXE_eks-token");

#[test]
fn profile_precedence_is_the_aws_clis() {
    let home = Home::new("precedence", 3600);
    let env_keys = [
        ("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = env_keys.to_vec();
        env.extend_from_slice(extra);
        env
    };
    // (args, environment, the access key that must sign)
    type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 5] = [
        // --profile beats keys in the environment, as `aws --profile` does.
        (&["--profile", "dev"], with(&[]), "ASIADEVPROCESS"),
        // AWS_PROFILE does not: the environment's keys come first in the chain.
        (&[], with(&[("AWS_PROFILE", "dev")]), "AKIAENVIRONMENT"),
        (&[], vec![("AWS_PROFILE", "ops")], "ASIAOPSPROCESS"),
        // --profile beats AWS_PROFILE.
        (
            &["--profile", "ops"],
            vec![("AWS_PROFILE", "dev")],
            "ASIAOPSPROCESS",
        ),
        (&[], with(&[]), "AKIAENVIRONMENT"),
    ];
    for (args, env, want) in cases {
        let mut argv = vec!["--cluster-name", "prod", "--region", "us-west-2"];
        argv.extend_from_slice(args);
        let out = home.run(EKS_TOKEN, &argv, &env);
        assert_eq!(
            signer(&ok(&out, &format!("{args:?} {env:?}"))),
            want,
            "{args:?} {env:?}"
        );
    }
    // The region comes from the profile when neither the flag nor the environment gives one.
    let out = home.run(
        EKS_TOKEN,
        &["--cluster-name", "prod", "--profile", "dev"],
        &[],
    );
    assert!(url_of(&ok(&out, "profile region")).contains("sts.eu-west-1.amazonaws.com"));
}

#[test]
fn the_cache_saves_the_credential_source_and_honours_expiry() {
    let args = [
        "--cluster-name",
        "prod",
        "--region",
        "us-west-2",
        "--profile",
        "dev",
    ];
    let cached: Vec<&str> = args.iter().copied().chain(["--cache"]).collect();
    let home = Home::new("cache", 3600);
    // Off by default: every run asks the source, and no file is written.
    for n in 1..=2 {
        ok(&home.run(EKS_TOKEN, &args, &[]), "uncached");
        assert_eq!(home.process_runs(), n);
    }
    assert!(!home.cache_file().exists());
    // On: the first run asks and writes a 0600 file, the next ones reuse it.
    let first = ok(&home.run(EKS_TOKEN, &cached, &[]), "cache cold");
    for _ in 0..3 {
        let again = ok(&home.run(EKS_TOKEN, &cached, &[]), "cache warm");
        assert_eq!(signer(&again), signer(&first));
    }
    assert_eq!(home.process_runs(), 3);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.cache_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Keyed by profile: another profile does not get dev's credentials.
    let ops = ok(
        &home.run(
            EKS_TOKEN,
            &[
                "--cluster-name",
                "prod",
                "--region",
                "us-west-2",
                "--profile",
                "ops",
                "--cache",
            ],
            &[],
        ),
        "other profile",
    );
    assert_eq!(signer(&ops), "ASIAOPSPROCESS");

    // Credentials with less than the reuse margin left are fetched every time.
    let short = Home::new("cache-short", 120);
    for n in 1..=2 {
        ok(&short.run(EKS_TOKEN, &cached, &[]), "short-lived");
        assert_eq!(short.process_runs(), n);
    }
}

/// The UTC time now as libfaketime's absolute (frozen) form.
fn frozen_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Asks the moto gateway (which verifies the signature) who signed the token's URL.
fn caller_arn(url: &str, cluster: &str) -> String {
    let script = "import sys, urllib.request, json\n\
        r = urllib.request.Request(sys.argv[1], headers={'x-k8s-aws-id': sys.argv[2], 'accept': 'application/json'})\n\
        print(json.load(urllib.request.urlopen(r))['GetCallerIdentityResponse']['GetCallerIdentityResult']['Arn'])";
    let out = Command::new("python3")
        .args(["-c", script, url, cluster])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn role_arn_signs_as_the_aws_clis_session_from_update_kubeconfigs_arguments() {
    let moto = Moto::start().expect("moto");
    let home = Home::new("role", 3600);
    let frozen = frozen_now();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_ENDPOINT_URL_STS", moto.endpoint()),
    ];
    let region = moto.region().to_owned();
    // Exactly what `aws eks update-kubeconfig --role-arn` writes after the command.
    let kubeconfig_args = [
        "--region",
        &region,
        "eks",
        "get-token",
        "--cluster-name",
        "prod",
        "--output",
        "json",
        "--role",
        ROLE,
    ];
    let with_clock = |program: &str| -> Vec<String> {
        ["-f", &frozen, program]
            .into_iter()
            .chain(kubeconfig_args)
            .map(str::to_owned)
            .collect()
    };
    let run = |program: &str| {
        let argv = with_clock(program);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        ok(&home.run("faketime", &argv, &env), program)
    };
    let ours = run(EKS_TOKEN);
    let theirs = run("aws");
    let strip = |mut v: serde_json::Value| {
        v["status"]["token"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        strip(ours.clone()),
        strip(theirs.clone()),
        "outputs differ beyond the token"
    );
    let want = "arn:aws:sts::123456789012:assumed-role/eks-admin/EKSGetTokenAuth";
    assert_eq!(caller_arn(&url_of(&ours), "prod"), want);
    assert_eq!(caller_arn(&url_of(&theirs), "prod"), want);

    // A profile's own role_arn (source_profile dev, credential_process) is assumed too.
    let out = home.run(
        EKS_TOKEN,
        &[
            "--cluster-name",
            "prod",
            "--region",
            &region,
            "--profile",
            "admin",
        ],
        &[("AWS_ENDPOINT_URL_STS", moto.endpoint())],
    );
    let arn = caller_arn(&url_of(&ok(&out, "role_arn profile")), "prod");
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/eks-admin/"),
        "{arn}"
    );
}

#[test]
fn iam_identity_center_profiles_sign_with_the_portals_role_credentials() {
    let moto = Moto::start().expect("moto");
    let home = Home::new("sso", 3600);
    let start_url = "https://corp.awsapps.com/start";
    home.append_config(&format!(
        "\n[profile sso-legacy]\nsso_start_url = {start_url}\nsso_region = us-east-1\n\
         sso_account_id = 123456789012\nsso_role_name = eks-admin\nregion = us-west-2\n\n\
         [profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = eks-admin\n\n\
         [sso-session corp]\nsso_start_url = {start_url}\nsso_region = us-east-1\n"
    ));
    // The portal (GetRoleCredentials) and STS are moto's, behind the gateway.
    let env = [
        ("AWS_ENDPOINT_URL_SSO", moto.endpoint()),
        ("AWS_ENDPOINT_URL_STS", moto.endpoint()),
    ];
    let args = |profile: &'static str| {
        [
            "--cluster-name",
            "prod",
            "--region",
            "us-west-2",
            "--profile",
            profile,
        ]
    };
    home.sso_login(start_url, start_url, 3600);
    home.sso_login("corp", start_url, 3600);
    for profile in ["sso-legacy", "sso"] {
        let out = home.run(EKS_TOKEN, &args(profile), &env);
        assert_eq!(
            caller_arn(&url_of(&ok(&out, profile)), "prod"),
            "arn:aws:sts::123456789012:assumed-role/eks-admin/sso-session",
            "{profile}"
        );
    }
    // An expired login of an `sso-session` (the SDK checks its expiry; a legacy profile's
    // expired token is refused by the portal, which cannot tell here): one line saying so,
    // exit 1, nothing on stdout.
    home.sso_login("corp", start_url, -60);
    let out = home.run(EKS_TOKEN, &args("sso"), &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("eks-token: no AWS credentials")
            && stderr.to_lowercase().contains("expired"),
        "{stderr}"
    );
}
