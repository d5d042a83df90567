//! The metric guard of `shard_weight`: whether a shard that was just given more traffic serves it
//! well, judged by its target group's own load balancer metrics in CloudWatch. Pure: the read is
//! in `cloudwatch`, the judgement here.
//!
//! Metrics (namespace `AWS/ApplicationELB`, dimensions `TargetGroup` and `LoadBalancer`:
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>):
//! `RequestCount` (Sum), `HTTPCode_Target_5XX_Count` (Sum), `TargetResponseTime` (a percentile,
//! seconds), `UnHealthyHostCount` (Maximum). ALB publishes them per minute, and only for periods
//! with traffic (no requests: no data point, which is not a breach).

use std::time::Duration;

/// What the guard allows (unset: not judged).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Target 5xx answers as a share of requests, in percent.
    pub max_5xx_percent: Option<f64>,
    /// `TargetResponseTime` at `percentile`.
    pub max_response_time: Option<Duration>,
    /// e.g. `p99`.
    pub percentile: String,
    pub max_unhealthy_hosts: Option<i64>,
}

/// The metrics of one evaluation window (None: no data point in the window).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub requests: Option<f64>,
    pub target_5xx: Option<f64>,
    /// Seconds, the worst per-minute percentile in the window.
    pub response_time: Option<f64>,
    pub unhealthy_hosts: Option<f64>,
}

impl Sample {
    /// Target 5xx as a share of requests, in percent (None without requests).
    pub fn error_percent(&self) -> Option<f64> {
        let requests = self.requests.filter(|r| *r > 0.0)?;
        Some(self.target_5xx.unwrap_or(0.0) * 100.0 / requests)
    }

    /// "400 requests, 5xx 12.5% (50), p99 0.840 s, unhealthy hosts 0".
    pub fn describe(&self, percentile: &str) -> String {
        let mut parts = vec![match self.requests {
            Some(r) => format!("{r:.0} requests"),
            None => "no requests".to_string(),
        }];
        if let Some(p) = self.error_percent() {
            parts.push(format!("5xx {p:.2}% ({:.0})", self.target_5xx.unwrap_or(0.0)));
        }
        if let Some(t) = self.response_time {
            parts.push(format!("{percentile} response time {t:.3} s"));
        }
        if let Some(u) = self.unhealthy_hosts {
            parts.push(format!("unhealthy hosts {u:.0}"));
        }
        parts.join(", ")
    }
}

/// The thresholds a sample breaks, each "what: value > limit" (empty: it passes).
pub fn breaches(t: &Thresholds, s: &Sample) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(max), Some(p)) = (t.max_5xx_percent, s.error_percent())
        && p > max
    {
        out.push(format!("target 5xx {p:.2}% of {:.0} requests > max_5xx_percent {max}", s.requests.unwrap_or(0.0)));
    }
    if let (Some(max), Some(seconds)) = (t.max_response_time, s.response_time)
        && seconds > max.as_secs_f64()
    {
        out.push(format!(
            "TargetResponseTime {} {seconds:.3} s > max_response_time {:.3} s",
            t.percentile,
            max.as_secs_f64()
        ));
    }
    if let (Some(max), Some(hosts)) = (t.max_unhealthy_hosts, s.unhealthy_hosts)
        && hosts > max as f64
    {
        out.push(format!("UnHealthyHostCount {hosts:.0} > max_unhealthy_hosts {max}"));
    }
    out
}

/// CloudWatch's dimensions of this target group on this listener's load balancer:
/// (`LoadBalancer` = `app/<name>/<id>`, `TargetGroup` = `targetgroup/<name>/<id>`), from the ARNs
/// (`…:listener/app/<name>/<id>/<listener-id>`, `…:targetgroup/<name>/<id>`).
pub fn dimensions(listener_arn: &str, target_group_arn: &str) -> Option<(String, String)> {
    let listener = listener_arn.split_once(":listener/")?.1;
    let mut parts = listener.split('/');
    let (kind, name, id) = (parts.next()?, parts.next()?, parts.next()?);
    let target_group = target_group_arn.split_once(":targetgroup/")?.1;
    if target_group.split('/').count() != 2 {
        return None;
    }
    Some((format!("{kind}/{name}/{id}"), format!("targetgroup/{target_group}")))
}

/// Checks a percentile statistic as CloudWatch names it: `p` and 0..100 with optional decimals.
pub fn validate_percentile(text: &str) -> Result<(), String> {
    let number = text.strip_prefix('p').ok_or_else(|| format!("{text:?} is not a percentile such as p99 or p99.9"))?;
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) && !number.starts_with('+') => Ok(()),
        _ => Err(format!("{text:?} is not a percentile such as p99 or p99.9")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            max_5xx_percent: Some(1.0),
            max_response_time: Some(Duration::from_millis(500)),
            percentile: "p99".into(),
            max_unhealthy_hosts: Some(0),
        }
    }

    #[test]
    fn a_sample_breaks_each_threshold_it_exceeds() {
        let good = Sample {
            requests: Some(400.0),
            target_5xx: Some(2.0),
            response_time: Some(0.2),
            unhealthy_hosts: Some(0.0),
        };
        assert!(breaches(&thresholds(), &good).is_empty());
        let bad = Sample { target_5xx: Some(50.0), response_time: Some(0.84), unhealthy_hosts: Some(1.0), ..good };
        let found = breaches(&thresholds(), &bad);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0], "target 5xx 12.50% of 400 requests > max_5xx_percent 1");
        assert_eq!(found[1], "TargetResponseTime p99 0.840 s > max_response_time 0.500 s");
        assert_eq!(found[2], "UnHealthyHostCount 1 > max_unhealthy_hosts 0");
        assert_eq!(bad.describe("p99"), "400 requests, 5xx 12.50% (50), p99 response time 0.840 s, unhealthy hosts 1");
    }

    #[test]
    fn no_traffic_and_unset_thresholds_are_no_breach() {
        assert!(breaches(&thresholds(), &Sample::default()).is_empty());
        let only_errors = Sample { requests: Some(0.0), target_5xx: Some(3.0), ..Sample::default() };
        assert!(breaches(&thresholds(), &only_errors).is_empty(), "no requests: no share to judge");
        let open = Thresholds {
            max_5xx_percent: None,
            max_response_time: None,
            percentile: "p99".into(),
            max_unhealthy_hosts: None,
        };
        let awful = Sample {
            requests: Some(1.0),
            target_5xx: Some(1.0),
            response_time: Some(60.0),
            unhealthy_hosts: Some(9.0),
        };
        assert!(breaches(&open, &awful).is_empty());
    }

    #[test]
    fn dimensions_come_from_the_arns() {
        assert_eq!(
            dimensions(
                "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/shard-1/73e2d6bc24d8a067"
            ),
            Some(("app/shared/50dc6c495c0c9188".into(), "targetgroup/shard-1/73e2d6bc24d8a067".into()))
        );
        assert_eq!(dimensions("listener-1", "tg"), None);
    }

    #[test]
    fn percentiles_are_named_as_cloudwatch_names_them() {
        for ok in ["p99", "p99.9", "p50", "p0", "p100"] {
            assert!(validate_percentile(ok).is_ok(), "{ok}");
        }
        for bad in ["99", "p101", "P99", "p", "pxx", "tm99", "p+9"] {
            assert!(validate_percentile(bad).is_err(), "{bad}");
        }
    }
}
