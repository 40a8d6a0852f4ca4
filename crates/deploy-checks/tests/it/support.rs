//! Shared by the deploy checks: the repository's files, the template as cfn-lint reads it,
//! the pinned tools. Every check is offline.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The suite's functions: one crate, one template function, one role, one RBAC file each.
pub const FUNCTIONS: [&str; 6] = [
    "alarm-scaler",
    "alarm-sync",
    "concurrency-scaler",
    "queue-scaler",
    "iam-sync",
    "node-autoscaler",
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: not JSON: {e}"))
}

/// `alarm-scaler` -> `AlarmScaler`: the logical-id stem of the function's resources.
pub fn logical_stem(function: &str) -> String {
    function
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Runs `python3 -c script args...` and returns its stdout; a failure shows stderr.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 runs (scripts/setup.sh installs what the checks need)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A YAML CloudFormation template as JSON, decoded by cfn-lint's own loader (short-form
/// intrinsics become `{"Ref": ..}`, `{"Fn::Sub": ..}`, ...).
pub fn cfn_template(rel: &str) -> Value {
    let json = python(
        "import json, sys\n\
         from cfnlint.decode import decode\n\
         t, errors = decode(sys.argv[1])\n\
         if errors: sys.exit('\\n'.join(str(e) for e in errors))\n\
         print(json.dumps(t))",
        &[rel],
    );
    serde_json::from_str(&json).expect("decoded template is JSON")
}

pub fn template() -> Value {
    cfn_template("infra/template.yaml")
}

pub fn resource<'t>(t: &'t Value, id: &str) -> &'t Value {
    let r = &t["Resources"][id];
    assert!(r.is_object(), "infra/template.yaml: no resource {id}");
    r
}

/// The function's properties with the template's `Globals.Function` under them.
pub fn function_props(t: &Value, function: &str) -> serde_json::Map<String, Value> {
    let id = format!("{}Function", logical_stem(function));
    let f = resource(t, &id);
    assert_eq!(f["Type"], "AWS::Serverless::Function", "{id}");
    let mut props = t["Globals"]["Function"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in f["Properties"].as_object().expect("Properties") {
        props.insert(k.clone(), v.clone());
    }
    props
}

pub fn param_default(t: &Value, name: &str) -> Option<String> {
    match &t["Parameters"][name]["Default"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A name as deployed with the parameters' defaults: a string, or `Fn::Sub` of parameters.
pub fn resolve(t: &Value, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("Fn::Sub") => {
            let mut s = o["Fn::Sub"]
                .as_str()
                .expect("Fn::Sub of a string")
                .to_owned();
            while let Some(start) = s.find("${") {
                let end = start + s[start..].find('}').expect("closed ${");
                let name = &s[start + 2..end];
                let value = param_default(t, name)
                    .unwrap_or_else(|| panic!("{name} in {v} has no default to resolve with"));
                s.replace_range(start..=end, &value);
            }
            s
        }
        Value::Object(o) if o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            param_default(t, name).unwrap_or_else(|| panic!("Ref {name} has no default"))
        }
        other => panic!("cannot resolve {other}"),
    }
}

pub fn env_names(t: &Value, function: &str) -> BTreeSet<String> {
    function_props(t, function)["Environment"]["Variables"]
        .as_object()
        .unwrap_or_else(|| panic!("{function}: no Environment.Variables"))
        .keys()
        .cloned()
        .collect()
}

/// The Allow statements of a role's inline policies, both branches of `Fn::If` included.
pub fn allow_statements(t: &Value, role_id: &str) -> Vec<Value> {
    let role = resource(t, role_id);
    let mut out = Vec::new();
    for policy in role["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for st in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("Statement list")
        {
            let branches = match st.get("Fn::If") {
                Some(v) => v.as_array().unwrap()[1..].to_vec(),
                None => vec![st.clone()],
            };
            for b in branches {
                if b.get("Ref") == Some(&Value::String("AWS::NoValue".into())) {
                    continue;
                }
                if b["Effect"] == "Allow" {
                    out.push(b);
                }
            }
        }
    }
    out
}

pub fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// Every action a role allows, with the statements' resources.
pub fn granted(t: &Value, role_id: &str) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for st in allow_statements(t, role_id) {
        for a in as_list(&st["Action"]) {
            out.entry(a.as_str().expect("action string").to_owned())
                .or_default()
                .extend(as_list(&st["Resource"]));
        }
    }
    out
}

/// `cargo metadata --no-deps` of the workspace.
pub fn cargo_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

pub fn package<'m>(meta: &'m Value, name: &str) -> Option<&'m Value> {
    meta["packages"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

/// Every file under `dir`, recursively, in no particular order (a missing or unreadable
/// directory has none).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Rust sources under a directory, with any `#[cfg(test)]` module cut off.
pub fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = files_in(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let text = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// Whether the function's crate exists with sources.
pub fn crate_exists(function: &str) -> bool {
    root().join("crates").join(function).join("src").is_dir()
}

pub fn yaml_docs(rel: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(rel))
        .unwrap_or_else(|e| panic!("{rel}: not YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Files under a directory of the repository, recursively, with one of the extensions.
pub fn files_under(rel: &str, exts: &[&str]) -> Vec<String> {
    let base = root();
    let mut out: Vec<String> = files_in(&base.join(rel))
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
        })
        .map(|p| {
            p.strip_prefix(&base)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}
