//! ARNs as the decoders meet them: an alarm's (`arn:aws:cloudwatch:eu-west-1:123456789012:
//! alarm:orders:backlog+high`, whose name may hold `:`) and a topic's.

/// The parts of `arn:<partition>:<service>:<region>:<account>:<resource>`; the resource keeps
/// any further `:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (
                Some("arn"),
                Some(partition),
                Some(service),
                Some(region),
                Some(account),
                Some(resource),
            ) if !partition.is_empty() && !service.is_empty() => Some(Arn {
                partition,
                service,
                region,
                account,
                resource,
            }),
            _ => None,
        }
    }

    /// The region of an ARN of `service` that has one.
    pub fn region_of(text: &'a str, service: &str) -> Option<&'a str> {
        Arn::parse(text)
            .filter(|a| a.service == service && !a.region.is_empty())
            .map(|a| a.region)
    }

    /// Whether this is a CloudWatch alarm's ARN.
    pub fn is_alarm(&self) -> bool {
        self.service == "cloudwatch" && self.resource.starts_with("alarm:")
    }
}

/// The ARN of alarm `name` in `region` of `account` (CloudWatch's own shape).
pub fn alarm_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_names_may_hold_colons() {
        let arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders:backlog+high";
        let parsed = Arn::parse(arn).unwrap();
        assert_eq!(
            parsed,
            Arn {
                partition: "aws",
                service: "cloudwatch",
                region: "eu-west-1",
                account: "123456789012",
                resource: "alarm:orders:backlog+high",
            }
        );
        assert!(parsed.is_alarm());
        assert_eq!(
            alarm_arn("aws", "eu-west-1", "123456789012", "orders:backlog+high"),
            arn
        );
    }

    #[test]
    fn regions_come_only_from_arns_of_the_service_that_have_one() {
        let cases = [
            (
                "arn:aws:cloudwatch:eu-west-1:1:alarm:a",
                "cloudwatch",
                Some("eu-west-1"),
            ),
            (
                "arn:aws-cn:sns:cn-north-1:1:topic",
                "sns",
                Some("cn-north-1"),
            ),
            ("arn:aws:sns:eu-west-1:1:topic", "cloudwatch", None),
            ("arn:aws:iam::1:role/x", "iam", None),
            ("arn:aws:cloudwatch", "cloudwatch", None),
            (
                "not-an-arn:aws:cloudwatch:eu-west-1:1:alarm:a",
                "cloudwatch",
                None,
            ),
            ("", "cloudwatch", None),
        ];
        for (arn, service, want) in cases {
            assert_eq!(Arn::region_of(arn, service), want, "{arn}");
        }
        assert!(
            !Arn::parse("arn:aws:sns:eu-west-1:1:alarm:x")
                .unwrap()
                .is_alarm()
        );
    }
}
