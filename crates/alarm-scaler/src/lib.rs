//! alarm-scaler: an SNS-delivered CloudWatch alarm notification → one step of the Deployment
//! its K8sMetricAlarm names. See docs/alarm-scaler.md.
//!
//! Errors (Lambda retries the async invocation, then sends it to the DLQ), each under its
//! `errorType` (`error`): an event that is not SNS, a message that is not an alarm
//! notification, a Kubernetes or CloudWatch call that failed. Logged skips (Ok): a state
//! other than ALARM, an alarm no K8sMetricAlarm names, a K8sMetricAlarm whose Deployment does
//! not exist (also a Warning Event on it), and every hold (duplicate, stale, cooldown, at a
//! bound).

pub mod apply;
pub mod attempt;
pub mod cloudwatch;
pub mod config;
pub mod decide;
pub mod error;
pub mod event;
