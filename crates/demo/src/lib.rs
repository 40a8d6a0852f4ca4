//! The demo's pieces, shared by `suite-demo` (`make demo`) and the reliability tests: the
//! stand-ins with the functions deployed on them ([`stage`], on [`testbed::world`]), the
//! scenario per function ([`steps`]), how it prints ([`show`]) and the metrics the functions
//! emitted ([`metrics`], drawn by [`svg`]).
pub mod metrics;
pub mod show;
pub mod stage;
pub mod steps;
pub mod svg;

/// Every function the demo runs (each one's RBAC and aws-auth mapping is loaded).
pub const FUNCTIONS: [&str; 5] = [
    "alarm-sync",
    "alarm-scaler",
    "queue-scaler",
    "concurrency-scaler",
    "iam-sync",
];

/// Every function binary `make demo` needs (node-autoscaler runs on its own k3s stand-ins,
/// [`testbed::world::k3s`]).
pub const BINARIES: [&str; 6] = [
    "alarm-sync",
    "alarm-scaler",
    "queue-scaler",
    "concurrency-scaler",
    "iam-sync",
    "node-autoscaler",
];
