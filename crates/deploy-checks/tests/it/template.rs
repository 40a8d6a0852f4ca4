//! infra/template.yaml: cfn-lint clean, the six functions shaped for cargo-lambda's output,
//! their triggers, and roles that grant what each function's code calls and nothing more.
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::support::*;
use serde_json::{Value, json};

/// The version scripts/setup.sh pins (CFN_LINT_VERSION=...).
fn pinned_cfn_lint() -> String {
    let setup = read("scripts/setup.sh");
    setup
        .lines()
        .find_map(|l| l.strip_prefix("CFN_LINT_VERSION="))
        .expect("scripts/setup.sh pins CFN_LINT_VERSION")
        .trim()
        .to_owned()
}

#[test]
fn cfn_lint_passes_with_the_pinned_version() {
    let version = Command::new("cfn-lint")
        .arg("--version")
        .output()
        .expect("cfn-lint is installed (scripts/setup.sh, `make setup`)");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert_eq!(
        version,
        format!("cfn-lint {}", pinned_cfn_lint()),
        "scripts/setup.sh installs the pinned cfn-lint"
    );
    for template in ["infra/template.yaml", "infra/keda/queue-and-roles.yaml"] {
        let out = Command::new("cfn-lint")
            .arg(template)
            .current_dir(root())
            .output()
            .expect("cfn-lint runs");
        assert!(
            out.status.success(),
            "cfn-lint {template}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_function_is_shaped_for_cargo_lambda_output() {
    let t = template();
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(arch["AllowedValues"], json!(["x86_64", "arm64"]));
    assert_eq!(arch["Default"], "arm64");
    for p in ["ClusterName", "ApiServer", "CertAuthority"] {
        assert!(t["Parameters"][p].is_object(), "parameter {p}");
    }
    let mut roles = BTreeSet::new();
    for f in FUNCTIONS {
        let stem = logical_stem(f);
        let p = function_props(&t, f);
        assert_eq!(resolve(&t, &p["FunctionName"]), f, "{f}: FunctionName");
        assert_eq!(p["Runtime"], "provided.al2023", "{f}");
        assert_eq!(p["Handler"], "bootstrap", "{f}");
        assert_eq!(p["Architectures"], json!([{"Ref": "Architecture"}]), "{f}");
        // `cargo lambda build --release --output-format zip` writes target/lambda/<bin>/bootstrap.zip.
        assert_eq!(
            p["CodeUri"],
            format!("../target/lambda/{f}/bootstrap.zip"),
            "{f}: CodeUri"
        );
        assert!(
            p["MemorySize"]
                .as_u64()
                .is_some_and(|m| (128..=10240).contains(&m)),
            "{f}"
        );
        assert!(
            p["Timeout"]
                .as_u64()
                .is_some_and(|s| (1..=900).contains(&s)),
            "{f}"
        );
        assert_eq!(p["Tracing"], "Active", "{f}");

        // Its own role, nobody else's.
        let role_id = format!("{stem}Role");
        assert_eq!(
            p["Role"],
            json!({"Fn::GetAtt": [role_id, "Arn"]}),
            "{f}: Role"
        );
        assert!(roles.insert(role_id.clone()), "{f}: role shared");
        let role = resource(&t, &role_id);
        assert_eq!(
            resolve(&t, &role["Properties"]["RoleName"]),
            f,
            "{f}: RoleName"
        );
        assert_eq!(
            role["Properties"]["AssumeRolePolicyDocument"]["Statement"],
            json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]),
            "{f}: only Lambda assumes the execution role"
        );
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{f}: no managed policies (least privilege)"
        );

        // Log group with retention, JSON logs.
        let lg = format!("{stem}LogGroup");
        let log_group = resource(&t, &lg);
        assert_eq!(
            resolve(&t, &log_group["Properties"]["LogGroupName"]),
            format!("/aws/lambda/{f}")
        );
        assert_eq!(
            log_group["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"})
        );
        assert_eq!(p["LoggingConfig"]["LogGroup"], json!({"Ref": lg}), "{f}");
        assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON", "{f}");

        // Failed asynchronous invocations go to the SQS queue.
        let on_failure = &p["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{f}");
        assert_eq!(
            on_failure["Destination"],
            json!({"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}),
            "{f}"
        );

        // Each EKS function gets the cluster variables `eks_auth::EksCluster::from_env` reads,
        // from the stack's cluster parameters, and DRY_RUN; node-autoscaler scales a k3s
        // cluster with a token from SSM and reads a set of its own.
        if f == "node-autoscaler" {
            continue;
        }
        let env = env_names(&t, f);
        for v in [
            "CLUSTER_NAME",
            "API_SERVER",
            "CERT_AUTHORITY",
            "ASSUMED_ROLE",
            "DRY_RUN",
        ] {
            assert!(env.contains(v), "{f}: {v} not in Environment");
        }
        let vars = &p["Environment"]["Variables"];
        assert_eq!(vars["CLUSTER_NAME"], json!({"Ref": "ClusterName"}));
        assert_eq!(vars["API_SERVER"], json!({"Ref": "ApiServer"}));
        assert_eq!(vars["CERT_AUTHORITY"], json!({"Ref": "CertAuthority"}));
        assert_eq!(vars["ASSUMED_ROLE"], json!({"Ref": "AssumedRoleArn"}));
    }
}

fn events(t: &Value, f: &str) -> Vec<Value> {
    function_props(t, f)["Events"]
        .as_object()
        .unwrap_or_else(|| panic!("{f}: no Events"))
        .values()
        .cloned()
        .collect()
}

fn patterns(evs: &[Value]) -> Vec<Value> {
    evs.iter()
        .filter(|e| e["Type"] == "EventBridgeRule")
        .map(|e| e["Properties"]["Pattern"].clone())
        .collect()
}

#[test]
fn triggers_are_the_documented_ones() {
    let t = template();
    // alarm-scaler: the SNS topic the alarms notify, which CloudWatch may publish to.
    let evs = events(&t, "alarm-scaler");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["Type"], "SNS");
    assert_eq!(evs[0]["Properties"]["Topic"], json!({"Ref": "AlarmTopic"}));
    let policy = &resource(&t, "AlarmTopicPolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["Service"], "cloudwatch.amazonaws.com");
    assert_eq!(policy["Action"], "sns:Publish");
    // alarm-sync's SNS_TOPIC_ARN is that topic.
    assert_eq!(
        function_props(&t, "alarm-sync")["Environment"]["Variables"]["SNS_TOPIC_ARN"],
        json!({"Ref": "AlarmTopic"})
    );

    for f in ["alarm-sync", "concurrency-scaler", "queue-scaler"] {
        let evs = events(&t, f);
        assert_eq!(evs.len(), 1, "{f}: one trigger");
        assert_eq!(evs[0]["Type"], "Schedule", "{f}");
        assert_eq!(
            evs[0]["Properties"]["Schedule"],
            json!({"Ref": "ScheduleExpression"})
        );
    }

    let evs = events(&t, "iam-sync");
    assert!(
        evs.iter().any(|e| e["Type"] == "Schedule"),
        "iam-sync resync"
    );
    assert_eq!(
        patterns(&evs),
        vec![json!({
            "source": ["aws.iam"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventSource": ["iam.amazonaws.com"],
                       "eventName": ["AddUserToGroup", "RemoveUserFromGroup"]}
        })]
    );

    let evs = events(&t, "node-autoscaler");
    assert!(
        evs.iter().any(|e| e["Type"] == "Schedule"),
        "node-autoscaler schedule"
    );
    let mut kinds: Vec<(String, String)> = patterns(&evs)
        .iter()
        .flat_map(|p| {
            let source = p["source"][0].as_str().unwrap().to_owned();
            as_list(&p["detail-type"])
                .into_iter()
                .map(move |k| (source.clone(), k.as_str().unwrap().to_owned()))
        })
        .collect();
    kinds.sort();
    let kinds: Vec<(&str, &str)> = kinds
        .iter()
        .map(|(s, k)| (s.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
            ("aws.ec2", "EC2 Instance State-change Notification"),
            ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
            ("aws.health", "AWS Health Event"),
        ]
    );
    // Only the states and Health events the function acts on reach it.
    let detail_of = |kind: &str| {
        patterns(&evs)
            .into_iter()
            .find(|p| as_list(&p["detail-type"]).iter().any(|k| k == kind))
            .map(|p| p["detail"].clone())
    };
    assert_eq!(
        detail_of("EC2 Instance State-change Notification"),
        Some(json!({"state": ["stopping", "shutting-down", "terminated"]}))
    );
    assert_eq!(
        detail_of("AWS Health Event"),
        Some(json!({"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]}))
    );
}

#[test]
fn node_autoscaler_tables() {
    let t = template();
    let state = &resource(&t, "NodeStateTable")["Properties"];
    let logs = &resource(&t, "NodeLogsTable")["Properties"];
    for table in [state, logs] {
        assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    }
    assert_eq!(
        logs["TimeToLiveSpecification"],
        json!({"AttributeName": "expires_at", "Enabled": true})
    );
    // The decision log expires through the attribute node-autoscaler writes.
    let ttl = logs["TimeToLiveSpecification"]["AttributeName"]
        .as_str()
        .unwrap();
    let code: String = sources(&root().join("crates/node-autoscaler/src"))
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    if code.contains(".put_item()") {
        assert!(
            code.contains(&format!("\"{ttl}\"")),
            "crates/node-autoscaler/src never writes {ttl:?}, the TTL attribute of the logs table \
             in infra/template.yaml (issue #8): its decision-log items would never expire. Write \
             that attribute, or change TimeToLiveSpecification.AttributeName to the one written"
        );
    }
    let vars = &function_props(&t, "node-autoscaler")["Environment"]["Variables"];
    assert_eq!(vars["STATE_TABLE"], json!({"Ref": "NodeStateTable"}));
    assert_eq!(vars["LOGS_TABLE"], json!({"Ref": "NodeLogsTable"}));
    // Only node-autoscaler touches them.
    for f in FUNCTIONS {
        let g = granted(&t, &format!("{}Role", logical_stem(f)));
        let dynamo = g.keys().any(|a| a.starts_with("dynamodb:"));
        assert_eq!(dynamo, f == "node-autoscaler", "{f}: DynamoDB rights");
    }
}

/// SDK client crate -> (botocore service name, IAM action prefix).
const SDKS: [(&str, &str, &str); 10] = [
    ("aws-sdk-cloudwatch", "cloudwatch", "cloudwatch"),
    (
        "aws-sdk-resourcegroupstagging",
        "resourcegroupstaggingapi",
        "tag",
    ),
    ("aws-sdk-sqs", "sqs", "sqs"),
    ("aws-sdk-lambda", "lambda", "lambda"),
    ("aws-sdk-iam", "iam", "iam"),
    ("aws-sdk-eks", "eks", "eks"),
    ("aws-sdk-ec2", "ec2", "ec2"),
    ("aws-sdk-dynamodb", "dynamodb", "dynamodb"),
    ("aws-sdk-ssm", "ssm", "ssm"),
    ("aws-sdk-sns", "sns", "sns"),
];

/// For each SDK crate: snake_case operation (as the Rust SDK names the fluent call) -> IAM action.
fn sdk_operations() -> BTreeMap<String, BTreeMap<String, String>> {
    let spec: Vec<Value> = SDKS.iter().map(|(c, s, p)| json!([c, s, p])).collect();
    let out = python(
        "import json, sys\n\
         import botocore.session\n\
         from botocore import xform_name\n\
         s = botocore.session.get_session()\n\
         out = {}\n\
         for crate, service, prefix in json.loads(sys.argv[1]):\n\
         \x20   m = s.get_service_model(service)\n\
         \x20   out[crate] = {xform_name(o): prefix + ':' + o for o in m.operation_names}\n\
         print(json.dumps(out))",
        &[&Value::Array(spec).to_string()],
    );
    serde_json::from_str(&out).expect("JSON")
}

/// The IAM actions a function's code calls: every `.operation()` of an SDK client it depends
/// on (its own crate and its AWS path dependencies, e.g. sqs-depth) whose chain ends in `.send()`.
fn actions_called(
    f: &str,
    meta: &Value,
    ops: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeSet<String> {
    let mut crates = vec![f.to_owned()];
    let mut sdks = BTreeSet::new();
    let mut i = 0;
    while i < crates.len() {
        let pkg = package(meta, &crates[i]).unwrap_or_else(|| panic!("package {}", crates[i]));
        for d in pkg["dependencies"].as_array().unwrap() {
            if !d["kind"].is_null() {
                continue;
            }
            let name = d["name"].as_str().unwrap();
            if ops.contains_key(name) {
                sdks.insert(name.to_owned());
            }
            // Plumbing crates call STS only through the assumed-role provider (ASSUMED_ROLE).
            let plumbing = ["eks-auth", "lambda-support", "k8s-ops", "testbed"];
            if d.get("path").is_some_and(|p| !p.is_null())
                && !plumbing.contains(&name)
                && !crates.iter().any(|c| c == name)
            {
                crates.push(name.to_owned());
            }
        }
        i += 1;
    }
    let mut actions = BTreeSet::new();
    for c in &crates {
        for (_, text) in sources(&root().join("crates").join(c).join("src")) {
            for sdk in &sdks {
                for (snake, action) in &ops[sdk] {
                    let call = format!(".{snake}()");
                    for (at, _) in text.match_indices(&call) {
                        if sent(&text, at) {
                            actions.extend(authorized_as(action, &text));
                        }
                    }
                }
            }
        }
    }
    actions
}

/// The IAM actions an operation is authorized as. DynamoDB transactions have no action of
/// their own: each item is authorized as its operation (the builders used in the same file).
fn authorized_as(action: &str, text: &str) -> Vec<String> {
    match action {
        "dynamodb:TransactWriteItems" => [
            ("ConditionCheck::builder", "dynamodb:ConditionCheckItem"),
            ("Put::builder", "dynamodb:PutItem"),
            ("Update::builder", "dynamodb:UpdateItem"),
            ("Delete::builder", "dynamodb:DeleteItem"),
        ]
        .iter()
        .filter(|(builder, _)| text.contains(builder))
        .map(|(_, a)| a.to_string())
        .collect(),
        "dynamodb:TransactGetItems" => vec!["dynamodb:GetItem".into()],
        other => vec![other.to_owned()],
    }
}

/// Whether the builder started at `at` is sent: `.send()` ends its statement, or the statement
/// binds it (`let mut put = client.put_metric_alarm()...;`) and the binding is sent later.
fn sent(text: &str, at: usize) -> bool {
    let chain = &text[at..];
    let end = chain.find(';').unwrap_or(chain.len());
    if chain[..end].contains(".send()") {
        return true;
    }
    let start = text[..at].rfind([';', '{', '}']).map_or(0, |i| i + 1);
    let statement = text[start..at].trim_start();
    let Some(binding) = statement.strip_prefix("let ") else {
        return false;
    };
    let binding = binding.trim_start_matches("mut ");
    let name: String = binding
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let later: String = text[at + end..]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    !name.is_empty() && later.contains(&format!("{name}.send()"))
}

/// Granted beyond the calls found in the code, and why.
fn justified_extras(f: &str) -> BTreeSet<&'static str> {
    let common = [
        "logs:CreateLogStream", // the function's log group
        "logs:PutLogEvents",
        "xray:PutTraceSegments", // Tracing: Active
        "xray:PutTelemetryRecords",
        "sqs:SendMessage", // on-failure destination
        "sts:AssumeRole",  // ASSUMED_ROLE (only when set), queue-scaler's scaler roles
    ];
    let own: &[&str] = match f {
        // Workers are tagged at launch; the instance profile's role is passed to EC2; the
        // Kubernetes token and CA come from SSM (K8S_API_TOKEN_PARAM, K8S_CA_PARAM).
        "node-autoscaler" => &["ec2:CreateTags", "iam:PassRole", "ssm:GetParameter"],
        _ => &[],
    };
    common.iter().chain(own).copied().collect()
}

/// Actions without resource-level permissions: the only ones allowed on "*".
const STAR_OK: [&str; 6] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "tag:GetResources",
    "lambda:ListEventSourceMappings",
    "ec2:DescribeInstances",
    "ec2:DescribeSubnets",
];

#[test]
fn roles_grant_what_the_code_calls_and_no_more() {
    let t = template();
    let meta = cargo_metadata();
    let ops = sdk_operations();
    for f in FUNCTIONS {
        let role_id = format!("{}Role", logical_stem(f));
        let granted = granted(&t, &role_id);
        for (action, resources) in &granted {
            assert!(!action.contains('*'), "{f}: wildcard action {action}");
            if resources.iter().any(|r| r == "*") {
                assert!(STAR_OK.contains(&action.as_str()), "{f}: {action} on \"*\"");
            }
        }
        // The cluster role is assumed only when one is given, and then only that one.
        for st in allow_statements(&t, &role_id) {
            if st["Sid"] == "ClusterRole" {
                assert_eq!(st["Resource"], json!({"Ref": "AssumedRoleArn"}), "{f}");
            }
        }
        assert!(
            crate_exists(f),
            "{f}: the template names it, crates/{f} is missing"
        );
        let called = actions_called(f, &meta, &ops);
        let missing: Vec<_> = called
            .iter()
            .filter(|a| !granted.contains_key(*a))
            .collect();
        assert!(
            missing.is_empty(),
            "{f}: the code calls {missing:?}, the role does not allow it"
        );
        assert!(
            !called.is_empty(),
            "{f}: no AWS call found in crates/{f}/src; the role's rights cannot be checked against the code"
        );
        let extras = justified_extras(f);
        let unused: Vec<_> = granted
            .keys()
            .filter(|a| !called.contains(*a) && !extras.contains(a.as_str()))
            .collect();
        assert!(
            unused.is_empty(),
            "{f}: the role allows {unused:?}, which the code never calls"
        );
    }
}

#[test]
fn cloudwatch_agent_identity_matches_its_manifest() {
    let t = template();
    let assoc = resource(&t, "CloudWatchAgentPodIdentity");
    assert_eq!(assoc["Type"], "AWS::EKS::PodIdentityAssociation");
    assert_eq!(assoc["Condition"], "WithCloudWatchAgent");
    let ns = assoc["Properties"]["Namespace"].as_str().unwrap();
    let sa = assoc["Properties"]["ServiceAccount"].as_str().unwrap();
    let docs = yaml_docs("infra/cloudwatch-agent/cwagent-prometheus.yaml");
    assert!(
        docs.iter().any(|d| d["kind"] == "ServiceAccount"
            && d["metadata"]["namespace"] == ns
            && d["metadata"]["name"] == sa),
        "infra/cloudwatch-agent/cwagent-prometheus.yaml has ServiceAccount {ns}/{sa}"
    );
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        sa
    );
    let role = resource(&t, "CloudWatchAgentRole");
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "pods.eks.amazonaws.com"
    );
}
