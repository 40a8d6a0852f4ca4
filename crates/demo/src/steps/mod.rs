//! One module per part of the demo; each seeds what it needs, invokes its functions with the
//! sample events and prints before → after.
pub mod alarms;
pub mod iam;
pub mod nodes;
pub mod queues;
