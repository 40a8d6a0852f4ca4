//! node-autoscaler's integration tests, one binary: the real binary under the Lambda
//! emulator on its k3s stand-ins ([`testbed::world::k3s`]: moto for EC2, DynamoDB and SSM,
//! a backfilled Prometheus, the real control plane with KWOK's kubelets and the function's
//! RBAC file only).
mod bench;
mod capacity;
mod clusters;
mod concurrency;
mod forecast;
mod iam_enforced;
mod original;
mod rbac;
mod reliability;
mod scale_down;
mod scale_up;
mod sources;
mod spot;
mod status;
mod support;
mod unschedulable;
