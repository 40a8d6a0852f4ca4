//! deploy-checks' tests, one binary: the deploy files of the suite checked offline (what each
//! module checks is listed in `src/lib.rs`).
mod cargo_metadata;
mod environment;
mod expanded;
mod make_targets;
mod manifests;
mod metrics;
mod seed_files;
mod support;
mod template;
