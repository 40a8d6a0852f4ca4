use serde_json::json;

use super::*;

#[test]
fn canonicalize_like_the_authenticator() {
    let ok = [
        (
            "arn:aws:sts::123456789012:assumed-role/scaler/session",
            PrincipalType::AssumedRole,
            "arn:aws:iam::123456789012:role/scaler",
        ),
        (
            "arn:aws-cn:sts::123456789012:assumed-role/scaler/i-0abc",
            PrincipalType::AssumedRole,
            "arn:aws-cn:iam::123456789012:role/scaler",
        ),
        // Everything between "assumed-role/" and the session is the role.
        (
            "arn:aws:sts::123456789012:assumed-role/a/b/s",
            PrincipalType::AssumedRole,
            "arn:aws:iam::123456789012:role/a/b",
        ),
        (
            "arn:aws:iam::123456789012:user/ops/alice",
            PrincipalType::User,
            "arn:aws:iam::123456789012:user/ops/alice",
        ),
        (
            "arn:aws:iam::123456789012:role/scaler",
            PrincipalType::Role,
            "arn:aws:iam::123456789012:role/scaler",
        ),
        (
            "arn:aws:iam::123456789012:root",
            PrincipalType::Root,
            "arn:aws:iam::123456789012:root",
        ),
        (
            "arn:aws:sts::123456789012:federated-user/bob",
            PrincipalType::FederatedUser,
            "arn:aws:sts::123456789012:federated-user/bob",
        ),
    ];
    for (arn, kind, canonical) in ok {
        assert_eq!(
            canonicalize(arn),
            Ok((kind, canonical.to_string())),
            "{arn}"
        );
    }
    let bad = [
        ("role/scaler", "invalid prefix"),
        ("arn:aws:iam::123456789012", "not enough sections"),
        (
            "arn:aws-mars:iam::123456789012:user/x",
            "does not have a recognized partition",
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/scaler",
            "does not have a role",
        ),
        (
            "arn:aws:sts::123456789012:session/x",
            "unrecognized resource session/x for service sts",
        ),
        (
            "arn:aws:iam::123456789012:group/devs",
            "unrecognized resource group/devs for service iam",
        ),
        ("arn:aws:s3:::bucket", "service s3 in arn"),
    ];
    for (arn, want) in bad {
        let e = canonicalize(arn).unwrap_err();
        assert!(e.contains(want), "{arn}: {e}");
    }
}

#[test]
fn strip_path_only_touches_roles() {
    assert_eq!(
        strip_path("arn:aws:iam::1:role/team/dev/scaler"),
        "arn:aws:iam::1:role/scaler"
    );
    assert_eq!(
        strip_path("arn:aws:iam::1:role/scaler"),
        "arn:aws:iam::1:role/scaler"
    );
    assert_eq!(
        strip_path("arn:aws:iam::1:user/team/alice"),
        "arn:aws:iam::1:user/team/alice"
    );
    assert_eq!(strip_path("not an arn"), "not an arn");
}

#[test]
fn session_and_user_id_from_sts() {
    let body = br#"{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":"arn:aws:sts::123456789012:assumed-role/scaler/me@corp","UserId":"AROAID:me@corp","Account":"123456789012"}}}"#;
    let id = CallerIdentity::from_sts_json(body, "ASIAKEY").unwrap();
    assert_eq!(id.canonical_arn, "arn:aws:iam::123456789012:role/scaler");
    assert_eq!(
        (id.user_id.as_str(), id.session_name.as_str()),
        ("AROAID", "me@corp")
    );
    assert_eq!(id.access_key_id, "ASIAKEY");

    let user =
        CallerIdentity::from_parts("arn:aws:iam::123456789012:user/alice", "", "AIDAID", "AKIA")
            .unwrap();
    assert_eq!(
        (
            user.user_id.as_str(),
            user.session_name.as_str(),
            user.account_id.as_str()
        ),
        ("AIDAID", "", "123456789012")
    );

    // UserId without a session: the ARN's last segment (lenient where the real code refuses).
    let lenient = CallerIdentity::from_parts(
        "arn:aws:sts::123456789012:assumed-role/r/sess",
        "123456789012",
        "AROAID",
        "",
    )
    .unwrap();
    assert_eq!(lenient.session_name, "sess");

    let e = CallerIdentity::from_sts_json(b"{}", "").unwrap_err();
    assert!(e.contains("invalid prefix"), "{e}");
}

fn caller(arn: &str, session: &str) -> CallerIdentity {
    let user_id = if session.is_empty() {
        "AIDAID".to_string()
    } else {
        format!("AROAID:{session}")
    };
    CallerIdentity::from_parts(arn, "123456789012", &user_id, "ASIAKEY").unwrap()
}

fn role_caller() -> CallerIdentity {
    caller(
        "arn:aws:sts::123456789012:assumed-role/scaler/ops@corp",
        "ops@corp",
    )
}

fn cm(data: serde_json::Value) -> Option<serde_json::Value> {
    Some(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": data}),
    )
}

fn entry(principal: &str, username: &str, groups: &[&str]) -> AccessEntry {
    AccessEntry {
        cluster_name: "c".into(),
        principal_arn: principal.into(),
        username: username.into(),
        kubernetes_groups: groups.iter().map(|g| g.to_string()).collect(),
        entry_type: "STANDARD".into(),
        ..AccessEntry::default()
    }
}

#[test]
fn parse_aws_auth_is_case_insensitive_and_keeps_good_entries() {
    let auth = parse_aws_auth(&cm(json!({
        "mapRoles": "- RoleARN: arn:aws:iam::1:role/a\n  UserName: a\n  Groups: [g1, g2]\n- username: no-arn\n- rolearn: arn:aws:iam::1:role/b\n  groups: notalist\n",
        "mapUsers": "- userarn: arn:aws:iam::1:user/u\n  username: u\n- {}\n",
        "mapAccounts": "- \"123456789012\"\n- 210987654321\n",
    }))
    .unwrap());
    assert_eq!(
        auth.map_roles,
        vec![RoleMapping {
            rolearn: "arn:aws:iam::1:role/a".into(),
            username: "a".into(),
            groups: vec!["g1".into(), "g2".into()]
        }]
    );
    assert_eq!(auth.map_users.len(), 1);
    assert_eq!(
        auth.map_accounts,
        vec!["123456789012".to_string(), "210987654321".to_string()]
    );
    assert_eq!(auth.errors.len(), 3, "{:?}", auth.errors);
    assert!(auth.errors[0].contains("mapRoles[1]: one of rolearn or SSO must be supplied"));
    assert!(auth.errors[1].contains("mapRoles[2]: groups: expected a list"));
    assert!(auth.errors[2].contains("mapUsers[1]: value for userarn must be supplied"));

    for skippable in ["", "  ", "''", "\"\"", "``"] {
        let a = parse_aws_auth(&cm(json!({"mapRoles": skippable})).unwrap());
        assert!(
            a.map_roles.is_empty() && a.errors.is_empty(),
            "{skippable:?}: {:?}",
            a.errors
        );
    }
    let broken = parse_aws_auth(&cm(json!({"mapRoles": "- rolearn: [unclosed"})).unwrap());
    assert_eq!(broken.errors.len(), 1);
}

#[test]
fn mapping_precedence() {
    let id = role_caller();
    let role = "arn:aws:iam::123456789012:role/scaler";
    let roles = format!("- rolearn: {role}\n  username: from-maproles\n  groups: [r]\n");
    // A mapUsers entry with the same ARN: mapRoles is looked at first, as the real mapper does.
    let users = format!("- userarn: {role}\n  username: from-mapusers\n");
    let all = IdentitySources {
        aws_auth: cm(
            json!({"mapRoles": roles, "mapUsers": users, "mapAccounts": "- '123456789012'"}),
        ),
        access_entries: vec![entry(role, "from-entry", &["e"])],
    };
    let who = |s: &IdentitySources| find_mapping(&id, s).map(|m| (m.username, m.source));

    assert_eq!(
        who(&all),
        Some(("from-entry".into(), MappingSource::AccessEntry(role.into())))
    );
    let mut s = all.clone();
    s.access_entries.clear();
    assert_eq!(
        who(&s),
        Some(("from-maproles".into(), MappingSource::MapRoles(role.into())))
    );
    s.aws_auth = cm(json!({"mapUsers": users, "mapAccounts": "- '123456789012'"}));
    assert_eq!(
        who(&s),
        Some(("from-mapusers".into(), MappingSource::MapUsers(role.into())))
    );
    s.aws_auth = cm(json!({"mapAccounts": "- '123456789012'"}));
    assert_eq!(
        who(&s),
        Some((
            role.into(),
            MappingSource::MapAccounts("123456789012".into())
        ))
    );
    s.aws_auth = cm(json!({"mapAccounts": "- '999999999999'"}));
    assert_eq!(who(&s), None);
    // An access entry for someone else does not shadow aws-auth.
    s = all.clone();
    s.access_entries = vec![entry("arn:aws:iam::123456789012:role/other", "x", &[])];
    assert_eq!(who(&s).unwrap().0, "from-maproles");
}

#[test]
fn the_last_duplicate_wins_and_matching_ignores_case() {
    let id = role_caller();
    let s = IdentitySources {
        aws_auth: cm(json!({"mapRoles":
            "- rolearn: arn:aws:iam::123456789012:role/SCALER\n  username: first\n- rolearn: arn:aws:iam::123456789012:role/scaler\n  username: second\n"})),
        access_entries: vec![],
    };
    assert_eq!(find_mapping(&id, &s).unwrap().username, "second");
}

#[test]
fn templates_render_like_the_authenticator() {
    let id = role_caller();
    let s = IdentitySources {
        aws_auth: cm(
            json!({"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/scaler\n  username: 'u:{{AccountID}}:{{SessionName}}:{{SessionNameRaw}}:{{AccessKeyID}}'\n  groups: ['team-{{SessionName}}', plain, plain]\n"}),
        ),
        access_entries: vec![],
    };
    let user = map_identity(&id, &s).unwrap();
    assert_eq!(user.username, "u:123456789012:ops-corp:ops@corp:ASIAKEY");
    assert_eq!(
        user.groups,
        vec![
            "team-ops-corp".to_string(),
            "plain".to_string(),
            "system:authenticated".to_string()
        ]
    );
    assert_eq!(user.uid, "aws-iam-authenticator:123456789012:AROAID");
    assert_eq!(
        user.extra_arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/scaler/ops@corp")
    );

    let node = IdentitySources {
        aws_auth: cm(
            json!({"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/scaler\n  username: system:node:{{EC2PrivateDNSName}}\n"}),
        ),
        access_entries: vec![],
    };
    let e = map_identity(&id, &node).unwrap_err();
    assert!(e.contains("EC2PrivateDNSName"), "{e}");

    let empty = IdentitySources {
        aws_auth: cm(
            json!({"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/scaler\n  groups: [g]\n"}),
        ),
        access_entries: vec![],
    };
    assert!(
        map_identity(&id, &empty)
            .unwrap_err()
            .contains("empty username")
    );
}

#[test]
fn access_entry_default_usernames_and_groups() {
    let id = role_caller();
    let s = IdentitySources {
        aws_auth: None,
        access_entries: vec![entry("arn:aws:iam::123456789012:role/scaler", "", &["g"])],
    };
    let user = map_identity(&id, &s).unwrap();
    assert_eq!(
        user.username,
        "arn:aws:sts::123456789012:assumed-role/scaler/ops-corp"
    );
    assert_eq!(
        user.groups,
        vec!["g".to_string(), "system:authenticated".to_string()]
    );

    let alice = caller("arn:aws:iam::123456789012:user/ops/alice", "");
    let s = IdentitySources {
        aws_auth: None,
        access_entries: vec![entry("arn:aws:iam::123456789012:user/ops/alice", "", &[])],
    };
    let user = map_identity(&alice, &s).unwrap();
    assert_eq!(user.username, "arn:aws:iam::123456789012:user/ops/alice");
    assert_eq!(user.groups, vec!["system:authenticated".to_string()]);
    assert_eq!(user.uid, "aws-iam-authenticator:123456789012:AIDAID");

    assert_eq!(
        default_access_entry_username("arn:aws:iam::123456789012:role/team/dev/scaler", "STANDARD"),
        "arn:aws:sts::123456789012:assumed-role/scaler/{{SessionName}}"
    );
    assert_eq!(
        default_access_entry_username("arn:aws:iam::123456789012:role/node", "EC2_LINUX"),
        "system:node:{{EC2PrivateDNSName}}"
    );
}

#[test]
fn role_paths_match_in_access_entries_but_not_in_aws_auth() {
    let id = caller("arn:aws:sts::123456789012:assumed-role/scaler/s", "s");
    let with_path = "arn:aws:iam::123456789012:role/team/dev/scaler";
    let aws_auth_only = IdentitySources {
        aws_auth: cm(json!({"mapRoles": format!("- rolearn: {with_path}\n  username: u\n")})),
        access_entries: vec![],
    };
    assert_eq!(find_mapping(&id, &aws_auth_only), None);
    let entries = IdentitySources {
        aws_auth: None,
        access_entries: vec![entry(with_path, "u", &[])],
    };
    assert_eq!(
        find_mapping(&id, &entries).unwrap().source,
        MappingSource::AccessEntry(with_path.into())
    );
    // A user's path is part of its ARN and is never stripped.
    let alice = caller("arn:aws:iam::123456789012:user/ops/alice", "");
    let s = IdentitySources {
        aws_auth: None,
        access_entries: vec![entry("arn:aws:iam::123456789012:user/alice", "u", &[])],
    };
    assert_eq!(find_mapping(&alice, &s), None);
}

#[test]
fn unmapped_is_an_error_naming_the_arn() {
    let e = map_identity(&role_caller(), &IdentitySources::default()).unwrap_err();
    assert!(
        e.starts_with("ARN is not mapped: arn:aws:iam::123456789012:role/scaler"),
        "{e}"
    );
}
