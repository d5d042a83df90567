//! Route 53 weighted record sets as data, no I/O: what a name's records say (routing policy,
//! weights, shares), what one shard's change does to the group, and how Route 53's refusals of a
//! change batch read. `route53` makes the calls, `dns_lock` serialises the writes.
//!
//! Route 53 behaviour relied on (Developer Guide and API Reference):
//! - A weighted group is every record set of one name and type with a `SetIdentifier` and a
//!   `Weight` (0..255); all records of one name and type use one routing policy
//!   (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html>).
//! - "If you set Weight to 0 for all of the records in the group, traffic is routed to all
//!   resources with equal probability" (same page): all-zero is no outage but an equal split that
//!   includes drained shards, so a change into it is refused.
//! - Names come back in lowercase with a trailing dot, special characters as `\ooo` octal escapes
//!   (e.g. `*` as `\052`) (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html>).
//! - A health check is healthy when more than 18% of the health checkers report it healthy
//!   (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html>).

use aws_sdk_route53::types::{AliasTarget, ResourceRecord, ResourceRecordSet, RrType};

/// The largest weight Route 53 accepts.
pub const MAX_WEIGHT: i64 = 255;

/// Where a record points: an alias to an AWS resource (e.g. the shard's load balancer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub dns_name: String,
    pub zone_id: String,
    pub evaluate_target_health: bool,
}

/// A record set's routing policy, as its fields tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// No SetIdentifier: a simple record.
    Simple,
    Weighted(i64),
    /// Failover, latency, geolocation, geoproximity, multivalue answer or IP-based.
    Other(&'static str),
}

/// One record set of a name, as Route 53 holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    /// Normalised: see [`normalize_name`].
    pub name: String,
    pub rtype: String,
    pub set_identifier: Option<String>,
    pub routing: Routing,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub alias: Option<Alias>,
    pub health_check_id: Option<String>,
    /// As read, for a DELETE (which must match the record exactly).
    pub raw: ResourceRecordSet,
}

impl RecordSet {
    pub fn of(raw: &ResourceRecordSet) -> RecordSet {
        let routing = if let Some(w) = raw.weight() {
            Routing::Weighted(w)
        } else if raw.failover().is_some() {
            Routing::Other("failover")
        } else if raw.region().is_some() {
            Routing::Other("latency")
        } else if raw.geo_location().is_some() {
            Routing::Other("geolocation")
        } else if raw.geo_proximity_location().is_some() {
            Routing::Other("geoproximity")
        } else if raw.multi_value_answer().is_some() {
            Routing::Other("multivalue answer")
        } else if raw.cidr_routing_config().is_some() {
            Routing::Other("IP-based")
        } else if raw.set_identifier().is_some() {
            Routing::Other("unknown")
        } else {
            Routing::Simple
        };
        RecordSet {
            name: normalize_name(raw.name()),
            rtype: raw.r#type().as_str().to_string(),
            set_identifier: raw.set_identifier().map(str::to_string),
            routing,
            ttl: raw.ttl(),
            values: raw.resource_records().iter().map(|r| r.value().to_string()).collect(),
            alias: raw.alias_target().map(|a| Alias {
                dns_name: a.dns_name().to_string(),
                zone_id: a.hosted_zone_id().to_string(),
                evaluate_target_health: a.evaluate_target_health(),
            }),
            health_check_id: raw.health_check_id().map(str::to_string),
            raw: raw.clone(),
        }
    }

    pub fn weight(&self) -> Option<i64> {
        match self.routing {
            Routing::Weighted(w) => Some(w),
            _ => None,
        }
    }
}

/// A DNS name as Route 53 compares it: lowercase, no trailing dot, `\ooo` escapes decoded.
pub fn normalize_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
            && let Ok(code) = u8::from_str_radix(&name[i + 1..i + 4], 8)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).trim_end_matches('.').to_ascii_lowercase()
}

/// Checks a record name: 1..255 characters, labels of 1..63, no empty label.
pub fn validate_name(name: &str) -> Result<(), String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err("must be a DNS name such as api.example.com".into());
    }
    if trimmed.len() > 254 {
        return Err(format!("is {} characters long; a DNS name has at most 255", trimmed.len() + 1));
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(format!("{name:?} has an empty label (two dots in a row, or a leading dot)"));
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is {} characters long; a DNS label has at most 63", label.len()));
        }
        if label.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("label {label:?} contains whitespace"));
        }
    }
    Ok(())
}

/// Checks a hosted zone id: what Route 53 returns without the `/hostedzone/` prefix, uppercase
/// letters and digits (e.g. `Z0123456789ABCDEFGHIJ`).
pub fn validate_zone_id(id: &str) -> Result<(), String> {
    if id.starts_with("/hostedzone/") {
        return Err(format!(
            "{id:?}: give the id without the /hostedzone/ prefix ({:?})",
            id.trim_start_matches("/hostedzone/")
        ));
    }
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return Err(format!(
            "{id:?} is not a hosted zone id (uppercase letters and digits, e.g. Z0123456789ABCDEFGHIJ)"
        ));
    }
    Ok(())
}

/// Checks a `SetIdentifier`: 1..128 characters.
pub fn validate_set_identifier(id: &str) -> Result<(), String> {
    match id.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > 128 => Err(format!("is {n} characters long; Route 53 allows at most 128")),
        _ if id.contains('/') => {
            Err("must not contain '/': it is part of the import id zone_id/name/type/set_identifier".into())
        }
        _ => Ok(()),
    }
}

/// Checks a health check id (a UUID).
pub fn validate_health_check_id(id: &str) -> Result<(), String> {
    let parts: Vec<&str> = id.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if parts.len() == 5 && parts.iter().zip(lens).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err(format!("{id:?} is not a Route 53 health check id (a UUID such as 0a1b2c3d-4e5f-6789-abcd-ef0123456789)"))
    }
}

/// Checks one value of a plain (non-alias) record of `rtype`.
pub fn validate_value(rtype: &str, value: &str) -> Result<(), String> {
    match rtype {
        "A" => value.parse::<std::net::Ipv4Addr>().map(|_| ()).map_err(|_| format!("{value:?} is not an IPv4 address")),
        "AAAA" => {
            value.parse::<std::net::Ipv6Addr>().map(|_| ()).map_err(|_| format!("{value:?} is not an IPv6 address"))
        }
        "CNAME" => validate_name(value),
        _ if value.is_empty() => Err("must not be empty".into()),
        _ => Ok(()),
    }
}

/// Why a name's records are not a weighted group this resource can take part in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error(
        "{name} {rtype} is a simple record (no set identifier, no routing policy); weighted records cannot stand \
         beside it. Delete it (or import it into the stack that owns it and move that stack to weighted records) first"
    )]
    Simple { name: String, rtype: String },
    #[error(
        "{name} {rtype} uses {policy} routing (record {set_identifier}); a weighted record cannot join another \
         routing policy's records of the same name and type"
    )]
    OtherPolicy { name: String, rtype: String, policy: &'static str, set_identifier: String },
}

/// One member of a weighted group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub set_identifier: String,
    pub weight: i64,
    pub health_check_id: Option<String>,
}

/// The weighted group of `name` and `rtype` among `records` (other names and types are ignored).
pub fn weighted_group(records: &[RecordSet], name: &str, rtype: &str) -> Result<Vec<Member>, RoutingError> {
    let name = normalize_name(name);
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.name == name && r.rtype == rtype) {
        match (&r.routing, &r.set_identifier) {
            (Routing::Weighted(w), Some(id)) => {
                out.push(Member { set_identifier: id.clone(), weight: *w, health_check_id: r.health_check_id.clone() })
            }
            (Routing::Other(policy), id) => {
                return Err(RoutingError::OtherPolicy {
                    name: name.clone(),
                    rtype: rtype.into(),
                    policy,
                    set_identifier: id.clone().unwrap_or_default(),
                });
            }
            _ => return Err(RoutingError::Simple { name: name.clone(), rtype: rtype.into() }),
        }
    }
    Ok(out)
}

/// This record's share of the name's answers, in percent: its weight over the group's total, or
/// an equal share when every weight is 0 (Route 53 then answers with each record equally).
pub fn share(weight: i64, others_weight: i64, others: usize) -> f64 {
    let total = others_weight.saturating_add(weight.max(0));
    if total <= 0 { 100.0 / (others + 1) as f64 } else { weight.max(0) as f64 * 100.0 / total as f64 }
}

/// The share of each member of a group, in percent, in the group's order.
pub fn shares(group: &[Member]) -> Vec<f64> {
    let total: i64 = group.iter().map(|m| m.weight.max(0)).sum();
    group.iter().map(|m| share(m.weight, total - m.weight.max(0), group.len().saturating_sub(1))).collect()
}

/// What a shard's edit does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsChange {
    Set(i64),
    Remove,
}

/// Why an edit of the group is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupRefusal {
    #[error(
        "this change leaves every weighted record of {name} {rtype} at weight 0 ({members}); Route 53 then answers \
         with all of them equally, drained shards included. Raise another shard first, or set allow_all_zero = true"
    )]
    AllZero { name: String, rtype: String, members: String },
    #[error("weight {0} is outside Route 53's range 0..255")]
    OutOfRange(i64),
}

/// The group after `change` of `this` (appended when new), refusing a change that takes the group
/// from some weight into all-zero. A group that was all zero already (e.g. the first record
/// joining at 0) is not refused: this change did not make it so.
pub fn edit_group(
    group: &[Member],
    this: &str,
    change: DnsChange,
    allow_all_zero: bool,
    name: &str,
    rtype: &str,
) -> Result<Vec<Member>, GroupRefusal> {
    let mut next: Vec<Member> = group.to_vec();
    match change {
        DnsChange::Set(w) if !(0..=MAX_WEIGHT).contains(&w) => return Err(GroupRefusal::OutOfRange(w)),
        DnsChange::Set(w) => match next.iter_mut().find(|m| m.set_identifier == this) {
            Some(m) => m.weight = w,
            None => next.push(Member { set_identifier: this.into(), weight: w, health_check_id: None }),
        },
        DnsChange::Remove => next.retain(|m| m.set_identifier != this),
    }
    let total = |g: &[Member]| g.iter().map(|m| m.weight.max(0)).sum::<i64>();
    if !allow_all_zero && !next.is_empty() && total(&next) == 0 && total(group) > 0 {
        let members = next.iter().map(|m| format!("{} = 0", m.set_identifier)).collect::<Vec<_>>().join(", ");
        return Err(GroupRefusal::AllZero { name: name.into(), rtype: rtype.into(), members });
    }
    Ok(next)
}

/// The group as the fleet guard reads it (set identifiers in place of target group ARNs).
pub fn as_fleet(group: &[Member]) -> Vec<super::forward::WeightedTargetGroup> {
    group
        .iter()
        .map(|m| super::forward::WeightedTargetGroup {
            arn: m.set_identifier.clone(),
            weight: i32::try_from(m.weight).unwrap_or(i32::MAX),
        })
        .collect()
}

/// Whether a health check is healthy from its checkers' latest reports (`Status` texts, which
/// start with `Success` or `Failure`): more than 18% report success.
pub fn healthy(statuses: &[String]) -> bool {
    if statuses.is_empty() {
        return false;
    }
    let ok = statuses.iter().filter(|s| s.starts_with("Success")).count();
    ok * 100 > statuses.len() * 18
}

/// What a record should hold: alias or plain values (with a TTL), and an optional health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Alias(Alias),
    Values { ttl: i64, values: Vec<String> },
}

/// The weighted record set a shard declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub rtype: String,
    pub set_identifier: String,
    pub weight: i64,
    pub target: Target,
    pub health_check_id: Option<String>,
}

impl Desired {
    /// As an UPSERT's record set.
    pub fn record_set(&self) -> Result<ResourceRecordSet, String> {
        let mut b = ResourceRecordSet::builder()
            .name(&self.name)
            .r#type(RrType::from(self.rtype.as_str()))
            .set_identifier(&self.set_identifier)
            .weight(self.weight)
            .set_health_check_id(self.health_check_id.clone());
        match &self.target {
            Target::Alias(a) => {
                b = b.alias_target(
                    AliasTarget::builder()
                        .dns_name(&a.dns_name)
                        .hosted_zone_id(&a.zone_id)
                        .evaluate_target_health(a.evaluate_target_health)
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            }
            Target::Values { ttl, values } => {
                b = b.ttl(*ttl);
                for v in values {
                    b = b.resource_records(ResourceRecord::builder().value(v).build().map_err(|e| e.to_string())?);
                }
            }
        }
        b.build().map_err(|e| e.to_string())
    }

    /// Whether `found` already holds what this declares (names and alias DNS names compared as
    /// Route 53 does; values as a set).
    pub fn matches(&self, found: &RecordSet) -> bool {
        let target_same = match (&self.target, &found.alias) {
            (Target::Alias(a), Some(f)) => {
                normalize_name(&a.dns_name) == normalize_name(&f.dns_name)
                    && a.zone_id == f.zone_id
                    && a.evaluate_target_health == f.evaluate_target_health
            }
            (Target::Values { ttl, values }, None) => {
                let mut want: Vec<&String> = values.iter().collect();
                let mut have: Vec<&String> = found.values.iter().collect();
                want.sort();
                have.sort();
                found.ttl == Some(*ttl) && want == have
            }
            _ => false,
        };
        target_same && found.weight() == Some(self.weight) && found.health_check_id == self.health_check_id
    }
}

/// How Route 53 refused a change batch (`InvalidChangeBatch`), read from its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRefusal {
    /// A CREATE of a record set that exists.
    AlreadyExists,
    /// A DELETE of a record set that does not exist.
    NotFound,
    /// A DELETE whose values differ from the record set's.
    ValuesDiffer,
    Other,
}

/// Route 53 words these as "Tried to create resource record set [name='…', type='…'] but it
/// already exists", "… but it was not found" and "… but the values provided do not match the
/// current values" (ChangeResourceRecordSets, errors: InvalidChangeBatch).
pub fn batch_refusal(code: Option<&str>, message: &str) -> Option<BatchRefusal> {
    if code != Some("InvalidChangeBatch") {
        return None;
    }
    let m = message.to_ascii_lowercase();
    Some(if m.contains("already exists") {
        BatchRefusal::AlreadyExists
    } else if m.contains("not found") {
        BatchRefusal::NotFound
    } else if m.contains("values provided do not match") {
        BatchRefusal::ValuesDiffer
    } else {
        BatchRefusal::Other
    })
}

/// Whether a refusal message names `name` (normalised): which change of a batch was refused.
pub fn refusal_names(message: &str, name: &str) -> bool {
    let want = normalize_name(name);
    message.split("name='").skip(1).filter_map(|rest| rest.split('\'').next()).any(|n| normalize_name(n) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, set_id: Option<&str>, weight: Option<i64>) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::A)
            .set_identifier(set_id.unwrap_or_default())
            .set_set_identifier(set_id.map(str::to_string))
            .set_weight(weight)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value("10.0.0.1").build().unwrap())
            .build()
            .unwrap()
    }
    fn member(id: &str, w: i64) -> Member {
        Member { set_identifier: id.into(), weight: w, health_check_id: None }
    }

    #[test]
    fn names_compare_as_route53_returns_them() {
        for (given, want) in [
            ("API.Example.com.", "api.example.com"),
            ("api.example.com", "api.example.com"),
            ("\\052.example.com.", "*.example.com"),
            ("a\\\\b.example.com", "a\\\\b.example.com"),
            ("\\05", "\\05"),
            ("", ""),
        ] {
            assert_eq!(normalize_name(given), want, "{given}");
        }
    }

    #[test]
    fn plan_time_checks_of_names_ids_and_values() {
        assert!(validate_name("api.example.com").is_ok());
        assert!(validate_name("api.example.com.").is_ok());
        for bad in ["", ".", "a..b", &format!("{}.com", "x".repeat(64)), "a b.com"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_zone_id("Z0123456789ABCDEFGHIJ").is_ok());
        assert!(validate_zone_id("/hostedzone/Z01").unwrap_err().contains("without the /hostedzone/ prefix"));
        for bad in ["", "z123", "Z-1", &"Z".repeat(33)] {
            assert!(validate_zone_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_set_identifier("shard-1").is_ok());
        assert!(validate_set_identifier("").is_err());
        assert!(validate_set_identifier("a/b").is_err());
        assert!(validate_set_identifier(&"s".repeat(129)).is_err());
        assert!(validate_health_check_id("0a1b2c3d-4e5f-6789-abcd-ef0123456789").is_ok());
        assert!(validate_health_check_id("hc-1").is_err());
        for (t, v, ok) in [
            ("A", "10.0.0.1", true),
            ("A", "::1", false),
            ("AAAA", "::1", true),
            ("AAAA", "10.0.0.1", false),
            ("CNAME", "lb.example.com", true),
            ("CNAME", "a..b", false),
            ("TXT", "\"hello\"", true),
            ("TXT", "", false),
        ] {
            assert_eq!(validate_value(t, v).is_ok(), ok, "{t} {v}");
        }
    }

    #[test]
    fn routing_policies_are_read_from_the_fields_route53_sets() {
        assert_eq!(RecordSet::of(&raw("a.example.com.", Some("s1"), Some(7))).routing, Routing::Weighted(7));
        assert_eq!(RecordSet::of(&raw("a.example.com.", None, None)).routing, Routing::Simple);
        let failover =
            raw("a.example.com.", Some("p"), None).to_builder_for_test().failover("PRIMARY".into()).build().unwrap();
        assert_eq!(RecordSet::of(&failover).routing, Routing::Other("failover"));
        let latency =
            raw("a.example.com.", Some("r"), None).to_builder_for_test().region("eu-west-1".into()).build().unwrap();
        assert_eq!(RecordSet::of(&latency).routing, Routing::Other("latency"));
    }

    /// `ResourceRecordSet` has no to_builder; rebuild one from its fields for the tests above.
    trait ForTest {
        fn to_builder_for_test(&self) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder;
    }
    impl ForTest for ResourceRecordSet {
        fn to_builder_for_test(&self) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
            ResourceRecordSet::builder()
                .name(self.name())
                .r#type(self.r#type().clone())
                .set_set_identifier(self.set_identifier().map(str::to_string))
                .set_weight(self.weight())
                .set_ttl(self.ttl())
                .set_resource_records(Some(self.resource_records().to_vec()))
        }
    }

    #[test]
    fn a_weighted_group_refuses_simple_records_and_other_policies() {
        let recs = |list: Vec<ResourceRecordSet>| list.iter().map(RecordSet::of).collect::<Vec<_>>();
        let group = recs(vec![
            raw("api.example.com.", Some("shard-1"), Some(10)),
            raw("api.example.com.", Some("shard-2"), Some(0)),
            raw("other.example.com.", None, None),
        ]);
        assert_eq!(
            weighted_group(&group, "API.example.com", "A").unwrap(),
            vec![member("shard-1", 10), member("shard-2", 0)],
            "other names do not count; names compare case-insensitively"
        );
        assert_eq!(weighted_group(&group, "api.example.com", "AAAA").unwrap(), vec![], "another type");
        let simple = recs(vec![raw("api.example.com.", None, None)]);
        let e = weighted_group(&simple, "api.example.com", "A").unwrap_err();
        assert!(matches!(e, RoutingError::Simple { .. }) && e.to_string().contains("simple record"), "{e}");
        let failover = raw("api.example.com.", Some("primary"), None)
            .to_builder_for_test()
            .failover("PRIMARY".into())
            .build()
            .unwrap();
        let e = weighted_group(&recs(vec![failover]), "api.example.com", "A").unwrap_err();
        assert_eq!(
            e,
            RoutingError::OtherPolicy {
                name: "api.example.com".into(),
                rtype: "A".into(),
                policy: "failover",
                set_identifier: "primary".into()
            }
        );
        assert!(e.to_string().contains("failover routing (record primary)"), "{e}");
    }

    #[test]
    fn shares_follow_weights_and_all_zero_is_an_equal_split() {
        for (weight, others, n, want) in [
            (50, 50, 1, 50.0),
            (0, 100, 2, 0.0),
            (100, 0, 2, 100.0),
            (0, 0, 3, 25.0),
            (0, 0, 0, 100.0),
            (255, 0, 0, 100.0),
            (-5, 10, 1, 0.0),
        ] {
            assert!((share(weight, others, n) - want).abs() < 1e-9, "share({weight}, {others}, {n})");
        }
        let s = shares(&[member("a", 1), member("b", 3)]);
        assert_eq!(s, vec![25.0, 75.0]);
        assert_eq!(shares(&[member("a", 0), member("b", 0)]), vec![50.0, 50.0]);
    }

    #[test]
    fn edits_touch_only_this_record_and_refuse_going_all_zero() {
        let g = vec![member("shard-1", 10), member("shard-2", 20)];
        let e =
            |g: &[Member], this: &str, c: DnsChange, allow: bool| edit_group(g, this, c, allow, "api.example.com", "A");
        assert_eq!(
            e(&g, "shard-1", DnsChange::Set(0), false).unwrap(),
            vec![member("shard-1", 0), member("shard-2", 20)]
        );
        assert_eq!(
            e(&g, "shard-3", DnsChange::Set(5), false).unwrap(),
            vec![member("shard-1", 10), member("shard-2", 20), member("shard-3", 5)],
            "a new record is appended"
        );
        assert_eq!(e(&g, "shard-2", DnsChange::Remove, false).unwrap(), vec![member("shard-1", 10)]);
        let drained = vec![member("shard-1", 0), member("shard-2", 20)];
        let refused = e(&drained, "shard-2", DnsChange::Set(0), false).unwrap_err();
        assert!(matches!(refused, GroupRefusal::AllZero { .. }), "{refused}");
        assert!(refused.to_string().contains("shard-1 = 0, shard-2 = 0"), "{refused}");
        assert!(matches!(e(&drained, "shard-2", DnsChange::Remove, false), Err(GroupRefusal::AllZero { .. })));
        assert!(e(&drained, "shard-2", DnsChange::Set(0), true).is_ok(), "allowed explicitly");
        assert_eq!(
            e(&[], "shard-1", DnsChange::Set(0), false).unwrap(),
            vec![member("shard-1", 0)],
            "first joins at 0"
        );
        assert!(e(&[member("shard-1", 0)], "shard-2", DnsChange::Set(0), false).is_ok(), "was all zero already");
        assert_eq!(
            e(&[member("shard-1", 5)], "shard-1", DnsChange::Remove, false).unwrap(),
            vec![],
            "the last one leaves"
        );
        assert_eq!(e(&g, "shard-1", DnsChange::Set(256), false), Err(GroupRefusal::OutOfRange(256)));
        assert_eq!(e(&g, "shard-1", DnsChange::Set(-1), false), Err(GroupRefusal::OutOfRange(-1)));
    }

    #[test]
    fn health_is_more_than_18_percent_of_checkers() {
        let s = |ok: usize, bad: usize| {
            std::iter::repeat_n("Success: HTTP Status Code 200".to_string(), ok)
                .chain(std::iter::repeat_n("Failure: Connection timed out".to_string(), bad))
                .collect::<Vec<_>>()
        };
        assert!(healthy(&s(8, 0)));
        assert!(healthy(&s(2, 8)), "20%");
        assert!(!healthy(&s(1, 7)), "12.5%");
        assert!(!healthy(&s(0, 0)), "no report is not healthy");
        assert!(!healthy(&s(0, 3)));
    }

    #[test]
    fn the_desired_record_matches_what_route53_returns() {
        let d = Desired {
            name: "api.example.com".into(),
            rtype: "A".into(),
            set_identifier: "shard-1".into(),
            weight: 10,
            target: Target::Values { ttl: 60, values: vec!["10.0.0.2".into(), "10.0.0.1".into()] },
            health_check_id: None,
        };
        let rs = d.record_set().unwrap();
        assert_eq!((rs.weight(), rs.ttl(), rs.resource_records().len()), (Some(10), Some(60), 2));
        let mut read = RecordSet::of(&rs);
        read.values.reverse();
        assert!(d.matches(&read), "values compare as a set");
        assert!(!Desired { weight: 11, ..d.clone() }.matches(&read));
        assert!(!Desired { health_check_id: Some("x".into()), ..d.clone() }.matches(&read));
        let alias = Desired {
            target: Target::Alias(Alias {
                dns_name: "LB-1.eu-west-1.elb.amazonaws.com".into(),
                zone_id: "Z32O12XQLNTSW2".into(),
                evaluate_target_health: true,
            }),
            ..d.clone()
        };
        let mut read = RecordSet::of(&alias.record_set().unwrap());
        assert_eq!(read.ttl, None);
        read.alias.as_mut().unwrap().dns_name = "lb-1.eu-west-1.elb.amazonaws.com.".into();
        assert!(alias.matches(&read), "alias names as Route 53 returns them");
        assert!(!d.matches(&read), "values vs alias");
    }

    #[test]
    fn change_batch_refusals_are_read_from_route53s_messages() {
        let r = |m: &str| batch_refusal(Some("InvalidChangeBatch"), m);
        assert_eq!(
            r(
                "[Tried to create resource record set [name='_shard-lock.api.example.com.', type='TXT'] but it already exists]"
            ),
            Some(BatchRefusal::AlreadyExists)
        );
        assert_eq!(
            r("[Tried to delete resource record set [name='a.', type='TXT'] but it was not found]"),
            Some(BatchRefusal::NotFound)
        );
        assert_eq!(
            r(
                "[Tried to delete resource record set [name='a.', type='TXT'] but the values provided do not match the current values]"
            ),
            Some(BatchRefusal::ValuesDiffer)
        );
        assert_eq!(r("RRSet with DNS name x is not permitted in zone y"), Some(BatchRefusal::Other));
        assert_eq!(batch_refusal(Some("Throttling"), "already exists"), None);
        assert!(refusal_names(
            "[Tried to delete resource record set [name='_shard-lock.api.example.com.', type='TXT'] but",
            "_shard-lock.API.example.com"
        ));
        assert!(!refusal_names("[name='api.example.com.', type='A']", "_shard-lock.api.example.com"));
    }
}
