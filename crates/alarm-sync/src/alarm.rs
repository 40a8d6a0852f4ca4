//! An alarm as the K8sMetricAlarm describes it and as CloudWatch reports it, in one
//! normalized shape ([`AlarmSpec`]) so that the two compare field by field.
//!
//! The config is PutMetricAlarm's input as JSON, every field of it honoured (the original
//! dropped OKActions, TreatMissingData and single-metric alarms). Unknown fields are refused
//! rather than silently dropped, and every error names the field.
use aws_sdk_cloudwatch::types::MetricAlarm;
use serde::Deserialize;

/// What the function adds to every alarm's actions when the config names none.
pub struct Defaults<'a> {
    pub alarm_actions: &'a [String],
}

/// PutMetricAlarm's input, as the K8sMetricAlarm's `scaleUpAlarmConfig` /
/// `scaleDownAlarmConfig` carry it.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AlarmConfig {
    pub alarm_name: String,
    #[serde(default)]
    pub alarm_description: Option<String>,
    #[serde(default)]
    pub actions_enabled: Option<bool>,
    #[serde(default, rename = "OKActions")]
    pub ok_actions: Option<Vec<String>>,
    #[serde(default)]
    pub alarm_actions: Option<Vec<String>>,
    #[serde(default)]
    pub insufficient_data_actions: Option<Vec<String>>,
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub statistic: Option<String>,
    #[serde(default)]
    pub extended_statistic: Option<String>,
    #[serde(default)]
    pub dimensions: Option<Vec<Dimension>>,
    #[serde(default)]
    pub period: Option<i32>,
    #[serde(default)]
    pub unit: Option<String>,
    pub evaluation_periods: i32,
    #[serde(default)]
    pub datapoints_to_alarm: Option<i32>,
    #[serde(default)]
    pub threshold: Option<f64>,
    pub comparison_operator: String,
    #[serde(default)]
    pub treat_missing_data: Option<String>,
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: Option<String>,
    #[serde(default)]
    pub metrics: Option<Vec<Query>>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    #[serde(default)]
    pub threshold_metric_id: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A MetricDataQuery of a metric-math alarm.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Query {
    pub id: String,
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub return_data: Option<bool>,
    #[serde(default)]
    pub period: Option<i32>,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MetricStat {
    pub metric: Metric,
    pub period: i32,
    pub stat: String,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Metric {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Option<Vec<Dimension>>,
}

/// The alarm, normalized: defaults made explicit, sets sorted, so that equal alarms compare
/// equal whichever side they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub source: Source,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: Option<f64>,
    pub threshold_metric_id: Option<String>,
    pub comparison_operator: String,
    pub treat_missing_data: String,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

/// What the alarm watches: one metric, or metric math.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Single {
        namespace: String,
        metric_name: String,
        dimensions: Vec<Dimension>,
        statistic: Option<String>,
        extended_statistic: Option<String>,
        period: i32,
        unit: Option<String>,
    },
    Math(Vec<NormalQuery>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NormalQuery {
    pub id: String,
    pub metric_stat: Option<NormalStat>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
    pub period: Option<i32>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NormalStat {
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: Vec<Dimension>,
    pub period: i32,
    pub stat: String,
    pub unit: Option<String>,
}

const COMPARISON_OPERATORS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const TREAT_MISSING_DATA: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// Parses and checks a config: `Err` is one message naming the field.
pub fn parse(json: &str) -> Result<AlarmConfig, String> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let config: AlarmConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // serde lists every known field after an unknown one; the name is what helps.
        let inner = e.inner().to_string();
        let inner = inner
            .split_once(", expected one of")
            .map_or(inner.as_str(), |(head, _)| head);
        // An unknown field's path ends with the field itself, which the message names.
        let path = match inner.starts_with("unknown field") {
            true => path.rsplit_once('.').map_or("", |(parent, _)| parent),
            false => path.as_str(),
        };
        match path {
            "" | "." => inner.to_owned(),
            path => format!("{path}: {inner}"),
        }
    })?;
    check(&config)?;
    Ok(config)
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{field}: {value:?} is not one of {}",
            allowed.join(", ")
        ))
    }
}

fn check(c: &AlarmConfig) -> Result<(), String> {
    if c.alarm_name.trim().is_empty() {
        return Err("AlarmName: must not be empty".into());
    }
    one_of(
        "ComparisonOperator",
        &c.comparison_operator,
        COMPARISON_OPERATORS,
    )?;
    if let Some(t) = &c.treat_missing_data {
        one_of("TreatMissingData", t, TREAT_MISSING_DATA)?;
    }
    if c.evaluation_periods < 1 {
        return Err("EvaluationPeriods: must be at least 1".into());
    }
    if let Some(d) = c.datapoints_to_alarm
        && !(1..=c.evaluation_periods).contains(&d)
    {
        return Err(format!(
            "DatapointsToAlarm: {d} must be between 1 and EvaluationPeriods ({})",
            c.evaluation_periods
        ));
    }
    match (c.threshold.is_some(), c.threshold_metric_id.is_some()) {
        (true, true) => return Err("Threshold and ThresholdMetricId: set only one".into()),
        (false, false) => return Err("Threshold: missing (or set ThresholdMetricId)".into()),
        _ => {}
    }
    match (&c.metric_name, &c.metrics) {
        (Some(_), Some(_)) => Err(
            "MetricName and Metrics: set MetricName for one metric or Metrics for metric math, not both"
                .into(),
        ),
        (None, None) => Err("MetricName or Metrics: one is required".into()),
        (Some(_), None) => check_single(c),
        (None, Some(queries)) => check_math(c, queries),
    }
}

fn check_single(c: &AlarmConfig) -> Result<(), String> {
    if c.namespace.is_none() {
        return Err("Namespace: required with MetricName".into());
    }
    if c.period.is_none() {
        return Err("Period: required with MetricName".into());
    }
    match (&c.statistic, &c.extended_statistic) {
        (Some(_), Some(_)) => Err("Statistic and ExtendedStatistic: set only one".into()),
        (None, None) => Err("Statistic: missing (or set ExtendedStatistic)".into()),
        (Some(s), None) => one_of("Statistic", s, STATISTICS),
        (None, Some(_)) => Ok(()),
    }
}

fn check_math(c: &AlarmConfig, queries: &[Query]) -> Result<(), String> {
    let single_only = [
        ("Namespace", c.namespace.is_some()),
        ("Statistic", c.statistic.is_some()),
        ("ExtendedStatistic", c.extended_statistic.is_some()),
        ("Dimensions", c.dimensions.is_some()),
        ("Period", c.period.is_some()),
        ("Unit", c.unit.is_some()),
    ];
    if let Some((field, _)) = single_only.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{field}: belongs to a single-metric alarm; with Metrics, put it in a MetricStat"
        ));
    }
    if queries.is_empty() {
        return Err("Metrics: must not be empty".into());
    }
    for (i, q) in queries.iter().enumerate() {
        if q.metric_stat.is_some() == q.expression.is_some() {
            return Err(format!(
                "Metrics[{i}]: set exactly one of MetricStat and Expression"
            ));
        }
    }
    let returning = queries
        .iter()
        .filter(|q| q.return_data.unwrap_or(true))
        .count();
    if returning != 1 {
        return Err(format!(
            "Metrics: exactly one query must have ReturnData true (unset counts as true), found {returning}"
        ));
    }
    Ok(())
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl AlarmConfig {
    /// The alarm as it must be in CloudWatch: with `defaults.alarm_actions` when the config
    /// names no alarm action.
    pub fn to_spec(&self, defaults: &Defaults<'_>) -> AlarmSpec {
        let alarm_actions = match self.alarm_actions.as_deref() {
            Some(actions) if !actions.is_empty() => actions.to_vec(),
            _ => defaults.alarm_actions.to_vec(),
        };
        let source = match &self.metrics {
            Some(queries) => Source::Math(
                queries
                    .iter()
                    .map(|q| NormalQuery {
                        id: q.id.clone(),
                        metric_stat: q.metric_stat.as_ref().map(|s| NormalStat {
                            namespace: s.metric.namespace.clone(),
                            metric_name: s.metric.metric_name.clone(),
                            dimensions: sorted(s.metric.dimensions.clone().unwrap_or_default()),
                            period: s.period,
                            stat: s.stat.clone(),
                            unit: s.unit.clone(),
                        }),
                        expression: q.expression.clone(),
                        label: q.label.clone(),
                        return_data: q.return_data.unwrap_or(true),
                        period: q.period,
                        account_id: q.account_id.clone(),
                    })
                    .collect(),
            ),
            None => Source::Single {
                namespace: self.namespace.clone().unwrap_or_default(),
                metric_name: self.metric_name.clone().unwrap_or_default(),
                dimensions: sorted(self.dimensions.clone().unwrap_or_default()),
                statistic: self.statistic.clone(),
                extended_statistic: self.extended_statistic.clone(),
                period: self.period.unwrap_or_default(),
                unit: self.unit.clone(),
            },
        };
        AlarmSpec {
            name: self.alarm_name.clone(),
            description: non_empty(self.alarm_description.clone()),
            actions_enabled: self.actions_enabled.unwrap_or(true),
            ok_actions: sorted(self.ok_actions.clone().unwrap_or_default()),
            alarm_actions: sorted(alarm_actions),
            insufficient_data_actions: sorted(
                self.insufficient_data_actions.clone().unwrap_or_default(),
            ),
            source,
            evaluation_periods: self.evaluation_periods,
            datapoints_to_alarm: self.datapoints_to_alarm.unwrap_or(self.evaluation_periods),
            threshold: self.threshold,
            threshold_metric_id: self.threshold_metric_id.clone(),
            comparison_operator: self.comparison_operator.clone(),
            treat_missing_data: self
                .treat_missing_data
                .clone()
                .unwrap_or_else(|| "missing".into()),
            evaluate_low_sample_count_percentile: non_empty(
                self.evaluate_low_sample_count_percentile.clone(),
            ),
        }
    }

    pub fn tags(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .flatten()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }
}

/// The alarm as DescribeAlarms reports it, in the same shape.
pub fn observed(alarm: &MetricAlarm) -> AlarmSpec {
    let strings = |v: &[String]| sorted(v.to_vec());
    let dims = |d: &[aws_sdk_cloudwatch::types::Dimension]| {
        sorted(
            d.iter()
                .map(|d| Dimension {
                    name: d.name().unwrap_or_default().into(),
                    value: d.value().unwrap_or_default().into(),
                })
                .collect(),
        )
    };
    let source = if alarm.metrics().is_empty() {
        Source::Single {
            namespace: alarm.namespace().unwrap_or_default().into(),
            metric_name: alarm.metric_name().unwrap_or_default().into(),
            dimensions: dims(alarm.dimensions()),
            statistic: alarm.statistic().map(|s| s.as_str().to_owned()),
            extended_statistic: alarm.extended_statistic().map(Into::into),
            period: alarm.period().unwrap_or_default(),
            unit: alarm.unit().map(|u| u.as_str().to_owned()),
        }
    } else {
        Source::Math(
            alarm
                .metrics()
                .iter()
                .map(|q| NormalQuery {
                    id: q.id().unwrap_or_default().into(),
                    metric_stat: q.metric_stat().map(|s| NormalStat {
                        namespace: s.metric().and_then(|m| m.namespace()).map(Into::into),
                        metric_name: s.metric().and_then(|m| m.metric_name()).map(Into::into),
                        dimensions: dims(s.metric().map(|m| m.dimensions()).unwrap_or_default()),
                        period: s.period().unwrap_or_default(),
                        stat: s.stat().unwrap_or_default().into(),
                        unit: s.unit().map(|u| u.as_str().to_owned()),
                    }),
                    expression: q.expression().map(Into::into),
                    label: q.label().map(Into::into),
                    return_data: q.return_data().unwrap_or(true),
                    period: q.period(),
                    account_id: q.account_id().map(Into::into),
                })
                .collect(),
        )
    };
    let evaluation_periods = alarm.evaluation_periods().unwrap_or_default();
    AlarmSpec {
        name: alarm.alarm_name().unwrap_or_default().into(),
        description: non_empty(alarm.alarm_description().map(Into::into)),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        ok_actions: strings(alarm.ok_actions()),
        alarm_actions: strings(alarm.alarm_actions()),
        insufficient_data_actions: strings(alarm.insufficient_data_actions()),
        source,
        evaluation_periods,
        datapoints_to_alarm: alarm.datapoints_to_alarm().unwrap_or(evaluation_periods),
        threshold: alarm.threshold(),
        threshold_metric_id: alarm.threshold_metric_id().map(Into::into),
        comparison_operator: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").into(),
        evaluate_low_sample_count_percentile: non_empty(
            alarm.evaluate_low_sample_count_percentile().map(Into::into),
        ),
    }
}

impl AlarmSpec {
    /// The names of the fields that differ from `other`, PutMetricAlarm's spelling.
    pub fn differences(&self, other: &AlarmSpec) -> Vec<&'static str> {
        let fields = [
            ("AlarmDescription", self.description == other.description),
            (
                "ActionsEnabled",
                self.actions_enabled == other.actions_enabled,
            ),
            ("OKActions", self.ok_actions == other.ok_actions),
            ("AlarmActions", self.alarm_actions == other.alarm_actions),
            (
                "InsufficientDataActions",
                self.insufficient_data_actions == other.insufficient_data_actions,
            ),
            ("Metric", self.source == other.source),
            (
                "EvaluationPeriods",
                self.evaluation_periods == other.evaluation_periods,
            ),
            (
                "DatapointsToAlarm",
                self.datapoints_to_alarm == other.datapoints_to_alarm,
            ),
            ("Threshold", self.threshold == other.threshold),
            (
                "ThresholdMetricId",
                self.threshold_metric_id == other.threshold_metric_id,
            ),
            (
                "ComparisonOperator",
                self.comparison_operator == other.comparison_operator,
            ),
            (
                "TreatMissingData",
                self.treat_missing_data == other.treat_missing_data,
            ),
            (
                "EvaluateLowSampleCountPercentile",
                self.evaluate_low_sample_count_percentile
                    == other.evaluate_low_sample_count_percentile,
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original operator's sample config (metric math), as its manifests carry it.
    pub const ORIGINAL: &str = r#"{
        "AlarmName":"HTTP-Request-Rate-High-Alarm",
        "AlarmDescription":"Alarm triggered when the rate of HTTP requests exceeds 10 requests/second",
        "ActionsEnabled": true,
        "OKActions": [],
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789001:CloudWatchAlarmTopic"],
        "InsufficientDataActions": [],
        "EvaluationPeriods":5,
        "DatapointsToAlarm":2,
        "Threshold":10,
        "ComparisonOperator":"GreaterThanOrEqualToThreshold",
        "Metrics": [
            {"Id": "m1", "Label": "sum_http_requests_total_1m", "ReturnData": false,
             "MetricStat": {"Metric": {"Namespace": "ContainerInsights/Prometheus",
                 "MetricName": "http_requests_total",
                 "Dimensions": [{"Name": "ClusterName", "Value": "k8s-sarathy-cluster"},
                                {"Name": "EKS_Namespace", "Value": "java"}]},
                 "Period": 60, "Stat": "Sum"}},
            {"Id": "m2", "Expression": "m1/60", "Label": "rate_http_requests_total_1m",
             "ReturnData": true, "Period": 60}
        ],
        "Tags": [{"Key": "kubernetes-name", "Value": "http-request-rate"},
                 {"Key": "kubernetes-namespace", "Value": "java"}]
    }"#;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:suite";

    fn defaults() -> Vec<String> {
        vec![TOPIC.to_string()]
    }

    #[test]
    fn the_originals_config_parses_with_every_field_kept() {
        let c = parse(ORIGINAL).unwrap();
        let topic = defaults();
        let spec = c.to_spec(&Defaults {
            alarm_actions: &topic,
        });
        assert_eq!(
            spec.alarm_actions,
            ["arn:aws:sns:us-east-1:123456789001:CloudWatchAlarmTopic"]
        );
        assert_eq!((spec.evaluation_periods, spec.datapoints_to_alarm), (5, 2));
        assert_eq!(spec.threshold, Some(10.0));
        let Source::Math(queries) = &spec.source else {
            panic!("metric math")
        };
        assert_eq!(queries.len(), 2);
        assert!(!queries[0].return_data && queries[1].return_data);
        assert_eq!(c.tags().len(), 2);
    }

    #[test]
    fn alarm_actions_default_to_the_suite_topic() {
        let c = parse(
            r#"{"AlarmName":"low","EvaluationPeriods":3,"Threshold":5,"ComparisonOperator":"LessThanThreshold",
               "MetricName":"CPUUtilization","Namespace":"AWS/EC2","Statistic":"Average","Period":60,
               "TreatMissingData":"notBreaching","OKActions":["arn:aws:sns:us-east-1:1:ok"]}"#,
        )
        .unwrap();
        let topic = defaults();
        let spec = c.to_spec(&Defaults {
            alarm_actions: &topic,
        });
        assert_eq!(spec.alarm_actions, [TOPIC]);
        assert_eq!(spec.ok_actions, ["arn:aws:sns:us-east-1:1:ok"]);
        assert_eq!(spec.treat_missing_data, "notBreaching");
        assert_eq!(spec.datapoints_to_alarm, 3, "defaults to EvaluationPeriods");
        assert!(matches!(spec.source, Source::Single { period: 60, .. }));
    }

    #[test]
    fn errors_name_the_field() {
        let base =
            r#""AlarmName":"a","EvaluationPeriods":1,"ComparisonOperator":"GreaterThanThreshold""#;
        let single = r#""MetricName":"m","Namespace":"n","Period":60,"Statistic":"Sum""#;
        let cases = [
            (
                format!("{{{base},{single},\"Threshhold\":1}}"),
                "unknown field `Threshhold`",
            ),
            (
                format!(
                    "{{{base},\"Threshold\":1,\"Metrics\":[{{\"Id\":\"m\",\"Expresion\":\"1\"}}]}}"
                ),
                "Metrics[0]: unknown field `Expresion`",
            ),
            (
                format!("{{{base},{single},\"Threshold\":\"ten\"}}"),
                "Threshold: invalid type: string \"ten\"",
            ),
            (
                format!("{{{single},\"Threshold\":1}}"),
                "missing field `AlarmName`",
            ),
            (format!("{{{base},{single}}}"), "Threshold: missing"),
            (
                format!(
                    "{{{base},\"Threshold\":1,\"Metrics\":[{{\"Id\":\"m\",\"MetricStat\":{{\"Metric\":{{}},\"Period\":\"x\",\"Stat\":\"Sum\"}}}}]}}"
                ),
                "Metrics[0].MetricStat.Period: invalid type",
            ),
            (
                format!("{{{base},{single},\"Threshold\":1,\"Metrics\":[]}}"),
                "MetricName and Metrics",
            ),
            (
                format!(
                    "{{{base},\"Threshold\":1,\"Metrics\":[{{\"Id\":\"a\",\"Expression\":\"1\"}},{{\"Id\":\"b\",\"Expression\":\"2\"}}]}}"
                ),
                "exactly one query must have ReturnData true",
            ),
            (
                format!(
                    "{{\"AlarmName\":\"a\",\"EvaluationPeriods\":1,\"ComparisonOperator\":\"Above\",{single},\"Threshold\":1}}"
                ),
                "ComparisonOperator: \"Above\" is not one of",
            ),
            (
                format!(
                    "{{{base},\"MetricName\":\"m\",\"Namespace\":\"n\",\"Period\":60,\"Statistic\":\"Mean\",\"Threshold\":1}}"
                ),
                "Statistic: \"Mean\" is not one of",
            ),
            (
                format!("{{{base},{single},\"Threshold\":1,\"DatapointsToAlarm\":2}}"),
                "DatapointsToAlarm: 2 must be between 1 and EvaluationPeriods (1)",
            ),
            ("not json".to_string(), "expected ident"),
        ];
        for (json, expected) in cases {
            let err = parse(&json).unwrap_err();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn differences_name_the_changed_fields() {
        let topic = defaults();
        let d = Defaults {
            alarm_actions: &topic,
        };
        let a = parse(ORIGINAL).unwrap().to_spec(&d);
        assert!(a.differences(&a.clone()).is_empty());
        let mut b = a.clone();
        b.threshold = Some(12.0);
        b.treat_missing_data = "breaching".into();
        assert_eq!(a.differences(&b), ["Threshold", "TreatMissingData"]);
    }
}
