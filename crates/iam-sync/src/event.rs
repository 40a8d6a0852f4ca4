//! The triggers: IAM CloudTrail events through EventBridge (`aws.iam`, "AWS API Call via
//! CloudTrail") and an EventBridge schedule (the full resync). Decoded with aws_lambda_events'
//! `CloudWatchEvent` envelope; the CloudTrail detail is read field by field (the crate's
//! `AWSAPICall` demands fields IAM events do not always carry, such as `sourceIPAddress`).
//!
//! | event | trigger |
//! |---|---|
//! | `aws.events` / `Scheduled Event` | [`Trigger::Resync`] |
//! | `aws.iam` / CloudTrail `AddUserToGroup`, `RemoveUserFromGroup` (succeeded) | [`Trigger::Membership`] |
//! | `aws.iam` / CloudTrail, any other call, or one that failed (`errorCode`) | [`Trigger::Ignored`] |
//! | anything else, or a membership call without `userName`/`groupName` | error naming the field |
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use jiff::Timestamp;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("not an EventBridge event: {0}")]
    Shape(String),
    #[error("field `{field}`: expected {expected}, got {got:?}")]
    Unexpected {
        field: &'static str,
        expected: &'static str,
        got: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Add,
    Remove,
}

impl Action {
    pub fn event_name(self) -> &'static str {
        match self {
            Action::Add => "AddUserToGroup",
            Action::Remove => "RemoveUserFromGroup",
        }
    }
}

/// Whose ARNs: the partition and account the event came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub partition: String,
    pub account: String,
    /// EventBridge's event id (a resync) or CloudTrail's `eventID`.
    pub id: String,
    pub time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub action: Action,
    pub user_name: String,
    pub group_name: String,
    pub origin: Origin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Membership(Membership),
    Resync(Origin),
    /// An IAM event that is not ours: logged quietly, nothing done.
    Ignored {
        event_name: String,
        reason: &'static str,
    },
}

/// The partition of a region (`us-gov-west-1` → `aws-us-gov`, `cn-north-1` → `aws-cn`).
pub fn partition_of_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("us-gov-", "aws-us-gov"),
        ("cn-", "aws-cn"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map_or("aws", |(_, partition)| partition)
}

/// IAM names: 1..=max of `[A-Za-z0-9+=,.@_-]`.
pub fn valid_iam_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

pub fn decode(event: Value) -> Result<Trigger, EventError> {
    let event: CloudWatchEvent =
        lambda_support::json::from_value(event).map_err(EventError::Shape)?;
    let source = event.source.as_deref();
    let detail_type = event.detail_type.as_deref();
    let account = event
        .account_id
        .clone()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| EventError::Unexpected {
            field: "account",
            expected: "a 12-digit account id",
            got: event.account_id.clone(),
        })?;
    let region = event.region.clone().unwrap_or_default();
    let time = Timestamp::new(
        event.time.timestamp(),
        event.time.timestamp_subsec_nanos() as i32,
    )
    .map_err(|e| EventError::Shape(format!("field `time`: {e}")))?;
    let arn_partition = |arn: Option<&str>| {
        arn.and_then(|a| a.strip_prefix("arn:"))
            .and_then(|a| a.split(':').next())
            .filter(|p| p.starts_with("aws"))
            .map(str::to_owned)
    };
    match (source, detail_type) {
        (Some("aws.events"), Some("Scheduled Event")) => Ok(Trigger::Resync(Origin {
            partition: arn_partition(event.resources.first().map(String::as_str))
                .unwrap_or_else(|| partition_of_region(&region).to_owned()),
            account,
            id: event.id.clone().unwrap_or_default(),
            time,
        })),
        (Some("aws.iam"), Some("AWS API Call via CloudTrail")) => {
            let detail = event.detail.unwrap_or(Value::Null);
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let event_source = text(&detail["eventSource"]);
            if event_source.as_deref() != Some("iam.amazonaws.com") {
                return Err(EventError::Unexpected {
                    field: "detail.eventSource",
                    expected: "\"iam.amazonaws.com\"",
                    got: event_source,
                });
            }
            let event_name = text(&detail["eventName"]).unwrap_or_default();
            let action = match event_name.as_str() {
                "AddUserToGroup" => Action::Add,
                "RemoveUserFromGroup" => Action::Remove,
                _ => {
                    return Ok(Trigger::Ignored {
                        event_name,
                        reason: "not a group membership call",
                    });
                }
            };
            if !detail["errorCode"].is_null() {
                return Ok(Trigger::Ignored {
                    event_name,
                    reason: "the call failed (errorCode)",
                });
            }
            let params = &detail["requestParameters"];
            let user_name = text(&params["userName"])
                .filter(|n| valid_iam_name(n, 64))
                .ok_or_else(|| EventError::Unexpected {
                    field: "detail.requestParameters.userName",
                    expected: "an IAM user name (1-64 of A-Za-z0-9+=,.@_-)",
                    got: params["userName"].as_str().map(str::to_owned),
                })?;
            let group_name = text(&params["groupName"])
                .filter(|n| valid_iam_name(n, 128))
                .ok_or_else(|| EventError::Unexpected {
                    field: "detail.requestParameters.groupName",
                    expected: "an IAM group name (1-128 of A-Za-z0-9+=,.@_-)",
                    got: params["groupName"].as_str().map(str::to_owned),
                })?;
            let partition = arn_partition(detail["userIdentity"]["arn"].as_str())
                .unwrap_or_else(|| partition_of_region(&region).to_owned());
            Ok(Trigger::Membership(Membership {
                action,
                user_name,
                group_name,
                origin: Origin {
                    partition,
                    account,
                    id: text(&detail["eventID"])
                        .or(event.id.clone())
                        .unwrap_or_default(),
                    time,
                },
            }))
        }
        (Some("aws.iam"), _) => Err(EventError::Unexpected {
            field: "detail-type",
            expected: "\"AWS API Call via CloudTrail\"",
            got: detail_type.map(str::to_owned),
        }),
        (Some("aws.events"), _) => Err(EventError::Unexpected {
            field: "detail-type",
            expected: "\"Scheduled Event\"",
            got: detail_type.map(str::to_owned),
        }),
        _ => Err(EventError::Unexpected {
            field: "source",
            expected: "\"aws.iam\" (CloudTrail) or \"aws.events\" (schedule)",
            got: source.map(str::to_owned),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let text = match name {
            "add" => include_str!("../../../events/iam-sync/add-user-to-group.json"),
            "remove" => include_str!("../../../events/iam-sync/remove-user-from-group.json"),
            "govcloud" => include_str!("../../../events/iam-sync/add-user-to-group-govcloud.json"),
            "other" => include_str!("../../../events/iam-sync/create-user.json"),
            "failed" => include_str!("../../../events/iam-sync/add-user-to-group-denied.json"),
            "scheduled" => include_str!("../../../events/iam-sync/scheduled.json"),
            "sqs" => include_str!("../../../events/iam-sync/not-iam.json"),
            _ => unreachable!(),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_samples_decode() {
        let Trigger::Membership(m) = decode(sample("add")).unwrap() else {
            panic!("add")
        };
        assert_eq!(
            (m.action, m.user_name.as_str(), m.group_name.as_str()),
            (Action::Add, "alice@example.com", "developers")
        );
        assert_eq!(
            (m.origin.partition.as_str(), m.origin.account.as_str()),
            ("aws", "111122223333")
        );
        assert_eq!(m.origin.id, "4d4a2c1b-9f3e-4b7a-8a61-2f0e0c6b1d01");
        let Trigger::Membership(m) = decode(sample("remove")).unwrap() else {
            panic!("remove")
        };
        assert_eq!(m.action, Action::Remove);
        let Trigger::Membership(m) = decode(sample("govcloud")).unwrap() else {
            panic!("govcloud")
        };
        assert_eq!(m.origin.partition, "aws-us-gov");
        let Trigger::Resync(o) = decode(sample("scheduled")).unwrap() else {
            panic!("scheduled")
        };
        assert_eq!(
            (o.partition.as_str(), o.account.as_str()),
            ("aws", "111122223333")
        );
    }

    #[test]
    fn other_iam_calls_are_ignored_quietly() {
        // CreateUser carries a userName; a CreateGroup would carry none — neither is ours.
        let ignored = |v| matches!(decode(v), Ok(Trigger::Ignored { .. }));
        assert!(ignored(sample("other")));
        let mut no_user = sample("other");
        no_user["detail"]["eventName"] = "CreateGroup".into();
        no_user["detail"]["requestParameters"] = serde_json::json!({"groupName": "g"});
        assert!(ignored(no_user));
        assert!(ignored(sample("failed")));
    }

    #[test]
    fn foreign_or_malformed_events_are_refused_naming_the_field() {
        let err = |v| decode(v).unwrap_err().to_string();
        assert_eq!(
            err(sample("sqs")),
            "field `source`: expected \"aws.iam\" (CloudTrail) or \"aws.events\" (schedule), got Some(\"aws.sqs\")"
        );
        let mut v = sample("add");
        v["detail"]["requestParameters"]
            .as_object_mut()
            .unwrap()
            .remove("userName");
        assert!(err(v).starts_with("field `detail.requestParameters.userName`"));
        let mut v = sample("add");
        v["detail"]["requestParameters"]["groupName"] = "bad/name".into();
        assert!(err(v).starts_with("field `detail.requestParameters.groupName`"));
        let mut v = sample("add");
        v["detail"]["eventSource"] = "s3.amazonaws.com".into();
        assert!(err(v).starts_with("field `detail.eventSource`"));
        let mut v = sample("add");
        v["detail-type"] = "AWS Console Sign In via CloudTrail".into();
        assert!(err(v).starts_with("field `detail-type`"));
        let mut v = sample("add");
        v["account"] = "12".into();
        assert!(err(v).starts_with("field `account`"));
        assert!(err(serde_json::json!({"x": 1})).contains("missing field `time`"));
    }

    /// Malformed events (wrong shapes, wrong types, missing fields, huge numbers, nested
    /// garbage, odd strings) are refused with an error naming the field, never a panic.
    #[test]
    fn malformed_events_are_refused_naming_the_field() {
        let with = |pointer: &str, value: serde_json::Value| {
            let mut e = sample("add");
            *e.pointer_mut(pointer).unwrap() = value;
            e
        };
        let deep = (0..200).fold(json!("x"), |v, _| json!({ "a": [v] }));
        let mut cases = lambda_support::testing::malformed_eventbridge(&sample("add"));
        cases.extend([
            (
                with("/account", json!(111122223333u64)),
                "account: invalid type: integer",
            ),
            (with("/account", json!("11112222333x")), "field `account`"),
            (
                with("/detail", json!("garbage")),
                "field `detail.eventSource`",
            ),
            (
                with("/detail/eventSource", json!(1e308)),
                "field `detail.eventSource`",
            ),
            (
                with("/detail/requestParameters", json!(null)),
                "field `detail.requestParameters.userName`",
            ),
            (
                with("/detail/requestParameters/userName", json!(42)),
                "field `detail.requestParameters.userName`",
            ),
            (
                with("/detail/requestParameters/userName", json!("a".repeat(65))),
                "field `detail.requestParameters.userName`",
            ),
            (
                with("/detail/requestParameters/userName", json!("bad\u{0}name")),
                "field `detail.requestParameters.userName`",
            ),
            (
                with("/detail/requestParameters/groupName", deep.clone()),
                "field `detail.requestParameters.groupName`",
            ),
            (
                with("/detail/requestParameters/groupName", json!("")),
                "field `detail.requestParameters.groupName`",
            ),
        ]);
        let wrong = lambda_support::testing::misjudged(cases, decode);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn partitions_of_regions() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("us-gov-west-1", "aws-us-gov"),
            ("cn-northwest-1", "aws-cn"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
        ] {
            assert_eq!(partition_of_region(region), partition, "{region}");
        }
    }
}
