//! The fleet guard of `shard_weight`: whether taking one shard out of a forward action's
//! traffic leaves the fleet enough serving shards (`min_serving`) and not too many drained ones
//! (`max_drained`), and the drain record that tells an operator since when, and on whose word,
//! a shard has been out. Pure: the reads are in `elbv2`, the decision is here.
//!
//! The guard is checked at plan (to show a refusal early) and again under the listener lock
//! before the write, on the action as it is then: two directories draining at the same time are
//! serialised by the lock, and the second one sees the first one's drain.
//!
//! The drain record is a pair of tags on the drained target group (ELBv2 AddTags, written under
//! the lock before the write, so a drain is never in the action without its record). Tag values
//! allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Tag.html>).

use super::forward::WeightedTargetGroup;
use std::collections::BTreeMap;

/// Tag keys of the drain record.
pub const DRAINED_AT_TAG: &str = "terraform-provider-shard:drained-at";
pub const DRAINED_BY_TAG: &str = "terraform-provider-shard:drained-by";
pub const OVERRIDE_TAG: &str = "terraform-provider-shard:drain-override";
pub const RECORD_TAGS: [&str; 3] = [DRAINED_AT_TAG, DRAINED_BY_TAG, OVERRIDE_TAG];

/// The longest `contact` or `override_reason` (a tag value holds 256 characters).
pub const MAX_NOTE_CHARS: usize = 200;

/// The guard as configured (`fleet_guard` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetGuard {
    /// Shards other than this one that must stay at weight > 0 with a healthy target.
    pub min_serving: i64,
    /// Shards at weight 0 allowed at once, this one included (None: no limit).
    pub max_drained: Option<i64>,
    /// Who drained it, recorded with the drain (e.g. a team or a pipeline).
    pub contact: Option<String>,
    /// Set: the guard's refusal becomes a warning, and the reason is recorded.
    pub override_reason: Option<String>,
}

/// A drain's record, read back from the target group's tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrainRecord {
    pub at_unix: Option<i64>,
    pub by: Option<String>,
    pub override_reason: Option<String>,
}

/// What the guard needs to know of the other entries, read just before it decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetView {
    /// Healthy targets of each other entry at weight > 0.
    pub healthy: BTreeMap<String, i64>,
    /// The drain record of each other entry at weight 0 (absent: none recorded).
    pub records: BTreeMap<String, DrainRecord>,
}

/// Whether a change from `before` to `after` (None: absent) takes a serving shard out.
pub fn is_drain(before: Option<i32>, after: Option<i32>) -> bool {
    before.unwrap_or(0) > 0 && after.unwrap_or(0) == 0
}

/// The other entries the guard must read: (at weight > 0: their health, at 0: their record).
pub fn to_observe(next: &[WeightedTargetGroup], this: &str) -> (Vec<String>, Vec<String>) {
    let others = next.iter().filter(|t| t.arn != this);
    let (serving, drained): (Vec<_>, Vec<_>) = others.partition(|t| t.weight > 0);
    (serving.into_iter().map(|t| t.arn.clone()).collect(), drained.into_iter().map(|t| t.arn.clone()).collect())
}

/// Why the guard refuses a drain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetRefusal {
    #[error(
        "taking {this} out of {owner} leaves {} serving shard(s) (weight > 0 and a healthy target){}; \
         fleet_guard.min_serving = {min_serving}.{} Restore another shard first, or, in an incident, set \
         fleet_guard.override_reason",
        serving.len(), listed(serving), not_healthy_text(not_healthy)
    )]
    TooFewServing { owner: String, this: String, min_serving: i64, serving: Vec<String>, not_healthy: Vec<String> },
    #[error(
        "taking {this} out of {owner} would make {} shard(s) drained at once; fleet_guard.max_drained = {max_drained}. \
         Already at weight 0: {}. Ask whoever drained them, restore one first, or, in an incident, set \
         fleet_guard.override_reason",
        drained.len() + 1, drained.join("; ")
    )]
    TooManyDrained { owner: String, this: String, max_drained: i64, drained: Vec<String> },
}

impl FleetRefusal {
    /// The `fleet_guard` attribute the refusal is about.
    pub fn attribute(&self) -> &'static str {
        match self {
            FleetRefusal::TooFewServing { .. } => "min_serving",
            FleetRefusal::TooManyDrained { .. } => "max_drained",
        }
    }
}

fn listed(names: &[String]) -> String {
    if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) }
}

fn not_healthy_text(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" At weight > 0 but without a healthy target: {}.", names.join(", "))
    }
}

/// Checks a drain of `this` (the entries after it: `next`) against the guard.
pub fn check(
    guard: &FleetGuard,
    owner: &str,
    this: &str,
    next: &[WeightedTargetGroup],
    view: &FleetView,
    now_unix: i64,
) -> Result<(), FleetRefusal> {
    let others = || next.iter().filter(|t| t.arn != this);
    let healthy = |arn: &str| view.healthy.get(arn).copied().unwrap_or(0) > 0;
    let serving: Vec<String> =
        others().filter(|t| t.weight > 0 && healthy(&t.arn)).map(|t| target_group_name(&t.arn)).collect();
    if (serving.len() as i64) < guard.min_serving {
        let not_healthy =
            others().filter(|t| t.weight > 0 && !healthy(&t.arn)).map(|t| target_group_name(&t.arn)).collect();
        return Err(FleetRefusal::TooFewServing {
            owner: owner.to_string(),
            this: target_group_name(this),
            min_serving: guard.min_serving,
            serving,
            not_healthy,
        });
    }
    if let Some(max) = guard.max_drained {
        let drained: Vec<String> = others()
            .filter(|t| t.weight == 0)
            .map(|t| describe_drained(&t.arn, view.records.get(&t.arn), now_unix))
            .collect();
        // This shard is drained too once the change is made (a removal takes it out of the count).
        let this_counts = i64::from(next.iter().any(|t| t.arn == this));
        if drained.len() as i64 + this_counts > max {
            return Err(FleetRefusal::TooManyDrained {
                owner: owner.to_string(),
                this: target_group_name(this),
                max_drained: max,
                drained,
            });
        }
    }
    Ok(())
}

/// "shard-2 (since 2026-12-03T15:04:05Z, 2 h 5 min ago, by team-payments)".
fn describe_drained(arn: &str, record: Option<&DrainRecord>, now_unix: i64) -> String {
    let name = target_group_name(arn);
    let Some(r) = record.filter(|r| r.at_unix.is_some()) else {
        return format!("{name} (since: not recorded; drained without a fleet_guard)");
    };
    let mut parts = Vec::new();
    if let Some(at) = r.at_unix {
        parts.push(format!("since {}", rfc3339(at)));
        parts.push(format!("{} ago", ago(now_unix.saturating_sub(at))));
    }
    if let Some(by) = &r.by {
        parts.push(format!("by {by}"));
    }
    if let Some(why) = &r.override_reason {
        parts.push(format!("guard overridden: {why}"));
    }
    format!("{name} ({})", parts.join(", "))
}

fn ago(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map(|t| t.to_string()).unwrap_or_else(|_| unix.to_string())
}

/// The tags that record a drain made now.
pub fn record_tags(guard: &FleetGuard, now_unix: i64) -> Vec<(String, String)> {
    let mut tags = vec![(DRAINED_AT_TAG.to_string(), rfc3339(now_unix))];
    if let Some(by) = &guard.contact {
        tags.push((DRAINED_BY_TAG.to_string(), by.clone()));
    }
    if let Some(why) = &guard.override_reason {
        tags.push((OVERRIDE_TAG.to_string(), why.clone()));
    }
    tags
}

/// The drain record among a target group's tags (None: no record).
pub fn record_of(tags: &BTreeMap<String, String>) -> Option<DrainRecord> {
    let at = tags.get(DRAINED_AT_TAG)?;
    Some(DrainRecord {
        at_unix: at.parse::<jiff::Timestamp>().ok().map(|t| t.as_second()),
        by: tags.get(DRAINED_BY_TAG).cloned(),
        override_reason: tags.get(OVERRIDE_TAG).cloned(),
    })
}

/// Checks a `contact` or `override_reason`: it goes into a tag value.
pub fn validate_note(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(format!("is {} characters long; at most {MAX_NOTE_CHARS}", text.chars().count()));
    }
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
    if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "contains {bad:?}; it is recorded as an ELBv2 tag value, which allows letters, digits, spaces and _ . : / = + - @"
        ));
    }
    Ok(())
}

/// The target group's name from its ARN (`…:targetgroup/<name>/<id>`), or the ARN.
pub fn target_group_name(arn: &str) -> String {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or(arn)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0123456789abcdef")
    }
    fn entries(list: &[(&str, i32)]) -> Vec<WeightedTargetGroup> {
        list.iter().map(|(n, w)| WeightedTargetGroup { arn: tg(n), weight: *w }).collect()
    }
    fn guard(min_serving: i64, max_drained: Option<i64>) -> FleetGuard {
        FleetGuard { min_serving, max_drained, contact: None, override_reason: None }
    }
    fn all_healthy(next: &[WeightedTargetGroup]) -> FleetView {
        FleetView { healthy: next.iter().map(|t| (t.arn.clone(), 2)).collect(), records: BTreeMap::new() }
    }

    #[test]
    fn only_a_serving_shard_going_to_zero_or_away_is_a_drain() {
        for (before, after, drain) in [
            (Some(50), Some(0), true),
            (Some(50), None, true),
            (Some(50), Some(10), false),
            (Some(0), Some(0), false),
            (Some(0), None, false),
            (None, Some(0), false),
            (Some(0), Some(20), false),
        ] {
            assert_eq!(is_drain(before, after), drain, "{before:?} -> {after:?}");
        }
    }

    #[test]
    fn min_serving_counts_other_shards_with_weight_and_a_healthy_target() {
        let next = entries(&[("shard-1", 0), ("shard-2", 50), ("shard-3", 50)]);
        let mut view = all_healthy(&next);
        assert_eq!(check(&guard(2, None), "the listener", &tg("shard-1"), &next, &view, 0), Ok(()));
        view.healthy.insert(tg("shard-3"), 0);
        let refused = check(&guard(2, None), "the listener", &tg("shard-1"), &next, &view, 0).unwrap_err();
        assert_eq!(refused.attribute(), "min_serving");
        let text = refused.to_string();
        assert!(text.contains("leaves 1 serving shard(s)"), "{text}");
        assert!(text.contains(": shard-2;"), "{text}");
        assert!(text.contains("without a healthy target: shard-3"), "{text}");
        // A removal counts the same way.
        let removed = entries(&[("shard-2", 50), ("shard-3", 50)]);
        assert!(check(&guard(2, None), "l", &tg("shard-1"), &removed, &view, 0).is_err());
    }

    #[test]
    fn max_drained_names_the_drained_shards_since_when_and_by_whom() {
        let next = entries(&[("shard-1", 0), ("shard-2", 0), ("shard-3", 50), ("shard-4", 0)]);
        let mut view = all_healthy(&next);
        view.records.insert(
            tg("shard-2"),
            DrainRecord { at_unix: Some(1_000), by: Some("team-a".into()), override_reason: None },
        );
        let now = 1_000 + 2 * 3600 + 5 * 60;
        assert!(check(&guard(1, Some(3)), "l", &tg("shard-1"), &next, &view, now).is_ok());
        let refused = check(&guard(1, Some(2)), "l", &tg("shard-1"), &next, &view, now).unwrap_err();
        assert_eq!(refused.attribute(), "max_drained");
        let text = refused.to_string();
        assert!(text.contains("3 shard(s) drained at once"), "{text}");
        assert!(text.contains("shard-2 (since 1970-01-01T00:16:40Z, 2 h 5 min ago, by team-a)"), "{text}");
        assert!(text.contains("shard-4 (since: not recorded"), "{text}");
        // Removing this shard does not add a drained one.
        let removed = entries(&[("shard-2", 0), ("shard-3", 50)]);
        assert!(check(&guard(1, Some(1)), "l", &tg("shard-1"), &removed, &view, now).is_ok());
        assert!(check(&guard(1, Some(1)), "l", &tg("shard-1"), &next, &view, now).is_err());
    }

    #[test]
    fn the_record_round_trips_through_tags() {
        let g = FleetGuard {
            min_serving: 1,
            max_drained: Some(1),
            contact: Some("team-payments @oncall".into()),
            override_reason: Some("INC-4711".into()),
        };
        let tags: BTreeMap<String, String> = record_tags(&g, 1_780_000_000).into_iter().collect();
        assert_eq!(tags[DRAINED_AT_TAG], "2026-05-28T20:26:40Z");
        let r = record_of(&tags).unwrap();
        assert_eq!(r.at_unix, Some(1_780_000_000));
        assert_eq!(r.by.as_deref(), Some("team-payments @oncall"));
        assert_eq!(r.override_reason.as_deref(), Some("INC-4711"));
        assert_eq!(record_of(&BTreeMap::new()), None);
    }

    #[test]
    fn notes_must_fit_a_tag_value() {
        assert!(validate_note("team-a: upgrade 1.31 @ 15:00 / INC+1").is_ok());
        assert!(validate_note("").is_err());
        assert!(validate_note("a,b").unwrap_err().contains("','"));
        assert!(validate_note(&"x".repeat(201)).is_err());
    }

    #[test]
    fn names_come_from_the_arn() {
        assert_eq!(target_group_name(&tg("shard-7")), "shard-7");
        assert_eq!(target_group_name("not-an-arn"), "not-an-arn");
    }
}
