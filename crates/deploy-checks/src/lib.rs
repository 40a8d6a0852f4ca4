//! Tests only (see `tests/it`, one binary): the deploy files of the suite checked offline in
//! `make test`.
//!
//! - `template`: `infra/template.yaml` passes the pinned `cfn-lint`; it defines the six
//!   functions with the runtime, handler, architecture, code path, memory, timeout, triggers,
//!   log group, on-failure queue and environment they need, each with its own execution role
//!   granting what the function's code calls (found in its sources) and nothing else.
//! - `seed_files`: `functionDefinition.json` and `lambdaTarget.json` match the template's
//!   function and botocore's input shapes of `lambda create-function` and `events put-targets`.
//! - `manifests`: every YAML under `infra/k8s` and `infra/cloudwatch-agent` parses; each
//!   function has its RBAC file, its aws-auth mapping and its sample events.
//! - `expanded`: the template expanded by samtranslator and resolved (`scripts/sam-expand.py`):
//!   each function's CloudFormation configuration is its crate's cargo-lambda metadata, the
//!   Architecture parameter reaches all six, and the seed-style files are the expanded
//!   queue-scaler's, field for field.
//! - `cargo_metadata`: `[package.metadata.lambda.deploy]` of each function crate agrees with
//!   the template.
//! - `metrics`: the dashboard (one row per function) and the alarms (Errors and Throttles
//!   of each function, the failure queue, node-autoscaler's liveness) name the metrics of
//!   `lambda_support::metrics::catalogue`, which each function's sources emit exactly; the
//!   README explains each metric and alarm.
//! - `make_targets`: `make build` builds every function for the chosen architecture into the
//!   paths the template deploys; `make deploy` needs the cluster's parameters.
