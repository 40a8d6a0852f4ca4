//! `eks-token`'s command line: its own flags and every argument `aws eks update-kubeconfig`
//! writes into a kubeconfig (`--region R eks get-token --cluster-name N --output json
//! [--role ARN]`, or `--cluster-id` for clusters on Outposts), so replacing `aws` by
//! `eks-token` in an existing kubeconfig just works. Anything else is one line naming it.

pub const USAGE: &str = "usage: eks-token --cluster-name NAME [--region REGION] [--role-arn ARN] \
[--profile PROFILE] [--cache] (also accepted as aws eks get-token takes them: \
[--region REGION] eks get-token --cluster-name NAME --output json [--role ARN])";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The cluster the token is for (`--cluster-name`, or `--cluster-id` on Outposts).
    pub cluster: String,
    pub region: Option<String>,
    /// Assumed with session name `EKSGetTokenAuth`, as the AWS CLI does.
    pub role_arn: Option<String>,
    /// `--profile`: as with the AWS CLI, it takes precedence over credentials in the
    /// environment (`AWS_PROFILE` does not).
    pub profile: Option<String>,
    /// Keep temporary credentials in a 0600 file across runs (off by default).
    pub cache: bool,
}

/// What the command line asks for: a token, or the usage text.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Token(Args),
    Help,
}

pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut argv = argv.into_iter();
    let mut args = Args::default();
    let (mut name, mut id) = (None, None);
    // `eks get-token`, as the AWS CLI's kubeconfig entry has them; nothing else positional.
    let mut words = Vec::new();
    while let Some(token) = argv.next() {
        if !token.starts_with('-') {
            words.push(token);
            continue;
        }
        let (flag, inline) = match token.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (token, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))
        };
        match flag.as_str() {
            "--cluster-name" => name = Some(value()?),
            "--cluster-id" => id = Some(value()?),
            "--region" => args.region = Some(value()?),
            // `--role` is what update-kubeconfig writes (the AWS CLI accepts the prefix).
            "--role-arn" | "--role" => args.role_arn = Some(value()?),
            "--profile" => args.profile = Some(value()?),
            "--output" => match value()?.as_str() {
                "json" => {}
                other => {
                    return Err(format!(
                        "--output {other}: eks-token prints an ExecCredential as JSON only (--output json)"
                    ));
                }
            },
            "--cache" if inline.is_none() => args.cache = true,
            "--cache" => return Err("--cache takes no value".into()),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["eks", "get-token"] => {}
        _ => {
            return Err(format!(
                "unexpected {:?}; the only words accepted are \"eks get-token\"; {USAGE}",
                words.join(" ")
            ));
        }
    }
    args.cluster = match (name, id) {
        (Some(_), Some(_)) => {
            return Err("--cluster-name and --cluster-id: give one, not both".into());
        }
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => return Err(format!("missing --cluster-name; {USAGE}")),
    };
    Ok(Command::Token(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    fn token(args: Args) -> Result<Command, String> {
        Ok(Command::Token(args))
    }

    #[test]
    fn accepts_its_own_flags_and_what_update_kubeconfig_writes() {
        let prod = |f: fn(&mut Args)| {
            let mut a = Args {
                cluster: "prod".into(),
                ..Default::default()
            };
            f(&mut a);
            token(a)
        };
        let cases = [
            ("--cluster-name prod", prod(|_| {})),
            (
                "--cluster-name=prod --region=eu-west-1",
                prod(|a| a.region = Some("eu-west-1".into())),
            ),
            // What `aws eks update-kubeconfig --role-arn R` writes, `aws` replaced.
            (
                "--region us-west-2 eks get-token --cluster-name prod --output json --role arn:aws:iam::1:role/r",
                prod(|a| {
                    a.region = Some("us-west-2".into());
                    a.role_arn = Some("arn:aws:iam::1:role/r".into());
                }),
            ),
            // Outposts: the cluster's id instead of its name.
            (
                "--region us-west-2 eks get-token --cluster-id prod --output json",
                prod(|a| a.region = Some("us-west-2".into())),
            ),
            (
                "--cluster-name prod --role-arn R --profile dev --cache",
                prod(|a| {
                    a.role_arn = Some("R".into());
                    a.profile = Some("dev".into());
                    a.cache = true;
                }),
            ),
            ("--help", Ok(Command::Help)),
        ];
        for (line, want) in cases {
            assert_eq!(parse_str(line), want, "{line}");
        }
    }

    #[test]
    fn refuses_with_one_line_naming_the_argument() {
        let cases = [
            (
                "--cluster-name prod --output text",
                "--output text: eks-token prints an ExecCredential as JSON only",
            ),
            (
                "--cluster-name prod --query status",
                "unknown argument \"--query\"",
            ),
            (
                "--cluster-name prod --no-verify-ssl",
                "unknown argument \"--no-verify-ssl\"",
            ),
            (
                "get-token eks --cluster-name prod",
                "unexpected \"get-token eks\"",
            ),
            ("eks get-token", "missing --cluster-name"),
            (
                "--cluster-name a --cluster-id b",
                "--cluster-name and --cluster-id: give one, not both",
            ),
            ("--cluster-name", "--cluster-name needs a value"),
            ("--cluster-name= ", "--cluster-name needs a value"),
            ("--cluster-name prod --cache=yes", "--cache takes no value"),
        ];
        for (line, want) in cases {
            let err = parse_str(line).unwrap_err();
            assert!(err.starts_with(want), "{line}: {err}");
            assert_eq!(err.lines().count(), 1, "{line}");
        }
    }
}
