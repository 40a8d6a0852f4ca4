//! The local Kubernetes API server (in progress).
