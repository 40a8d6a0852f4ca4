//! The Kubernetes side of the deploy: every manifest parses; each function has its RBAC file,
//! its identity mapping and sample events; the metrics path (CloudWatch agent -> metric ->
//! K8sMetricAlarm) agrees on names and dimensions.
use std::collections::BTreeSet;

use crate::support::*;
use serde_json::{Value, json};

#[test]
fn every_manifest_parses() {
    let mut files = files_under("infra/k8s", &["yaml", "yml"]);
    files.extend(files_under("infra/cloudwatch-agent", &["yaml", "yml"]));
    assert!(files.len() >= 10, "manifests found: {files:?}");
    for f in &files {
        let docs = yaml_docs(f);
        assert!(!docs.is_empty(), "{f}: empty");
        if f == "infra/k8s/aws-auth-functions.yaml" {
            continue; // mapRoles entries, checked below
        }
        for d in &docs {
            assert!(
                d["apiVersion"].is_string()
                    && d["kind"].is_string()
                    && d["metadata"]["name"].is_string(),
                "{f}: every document is a Kubernetes object (apiVersion, kind, metadata.name): {d}"
            );
        }
    }
}

/// Functions whose execution role is mapped into the EKS cluster (node-autoscaler works on a
/// self-managed k3s cluster with a bearer token).
fn eks_functions() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.into_iter().filter(|f| *f != "node-autoscaler")
}

#[test]
fn every_function_has_rbac_and_sample_events() {
    let mut missing = Vec::new();
    for f in FUNCTIONS {
        let rbac = format!("infra/k8s/rbac/{f}.yaml");
        if !root().join(&rbac).is_file() {
            missing.push(rbac);
        } else if f != "node-autoscaler" {
            let docs = yaml_docs(&rbac);
            let bound: Vec<&Value> = docs
                .iter()
                .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
                .flat_map(|d| d["subjects"].as_array().into_iter().flatten())
                .collect();
            assert!(!bound.is_empty(), "{rbac}: no binding");
            for s in bound {
                assert_eq!(
                    (&s["kind"], &s["name"]),
                    (&json!("Group"), &json!(format!("lambda:{f}"))),
                    "{rbac}: binds the group the function's role is mapped to"
                );
            }
        }
        let events = root().join("events").join(f);
        let samples = std::fs::read_dir(&events)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0);
        if samples == 0 {
            missing.push(format!("events/{f}/*.json"));
        }
        for file in files_under(&format!("events/{f}"), &["json"]) {
            read_json(&file);
        }
    }
    assert!(
        missing.is_empty(),
        "missing for the template's functions: {missing:?}"
    );
}

#[test]
fn aws_auth_entries_and_access_entries_map_each_role_to_its_group() {
    let t = template();
    let entries = yaml_docs("infra/k8s/aws-auth-functions.yaml");
    let entries = entries[0].as_array().expect("a list of mapRoles entries");
    let mapped: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["username"].as_str().unwrap())
        .collect();
    assert_eq!(mapped, eks_functions().collect::<BTreeSet<_>>());
    for e in entries {
        let f = e["username"].as_str().unwrap();
        let role = resource(&t, &format!("{}Role", logical_stem(f)));
        let role_name = resolve(&t, &role["Properties"]["RoleName"]);
        assert_eq!(
            e["rolearn"],
            format!("arn:aws:iam::<ACCOUNT_ID>:role/{role_name}")
        );
        assert_eq!(e["groups"], json!([format!("lambda:{f}")]));
    }
    for f in eks_functions() {
        let stem = logical_stem(f);
        let entry = resource(&t, &format!("{stem}AccessEntry"));
        assert_eq!(entry["Condition"], "WithAccessEntries");
        let p = &entry["Properties"];
        assert_eq!(
            p["PrincipalArn"],
            json!({"Fn::GetAtt": [format!("{stem}Role"), "Arn"]})
        );
        assert_eq!(p["Username"], f);
        assert_eq!(p["KubernetesGroups"], json!([format!("lambda:{f}")]));
    }
}

fn find<'d>(docs: &'d [Value], kind: &str, name: &str) -> &'d Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

#[test]
fn metrics_path_agrees_from_app_to_alarm() {
    let agent = yaml_docs("infra/cloudwatch-agent/cwagent-prometheus.yaml");
    let deployment = find(&agent, "Deployment", "cwagent-prometheus");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(
        image.starts_with("amazon/cloudwatch-agent:") && !image.ends_with(":latest"),
        "{image}: pinned"
    );

    let cw = find(&agent, "ConfigMap", "prometheus-cwagentconfig");
    let cw: Value = serde_json::from_str(cw["data"]["cwagentconfig.json"].as_str().unwrap())
        .expect("cwagentconfig.json is JSON");
    let prom = &cw["logs"]["metrics_collected"]["prometheus"];
    let cluster = prom["cluster_name"].as_str().unwrap();
    assert_eq!(
        prom["log_group_name"],
        format!("/aws/containerinsights/{cluster}/prometheus")
    );
    assert_eq!(
        prom["prometheus_config_path"],
        "/etc/prometheusconfig/prometheus.yaml"
    );
    let emf = &prom["emf_processor"];
    assert_eq!(emf["metric_namespace"], "ContainerInsights/Prometheus");
    let decl = emf["metric_declaration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["metric_selectors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "^http_requests_total$")
        })
        .expect("a declaration selects http_requests_total");
    assert_eq!(
        decl["dimensions"],
        json!([["ClusterName", "Namespace", "Deployment"]])
    );
    assert_eq!(decl["source_labels"], json!(["job"]));
    let job_re = decl["label_matcher"].as_str().unwrap();

    // The scrape job the declaration matches sets Namespace and Deployment.
    let scrape = find(&agent, "ConfigMap", "prometheus-config");
    let scrape: Value = serde_saphyr::from_str(scrape["data"]["prometheus.yaml"].as_str().unwrap())
        .expect("prometheus.yaml is YAML");
    let job = scrape["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| format!("^{}$", j["job_name"].as_str().unwrap()) == job_re)
        .unwrap_or_else(|| panic!("a scrape job matches {job_re}"));
    let targets: BTreeSet<&str> = job["relabel_configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["target_label"].as_str())
        .collect();
    for label in ["Namespace", "Deployment"] {
        assert!(targets.contains(label), "scrape job sets {label}");
    }

    // The app is scraped there, and its K8sMetricAlarm alarms on exactly that metric.
    let app = yaml_docs("infra/k8s/samples/demo-app.yaml");
    let dep = app
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("Deployment");
    let ns = dep["metadata"]["namespace"].as_str().unwrap();
    let name = dep["metadata"]["name"].as_str().unwrap();
    let pod = &dep["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    let port: u64 = pod["metadata"]["annotations"]["prometheus.io/port"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        pod["spec"]["containers"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["containerPort"] == port),
        "the annotated port is the container's"
    );
    assert!(
        app.iter()
            .any(|d| d["kind"] == "Service" && d["metadata"]["namespace"] == ns),
        "a Service for the app"
    );
    let alarm = app
        .iter()
        .find(|d| d["kind"] == "K8sMetricAlarm")
        .expect("K8sMetricAlarm");
    assert_eq!(alarm["apiVersion"], "containerinsights.eks.com/v1");
    assert_eq!(alarm["metadata"]["namespace"], ns);
    assert_eq!(alarm["spec"]["deployment"], name);
    for key in ["scaleUpAlarmConfig", "scaleDownAlarmConfig"] {
        let config: Value = serde_json::from_str(alarm["spec"][key].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let metric = config["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| m["MetricStat"]["Metric"].as_object())
            .unwrap_or_else(|| panic!("{key}: a MetricStat"));
        assert_eq!(metric["Namespace"], "ContainerInsights/Prometheus", "{key}");
        assert_eq!(metric["MetricName"], "http_requests_total", "{key}");
        let dims: Vec<(String, String)> = metric["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap().into(),
                    d["Value"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            dims,
            [
                ("ClusterName".to_owned(), cluster.to_owned()),
                ("Namespace".to_owned(), ns.to_owned()),
                ("Deployment".to_owned(), name.to_owned())
            ],
            "{key}: the dimensions the agent publishes"
        );
    }
}
