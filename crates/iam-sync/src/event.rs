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
use lambda_support::eventbridge::{EventError, envelope, expect, time};
use serde_json::Value;

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

impl Trigger {
    /// `AddUserToGroup`, `RemoveUserFromGroup`, `Resync` or the ignored event's name.
    pub fn name(&self) -> &str {
        match self {
            Trigger::Membership(m) => m.action.event_name(),
            Trigger::Resync(_) => "Resync",
            Trigger::Ignored { event_name, .. } => event_name,
        }
    }
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
    let event = envelope(event)?;
    let account = account(&event)?;
    let time = time(&event)?;
    let detail_type = event.detail_type.as_deref();
    match event.source.as_deref() {
        Some("aws.events") => {
            expect("detail-type", detail_type, "\"Scheduled Event\"")?;
            Ok(Trigger::Resync(Origin {
                partition: partition(event.resources.first(), &event),
                account,
                id: event.id.clone().unwrap_or_default(),
                time,
            }))
        }
        Some("aws.iam") => {
            expect(
                "detail-type",
                detail_type,
                "\"AWS API Call via CloudTrail\"",
            )?;
            cloudtrail(&event, account, time)
        }
        source => Err(EventError::Unexpected {
            field: "source",
            expected: "\"aws.iam\" (CloudTrail) or \"aws.events\" (schedule)",
            got: source.map(str::to_owned),
        }),
    }
}

/// The account the event came from: its 12 digits.
fn account(event: &CloudWatchEvent) -> Result<String, EventError> {
    event
        .account_id
        .clone()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| EventError::Unexpected {
            field: "account",
            expected: "a 12-digit account id",
            got: event.account_id.clone(),
        })
}

/// The partition of `arn` (the schedule's rule, the CloudTrail caller), else of the event's
/// region.
fn partition(arn: Option<&String>, event: &CloudWatchEvent) -> String {
    arn.and_then(|a| a.strip_prefix("arn:"))
        .and_then(|a| a.split(':').next())
        .filter(|p| p.starts_with("aws"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            partition_of_region(event.region.as_deref().unwrap_or_default()).to_owned()
        })
}

/// A CloudTrail record of an IAM call: a group membership change, or another call ignored.
fn cloudtrail(
    event: &CloudWatchEvent,
    account: String,
    time: Timestamp,
) -> Result<Trigger, EventError> {
    let detail = event.detail.as_ref().unwrap_or(&Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    expect(
        "detail.eventSource",
        detail["eventSource"].as_str(),
        "\"iam.amazonaws.com\"",
    )?;
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
    let name = |field, key: &str, max, expected| {
        text(&params[key])
            .filter(|n| valid_iam_name(n, max))
            .ok_or_else(|| EventError::Unexpected {
                field,
                expected,
                got: text(&params[key]),
            })
    };
    let user_name = name(
        "detail.requestParameters.userName",
        "userName",
        64,
        "an IAM user name (1-64 of A-Za-z0-9+=,.@_-)",
    )?;
    let group_name = name(
        "detail.requestParameters.groupName",
        "groupName",
        128,
        "an IAM group name (1-128 of A-Za-z0-9+=,.@_-)",
    )?;
    let caller = text(&detail["userIdentity"]["arn"]);
    Ok(Trigger::Membership(Membership {
        action,
        user_name,
        group_name,
        origin: Origin {
            partition: partition(caller.as_ref(), event),
            account,
            id: text(&detail["eventID"])
                .or(event.id.clone())
                .unwrap_or_default(),
            time,
        },
    }))
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
