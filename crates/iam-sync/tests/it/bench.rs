//! `make bench` figure: the resync of 1,000 IAM users across 20 mapped groups (a quarter of
//! them in two groups) against moto and the real control plane, in both backends, printed, never asserted.
//! Run: `cargo test -p iam-sync --test it -- bench:: --ignored --nocapture`;
//! `BENCH_USERS=N` for another size.
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, FUNCTION, Identities, scheduled};

const GROUPS: usize = 20;

fn users() -> usize {
    std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn line(label: &str, wall: std::time::Duration, s: &Value) {
    println!(
        "{label:<34} wall {:>6} ms  in function {:>6} ms  changes {:>5}  records {:>5}  IAM {:>4}  Kubernetes {:>5}  EKS {:>5}",
        wall.as_millis(),
        s["elapsedMs"],
        s["changes"].as_array().map_or(0, Vec::len),
        s["records"],
        s["apiCalls"]["iam"],
        s["apiCalls"]["kubernetes"],
        s["apiCalls"]["eks"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures, run with --ignored"]
async fn resync_of_1000_users_across_20_groups() {
    let w = support::world().await;
    let n = users();
    let setup = Instant::now();
    let mut mapping = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: iam-sync-groups, namespace: kube-system}\ndata:\n  mapGroups: |\n",
    );
    for g in 0..GROUPS {
        w.group(&format!("team-{g}")).await;
        mapping.push_str(&format!(
            "    - iamGroup: team-{g}\n      kubernetesGroups: [k8s-team-{g}]\n"
        ));
    }
    w.cluster.load_yaml(&mapping).expect("mapping");
    let mut memberships = 0;
    for i in 0..n {
        let name = format!("user.{i}@corp");
        w.user(&name, if i % 3 == 0 { "/eng/" } else { "/" }).await;
        let mut groups = vec![i % GROUPS];
        if i % 4 == 0 {
            groups.push((i + 7) % GROUPS);
        }
        for g in groups {
            w.join(&name, &format!("team-{g}")).await;
            memberships += 1;
        }
    }
    println!(
        "setup: {n} users, {memberships} memberships in {GROUPS} groups, {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    for (backend, env) in [
        ("aws-auth", vec![]),
        ("access-entries", vec![("BACKEND", "access-entries")]),
    ] {
        let mut function = w.spawn(FUNCTION, &env);
        for run in ["cold (every user new)", "steady (in sync)"] {
            let t = Instant::now();
            let s = match w.invoke(FUNCTION, &scheduled("us-east-1")) {
                Ok(s) => s,
                // Over the emulator's 60 s invoke limit: the function's own last log line.
                Err(e) if e.contains(" took ") => {
                    let l = function
                        .wait_for_json(Duration::from_secs(30), |v| {
                            v["fields"]["message"] == "run complete"
                        })
                        .expect("the run's log line");
                    let f = &l["fields"];
                    json!({"elapsedMs": f["elapsed_ms"], "changes": vec![0; f["changes"].as_u64().unwrap_or(0) as usize],
                           "records": f["records"], "apiCalls": {"iam": f["iam_calls"], "kubernetes": f["kubernetes_calls"], "eks": f["eks_calls"]}})
                }
                Err(e) => panic!("resync: {e}"),
            };
            line(&format!("{backend}, {run}"), t.elapsed(), &s);
        }
        // One user's event, for scale.
        let t = Instant::now();
        let s = w
            .invoke(FUNCTION, &w.remove("user.1@corp", "team-1").await)
            .expect("event");
        line(
            &format!("{backend}, one RemoveUserFromGroup"),
            t.elapsed(),
            &s,
        );
        w.join("user.1@corp", "team-1").await;
        w.invoke(FUNCTION, &scheduled("us-east-1")).expect("heal");
        function.kill();
        // The records are shared by both backends; the second starts with them in place.
    }
}
