//! lambda-support's integration tests, one binary: a real function binary through the Lambda
//! Runtime API emulator.
mod emulator;
