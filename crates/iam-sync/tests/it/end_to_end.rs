//! iam-sync end to end: the real binary under the Lambda emulator, moto for IAM and STS, the
//! real control plane (kube-apiserver with aws-iam-authenticator as its token webhook)
//! authenticating the function's EKS token and authorizing it with
//! `infra/k8s/rbac/iam-sync.yaml` only — and then authenticating the *users'* EKS tokens
//! through what iam-sync wrote, and authorizing them with the RBAC of their groups. What
//! iam-sync writes reaches the authenticator asynchronously (as on EKS), so what a user may
//! do after a change is polled for, with a deadline.
use testbed::harness::cluster::Barrier;
use testbed::harness::{FaultAction, FaultConfig, FaultRule};
use testbed::world::{CLUSTER, World};

use crate::support::{
    self, FUNCTION, Identities, MAP_ROLES, MAP_USERS, abilities, abilities_become, cloudtrail,
    scheduled, user_arn,
};

const ALICE: &str = "alice@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_auth_add_remove_twice_two_groups_resync_and_the_tokens_work() {
    let w = support::world().await;
    for g in ["developers", "QA", "finance"] {
        w.group(g).await;
    }
    w.user(ALICE, "/eng/web/").await;
    w.user("bob+ops", "/").await;
    w.user("carol.smith", "/").await;
    let alice_arn = user_arn("/eng/web/alice@example.com");
    let bob_arn = user_arn("/bob+ops");
    let before = w.aws_auth().await;
    let alice = w.client_as(ALICE).await;
    let mut function = w.spawn(FUNCTION, &[]);

    // Unknown to the cluster: 401 before anything.
    assert_eq!(abilities(&alice).await, (Err(401), Err(401)));

    for round in 0..2 {
        let summary = w
            .invoke(FUNCTION, &w.add(ALICE, "developers").await)
            .expect("add");
        assert_eq!(summary["decision"], "applied", "round {round}: {summary}");
        assert_eq!(summary["changes"][0]["action"], "create", "{summary}");
        assert_eq!(
            w.groups_of(&alice_arn).await,
            Some(vec!["dev-readers".into()])
        );
        // The user's own token now maps to dev-readers: pods yes, ConfigMaps in qa no.
        abilities_become(&alice, (Ok(()), Err(403)), &format!("round {round}")).await;
        // One record per user and IAM group, as the original's Lambda wrote it (the ARN,
        // the IAM group), labelled as iam-sync's.
        let record = w.record(ALICE, "developers").await.expect("record");
        assert!(
            record
                .metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("alice-example-com-developers-")
        );
        assert_eq!(
            record.metadata.labels.as_ref().unwrap()["k8s-lambda.dev/managed-by"],
            "iam-sync"
        );
        assert_eq!(record.spec.iam_user, alice_arn);
        assert_eq!(record.spec.username, ALICE);
        assert_eq!(record.spec.iam_groups, ["developers"]);
        let status = record.status.unwrap();
        assert_eq!(status.user_arn.as_deref(), Some(alice_arn.as_str()));
        assert_eq!(status.kubernetes_groups, ["dev-readers"]);
        assert_eq!(status.last_event.unwrap().name, "AddUserToGroup");

        // A duplicate delivery changes nothing.
        let summary = w
            .invoke(
                FUNCTION,
                &cloudtrail("AddUserToGroup", ALICE, "developers", "us-east-1"),
            )
            .unwrap();
        assert_eq!(summary["decision"], "unchanged", "{summary}");

        let summary = w
            .invoke(FUNCTION, &w.remove(ALICE, "developers").await)
            .expect("remove");
        assert_eq!(summary["changes"][0]["action"], "delete", "{summary}");
        assert_eq!(w.groups_of(&alice_arn).await, None);
        abilities_become(&alice, (Err(401), Err(401)), &format!("round {round}")).await;
        // Out of the group: its record goes, as the original's Lambda deleted it.
        assert!(w.record(ALICE, "developers").await.is_none());
    }

    // Everything but mapUsers is as it was, byte for byte; the hand-written entry too.
    let after = w.aws_auth().await;
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(after.metadata.annotations, before.metadata.annotations);
    let (a, b) = (after.data.unwrap(), before.data.unwrap());
    assert_eq!(a["mapRoles"], MAP_ROLES);
    assert_eq!(a["mapAccounts"], b["mapAccounts"]);
    assert_eq!(a["mapUsers"], b["mapUsers"], "back to the original text");

    // Two mapped groups: one entry with both; RBAC allows what both allow.
    w.invoke(FUNCTION, &w.add(ALICE, "developers").await)
        .unwrap();
    w.invoke(FUNCTION, &w.add(ALICE, "QA").await).unwrap();
    let entries = w.map_users().await;
    assert_eq!(
        entries.iter().filter(|(a, _, _)| a == &alice_arn).count(),
        1
    );
    assert_eq!(
        w.groups_of(&alice_arn).await,
        Some(vec!["dev-readers".into(), "qa-editors".into()])
    );
    abilities_become(&alice, (Ok(()), Ok(())), "developers and QA").await;
    w.invoke(FUNCTION, &w.remove(ALICE, "developers").await)
        .unwrap();
    assert_eq!(
        w.groups_of(&alice_arn).await,
        Some(vec!["qa-editors".into()])
    );
    abilities_become(&alice, (Err(403), Ok(())), "QA only").await;
    let entries = w.map_users().await;
    assert_eq!(
        entries[0].0,
        user_arn("/ops"),
        "the hand-written entry is untouched"
    );
    assert!(w.aws_auth().await.data.unwrap()["mapUsers"].starts_with(MAP_USERS));

    // Out of order: the Add event arrives after IAM already removed bob again. IAM wins.
    w.join("bob+ops", "developers").await;
    let late_add = cloudtrail("AddUserToGroup", "bob+ops", "developers", "us-east-1");
    let remove = w.remove("bob+ops", "developers").await;
    w.invoke(FUNCTION, &remove).unwrap();
    let summary = w.invoke(FUNCTION, &late_add).unwrap();
    assert_eq!(summary["decision"], "unchanged", "{summary}");
    assert_eq!(w.groups_of(&bob_arn).await, None);

    // Not ours: an unmapped group, another IAM call (quietly); a foreign event is an error.
    let summary = w
        .invoke(FUNCTION, &w.add("carol.smith", "finance").await)
        .unwrap();
    assert_eq!(summary["decision"], "unmapped_group", "{summary}");
    assert_eq!(summary["apiCalls"]["iam"], 0, "{summary}");
    let mut other = cloudtrail("CreateUser", "dave", "x", "us-east-1");
    other["detail"]["requestParameters"] = serde_json::json!({"userName": "dave"});
    assert_eq!(w.invoke(FUNCTION, &other).unwrap()["decision"], "ignored");
    let mut other = cloudtrail("CreateGroup", "x", "ops", "us-east-1");
    other["detail"]["requestParameters"] = serde_json::json!({"groupName": "ops"});
    assert_eq!(w.invoke(FUNCTION, &other).unwrap()["decision"], "ignored");
    let err = w
        .invoke(FUNCTION, &serde_json::json!({"Records": []}))
        .unwrap_err();
    assert!(err.contains("missing field"), "{err}");
    let mut sqs = scheduled("us-east-1");
    sqs["source"] = "aws.sqs".into();
    let err = w.invoke(FUNCTION, &sqs).unwrap_err();
    assert!(err.contains("field `source`"), "{err}");

    // Missed events heal at the resync: bob joined developers and carol QA without events,
    // and someone gave the hand-written ops entry a managed group it should not have.
    w.join("bob+ops", "developers").await;
    w.join("carol.smith", "QA").await;
    w.leave(ALICE, "QA").await;
    function.kill();
    {
        // DRY_RUN: the diff in the response, nothing written.
        let mut dry = w.spawn(FUNCTION, &[("DRY_RUN", "true")]);
        let before = w.aws_auth().await;
        let summary = w
            .invoke(FUNCTION, &scheduled("us-east-1"))
            .expect("dry resync");
        assert_eq!(summary["decision"], "dry_run", "{summary}");
        assert_eq!(summary["changes"].as_array().unwrap().len(), 3, "{summary}");
        assert_eq!(
            w.aws_auth().await.metadata.resource_version,
            before.metadata.resource_version
        );
        // The diff is printed: one line per identity change.
        let line = dry
            .wait_for_json(std::time::Duration::from_secs(10), |v| {
                v["fields"]["decision"] == "create" && v["fields"]["arn"] == bob_arn.as_str()
            })
            .expect("a decision line for bob");
        assert_eq!(line["fields"]["to"], "dev-readers", "{line}");
        assert_eq!(line["fields"]["dry_run"], true, "{line}");
        assert_eq!(
            memberships_of(&w).await,
            [(alice_arn.clone(), "QA".to_owned())],
            "no record written"
        );
        dry.kill();
    }
    let _function = w.spawn(FUNCTION, &[]);
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(summary["changes"].as_array().unwrap().len(), 3, "{summary}");
    assert_eq!(
        w.groups_of(&bob_arn).await,
        Some(vec!["dev-readers".into()])
    );
    assert_eq!(
        w.groups_of(&user_arn("/carol.smith")).await,
        Some(vec!["qa-editors".into()])
    );
    assert_eq!(w.groups_of(&alice_arn).await, None);
    assert_eq!(
        w.groups_of(&user_arn("/ops")).await,
        Some(vec!["system:masters".into()])
    );
    // Records: one per user and mapped group; alice's (in none now) is gone.
    assert_eq!(
        memberships_of(&w).await,
        [
            (bob_arn.clone(), "developers".to_owned()),
            (user_arn("/carol.smith"), "QA".to_owned())
        ]
    );
    // Converged: the next resync writes nothing.
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).unwrap();
    assert_eq!(
        (summary["decision"].as_str(), summary["records"].as_u64()),
        (Some("unchanged"), Some(0)),
        "{summary}"
    );
    let bob = w.client_as("bob+ops").await;
    abilities_become(&bob, (Ok(()), Err(403)), "bob after the resync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_aws_auth_writers_lose_nothing() {
    let w = support::world().await;
    w.group("developers").await;
    let users: Vec<String> = (0..6).map(|i| format!("u{i}.x@corp")).collect();
    for u in &users {
        w.user(u, "/").await;
    }
    let _function = w.spawn(FUNCTION, &[]);

    // A forced 409 on the first write: iam-sync re-reads and re-applies.
    w.cluster.set_faults(FaultConfig {
        seed: 1,
        rules: vec![FaultRule {
            verbs: vec!["update".into()],
            resources: vec!["configmaps".into()],
            namespace: Some("kube-system".into()),
            max_count: Some(1),
            ..FaultRule::new(FaultAction::Error {
                code: 409,
                message: Some("the object has been modified".into()),
            })
        }],
    });
    let summary = w
        .invoke(FUNCTION, &w.add(&users[0], "developers").await)
        .unwrap();
    assert_eq!(summary["attempts"], 2, "{summary}");
    assert_eq!(w.cluster.faults_fired().len(), 1);
    w.cluster.clear_faults();

    // Another writer edits mapRoles in a loop (get, change, put with the resourceVersion,
    // re-read on 409) while iam-sync handles the other users' events. The first write of
    // each is held at the cluster's front until both have made theirs: both read the same
    // resourceVersion, so one of them meets a real 409 from the API server.
    w.cluster.set_barrier(Some(Barrier {
        namespace: Some("kube-system".into()),
        ..Barrier::new(&["update"], &["configmaps"], 2)
    }));
    let admin = w.admin.clone();
    let writer = tokio::spawn(async move {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api = kube::Api::<ConfigMap>::namespaced(admin, "kube-system");
        let mut conflicts = 0;
        for i in 0..20 {
            loop {
                let mut cm = api.get("aws-auth").await.unwrap();
                let roles = cm.data.as_mut().unwrap().get_mut("mapRoles").unwrap();
                roles.push_str(&format!("- rolearn: arn:aws:iam::123456789012:role/r{i}\n  username: r{i}\n  groups: [g]\n"));
                match api.replace("aws-auth", &Default::default(), &cm).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 409 => conflicts += 1,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        conflicts
    });
    let mut replanned = 0;
    for u in &users[1..] {
        let summary = w.invoke(FUNCTION, &w.add(u, "developers").await).unwrap();
        assert_eq!(summary["decision"], "applied", "{summary}");
        replanned += summary["attempts"].as_u64().unwrap_or(1) - 1;
    }
    let conflicts = writer.await.unwrap();
    let raced = w.cluster.barrier_report();
    w.cluster.set_barrier(None);
    assert!(raced.filled && !raced.timed_out, "{raced:?}");
    assert_eq!(
        (raced.answered(200), raced.answered(409)),
        (1, 1),
        "{raced:?}"
    );
    // The 409 was met by one of the two, which re-read and wrote again.
    assert!(conflicts + replanned >= 1, "{conflicts} + {replanned}");
    let cm = w.aws_auth().await;
    let roles = &cm.data.as_ref().unwrap()["mapRoles"];
    for i in 0..20 {
        assert!(
            roles.contains(&format!("role/r{i}\n")),
            "the other writer's r{i} was lost"
        );
    }
    for u in &users {
        assert_eq!(
            w.groups_of(&user_arn(&format!("/{u}"))).await,
            Some(vec!["dev-readers".into()]),
            "{u}"
        );
    }
    eprintln!("other writer met {conflicts} conflicts, iam-sync re-planned {replanned} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_entries_add_remove_twice_two_groups_resync_and_the_tokens_work() {
    let w = support::world().await;
    for g in ["developers", "QA"] {
        w.group(g).await;
    }
    w.user(ALICE, "/eng/").await;
    w.user("bob+ops", "/").await;
    let alice_arn = user_arn("/eng/alice@example.com");
    let alice = w.client_as(ALICE).await;
    let aws_auth = w.aws_auth().await;
    let _function = w.spawn(FUNCTION, &[("BACKEND", "access-entries")]);
    let entry = |arn: &str| w.access_entry(arn);

    for round in 0..2 {
        let summary = w
            .invoke(FUNCTION, &w.add(ALICE, "developers").await)
            .expect("add");
        assert_eq!(summary["backend"], "access-entries");
        assert_eq!(
            summary["changes"][0]["action"], "create",
            "round {round}: {summary}"
        );
        assert_eq!(
            entry(&alice_arn),
            Some((ALICE.to_owned(), vec!["dev-readers".to_owned()]))
        );
        abilities_become(&alice, (Ok(()), Err(403)), &format!("round {round}")).await;
        w.invoke(FUNCTION, &w.add(ALICE, "QA").await).unwrap();
        let (_, mut groups) = entry(&alice_arn).unwrap();
        groups.sort();
        assert_eq!(groups, ["dev-readers", "qa-editors"]);
        abilities_become(&alice, (Ok(()), Ok(())), &format!("round {round}")).await;
        w.invoke(FUNCTION, &w.remove(ALICE, "developers").await)
            .unwrap();
        let summary = w.invoke(FUNCTION, &w.remove(ALICE, "QA").await).unwrap();
        assert_eq!(summary["changes"][0]["action"], "delete", "{summary}");
        assert_eq!(entry(&alice_arn), None);
        abilities_become(&alice, (Err(401), Err(401)), &format!("round {round}")).await;
    }
    // aws-auth is not this backend's business.
    assert_eq!(
        w.aws_auth().await.metadata.resource_version,
        aws_auth.metadata.resource_version
    );

    // The resync: bob was added without an event; a stray entry of a user in no group loses it.
    w.join("bob+ops", "QA").await;
    w.user("zed", "/").await;
    let eks = aws_sdk_eks::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(w.cluster.url())
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "t",
            ))
            .http_client(testbed_https(&w))
            .load()
            .await,
    );
    eks.create_access_entry()
        .cluster_name(CLUSTER)
        .principal_arn(user_arn("/zed"))
        .kubernetes_groups("dev-readers")
        .send()
        .await
        .unwrap();
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).expect("resync");
    assert_eq!(summary["changes"].as_array().unwrap().len(), 2, "{summary}");
    assert_eq!(
        entry(&user_arn("/bob+ops")).map(|e| e.1),
        Some(vec!["qa-editors".to_owned()])
    );
    assert_eq!(entry(&user_arn("/zed")), None);
    let summary = w.invoke(FUNCTION, &scheduled("us-east-1")).unwrap();
    assert_eq!(summary["decision"], "unchanged", "{summary}");
}

/// GovCloud and China: the entry's ARN carries the event's partition (and the user's path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_come_from_the_event() {
    let w = support::world().await;
    w.group("developers").await;
    w.user("gov.user", "/division/").await;
    w.join("gov.user", "developers").await;
    let _function = w.spawn(FUNCTION, &[]);
    for (region, partition) in [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")] {
        let summary = w
            .invoke(
                FUNCTION,
                &cloudtrail("AddUserToGroup", "gov.user", "developers", region),
            )
            .unwrap();
        let arn = format!("arn:{partition}:iam::123456789012:user/division/gov.user");
        assert_eq!(
            summary["changes"][0]["to"]["arn"],
            arn.as_str(),
            "{summary}"
        );
        assert_eq!(w.groups_of(&arn).await, Some(vec!["dev-readers".into()]));
    }
    // A resync in one partition leaves the other partition's entries alone.
    let summary = w.invoke(FUNCTION, &scheduled("us-gov-west-1")).unwrap();
    assert_eq!(summary["decision"], "unchanged", "{summary}");
    assert!(
        w.groups_of("arn:aws-cn:iam::123456789012:user/division/gov.user")
            .await
            .is_some()
    );
}

/// The records as (user ARN, IAM group), sorted.
async fn memberships_of(w: &World) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = w
        .records()
        .await
        .into_iter()
        .map(|r| (r.spec.iam_user, r.spec.iam_groups.concat()))
        .collect();
    pairs.sort();
    pairs
}

/// The shipped Role is enough (every test runs with it alone) and minimal: without any one
/// of its verbs, some step of a cycle is refused (403). The cycle: a hand-applied record is
/// applied, alice is added and removed, a resync takes the record on, the record is deleted
/// and the next resync releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rbac_is_minimal() {
    use k8s_openapi::api::rbac::v1::Role;
    use k8s_ops::crd::iam_user_group::IamUserGroup;
    let w = support::world().await;
    w.group("developers").await;
    w.user(ALICE, "/").await;
    let _function = w.spawn(FUNCTION, &[]);
    let roles = kube::Api::<Role>::namespaced(w.admin.clone(), "kube-system");
    let shipped = roles.get("lambda:iam-sync").await.unwrap();
    let rules = shipped.rules.clone().unwrap();
    let records = kube::Api::<IamUserGroup>::namespaced(w.admin.clone(), "kube-system");
    let cycles = std::sync::atomic::AtomicUsize::new(0);
    let cycle = || async {
        let name = format!(
            "hand-{}",
            cycles.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        w.cluster
            .load_yaml(&format!(
                "apiVersion: octank.com/v1\nkind: IamUserGroup\nmetadata: {{name: {name}, namespace: kube-system}}\nspec: {{iamUser: 'arn:aws:iam::123456789012:user/viji', username: viji, iamGroups: [oncall]}}\n"
            ))
            .unwrap();
        w.invoke(FUNCTION, &w.add(ALICE, "developers").await)?;
        w.invoke(FUNCTION, &w.remove(ALICE, "developers").await)?;
        w.invoke(FUNCTION, &scheduled("us-east-1"))?;
        records.delete(&name, &Default::default()).await.unwrap();
        w.invoke(FUNCTION, &scheduled("us-east-1"))
    };
    // The full Role: the cycle works (and leaves no record, so the next one creates it).
    cycle().await.expect("the shipped Role is enough");
    let mut cases = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        for verb in &rule.verbs {
            cases.push((i, verb.clone()));
        }
    }
    // Without `delete` the record stays: run it last, where nothing depends on it.
    cases.sort_by_key(|(_, verb)| verb == "delete");
    for (i, verb) in cases {
        let mut reduced = roles.get("lambda:iam-sync").await.unwrap();
        let mut less = rules.clone();
        less[i].verbs.retain(|v| v != &verb);
        // The API server refuses a rule without verbs: drop a rule left with none.
        if less[i].verbs.is_empty() {
            less.remove(i);
        }
        reduced.rules = Some(less);
        roles
            .replace("lambda:iam-sync", &Default::default(), &reduced)
            .await
            .unwrap();
        // The authorizer sees the Role through its informer: wait until the verb is gone.
        w.until_iam_sync_may(&verb, &rules[i], false).await;
        let what = format!(
            "{verb} on {:?} {:?}",
            rules[i].resources, rules[i].resource_names
        );
        let err = cycle().await.expect_err(&format!("the cycle needs {what}"));
        assert!(
            err.contains("403") || err.contains("orbidden"),
            "{what}: {err}"
        );
        // Put the Role back and heal.
        let mut full = roles.get("lambda:iam-sync").await.unwrap();
        full.rules = Some(rules.clone());
        roles
            .replace("lambda:iam-sync", &Default::default(), &full)
            .await
            .unwrap();
        w.until_iam_sync_may(&verb, &rules[i], true).await;
        let _ = w
            .iam()
            .remove_user_from_group()
            .user_name(ALICE)
            .group_name("developers")
            .send()
            .await;
        w.invoke(FUNCTION, &scheduled("us-east-1")).expect("heal");
    }
}

fn testbed_https(w: &World) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        Provider, TlsContext, TrustStore, rustls_provider::CryptoMode,
    };
    let tls = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(w.cluster.ca_pem().as_bytes()),
        )
        .build()
        .unwrap();
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}
