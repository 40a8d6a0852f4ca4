//! alarm-sync: on a schedule, every K8sMetricAlarm's CloudWatch alarms created, updated,
//! tagged with their owner, and deleted once no resource names them; each resource's status
//! says whether it is in sync. See docs/alarm-sync.md.
//!
//! Errors (EventBridge retries, then the next schedule runs anyway), each under its
//! `errorType` (`error`): an event that is not the schedule's, a failure to list the
//! resources or to read CloudWatch or the tagging API.
//! Recorded in the resource's status and the response, not errors: an invalid config, a
//! contested alarm name, CloudWatch refusing one alarm, a failed status write.

pub mod alarm;
pub mod apply;
pub mod cloudwatch;
pub mod config;
pub mod decide;
pub mod error;
pub mod event;
pub mod status;
pub mod tagging;
