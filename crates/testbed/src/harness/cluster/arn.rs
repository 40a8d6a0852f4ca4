//! ARNs as the EKS API stand-in ([`super::eks_api`]) checks and names access entries' principals.

/// Partitions aws-iam-authenticator recognises.
pub const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// The sections of an ARN (`arn:` and the five after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// aws-sdk-go-v2's `arn.Parse`.
pub fn parse_arn(arn: &str) -> Result<Arn<'_>, String> {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return Err(format!("arn '{arn}' is invalid: 'arn: invalid prefix'"));
    };
    let s: Vec<&str> = rest.splitn(5, ':').collect();
    if s.len() != 5 {
        return Err(format!(
            "arn '{arn}' is invalid: 'arn: not enough sections'"
        ));
    }
    Ok(Arn {
        partition: s[0],
        service: s[1],
        region: s[2],
        account: s[3],
        resource: s[4],
    })
}

fn is_role_arn(arn: &str) -> bool {
    parse_arn(arn).is_ok_and(|a| a.service == "iam" && a.resource.starts_with("role/"))
}

/// The username EKS gives an access entry created without one.
pub fn default_access_entry_username(principal_arn: &str, entry_type: &str) -> String {
    match entry_type {
        "EC2_LINUX" | "EC2_WINDOWS" | "EC2" | "HYBRID_LINUX" => {
            "system:node:{{EC2PrivateDNSName}}".into()
        }
        "FARGATE_LINUX" => "system:node:{{SessionName}}".into(),
        _ => match parse_arn(principal_arn) {
            Ok(a) if is_role_arn(principal_arn) => {
                let name = a.resource.rsplit('/').next().unwrap_or("");
                format!(
                    "arn:{}:sts::{}:assumed-role/{name}/{{{{SessionName}}}}",
                    a.partition, a.account
                )
            }
            _ => principal_arn.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sections() {
        let a = parse_arn("arn:aws:iam::123456789012:role/team/dev/scaler").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws", "iam", "", "123456789012", "role/team/dev/scaler")
        );
        assert!(parse_arn("aws:iam::1:role/x").is_err());
        assert!(parse_arn("arn:aws:iam::1").is_err());
    }

    #[test]
    fn default_usernames_as_eks_gives_them() {
        assert_eq!(
            default_access_entry_username(
                "arn:aws:iam::123456789012:role/team/dev/scaler",
                "STANDARD"
            ),
            "arn:aws:sts::123456789012:assumed-role/scaler/{{SessionName}}"
        );
        assert_eq!(
            default_access_entry_username("arn:aws:iam::123456789012:role/node", "EC2_LINUX"),
            "system:node:{{EC2PrivateDNSName}}"
        );
        assert_eq!(
            default_access_entry_username("arn:aws:iam::123456789012:user/ops/alice", "STANDARD"),
            "arn:aws:iam::123456789012:user/ops/alice"
        );
    }
}
