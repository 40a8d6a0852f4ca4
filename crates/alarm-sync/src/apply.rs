//! One reconcile: observe (list the resources, DescribeAlarms by their alarm names, the
//! marked alarms from the tagging API), decide, then write what differs: PutMetricAlarm,
//! TagResource, DeleteAlarms, and each resource's status where it changes.
//!
//! A failure that concerns one resource (CloudWatch refusing its alarm, its status write)
//! is recorded in its status and in the summary and does not stop the others. A failure to
//! observe stops the run with an error (Lambda retries; the next schedule runs anyway), and
//! nothing is deleted on a run that could not see everything.
use std::collections::{BTreeSet, HashMap};

use aws_config::SdkConfig;
use k8s_ops::crd::metric_alarm::{Direction, K8sMetricAlarm, alarm_name_in};
use k8s_ops::status::merge_status;
use kube::{Api, ResourceExt};
use lambda_support::aws::LazyClient;
use serde::Serialize;

use crate::cloudwatch::CloudWatch;
use crate::config::Config;
use crate::decide::{self, MARKER_TAG, Observed, Plan, Put, Settings};
use crate::error::Error;
use crate::status::{self, AlarmResult};
use crate::tagging::Tagging;

pub struct Context {
    pub kube: kube::Client,
    pub cloudwatch: CloudWatch,
    pub tagging: Tagging,
    pub cluster_name: String,
    pub default_alarm_actions: Vec<String>,
    pub dry_run: bool,
}

impl Context {
    pub fn new(kube: kube::Client, sdk: &SdkConfig, config: Config) -> Context {
        Context {
            kube,
            cloudwatch: CloudWatch::new(LazyClient::new(sdk, aws_sdk_cloudwatch::Client::new)),
            tagging: Tagging::new(LazyClient::new(
                sdk,
                aws_sdk_resourcegroupstagging::Client::new,
            )),
            cluster_name: config.cluster.name,
            default_alarm_actions: vec![config.sns_topic_arn],
            dry_run: config.dry_run,
        }
    }
}

/// What a run did: the function's response, and one log line.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub resources: usize,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub retagged: Vec<String>,
    pub deleted: Vec<String>,
    pub status_writes: usize,
    /// Per-resource problems and failures (also in their status).
    pub errors: Vec<String>,
    pub dry_run: bool,
}

impl Summary {
    fn log(&self, schedule: &str) {
        tracing::info!(
            decision = "reconciled",
            schedule,
            resources = self.resources,
            created = self.created.len(),
            updated = self.updated.len(),
            retagged = self.retagged.len(),
            deleted = self.deleted.len(),
            status_writes = self.status_writes,
            errors = self.errors.len(),
            dry_run = self.dry_run,
        );
    }
}

/// One reconcile for the schedule's event `schedule` (its id); the summary logged as one line.
pub async fn handle(ctx: &Context, schedule: String) -> Result<Summary, Error> {
    let summary = ctx.run(jiff::Timestamp::now()).await?;
    summary.log(&schedule);
    summary.record_metrics();
    Ok(summary)
}

impl Summary {
    /// The invocation's metrics: what the reconcile changed.
    fn record_metrics(&self) {
        use lambda_support::metrics::count;
        count("Resources", self.resources);
        count("AlarmsCreated", self.created.len());
        count("AlarmsUpdated", self.updated.len() + self.retagged.len());
        count("AlarmsDeleted", self.deleted.len());
        count("ResourceErrors", self.errors.len());
    }
}

impl Context {
    pub async fn run(&self, now: jiff::Timestamp) -> Result<Summary, Error> {
        let api = Api::<K8sMetricAlarm>::all(self.kube.clone());
        // The alarms with our mark do not depend on the resources: read while they are
        // listed, so a cold start pays its first Kubernetes request (a TLS connection, the
        // token's verification) and its first tagging call at once, not one after the other.
        // (Boxed: the two SDK futures side by side nest too deep for the compiler's layout.)
        let tagged = Box::pin(self.tagging.alarms_tagged(MARKER_TAG, &self.cluster_name));
        let (resources, marked) = tokio::join!(k8s_ops::list::all(&api, || ()), tagged);
        let (resources, marked) = (resources?, marked?);
        let names: Vec<String> = resources
            .iter()
            .flat_map(|r| [Direction::Up, Direction::Down].map(|d| r.spec.alarm_config(d)))
            .flatten()
            .filter_map(alarm_name_in)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let existing = self.cloudwatch.describe(&names).await?;
        let plan = decide::decide(
            &Observed {
                resources: &resources,
                existing: &existing,
                marked: &marked,
            },
            &Settings {
                cluster_name: &self.cluster_name,
                default_alarm_actions: &self.default_alarm_actions,
            },
        );
        log_plan(&plan, self.dry_run);
        let mut summary = Summary {
            resources: resources.len(),
            dry_run: self.dry_run,
            ..Default::default()
        };
        if self.dry_run {
            return Ok(summary);
        }
        let mut results = self.write_alarms(&plan, &mut summary).await;
        self.read_back_arns(&mut results).await;
        for (resource, rp) in resources.iter().zip(&plan.resources) {
            summary
                .errors
                .extend(rp.problems.iter().map(|p| format!("{}: {p}", rp.key())));
            let results = results
                .get(&rp.key())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let Some(patch) = status::patch(resource, rp, results, now) else {
                continue;
            };
            let api = Api::<K8sMetricAlarm>::namespaced(self.kube.clone(), &rp.namespace);
            match merge_status(&api, &resource.name_any(), patch, None).await {
                Ok(_) => summary.status_writes += 1,
                Err(e) => summary.errors.push(e.to_string()),
            }
        }
        let doomed: Vec<String> = plan.deletions.iter().map(|d| d.name.clone()).collect();
        if !doomed.is_empty() {
            match self.cloudwatch.delete(&doomed).await {
                Ok(()) => summary.deleted = doomed,
                Err(e) => summary.errors.push(e.to_string()),
            }
        }
        Ok(summary)
    }

    /// PutMetricAlarm and TagResource as planned; results by resource key.
    async fn write_alarms(
        &self,
        plan: &Plan,
        summary: &mut Summary,
    ) -> HashMap<String, Vec<AlarmResult>> {
        let mut results: HashMap<String, Vec<AlarmResult>> = HashMap::new();
        for rp in &plan.resources {
            for ap in &rp.alarms {
                let mut error = None;
                if let Some(put) = &ap.put {
                    match self.cloudwatch.put(&ap.spec, &ap.tags).await {
                        Ok(()) if *put == Put::Create => summary.created.push(ap.spec.name.clone()),
                        Ok(()) => summary.updated.push(ap.spec.name.clone()),
                        Err(e) => error = Some(e.message),
                    }
                }
                if let (true, Some(arn), None) = (ap.retag, &ap.arn, &error) {
                    match self.cloudwatch.tag(arn, &ap.spec.name, &ap.tags).await {
                        Ok(()) => summary.retagged.push(ap.spec.name.clone()),
                        Err(e) => error = Some(e.message),
                    }
                }
                if let Some(e) = &error {
                    summary
                        .errors
                        .push(format!("{}: alarm {}: {e}", rp.key(), ap.spec.name));
                }
                results.entry(rp.key()).or_default().push(AlarmResult {
                    direction: ap.direction,
                    name: ap.spec.name.clone(),
                    arn: ap.arn.clone(),
                    error,
                });
            }
        }
        results
    }

    /// PutMetricAlarm returns no ARN: read the ARNs of the alarms just created, in one call.
    async fn read_back_arns(&self, results: &mut HashMap<String, Vec<AlarmResult>>) {
        let missing: Vec<String> = results
            .values()
            .flatten()
            .filter(|r| r.arn.is_none() && r.error.is_none())
            .map(|r| r.name.clone())
            .collect();
        if missing.is_empty() {
            return;
        }
        match self.cloudwatch.describe(&missing).await {
            Ok(found) => {
                for r in results.values_mut().flatten() {
                    if r.arn.is_none() {
                        r.arn = found.get(&r.name).map(|e| e.arn.clone());
                    }
                }
            }
            // The status goes without those ARNs this time; the next run fills them in.
            Err(e) => tracing::warn!(error = %e, "could not read back the new alarms' ARNs"),
        }
    }
}

/// One line per decision that changes something (alarms in sync at debug level).
fn log_plan(plan: &Plan, dry_run: bool) {
    for rp in &plan.resources {
        let resource = rp.key();
        for problem in &rp.problems {
            tracing::warn!(decision = "invalid_config", k8smetricalarm = %resource, dry_run, reason = %problem);
        }
        for ap in &rp.alarms {
            let reason = match &ap.put {
                Some(Put::Create) => "no such alarm".to_string(),
                Some(Put::Update(fields)) => format!("differs in {}", fields.join(", ")),
                None if ap.retag => "lacks the wanted tags".to_string(),
                None => "in sync".to_string(),
            };
            let decision = ap.decision();
            if decision == "in_sync" {
                tracing::debug!(decision, alarm = %ap.spec.name, k8smetricalarm = %resource, reason);
            } else {
                tracing::info!(decision, alarm = %ap.spec.name, k8smetricalarm = %resource, direction = %ap.direction, dry_run, reason);
            }
        }
    }
    for d in &plan.deletions {
        tracing::info!(decision = "delete_alarm", alarm = %d.name, dry_run, reason = %d.reason);
    }
}
