//! sqs-depth's integration tests, one binary: queue depth against moto.
mod moto;
