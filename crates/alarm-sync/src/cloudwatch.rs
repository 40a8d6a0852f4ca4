//! CloudWatch: read alarms by name, write one (PutMetricAlarm), tag one, delete some.
use std::collections::HashMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension as SdkDimension, Metric, MetricDataQuery, MetricStat,
    StandardUnit, Statistic, Tag,
};

use crate::alarm::{self, AlarmSpec, Dimension, Source};
use crate::decide::Existing;
use lambda_support::aws::LazyClient;

/// DescribeAlarms and DeleteAlarms take at most this many names.
const NAMES_PER_CALL: usize = 100;

#[derive(Debug, thiserror::Error)]
#[error("CloudWatch {operation}{}: {message}", alarm.as_deref().map(|a| format!(" (alarm {a})")).unwrap_or_default())]
pub struct CloudWatchError {
    pub operation: &'static str,
    pub alarm: Option<String>,
    /// `Code: message` as CloudWatch gave it, or the transport error.
    pub message: String,
}

impl CloudWatchError {
    fn new<E, R>(operation: &'static str, alarm: Option<&str>, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = match e.as_service_error() {
            Some(service) => format!(
                "{}: {}",
                service.code().unwrap_or("error"),
                service.message().unwrap_or("")
            ),
            None => DisplayErrorContext(&e).to_string(),
        };
        CloudWatchError {
            operation,
            alarm: alarm.map(Into::into),
            message,
        }
    }
}

pub struct CloudWatch {
    client: LazyClient<Client>,
}

impl CloudWatch {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        CloudWatch {
            client: client.into(),
        }
    }

    /// The metric alarms of these names that exist, by name.
    pub async fn describe(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Existing>, CloudWatchError> {
        let mut found = HashMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut token = None;
            loop {
                let page = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| CloudWatchError::new("DescribeAlarms", None, e))?;
                for a in page.metric_alarms() {
                    if let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) {
                        let existing = Existing {
                            arn: arn.into(),
                            spec: alarm::observed(a),
                        };
                        found.insert(name.to_owned(), existing);
                    }
                }
                token = page.next_token().map(Into::into);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Creates or overwrites the alarm. `tags` apply only when it is created (CloudWatch
    /// ignores them on an update: see [`CloudWatch::tag`]).
    pub async fn put(
        &self,
        spec: &AlarmSpec,
        tags: &[(String, String)],
    ) -> Result<(), CloudWatchError> {
        let mut put = self
            .client
            .put_metric_alarm()
            .alarm_name(&spec.name)
            .set_alarm_description(spec.description.clone())
            .actions_enabled(spec.actions_enabled)
            .set_ok_actions(Some(spec.ok_actions.clone()))
            .set_alarm_actions(Some(spec.alarm_actions.clone()))
            .set_insufficient_data_actions(Some(spec.insufficient_data_actions.clone()))
            .evaluation_periods(spec.evaluation_periods)
            .datapoints_to_alarm(spec.datapoints_to_alarm)
            .set_threshold(spec.threshold)
            .set_threshold_metric_id(spec.threshold_metric_id.clone())
            .comparison_operator(ComparisonOperator::from(spec.comparison_operator.as_str()))
            .treat_missing_data(&spec.treat_missing_data)
            .set_evaluate_low_sample_count_percentile(
                spec.evaluate_low_sample_count_percentile.clone(),
            )
            .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()));
        put = match &spec.source {
            Source::Single {
                namespace,
                metric_name,
                dimensions,
                statistic,
                extended_statistic,
                period,
                unit,
            } => put
                .namespace(namespace)
                .metric_name(metric_name)
                .set_dimensions(Some(sdk_dimensions(dimensions)))
                .set_statistic(statistic.as_deref().map(Statistic::from))
                .set_extended_statistic(extended_statistic.clone())
                .period(*period)
                .set_unit(unit.as_deref().map(StandardUnit::from)),
            Source::Math(queries) => put.set_metrics(Some(
                queries
                    .iter()
                    .map(|q| {
                        MetricDataQuery::builder()
                            .id(&q.id)
                            .set_metric_stat(q.metric_stat.as_ref().map(|s| {
                                MetricStat::builder()
                                    .metric(
                                        Metric::builder()
                                            .set_namespace(s.namespace.clone())
                                            .set_metric_name(s.metric_name.clone())
                                            .set_dimensions(Some(sdk_dimensions(&s.dimensions)))
                                            .build(),
                                    )
                                    .period(s.period)
                                    .stat(&s.stat)
                                    .set_unit(s.unit.as_deref().map(StandardUnit::from))
                                    .build()
                            }))
                            .set_expression(q.expression.clone())
                            .set_label(q.label.clone())
                            .return_data(q.return_data)
                            .set_period(q.period)
                            .set_account_id(q.account_id.clone())
                            .build()
                    })
                    .collect(),
            )),
        };
        put.send()
            .await
            .map(drop)
            .map_err(|e| CloudWatchError::new("PutMetricAlarm", Some(&spec.name), e))
    }

    /// Adds (or overwrites) `tags` on the alarm; other tags stay.
    pub async fn tag(
        &self,
        arn: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<(), CloudWatchError> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
            .send()
            .await
            .map(drop)
            .map_err(|e| CloudWatchError::new("TagResource", Some(name), e))
    }

    /// Deletes the alarms; one already gone is not an error.
    pub async fn delete(&self, names: &[String]) -> Result<(), CloudWatchError> {
        for chunk in names.chunks(NAMES_PER_CALL) {
            match self
                .client
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found()) => {}
                Err(e) => return Err(CloudWatchError::new("DeleteAlarms", None, e)),
            }
        }
        Ok(())
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn sdk_dimensions(dimensions: &[Dimension]) -> Vec<SdkDimension> {
    dimensions
        .iter()
        .map(|d| {
            SdkDimension::builder()
                .name(&d.name)
                .value(&d.value)
                .build()
        })
        .collect()
}
