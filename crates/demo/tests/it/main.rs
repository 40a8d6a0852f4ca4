//! The demo's integration tests, one binary: `make demo` itself, and the reliability suite
//! on the demo's stand-ins.
mod arm64;
mod deploy;
mod iam_enforced;
mod make_demo;
mod reliability;
