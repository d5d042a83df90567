//! The weighted `forward` action of an ALB listener or listener rule: reading it, and the pure
//! functions that interpret it. Shared by `shard_listener` and `shard_weight`.

use super::aws::{AwsClients, api_error};
use crate::framework::Diagnostics;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, TargetHealthStateEnum};

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

/// Reads the owner's current actions (one Describe call).
pub async fn read_actions(aws: &AwsClients, owner: &ActionOwner) -> Result<Vec<Action>, Diagnostics> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    match owner {
        ActionOwner::Listener(arn) => {
            let out = client
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .map_err(|e| api_error("DescribeListeners", &owner.describe(), &endpoint, &e))?;
            let listener = out.listeners().first().ok_or_else(|| not_found(owner))?;
            Ok(listener.default_actions().to_vec())
        }
        ActionOwner::Rule(arn) => {
            let out = client
                .describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .map_err(|e| api_error("DescribeRules", &owner.describe(), &endpoint, &e))?;
            let rule = out.rules().first().ok_or_else(|| not_found(owner))?;
            Ok(rule.actions().to_vec())
        }
    }
}

fn not_found(owner: &ActionOwner) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(format!("{} not found", owner.describe()), "ELBv2 returned no such object");
    d
}

/// Target counts of one target group: healthy, and registered-but-not-healthy (draining
/// targets are leaving and counted in neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounts {
    pub healthy: i64,
    pub unhealthy: i64,
}

pub async fn target_health(aws: &AwsClients, target_group_arn: &str) -> Result<HealthCounts, Diagnostics> {
    let client = aws.elbv2().await?;
    let out = client.describe_target_health().target_group_arn(target_group_arn).send().await.map_err(|e| {
        api_error("DescribeTargetHealth", &format!("target group {target_group_arn}"), &aws.elbv2_endpoint(), &e)
    })?;
    let mut counts = HealthCounts::default();
    for d in out.target_health_descriptions() {
        match d.target_health().and_then(|h| h.state()) {
            Some(TargetHealthStateEnum::Healthy) => counts.healthy += 1,
            Some(TargetHealthStateEnum::Draining) => {}
            _ => counts.unhealthy += 1,
        }
    }
    Ok(counts)
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
    fn single_target_forward_has_weight_one() {
        let a = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn("tg").build();
        let f = find_forward(&[a], &owner()).unwrap();
        assert_eq!(f.target_groups, vec![WeightedTargetGroup { arn: "tg".into(), weight: 1 }]);
    }
}
