//! functionDefinition.json and lambdaTarget.json, the seed-style inputs of
//!   aws lambda create-function --cli-input-json file://functionDefinition.json \
//!       --zip-file fileb://target/lambda/queue-scaler/bootstrap.zip
//!   aws events put-targets --rule <RULE> --targets file://lambdaTarget.json
//! describe the template's function, and fit the CLI's input shapes (botocore's models, as
//! the installed awscli validates them).
use std::collections::BTreeSet;

use crate::support::*;
use serde_json::{Value, json};

fn definition() -> Value {
    read_json("functionDefinition.json")
}

fn targets() -> Value {
    read_json("lambdaTarget.json")
}

#[test]
fn function_definition_matches_the_template() {
    let t = template();
    let d = definition();
    let name = d["FunctionName"].as_str().expect("FunctionName");
    assert!(
        FUNCTIONS.contains(&name),
        "{name} is one of the suite's functions"
    );
    let p = function_props(&t, name);
    assert_eq!(d["Runtime"], p["Runtime"]);
    assert_eq!(d["Handler"], p["Handler"]);
    assert_eq!(
        d["Architectures"],
        json!([param_default(&t, "Architecture").unwrap()]),
        "the template's default architecture"
    );
    assert_eq!(d["MemorySize"], p["MemorySize"]);
    assert_eq!(d["Timeout"], p["Timeout"]);
    assert_eq!(d["Description"], p["Description"]);
    assert_eq!(d["TracingConfig"]["Mode"], p["Tracing"]);
    assert_eq!(d["Tags"], p["Tags"]);
    let env: BTreeSet<String> = d["Environment"]["Variables"]
        .as_object()
        .expect("Environment.Variables")
        .keys()
        .cloned()
        .collect();
    assert_eq!(env, env_names(&t, name), "environment variable names");
    let logging = &p["LoggingConfig"];
    assert_eq!(d["LoggingConfig"]["LogFormat"], logging["LogFormat"]);
    assert_eq!(
        d["LoggingConfig"]["SystemLogLevel"],
        logging["SystemLogLevel"]
    );
    assert_eq!(
        d["LoggingConfig"]["ApplicationLogLevel"],
        param_default(&t, "LogLevel").unwrap()
    );
    let stem = logical_stem(name);
    let log_group = resource(&t, &format!("{stem}LogGroup"));
    assert_eq!(
        d["LoggingConfig"]["LogGroup"],
        resolve(&t, &log_group["Properties"]["LogGroupName"])
    );
    let role = resource(&t, &format!("{stem}Role"));
    assert_eq!(
        d["Role"],
        format!(
            "arn:aws:iam::<ACCOUNT_ID>:role/{}",
            resolve(&t, &role["Properties"]["RoleName"])
        ),
        "the function's own role"
    );
    // Code comes from --zip-file, the cargo-lambda zip.
    assert!(
        d.get("Code").is_none(),
        "Code is given with --zip-file fileb://target/lambda/{name}/bootstrap.zip"
    );
}

#[test]
fn lambda_target_points_at_that_function_like_the_template_schedule() {
    let t = template();
    let name = definition()["FunctionName"].as_str().unwrap().to_owned();
    let targets = targets();
    let list = targets.as_array().expect("a list of targets");
    assert_eq!(list.len(), 1);
    let target = &list[0];
    assert_eq!(
        target["Arn"],
        format!("arn:aws:lambda:<REGION>:<ACCOUNT_ID>:function:{name}")
    );
    assert!(target["Id"].as_str().is_some_and(|id| !id.is_empty()));
    let schedule = function_props(&t, &name)["Events"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "Schedule")
        .cloned()
        .expect("the function runs on a schedule");
    assert_eq!(target["RetryPolicy"], schedule["Properties"]["RetryPolicy"]);
}

#[test]
fn placeholders_are_documented_in_the_readme() {
    let readme = read("README.md");
    let deploy = &readme[readme
        .find("## Deploy")
        .expect("README.md has a ## Deploy section")..];
    for file in ["functionDefinition.json", "lambdaTarget.json"] {
        let text = read(file);
        for piece in text.split('<').skip(1) {
            let placeholder = format!("<{}>", &piece[..piece.find('>').unwrap()]);
            assert!(
                deploy.contains(&placeholder),
                "{file}: {placeholder} is not explained in README.md ## Deploy"
            );
        }
    }
}

/// Validates parameters against an operation's input shape with botocore's own validator (the
/// one awscli runs before sending): unknown keys, types, required members, ranges.
fn botocore_errors(service: &str, operation: &str, params: &Value) -> String {
    python(
        "import json, sys\n\
         import botocore.session\n\
         from botocore.validate import ParamValidator\n\
         service, op, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n\
         model = botocore.session.get_session().get_service_model(service)\n\
         shape = model.operation_model(op).input_shape\n\
         if 'Code' in params and 'ZipFile' in params['Code']:\n\
         \x20   params['Code']['ZipFile'] = params['Code']['ZipFile'].encode()\n\
         report = ParamValidator().validate(params, shape)\n\
         print(report.generate_report() if report.has_errors() else '', end='')",
        &[service, operation, &params.to_string()],
    )
}

#[test]
fn function_definition_is_valid_create_function_input() {
    let mut params = definition();
    // What --zip-file adds.
    params["Code"] = json!({"ZipFile": "PK..."});
    let errors = botocore_errors("lambda", "CreateFunction", &params);
    assert_eq!(
        errors, "",
        "functionDefinition.json against lambda CreateFunction"
    );

    // The check does catch a bad key.
    params["MemorySizeMb"] = json!(256);
    assert!(botocore_errors("lambda", "CreateFunction", &params).contains("MemorySizeMb"));
}

#[test]
fn lambda_target_is_valid_put_targets_input() {
    let mut params = json!({"Rule": "queue-scaler-every-minute", "Targets": targets()});
    let errors = botocore_errors("events", "PutTargets", &params);
    assert_eq!(errors, "", "lambdaTarget.json against events PutTargets");

    params["Targets"][0]["FunctionArn"] = json!("x");
    assert!(botocore_errors("events", "PutTargets", &params).contains("FunctionArn"));
}
