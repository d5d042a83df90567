//! The CloudWatch read behind `shard_weight`'s metric guard: one GetMetricData call per
//! evaluation, for all four metrics of a target group on its load balancer. What the numbers
//! mean is in [`super::metric_guard`] (no I/O).

use super::aws::{AwsClients, AwsError, api_error};
use super::metric_guard::Sample;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use std::time::{Duration, SystemTime};

const NAMESPACE: &str = "AWS/ApplicationELB";
/// ALB publishes its metrics per minute
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>).
const PERIOD_SECS: i32 = 60;

/// The target group's metrics over the last `window`: `(query id, metric, statistic)`.
fn queries(percentile: &str) -> [(&'static str, &'static str, String); 4] {
    [
        ("requests", "RequestCount", "Sum".into()),
        ("target_5xx", "HTTPCode_Target_5XX_Count", "Sum".into()),
        ("response_time", "TargetResponseTime", percentile.to_string()),
        ("unhealthy_hosts", "UnHealthyHostCount", "Maximum".into()),
    ]
}

/// Reads the last `window` of the target group's metrics (one GetMetricData). Counts are summed
/// over the window's minutes; the percentile and the unhealthy hosts are the worst minute's.
pub async fn target_group_sample(
    aws: &AwsClients,
    (load_balancer, target_group): (&str, &str),
    window: Duration,
    percentile: &str,
) -> Result<Sample, AwsError> {
    let client = aws.cloudwatch().await?;
    let dimensions = [("LoadBalancer", load_balancer), ("TargetGroup", target_group)]
        .map(|(name, value)| Dimension::builder().name(name).value(value).build());
    let mut request = client.get_metric_data();
    for (id, name, stat) in queries(percentile) {
        let metric = Metric::builder().namespace(NAMESPACE).metric_name(name).set_dimensions(Some(dimensions.to_vec()));
        let stat = MetricStat::builder().metric(metric.build()).period(PERIOD_SECS).stat(stat).build();
        request = request.metric_data_queries(MetricDataQuery::builder().id(id).metric_stat(stat).build());
    }
    // The end reaches past now: the current minute's data point carries that minute's start.
    let now = SystemTime::now();
    let start = aws_smithy_types::DateTime::from(now - window);
    let end = aws_smithy_types::DateTime::from(now + Duration::from_secs(PERIOD_SECS as u64));
    tracing::debug!(aws_call = "GetMetricData", %target_group, "aws call");
    let out = request.start_time(start).end_time(end).send().await.map_err(|e| {
        api_error("GetMetricData", &format!("the metrics of {target_group}"), &cloudwatch_endpoint(aws), &e)
    })?;
    let mut sample = Sample::default();
    for result in out.metric_data_results() {
        let values = result.values();
        if values.is_empty() {
            continue;
        }
        let sum = values.iter().sum::<f64>();
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        match result.id() {
            Some("requests") => sample.requests = Some(sum),
            Some("target_5xx") => sample.target_5xx = Some(sum),
            Some("response_time") => sample.response_time = Some(max),
            Some("unhealthy_hosts") => sample.unhealthy_hosts = Some(max),
            _ => {}
        }
    }
    Ok(sample)
}

fn cloudwatch_endpoint(aws: &AwsClients) -> String {
    aws.settings().endpoints.cloudwatch.clone().unwrap_or_else(|| "the regional CloudWatch endpoint".into())
}
