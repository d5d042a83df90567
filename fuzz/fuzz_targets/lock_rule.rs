//! The listener lock-rule reader (`LockInfo::of_rule`) on an ELBv2 `Rule` built from the input:
//! JSON in the shape DescribeRules returns (`{"Conditions":[{"Field":"http-header",
//! "HttpHeaderConfig":{"HttpHeaderName":"x-shard-provider-lock","Values":[...]}}]}`), or built
//! with `arbitrary`. A rule it reads as a lock is read the same when written back the way the
//! lock writes it (owner, `expires=`, `holder=`), and the expiry checks agree with one another.
#![no_main]

use arbitrary::Arbitrary;
use aws_sdk_elasticloadbalancingv2::types::{
    HostHeaderConditionConfig, HttpHeaderConditionConfig, PathPatternConditionConfig, Rule, RuleCondition,
};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use shard_provider::clients::listener_lock::{BREAK_GRACE, LOCK_HEADER, LockInfo, MAX_FUTURE_EXPIRY};

#[derive(Debug, Deserialize, Arbitrary)]
#[serde(rename_all = "PascalCase")]
struct Header {
    /// `None` in arbitrary input: the lock's header name.
    http_header_name: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Arbitrary)]
#[serde(rename_all = "PascalCase")]
struct Values {
    values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Arbitrary)]
#[serde(rename_all = "PascalCase")]
struct Condition {
    field: Option<String>,
    values: Option<Vec<String>>,
    http_header_config: Option<Header>,
    path_pattern_config: Option<Values>,
    host_header_config: Option<Values>,
}

#[derive(Debug, Deserialize, Arbitrary)]
#[serde(rename_all = "PascalCase")]
struct RuleSpec {
    rule_arn: Option<String>,
    priority: Option<String>,
    conditions: Option<Vec<Condition>>,
    is_default: Option<bool>,
}

fn rule(spec: RuleSpec, json: bool) -> Rule {
    let conditions = spec.conditions.map(|cs| {
        cs.into_iter()
            .map(|c| {
                let header = c.http_header_config.map(|h| {
                    let name = if json { h.http_header_name } else { h.http_header_name.or(Some(LOCK_HEADER.into())) };
                    HttpHeaderConditionConfig::builder().set_http_header_name(name).set_values(h.values).build()
                });
                RuleCondition::builder()
                    .set_field(c.field)
                    .set_values(c.values)
                    .set_http_header_config(header)
                    .set_path_pattern_config(
                        c.path_pattern_config
                            .map(|p| PathPatternConditionConfig::builder().set_values(p.values).build()),
                    )
                    .set_host_header_config(
                        c.host_header_config.map(|p| HostHeaderConditionConfig::builder().set_values(p.values).build()),
                    )
                    .build()
            })
            .collect()
    });
    Rule::builder()
        .set_rule_arn(spec.rule_arn)
        .set_priority(spec.priority)
        .set_conditions(conditions)
        .set_is_default(spec.is_default)
        .build()
}

/// The rule as `ListenerLock` writes it (`LockInfo::condition`).
fn written(info: &LockInfo) -> Rule {
    let values = vec![info.owner.clone(), format!("expires={}", info.expires_unix), format!("holder={}", info.holder)];
    let header = HttpHeaderConditionConfig::builder().http_header_name(LOCK_HEADER).set_values(Some(values)).build();
    let condition = RuleCondition::builder().field("http-header").http_header_config(header).build();
    Rule::builder().conditions(condition).build()
}

fuzz_target!(|data: &[u8]| {
    let (spec, json) = match serde_json::from_slice::<RuleSpec>(data) {
        Ok(spec) => (spec, true),
        Err(_) => match RuleSpec::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
            Ok(spec) => (spec, false),
            Err(_) => return,
        },
    };
    let Some(info) = LockInfo::of_rule(&rule(spec, json)) else { return };
    assert_eq!(LockInfo::of_rule(&written(&info)).as_ref(), Some(&info), "written back and read again");
    let e = info.expires_unix;
    let grace = BREAK_GRACE.as_secs();
    let clocks =
        [0, 1, e.saturating_sub(1), e, e.saturating_add(1), e.saturating_add(grace), e.saturating_add(grace + 1)];
    // A clock within an hour of u64::MAX is no clock; there the checks refuse everything.
    for now in clocks.into_iter().filter(|now| now.checked_add(MAX_FUTURE_EXPIRY.as_secs()).is_some()) {
        if info.breakable(now) {
            assert!(info.expired(now), "breakable but not expired at {now}: {info:?}");
            assert!(!info.implausible(now), "breakable yet implausible at {now}: {info:?}");
        }
        if !info.implausible(now) {
            assert!(e <= now.saturating_add(MAX_FUTURE_EXPIRY.as_secs()), "{info:?} at {now}");
        }
    }
});
