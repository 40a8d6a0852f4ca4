//! node-autoscaler: scales the EC2 workers of a self-managed k3s cluster for the pods the
//! scheduler could not place (and, optionally, Prometheus's CPU), drains before terminating, handles Spot
//! interruption and rebalance events, and keeps a lease, its state and a decision log in
//! DynamoDB. The Lambda is `src/main.rs`; `src/bin/simulate.rs` replays workload traces
//! through the same [`decide`].
//!
//! `event` → [`decide`] (pure) → [`apply`] (the shell, by lifecycle), answering an
//! [`answer::Answer`] or an [`error::Error`]. Adapters: [`ec2`], [`store`] (DynamoDB),
//! [`ssm`], [`cluster`], [`pending`] and [`kube_client`] (Kubernetes), [`prometheus`].
pub mod answer;
pub mod apply;
pub mod cluster;
pub mod config;
pub mod decide;
pub mod ec2;
pub mod error;
pub mod event;
pub mod kube_client;
pub mod pending;
pub mod prometheus;
pub mod quantity;
pub mod ssm;
pub mod status;
pub mod store;
