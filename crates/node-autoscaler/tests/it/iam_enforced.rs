//! IAM, enforced, on node-autoscaler's k3s world: its flows — a Spot interruption (cordon,
//! replacement launched, terminate), a scheduled scale-up (RunInstances with the worker tags
//! at launch and the worker instance profile, the join token embedded from SSM) and a
//! scheduled scale-down (drain, TerminateInstances), each under its DynamoDB lease with fenced
//! state writes and a decision log, the API token and the cluster CA read from SSM — run
//! against moto with its IAM enforcement on, the function holding exactly its execution role
//! from `infra/template.yaml` as moto can evaluate it ([`testbed::world::iam`]). Every flow
//! passes; withholding any one action makes a flow fail with moto's AccessDenied naming it,
//! but for the actions moto cannot see needed, which are withheld too and shown unnoticed
//! (Lambda's own, `iam::LAMBDAS_OWN`, are not run; the policy's Conditions and ARNs are not
//! evaluated by moto: see `testbed::world::iam`).
use aws_sdk_ssm::types::ParameterType;
use serde_json::Value;
use testbed::harness::eventually;
use testbed::world::iam::{self, Role};
use testbed::world::k3s::{FUNCTION, K3s, SETTLE, STATE_TABLE, WORKER_TAG, steady_metrics};
use testbed::world::{scheduled, t0};

use crate::support::{DUE_AT_T0, Scenarios, spot_warning};

/// Actions the flows need in AWS that moto cannot see needed (read from moto 5.2's
/// `moto/iam/access_control.py` and `moto/core/responses.py`: one action per request, named
/// after the request's own). Withheld, every flow still passes here: asserted, so a moto
/// that starts checking one shows it.
const MOTO_CANNOT_CHECK: [(&str, &str); 3] = [
    (
        "dynamodb:DeleteItem",
        "only inside TransactWriteItems (an action record deleted under the lease's fence), \
         which moto authorizes as the one action dynamodb:TransactWriteItems, not as its \
         items' actions as AWS does",
    ),
    (
        "ec2:CreateTags",
        "implied by RunInstances for the tags given at launch (TagSpecifications)",
    ),
    (
        "iam:PassRole",
        "implied by RunInstances for the worker instance profile's role",
    ),
];

/// The worker role the template lets the function pass (`WorkerRoleName`'s default), and
/// its instance profile.
const WORKER_ROLE: &str = "k3s-worker";

/// What each run's process gets beyond the world's: the CA from SSM (`K8S_CA_PARAM`, the
/// template's default name) instead of `CERT_AUTHORITY`, the join token embedded from SSM,
/// the worker instance profile, no cooldowns and no unneeded time (each flow acts at once).
const ENV: [(&str, &str); 8] = [
    ("CERT_AUTHORITY", ""),
    ("K8S_CA_PARAM", "/k3s/ca"),
    ("JOIN_TOKEN_MODE", "embed"),
    ("WORKER_INSTANCE_PROFILE", WORKER_ROLE),
    ("COOLDOWN_UP_SEC", "0"),
    ("COOLDOWN_DOWN_SEC", "0"),
    ("SCALE_DOWN_UNNEEDED_SEC", "0"),
    DUE_AT_T0,
];

/// The base every flow starts from: worker `worker-a` (zone 0, 2 CPU) holding `fill`
/// (1.5 CPU), the only worker.
const BASE: &str = "worker-a";

/// One run of the flows, on a process of its own.
struct Run {
    /// (flow, what the function answered or failed with).
    answers: Vec<(&'static str, Result<Value, String>)>,
    /// Everything the process wrote.
    output: String,
}

impl Run {
    /// What the run answered, failed with and logged, as one text.
    fn text(&self) -> String {
        let answers = self.answers.iter().map(|(flow, a)| match a {
            Ok(v) => format!("{flow} ok: {v}\n"),
            Err(e) => format!("{flow} error: {e}\n"),
        });
        answers.collect::<String>() + &self.output
    }

    fn answer(&self, flow: &str) -> &Value {
        match self.answers.iter().find(|(f, _)| *f == flow) {
            Some((_, Ok(v))) => v,
            _ => panic!("{flow} failed:\n{}", self.text()),
        }
    }
}

/// The flows once, each from the base (`round` names the workers they add): a Spot
/// interruption warning for an empty worker, a scale-up for a pod no worker can host, a
/// scale-down of an empty worker of an idle cluster.
async fn run_flows(w: &K3s, base: &str, round: &mut u32) -> Run {
    *round += 1;
    let mut process = w.spawn(FUNCTION, &ENV);
    let mut answers = Vec::new();

    reset(w, base).await;
    let spot = w.worker(1, &format!("spot-{round}")).await;
    answers.push(("spot", w.invoke(FUNCTION, &spot_warning(t0(), &spot))));

    reset(w, base).await;
    w.deployment("burst", 1, "1500m", 0);
    answers.push(("scale-up", w.invoke(FUNCTION, &scheduled(t0()))));
    if let Some(Ok(up)) = answers.last().map(|(_, a)| a) {
        launched_as_the_template_means(w, up).await;
    }

    reset(w, base).await;
    w.worker(0, &format!("down-{round}")).await;
    answers.push(("scale-down", w.invoke(FUNCTION, &scheduled(t0()))));

    process.kill();
    let output = process.output();
    reset(w, base).await;
    Run { answers, output }
}

/// A launched worker carries the worker tags given at launch (ec2:CreateTags in AWS) and
/// the worker instance profile (iam:PassRole of its role in AWS): the flows make the calls
/// that need the actions moto cannot check.
async fn launched_as_the_template_means(w: &K3s, up: &Value) {
    let Some(id) = up["launched"][0].as_str() else {
        return;
    };
    let instance = &w.instance_of(id).await;
    let profile = instance.iam_instance_profile().and_then(|p| p.arn());
    assert!(
        profile.is_some_and(|arn| arn.ends_with(&format!("instance-profile/{WORKER_ROLE}"))),
        "{id}: {instance:?}"
    );
    let tags = &w.describe(id).await["tags"];
    assert_eq!(tags[WORKER_TAG.0], WORKER_TAG.1, "{id}: tagged at launch");
}

/// Back to the base, as the administrator, whatever a run left (a withheld action leaves
/// flows half done): no other worker instance or Node, `worker-a` schedulable, no `burst`
/// pod, an empty state table (no lease, action or cooldown).
async fn reset(w: &K3s, base: &str) {
    let others: Vec<String> = w
        .live_workers()
        .await
        .into_iter()
        .filter(|id| id != base)
        .collect();
    if !others.is_empty() {
        w.ec2
            .terminate_instances()
            .set_instance_ids(Some(others))
            .send()
            .await
            .expect("terminated");
    }
    for node in w.cluster.list("nodes", None) {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if name != "master" && name != BASE {
            w.cluster
                .kubectl(&["delete", "node", name, "--ignore-not-found"], "")
                .expect("node deleted");
        }
    }
    w.cluster
        .kubectl(&["uncordon", BASE], "")
        .expect("uncordoned");
    w.cluster
        .kubectl(&["delete", "deployment", "burst", "--ignore-not-found"], "")
        .expect("burst deleted");
    eventually("no burst pod", SETTLE, async || {
        let pods = w.cluster.list("pods", Some("default"));
        (!pods
            .iter()
            .any(|p| p["metadata"]["labels"]["app"] == "burst"))
        .then_some(())
    })
    .await;
    for (pk, _) in w.items().await {
        w.ddb
            .delete_item()
            .table_name(STATE_TABLE)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .send()
            .await
            .expect("item deleted");
    }
}

/// Every flow does what it is for, and nothing was refused.
fn passes(run: &Run) {
    let text = run.text();
    assert!(!text.contains("is not authorized"), "{text}");
    let spot = run.answer("spot");
    assert_eq!(
        (spot["decision"].as_str(), spot["outcome"].as_str()),
        (Some("cordon_drain_replace"), Some("terminated")),
        "{text}"
    );
    assert_eq!(
        spot["replacement"].as_array().map(Vec::len),
        Some(1),
        "{text}"
    );
    let up = run.answer("scale-up");
    assert_eq!(up["decision"], "scale_up", "{text}");
    assert_eq!(up["launched"].as_array().map(Vec::len), Some(1), "{text}");
    let down = run.answer("scale-down");
    assert_eq!(down["decision"], "scale_down", "{text}");
    assert_eq!(
        down["terminated"].as_array().map(Vec::len),
        Some(1),
        "{text}"
    );
}

/// The k3s world with what the flows need that it does not seed: the CA in SSM, the worker
/// role and its instance profile, the base worker and its pod.
async fn seed(w: &K3s) -> String {
    aws_sdk_ssm::Client::new(&w.aws)
        .put_parameter()
        .name("/k3s/ca")
        .value(w.cluster.ca_pem())
        .r#type(ParameterType::String)
        .send()
        .await
        .expect("CA parameter");
    iam::instance_profile(&w.aws, WORKER_ROLE)
        .await
        .expect("the worker role and its instance profile");
    let base = w.worker(0, BASE).await;
    w.deployment("fill", 1, "1500m", 0);
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_passes_with_the_exact_role_and_each_action_is_needed() {
    let roles = iam::world_roles().unwrap();
    let role: Role = roles
        .into_iter()
        .find(|(r, _)| r == FUNCTION)
        .expect("the template's node-autoscaler role");
    // 10% CPU, nothing pending by Prometheus, for the whole window: idle.
    let mut w = K3s::start(&steady_metrics(0.1, 0)).await;
    let base = seed(&w).await;
    let admin = iam::enforce(&w.moto, std::slice::from_ref(&role))
        .await
        .unwrap();
    // The world's set-up credentials mean nothing to moto from here on.
    w.ec2 = aws_sdk_ec2::Client::new(&admin);
    w.ddb = aws_sdk_dynamodb::Client::new(&admin);
    let mut round = 0;

    passes(&run_flows(&w, &base, &mut round).await);
    let mut runs = Vec::new();
    let unnoticed = iam::unnoticed(
        &admin,
        &role,
        &iam::LAMBDAS_OWN.map(|(a, _)| a),
        async || {
            let run = run_flows(&w, &base, &mut round).await;
            let text = run.text();
            runs.push(run);
            text
        },
    )
    .await
    .unwrap();
    let noticed_by_no_flow: Vec<&str> = unnoticed.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        noticed_by_no_flow,
        MOTO_CANNOT_CHECK.map(|(a, _)| a),
        "actions whose withholding no flow noticed, against those moto cannot check:\n{}",
        iam::describe(&unnoticed)
    );
    // Withheld, those moto cannot check leave every flow passing.
    for (_, out) in &unnoticed {
        passes(runs.iter().find(|r| r.text() == *out).unwrap());
    }
    // The exact role back: the flows pass again.
    passes(&run_flows(&w, &base, &mut round).await);
}
