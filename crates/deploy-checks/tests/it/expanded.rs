//! infra/template.yaml as CloudFormation deploys it: expanded from SAM by samtranslator and
//! resolved with the parameters (`scripts/sam-expand.py`), each function's resulting
//! `AWS::Lambda::Function` is what its crate's cargo-lambda metadata says, and
//! functionDefinition.json / lambdaTarget.json are the expanded queue-scaler's, field for
//! field. The text-level checks (template.rs, cargo_metadata.rs) read the SAM source; these
//! read what the transform makes of it (Globals merged, events turned into rules and
//! permissions, intrinsics resolved), so a Globals or transform surprise shows here.
use std::process::Command;

use crate::support::*;
use serde_json::{Value, json};

/// The account and region the expansion resolves ARNs in (moto's default account).
const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

/// Resolved CloudFormation of the template with `params` (NAME=VALUE) on top of the
/// cluster's three required parameters.
fn expanded(params: &[&str]) -> Value {
    let out = Command::new("python3")
        .args([
            "scripts/sam-expand.py",
            "--account",
            ACCOUNT,
            "--region",
            REGION,
        ])
        .args([
            "ClusterName=prod",
            "ApiServer=https://api.example",
            "CertAuthority=Q0E=",
        ])
        .args(params)
        .current_dir(root())
        .output()
        .expect("python3 runs scripts/sam-expand.py (samtranslator comes with cfn-lint)");
    assert!(
        out.status.success(),
        "sam-expand.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sam-expand.py prints JSON")
}

fn properties<'t>(t: &'t Value, id: &str) -> &'t Value {
    let p = &t["Resources"][id]["Properties"];
    assert!(p.is_object(), "expanded template: no resource {id}");
    p
}

#[test]
fn each_function_deploys_as_its_crate_metadata_says() {
    let t = expanded(&[]);
    let meta = cargo_metadata();
    for f in FUNCTIONS {
        let stem = logical_stem(f);
        let id = format!("{stem}Function");
        assert_eq!(
            t["Resources"][&id]["Type"], "AWS::Lambda::Function",
            "{id}: SAM makes a plain function of it"
        );
        let p = properties(&t, &id);
        let d = &package(&meta, f).unwrap_or_else(|| panic!("no crate {f}"))["metadata"]["lambda"]
            ["deploy"];
        assert_eq!(p["FunctionName"], f, "{f}");
        assert_eq!(p["MemorySize"], d["memory"], "{f}: MemorySize");
        assert_eq!(p["Timeout"], d["timeout"], "{f}: Timeout");
        assert_eq!(p["Runtime"], d["runtime"], "{f}: Runtime");
        assert_eq!(p["Handler"], "bootstrap", "{f}: Handler");
        assert_eq!(
            p["TracingConfig"]["Mode"]
                .as_str()
                .map(str::to_ascii_lowercase),
            d["tracing"].as_str().map(str::to_owned),
            "{f}: tracing"
        );
        assert_eq!(p["Architectures"], json!(["arm64"]), "{f}: the default");
        // The zip `make build` writes, as `aws cloudformation package` uploads it.
        assert_eq!(
            p["Code"]["S3Key"],
            format!("../target/lambda/{f}/bootstrap.zip"),
            "{f}: Code"
        );
        assert_eq!(
            p["Role"],
            format!("arn:aws:iam::{ACCOUNT}:role/{f}"),
            "{f}: its own role"
        );
        let env: Vec<&String> = p["Environment"]["Variables"]
            .as_object()
            .unwrap_or_else(|| panic!("{f}: no Environment"))
            .keys()
            .collect();
        let names: Vec<&str> = d["env_names"]
            .as_array()
            .unwrap_or_else(|| panic!("{f}: env_names"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut names = names;
        names.sort_unstable();
        assert_eq!(env, names, "{f}: the deployed environment's names");
        let log_group = properties(&t, &format!("{stem}LogGroup"));
        assert_eq!(log_group["RetentionInDays"], d["log_retention"], "{f}");
        assert_eq!(
            p["LoggingConfig"]["LogGroup"], log_group["LogGroupName"],
            "{f}: logs to its own group"
        );
        assert_eq!(
            properties(&t, &format!("{id}EventInvokeConfig"))["DestinationConfig"]["OnFailure"]["Destination"],
            format!("arn:aws:sqs:{REGION}:{ACCOUNT}:k8s-lambda-autoscalers-failed"),
            "{f}: failed invocations land in the shared queue"
        );
    }
}

#[test]
fn the_architecture_parameter_reaches_every_function() {
    let t = expanded(&["Architecture=x86_64"]);
    for f in FUNCTIONS {
        let p = properties(&t, &format!("{}Function", logical_stem(f)));
        assert_eq!(p["Architectures"], json!(["x86_64"]), "{f}");
    }
}

/// `text` with each `<PLACEHOLDER>` replaced as README's `## Deploy` tells the user to.
fn filled(text: &str) -> Value {
    let text = text
        .replace("<ACCOUNT_ID>", ACCOUNT)
        .replace("<REGION>", REGION)
        .replace("<CLUSTER_NAME>", "prod")
        .replace("<API_SERVER>", "https://api.example")
        .replace("<CERT_AUTHORITY>", "Q0E=");
    assert!(!text.contains("<"), "a placeholder left unfilled: {text}");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn the_seed_style_files_are_the_expanded_queue_scaler() {
    let t = expanded(&[]);
    let definition = filled(&read("functionDefinition.json"));
    let name = definition["FunctionName"].as_str().expect("FunctionName");
    let mut deployed = properties(&t, &format!("{}Function", logical_stem(name))).clone();
    // What the CLI's --zip-file gives instead; the tags SAM adds (lambda:createdBy) are SAM's.
    deployed.as_object_mut().unwrap().remove("Code");
    deployed["Tags"] = deployed["Tags"]
        .as_array()
        .expect("Tags list")
        .iter()
        .filter(|tag| tag["Key"] != "lambda:createdBy")
        .map(|tag| {
            (
                tag["Key"].as_str().unwrap().to_owned(),
                tag["Value"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(definition, deployed, "functionDefinition.json");

    let targets = filled(&read("lambdaTarget.json"));
    let rule = properties(&t, &format!("{}FunctionSchedule", logical_stem(name)));
    let mut target = rule["Targets"][0].clone();
    target["Id"] = json!(name); // the CLI's put-targets names its target; SAM generates one
    assert_eq!(targets, json!([target]), "lambdaTarget.json");
}
