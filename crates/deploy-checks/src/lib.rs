//! Tests only (see `tests/`): the deploy files of the suite checked offline in `make test`.
//!
//! - `tests/template.rs`: `infra/template.yaml` passes the pinned `cfn-lint`; it defines the six
//!   functions with the runtime, handler, architecture, code path, memory, timeout, triggers,
//!   log group, on-failure queue and environment they need, each with its own execution role
//!   granting what the function's code calls (found in its sources) and nothing else.
//! - `tests/seed_files.rs`: `functionDefinition.json` and `lambdaTarget.json` match the
//!   template's function and botocore's input shapes of `lambda create-function` and
//!   `events put-targets`.
//! - `tests/manifests.rs`: every YAML under `infra/k8s` and `infra/cloudwatch-agent` parses;
//!   each function has its RBAC file, its aws-auth mapping and its sample events.
//! - `tests/cargo_metadata.rs`: `[package.metadata.lambda.deploy]` of each function crate
//!   agrees with the template.
