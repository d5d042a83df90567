//! The weighted `forward` action of an ALB listener or listener rule, as data: finding it in an
//! action list, editing one target group's entry, writing the entries back into the list,
//! counting target health and checking a target group fits the listener. No I/O: the ELBv2
//! calls that read and write actions are in [`super::elbv2`]. Shared by `shard_listener` and
//! `shard_weight`.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, TargetHealthStateEnum};
use std::collections::BTreeMap;

/// Where the forward action lives: a listener's default actions or one rule's actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOwner {
    Listener(String),
    Rule(String),
}

impl ActionOwner {
    pub fn arn(&self) -> &str {
        match self {
            ActionOwner::Listener(a) | ActionOwner::Rule(a) => a,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            ActionOwner::Listener(a) => format!("listener {a}"),
            ActionOwner::Rule(a) => format!("listener rule {a}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTargetGroup {
    pub arn: String,
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stickiness {
    pub enabled: bool,
    pub duration_seconds: Option<i32>,
}

/// The forward action found among an owner's actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    /// Position of the forward action in the action list.
    pub index: usize,
    pub target_groups: Vec<WeightedTargetGroup>,
    pub stickiness: Option<Stickiness>,
}

impl Forward {
    pub fn total_weight(&self) -> i64 {
        self.target_groups.iter().map(|t| i64::from(t.weight)).sum()
    }
    pub fn weight_of(&self, target_group_arn: &str) -> Option<i32> {
        self.target_groups.iter().find(|t| t.arn == target_group_arn).map(|t| t.weight)
    }
}

/// Finds the forward action (authenticate actions may precede it). A single-target forward
/// without `ForwardConfig` counts as weight 1, which is how ALB treats it.
pub fn find_forward(actions: &[Action], owner: &ActionOwner) -> Result<Forward, String> {
    let mut ordered: Vec<(usize, &Action)> = actions.iter().enumerate().collect();
    ordered.sort_by_key(|(i, a)| (a.order().unwrap_or(i32::MAX), *i));
    let Some((index, action)) = ordered.iter().find(|(_, a)| a.r#type() == Some(&ActionTypeEnum::Forward)) else {
        let types: Vec<String> =
            ordered.iter().map(|(_, a)| a.r#type().map(|t| t.as_str().to_string()).unwrap_or_default()).collect();
        return Err(format!(
            "the action of {} is {}, not forward; only a forward action has target-group weights",
            owner.describe(),
            if types.is_empty() { "empty".to_string() } else { types.join(" + ") }
        ));
    };
    let (target_groups, stickiness) = match action.forward_config() {
        Some(cfg) if !cfg.target_groups().is_empty() => (
            cfg.target_groups()
                .iter()
                .map(|t| WeightedTargetGroup {
                    arn: t.target_group_arn().unwrap_or_default().to_string(),
                    weight: t.weight().unwrap_or(1),
                })
                .collect(),
            cfg.target_group_stickiness_config()
                .map(|s| Stickiness { enabled: s.enabled().unwrap_or(false), duration_seconds: s.duration_seconds() }),
        ),
        _ => (
            action
                .target_group_arn()
                .map(|arn| vec![WeightedTargetGroup { arn: arn.to_string(), weight: 1 }])
                .unwrap_or_default(),
            None,
        ),
    };
    Ok(Forward { index: *index, target_groups, stickiness })
}

/// Target health of one target group, as ELBv2 reports it.
///
/// States and reasons (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html>):
/// `initial` (registration or first health checks in progress), `healthy`, `unhealthy`,
/// `unused` (`Target.NotInUse`: the target group is not used by any listener action, so the
/// load balancer does not health-check it; it starts once an action references it), `draining`
/// (deregistering, kept for the deregistration delay), `unavailable` (`Target.HealthCheckDisabled`:
/// health checks are off, the default for Lambda target groups).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthCounts {
    pub healthy: i64,
    /// Registered, not healthy, not leaving: initial, unhealthy, unused, unavailable.
    pub unhealthy: i64,
    /// Of `unhealthy`: targets not health-checked because no action references the group yet.
    pub unused: i64,
    /// Of `unhealthy`: targets of a group with health checks disabled.
    pub unavailable: i64,
    /// Per not-healthy target: "id:port state (reason)", for messages.
    pub details: Vec<String>,
}

impl HealthCounts {
    /// One line for messages: "1 healthy target(s) (2 not healthy: i-1:80 unused (Target.NotInUse), …)".
    pub fn summary(&self) -> String {
        if self.details.is_empty() {
            return format!("{} healthy target(s) ({} not healthy)", self.healthy, self.unhealthy);
        }
        let shown: Vec<&str> = self.details.iter().take(5).map(String::as_str).collect();
        let more =
            if self.details.len() > 5 { format!(", and {} more", self.details.len() - 5) } else { String::new() };
        format!("{} healthy target(s) ({} not healthy: {}{more})", self.healthy, self.unhealthy, shown.join(", "))
    }
}

/// Healthy vs. registered-but-not-healthy. Draining targets are on their way out (AWS keeps them
/// for the deregistration delay; moto drops them at once) and count as neither.
pub fn count_health(descriptions: &[aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription]) -> HealthCounts {
    let mut counts = HealthCounts::default();
    for d in descriptions {
        let health = d.target_health();
        let state = health.and_then(|h| h.state());
        match state {
            Some(TargetHealthStateEnum::Healthy) => {
                counts.healthy += 1;
                continue;
            }
            Some(TargetHealthStateEnum::Draining) => continue,
            Some(TargetHealthStateEnum::Unused) => counts.unused += 1,
            Some(TargetHealthStateEnum::Unavailable) => counts.unavailable += 1,
            _ => {}
        }
        counts.unhealthy += 1;
        let target = d.target();
        let id = target.and_then(|t| t.id()).unwrap_or("?");
        let port = target.and_then(|t| t.port()).map(|p| format!(":{p}")).unwrap_or_default();
        let state = state.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into());
        let reason = health.and_then(|h| h.reason()).map(|r| format!(" ({})", r.as_str())).unwrap_or_default();
        counts.details.push(format!("{id}{port} {state}{reason}"));
    }
    counts
}

/// A change to one target group's entry in a forward action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryChange {
    /// Set the weight, adding the target group at the end if absent.
    Set(i32),
    /// Add the target group at weight 0 if absent; leave it as it is if present. A target group
    /// that no action references is not health-checked (its targets report `unused`), so a new
    /// shard joins at 0 and is gated on health before it takes traffic.
    Join,
    /// Take the target group out of the action.
    Remove,
}

/// ALB's limit on target groups in one forward action.
pub const MAX_TARGET_GROUPS_PER_FORWARD: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "the forward action of {owner} already has {MAX_TARGET_GROUPS_PER_FORWARD} target groups, ALB's limit for one action; \
         put further shards behind a listener rule of their own, or split cells across load balancers with Route 53 weighted records"
    )]
    TooManyTargetGroups { owner: String },
    #[error(
        "{target_group} is the only target group of the forward action of {owner}; an action needs at least one, \
         so it cannot be removed (use on_destroy = \"zero\" or \"retain\")"
    )]
    LastTargetGroup { owner: String, target_group: String },
    #[error(
        "this change leaves every target group of {owner} at weight 0, so the listener would serve no traffic; \
         raise another shard's weight first, or set allow_total_outage = true if an outage is intended"
    )]
    TotalOutage { owner: String },
}

/// The target-group list after `change`, keeping every other entry, its weight and its order.
/// `allow_total_outage = false` refuses a result where every weight is 0.
pub fn edit_entries(
    current: &[WeightedTargetGroup],
    target_group: &str,
    change: EntryChange,
    allow_total_outage: bool,
    owner: &str,
) -> Result<Vec<WeightedTargetGroup>, EditError> {
    let mut next: Vec<WeightedTargetGroup> = current.to_vec();
    let position = next.iter().position(|t| t.arn == target_group);
    match (change, position) {
        (EntryChange::Set(w), Some(i)) => next[i].weight = w,
        (EntryChange::Join, Some(_)) => {}
        (EntryChange::Set(_) | EntryChange::Join, None) => {
            let w = match change {
                EntryChange::Set(w) => w,
                _ => 0,
            };
            if next.len() >= MAX_TARGET_GROUPS_PER_FORWARD {
                return Err(EditError::TooManyTargetGroups { owner: owner.to_string() });
            }
            next.push(WeightedTargetGroup { arn: target_group.to_string(), weight: w });
        }
        (EntryChange::Remove, Some(i)) => {
            if next.len() == 1 {
                return Err(EditError::LastTargetGroup {
                    owner: owner.to_string(),
                    target_group: target_group.to_string(),
                });
            }
            next.remove(i);
        }
        (EntryChange::Remove, None) => {}
    }
    // Only a change that takes a serving action to all-zero is an outage; one that was already
    // all zero (allowed earlier) does not get worse by an entry joining at 0.
    let serving = |l: &[WeightedTargetGroup]| l.iter().any(|t| t.weight > 0);
    if !allow_total_outage && serving(current) && !serving(&next) {
        return Err(EditError::TotalOutage { owner: owner.to_string() });
    }
    Ok(next)
}

/// The actions with the forward action's target groups replaced; everything else (other
/// actions, order, stickiness) kept. Also makes the list valid to send back to ELBv2.
pub fn with_target_groups(
    actions: &[Action],
    forward_index: usize,
    target_groups: &[WeightedTargetGroup],
) -> Vec<Action> {
    use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupTuple};
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = a.clone();
            if i == forward_index {
                let stickiness = a.forward_config.as_ref().and_then(|f| f.target_group_stickiness_config.clone());
                let tuples = target_groups
                    .iter()
                    .map(|t| TargetGroupTuple::builder().target_group_arn(&t.arn).weight(t.weight).build())
                    .collect();
                a.forward_config = Some(
                    ForwardActionConfig::builder()
                        .set_target_groups(Some(tuples))
                        .set_target_group_stickiness_config(stickiness)
                        .build(),
                );
                // ELBv2 rejects TargetGroupArn beside a multi-group ForwardConfig.
                a.target_group_arn = None;
            }
            // Describe never returns the OIDC client secret; ask ELBv2 to keep the stored one.
            if let Some(oidc) = a.authenticate_oidc_config.as_mut()
                && oidc.client_secret.is_none()
            {
                oidc.use_existing_client_secret = Some(true);
            }
            a
        })
        .collect()
}

/// What a target group and the listener's load balancer are, for compatibility checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub vpc_id: Option<String>,
    /// `application`, `network`, `gateway`.
    pub lb_type: Option<String>,
    /// Target group protocol (HTTP, HTTPS, TCP, …); None for Lambda target groups.
    pub protocol: Option<String>,
    /// For the load balancer: its ARN. For a target group: the load balancers it serves.
    pub load_balancers: Vec<String>,
}

/// Why a target group cannot join the listener's forward action, if it cannot.
pub fn placement_mismatch(lb: &Placement, tg: &Placement) -> Option<String> {
    // Only an Application Load Balancer has weighted forward actions and listener rules (the lock).
    if let Some(t) = lb.lb_type.as_deref()
        && t != "application"
    {
        return Some(format!(
            "the listener belongs to a {t} load balancer; shard_weight needs an application load balancer \
             (weighted forward actions across target groups and listener rules exist only there)"
        ));
    }
    // "Load balancers per target group: 1" (ELBv2 quotas): a target group already serving another
    // load balancer cannot join this one (TargetGroupAssociationLimit at write time).
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
    if let Some(other) = tg.load_balancers.iter().find(|arn| !lb.load_balancers.contains(arn)) {
        return Some(format!(
            "the target group already serves load balancer {other}, and a target group can serve only one \
             (TargetGroupAssociationLimit); give this shard a target group of its own"
        ));
    }
    if let (Some(a), Some(b)) = (&lb.vpc_id, &tg.vpc_id)
        && a != b
    {
        return Some(format!("the target group is in {b} but the listener's load balancer is in {a}"));
    }
    let alb = lb.lb_type.as_deref().is_none_or(|t| t == "application");
    match tg.protocol.as_deref() {
        Some(p) if alb && !matches!(p, "HTTP" | "HTTPS") => Some(format!(
            "the target group uses {p}, which only a network or gateway load balancer can forward to; an application load balancer needs HTTP or HTTPS"
        )),
        _ => None,
    }
}

/// The same target groups with the same weights, in any order (ELBv2 does not promise to keep
/// the order of `TargetGroups` in its answer).
pub fn same_entries(a: &[WeightedTargetGroup], b: &[WeightedTargetGroup]) -> bool {
    let map = |l: &[WeightedTargetGroup]| l.iter().map(|t| (t.arn.clone(), t.weight)).collect::<BTreeMap<_, _>>();
    a.len() == b.len() && map(a) == map(b)
}

/// This target group's share of the forward action's traffic, in percent, were its weight
/// `weight` and every other entry as it is: ALB sends each request to a target group with
/// probability weight / sum of weights (the weighted forward action,
/// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#forward-actions).
/// An action whose weights are all 0 sends nothing anywhere: 0.
pub fn share_percent(forward: &Forward, target_group_arn: &str, weight: i64) -> f64 {
    let others: i64 =
        forward.target_groups.iter().filter(|t| t.arn != target_group_arn).map(|t| i64::from(t.weight)).sum();
    share_of(weight, others)
}

/// The share of `weight` beside entries weighing `others` in all, in percent (0 when all are 0).
pub fn share_of(weight: i64, others: i64) -> f64 {
    let total = others.saturating_add(weight.max(0));
    if total <= 0 { 0.0 } else { weight.max(0) as f64 * 100.0 / total as f64 }
}

/// "33.3%", "50%", "0%": one decimal, none when whole.
pub fn share_text(percent: f64) -> String {
    let text = format!("{percent:.1}");
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple};

    fn owner() -> ActionOwner {
        ActionOwner::Listener("l".into())
    }

    fn forward(tgs: &[(&str, i32)]) -> Action {
        let mut cfg = ForwardActionConfig::builder().target_group_stickiness_config(
            TargetGroupStickinessConfig::builder().enabled(true).duration_seconds(60).build(),
        );
        for (arn, w) in tgs {
            cfg = cfg.target_groups(TargetGroupTuple::builder().target_group_arn(*arn).weight(*w).build());
        }
        Action::builder().r#type(ActionTypeEnum::Forward).forward_config(cfg.build()).build()
    }

    #[test]
    fn reads_weights_in_action_order() {
        let f = find_forward(&[forward(&[("a", 10), ("b", 90)])], &owner()).unwrap();
        assert_eq!(
            f.target_groups.iter().map(|t| (t.arn.as_str(), t.weight)).collect::<Vec<_>>(),
            [("a", 10), ("b", 90)]
        );
        assert_eq!(f.total_weight(), 100);
        assert_eq!(f.stickiness, Some(Stickiness { enabled: true, duration_seconds: Some(60) }));
    }

    #[test]
    fn forward_after_authentication_is_found() {
        let auth = Action::builder().r#type(ActionTypeEnum::AuthenticateOidc).order(1).build();
        let mut fwd = forward(&[("a", 1)]);
        fwd.order = Some(2);
        let f = find_forward(&[auth, fwd], &owner()).unwrap();
        assert_eq!(f.index, 1);
    }

    #[test]
    fn non_forward_action_is_named() {
        let redirect = Action::builder().r#type(ActionTypeEnum::Redirect).build();
        let err = find_forward(&[redirect], &owner()).unwrap_err();
        assert!(err.contains("redirect, not forward"), "{err}");
    }

    #[test]
    fn draining_targets_count_as_neither_healthy_nor_unhealthy() {
        use aws_sdk_elasticloadbalancingv2::types::{TargetHealth, TargetHealthDescription};
        let with = |s: TargetHealthStateEnum| {
            TargetHealthDescription::builder().target_health(TargetHealth::builder().state(s).build()).build()
        };
        let all = [
            with(TargetHealthStateEnum::Healthy),
            with(TargetHealthStateEnum::Draining),
            with(TargetHealthStateEnum::Initial),
            with(TargetHealthStateEnum::Unhealthy),
            with(TargetHealthStateEnum::Healthy),
        ];
        let counts = count_health(&all);
        assert_eq!((counts.healthy, counts.unhealthy), (2, 2));
        assert_eq!(counts.details, vec!["? initial", "? unhealthy"]);
    }

    #[test]
    fn unused_and_unavailable_targets_are_told_apart_with_their_reasons() {
        use aws_sdk_elasticloadbalancingv2::types::{
            TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthReasonEnum as R,
        };
        let with = |id: &str, s: TargetHealthStateEnum, r: R| {
            TargetHealthDescription::builder()
                .target(TargetDescription::builder().id(id).port(80).build())
                .target_health(TargetHealth::builder().state(s).reason(r).build())
                .build()
        };
        let counts = count_health(&[
            with("i-1", TargetHealthStateEnum::Unused, R::NotInUse),
            with("i-2", TargetHealthStateEnum::Unavailable, R::HealthCheckDisabled),
            with("i-3", TargetHealthStateEnum::Healthy, R::NotInUse),
        ]);
        assert_eq!((counts.healthy, counts.unhealthy, counts.unused, counts.unavailable), (1, 2, 1, 1));
        assert_eq!(
            counts.summary(),
            "1 healthy target(s) (2 not healthy: i-1:80 unused (Target.NotInUse), i-2:80 unavailable (Target.HealthCheckDisabled))"
        );
    }

    #[test]
    fn single_target_forward_has_weight_one() {
        let a = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn("tg").build();
        let f = find_forward(&[a], &owner()).unwrap();
        assert_eq!(f.target_groups, vec![WeightedTargetGroup { arn: "tg".into(), weight: 1 }]);
    }
}

#[cfg(test)]
mod edit_tests {
    use super::*;

    fn tgs(pairs: &[(&str, i32)]) -> Vec<WeightedTargetGroup> {
        pairs.iter().map(|(a, w)| WeightedTargetGroup { arn: a.to_string(), weight: *w }).collect()
    }

    #[test]
    fn set_changes_only_this_entry_and_keeps_order() {
        let next =
            edit_entries(&tgs(&[("a", 10), ("b", 20), ("c", 30)]), "b", EntryChange::Set(0), false, "l").unwrap();
        assert_eq!(next, tgs(&[("a", 10), ("b", 0), ("c", 30)]));
        let added = edit_entries(&tgs(&[("a", 10)]), "z", EntryChange::Set(5), false, "l").unwrap();
        assert_eq!(added, tgs(&[("a", 10), ("z", 5)]));
    }

    #[test]
    fn limits_and_guards() {
        let five = tgs(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1)]);
        assert!(matches!(
            edit_entries(&five, "f", EntryChange::Set(1), false, "l"),
            Err(EditError::TooManyTargetGroups { .. })
        ));
        assert!(matches!(
            edit_entries(&tgs(&[("a", 5)]), "a", EntryChange::Remove, true, "l"),
            Err(EditError::LastTargetGroup { .. })
        ));
        assert!(matches!(
            edit_entries(&tgs(&[("a", 5), ("b", 0)]), "a", EntryChange::Set(0), false, "l"),
            Err(EditError::TotalOutage { .. })
        ));
        assert!(edit_entries(&tgs(&[("a", 5), ("b", 0)]), "a", EntryChange::Set(0), true, "l").is_ok());
        assert!(matches!(
            edit_entries(&tgs(&[("a", 5), ("b", 0)]), "a", EntryChange::Remove, false, "l"),
            Err(EditError::TotalOutage { .. })
        ));
        // Removing what is absent is a no-op, even on an all-zero action.
        assert_eq!(edit_entries(&tgs(&[("a", 0)]), "x", EntryChange::Remove, false, "l").unwrap(), tgs(&[("a", 0)]));
        // Joining adds at 0 (also to an all-zero action) and never changes a present entry.
        assert_eq!(
            edit_entries(&tgs(&[("a", 0)]), "x", EntryChange::Join, false, "l").unwrap(),
            tgs(&[("a", 0), ("x", 0)])
        );
        assert_eq!(edit_entries(&tgs(&[("a", 7)]), "a", EntryChange::Join, false, "l").unwrap(), tgs(&[("a", 7)]));
        assert!(matches!(
            edit_entries(&five, "f", EntryChange::Join, false, "l"),
            Err(EditError::TooManyTargetGroups { .. })
        ));
    }

    #[test]
    fn rewriting_keeps_other_actions_and_stickiness() {
        use aws_sdk_elasticloadbalancingv2::types::{
            AuthenticateOidcActionConfig, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
        };
        let oidc = Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .authenticate_oidc_config(AuthenticateOidcActionConfig::builder().client_id("c").build())
            .build();
        let fwd = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .order(2)
            .target_group_arn("a")
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(TargetGroupTuple::builder().target_group_arn("a").weight(1).build())
                    .target_group_stickiness_config(
                        TargetGroupStickinessConfig::builder().enabled(true).duration_seconds(9).build(),
                    )
                    .build(),
            )
            .build();
        let out = with_target_groups(&[oidc, fwd], 1, &tgs(&[("a", 1), ("b", 2)]));
        assert_eq!(out[0].r#type(), Some(&ActionTypeEnum::AuthenticateOidc));
        assert_eq!(out[0].authenticate_oidc_config().unwrap().use_existing_client_secret(), Some(true));
        assert_eq!(out[1].target_group_arn(), None);
        assert_eq!(out[1].order(), Some(2));
        let f = find_forward(&out, &ActionOwner::Listener("l".into())).unwrap();
        assert_eq!(f.target_groups, tgs(&[("a", 1), ("b", 2)]));
        assert_eq!(f.stickiness, Some(Stickiness { enabled: true, duration_seconds: Some(9) }));
    }

    #[test]
    fn placement_checks() {
        let alb = Placement {
            vpc_id: Some("vpc-1".into()),
            lb_type: Some("application".into()),
            protocol: None,
            load_balancers: vec!["lb-1".into()],
        };
        let ok = Placement {
            vpc_id: Some("vpc-1".into()),
            lb_type: None,
            protocol: Some("HTTP".into()),
            load_balancers: vec!["lb-1".into()],
        };
        assert_eq!(placement_mismatch(&alb, &ok), None);
        let other_vpc = Placement { vpc_id: Some("vpc-2".into()), ..ok.clone() };
        assert!(placement_mismatch(&alb, &other_vpc).unwrap().contains("vpc-2"));
        let tcp = Placement { protocol: Some("TCP".into()), ..ok.clone() };
        assert!(placement_mismatch(&alb, &tcp).unwrap().contains("TCP"));
        let unattached = Placement { load_balancers: vec![], ..ok.clone() };
        assert_eq!(placement_mismatch(&alb, &unattached), None);
        let elsewhere = Placement { load_balancers: vec!["lb-2".into()], ..ok.clone() };
        assert!(placement_mismatch(&alb, &elsewhere).unwrap().contains("already serves load balancer lb-2"));
        let nlb = Placement { lb_type: Some("network".into()), ..alb };
        assert!(placement_mismatch(&nlb, &ok).unwrap().contains("network load balancer"));
    }

    #[test]
    fn read_back_compares_entries_not_their_order() {
        assert!(same_entries(&tgs(&[("a", 1), ("b", 2)]), &tgs(&[("b", 2), ("a", 1)])));
        assert!(!same_entries(&tgs(&[("a", 1), ("b", 2)]), &tgs(&[("a", 1), ("b", 3)])));
        assert!(!same_entries(&tgs(&[("a", 1)]), &tgs(&[("a", 1), ("b", 0)])));
    }
}
