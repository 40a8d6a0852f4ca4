//! alarm-scaler: a CloudWatch alarm's state change (through SNS, alone, from EventBridge, or
//! as the alarm's own action) → one step of the Deployment (or `scaleTargetRef`: any `/scale`
//! target) its K8sMetricAlarm names, shaped by HPA's `behavior` when set. See
//! docs/alarm-scaler.md.
//!
//! Errors (Lambda retries the async invocation, then sends it to the DLQ), each under its
//! `errorType` (`error`): an event that is none of the four kinds, a Kubernetes or CloudWatch
//! call that failed (a 403 names the missing grant), an alarm whose tags lead to no
//! K8sMetricAlarm. Logged skips (Ok): a state other than ALARM, an alarm neither named by a
//! K8sMetricAlarm nor tagged with one, a K8sMetricAlarm whose Deployment does not exist (also
//! a Warning Event on it), a refused one (its target without `/scale`, owned by an HPA or an
//! older resource, a bad pause annotation or `behavior`: `Ready` False and a Warning Event),
//! a paused one (a retry would find the same pause), and every hold (duplicate, stale,
//! cooldown, at a bound, stabilized).

pub mod annotations;
pub mod apply;
pub mod attempt;
pub mod cloudwatch;
pub mod config;
pub mod decide;
pub mod error;
pub mod event;
pub mod grant;
pub mod readiness;
pub mod tags;
