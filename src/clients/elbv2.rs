//! The ELBv2 calls behind a forward action: reading an owner's actions, writing them (one
//! Modify call), target health and where a listener and a target group are. What the actions
//! mean and how an entry is edited is in [`super::forward`] (no I/O).

use super::attempts::AttemptLog;
use super::aws::{AwsClients, AwsError, api_error};
use super::fleet::{self, FleetRefusal, FleetView};
use super::forward::{
    ActionOwner, EditError, Forward, HealthCounts, Placement, WeightedTargetGroup, count_health, find_forward,
};
use super::listener_lock::LockError;
use super::paging::{Pager, PagingError};
use crate::framework::Diagnostics;
use aws_sdk_elasticloadbalancingv2::types::Action;
use std::collections::BTreeMap;

/// What can go wrong reading or editing a forward action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElbError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{owner} not found: ELBv2 returned no such object")]
    NotFound { owner: String },
    #[error("{0}")]
    NotForward(String),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Fleet(#[from] FleetRefusal),
    #[error(
        "{owner} holds {held:?} after the write, expected {expected:?}; another client changed it at the same moment"
    )]
    Overwritten { owner: String, held: Vec<WeightedTargetGroup>, expected: Vec<WeightedTargetGroup> },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Paging(#[from] PagingError),
    #[error(
        "the write to {owner} got no answer ({cause}), so it may still land. The listener lock is kept until it \
         expires (contenders may break it in {breakable_in_secs} s), so that a late write cannot overwrite another \
         apply's change. The listener now shows {shows}. The deadline leaves no time to wait for the lock and try \
         again: apply again (the plan shows where the weight is, and the apply waits for the lock)"
    )]
    OutcomeUnknown {
        owner: String,
        cause: String,
        shows: String,
        breakable_in_secs: u64,
        /// The entry's weight before the write (what the holder read).
        before: Option<i32>,
    },
}

/// Without an attribute to point at: resources map the errors that have one themselves.
impl From<ElbError> for Diagnostics {
    fn from(e: ElbError) -> Diagnostics {
        match e {
            ElbError::Aws(a) => a.into(),
            ElbError::Lock(l) => l.into(),
            ElbError::NotFound { .. } => Diagnostics::error("Not found", e.to_string()),
            ElbError::NotForward(_) => Diagnostics::error("Not a forward action", e.to_string()),
            ElbError::Paging(_) => Diagnostics::error("Listing abandoned", e.to_string()),
            ElbError::Edit(_) => Diagnostics::error("Change refused", e.to_string()),
            ElbError::Fleet(_) => Diagnostics::error("Drain refused by the fleet guard", e.to_string()),
            ElbError::Overwritten { .. } => Diagnostics::error("Weight not applied as written", e.to_string()),
            ElbError::OutcomeUnknown { .. } => Diagnostics::error("Outcome of the write unknown", e.to_string()),
        }
    }
}

/// Reads the owner's current actions (one Describe call); `None` when the listener or rule
/// does not exist (any more).
pub async fn find_actions(aws: &AwsClients, owner: &ActionOwner) -> Result<Option<Vec<Action>>, AwsError> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    match owner {
        ActionOwner::Listener(arn) => {
            tracing::debug!(aws_call = "DescribeListeners", listener = %arn, "aws call");
            match client.describe_listeners().listener_arns(arn).send().await {
                Ok(out) => Ok(out.listeners().first().map(|l| l.default_actions().to_vec())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_listener_not_found_exception()) => Ok(None),
                Err(e) => Err(api_error("DescribeListeners", &owner.describe(), &endpoint, &e)),
            }
        }
        ActionOwner::Rule(arn) => {
            tracing::debug!(aws_call = "DescribeRules", rule = %arn, "aws call");
            match client.describe_rules().rule_arns(arn).send().await {
                Ok(out) => Ok(out.rules().first().map(|r| r.actions().to_vec())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_rule_not_found_exception()) => Ok(None),
                Err(e) => Err(api_error("DescribeRules", &owner.describe(), &endpoint, &e)),
            }
        }
    }
}

/// The listeners of a load balancer (DescribeListeners by `LoadBalancerArn`, every page).
pub async fn listeners_of(
    aws: &AwsClients,
    load_balancer_arn: &str,
    deadline: std::time::Instant,
) -> Result<Vec<String>, ElbError> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    let what = format!("load balancer {load_balancer_arn}");
    let mut pager = Pager::new("DescribeListeners", deadline);
    let (mut listeners, mut marker) = (Vec::new(), None);
    loop {
        pager.before_page()?;
        tracing::debug!(aws_call = "DescribeListeners", %load_balancer_arn, "aws call");
        let page =
            match client.describe_listeners().load_balancer_arn(load_balancer_arn).set_marker(marker).send().await {
                Ok(page) => page,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_load_balancer_not_found_exception()) => {
                    return Err(ElbError::NotFound { owner: what });
                }
                Err(e) => return Err(api_error("DescribeListeners", &what, &endpoint, &e).into()),
            };
        listeners.extend(page.listeners().iter().filter_map(|l| l.listener_arn().map(str::to_string)));
        match pager.next(page.next_marker())? {
            Some(m) => marker = Some(m),
            None => return Ok(listeners),
        }
    }
}

/// Every forward action of a listener: its default action's, then its rules' in priority order
/// (DescribeListeners, then DescribeRules, every page). Actions that do not forward (the
/// provider's lock rule, redirects, fixed responses) are left out.
pub async fn forwards_of_listener(
    aws: &AwsClients,
    listener_arn: &str,
    deadline: std::time::Instant,
) -> Result<Vec<(ActionOwner, Forward)>, ElbError> {
    let listener = ActionOwner::Listener(listener_arn.to_string());
    let mut found = Vec::new();
    let default_actions = read_actions(aws, &listener).await?;
    if let Ok(forward) = find_forward(&default_actions, &listener) {
        found.push((listener, forward));
    }
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    let what = format!("listener {listener_arn}");
    let mut pager = Pager::new("DescribeRules", deadline);
    let mut marker = None;
    let mut rules = Vec::new();
    loop {
        pager.before_page()?;
        tracing::debug!(aws_call = "DescribeRules", purpose = "list", %listener_arn, "aws call");
        let page = client
            .describe_rules()
            .listener_arn(listener_arn)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| api_error("DescribeRules", &what, &endpoint, &e))?;
        rules.extend(page.rules().iter().cloned());
        match pager.next(page.next_marker())? {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    // Rule priorities are numbers as text ("default" for the default rule, already covered).
    rules.retain(|r| !r.is_default().unwrap_or(false));
    rules.sort_by_key(|r| r.priority().and_then(|p| p.parse::<u32>().ok()).unwrap_or(u32::MAX));
    for rule in rules {
        let Some(arn) = rule.rule_arn() else { continue };
        let owner = ActionOwner::Rule(arn.to_string());
        if let Ok(forward) = find_forward(rule.actions(), &owner) {
            found.push((owner, forward));
        }
    }
    Ok(found)
}

/// Like [`find_actions`], but a missing owner is an error.
pub async fn read_actions(aws: &AwsClients, owner: &ActionOwner) -> Result<Vec<Action>, ElbError> {
    find_actions(aws, owner).await?.ok_or_else(|| ElbError::NotFound { owner: owner.describe() })
}

/// The owner's actions and the forward action among them (one Describe call).
pub async fn read_forward(aws: &AwsClients, owner: &ActionOwner) -> Result<(Vec<Action>, Forward), ElbError> {
    let actions = read_actions(aws, owner).await?;
    let forward = find_forward(&actions, owner).map_err(ElbError::NotForward)?;
    Ok((actions, forward))
}

pub async fn target_health(aws: &AwsClients, target_group_arn: &str) -> Result<HealthCounts, AwsError> {
    let client = aws.elbv2().await?;
    tracing::debug!(aws_call = "DescribeTargetHealth", %target_group_arn, "aws call");
    let out = client.describe_target_health().target_group_arn(target_group_arn).send().await.map_err(|e| {
        api_error("DescribeTargetHealth", &format!("target group {target_group_arn}"), &aws.elbv2_endpoint(), &e)
    })?;
    Ok(count_health(out.target_health_descriptions()))
}

/// Replaces the owner's actions (one Modify call) and returns the actions ELBv2 now holds,
/// taken from the Modify response (the read-back). `attempts` records what each of the SDK's
/// attempts came to, so the caller can tell a refused write from one that may still land.
pub async fn write_actions(
    aws: &AwsClients,
    owner: &ActionOwner,
    actions: Vec<Action>,
    attempts: &AttemptLog,
) -> Result<Vec<Action>, AwsError> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    // Refresh reads taken before this write ends are not reused after it.
    let _writing = aws.action_writes().start();
    match owner {
        ActionOwner::Listener(arn) => {
            tracing::debug!(aws_call = "ModifyListener", listener = %arn, "aws call");
            let out = client
                .modify_listener()
                .listener_arn(arn)
                .set_default_actions(Some(actions))
                .customize()
                .interceptor(attempts.clone())
                .send()
                .await
                .map_err(|e| api_error("ModifyListener", &owner.describe(), &endpoint, &e))?;
            Ok(out.listeners().first().map(|l| l.default_actions().to_vec()).unwrap_or_default())
        }
        ActionOwner::Rule(arn) => {
            tracing::debug!(aws_call = "ModifyRule", rule = %arn, "aws call");
            let out = client
                .modify_rule()
                .rule_arn(arn)
                .set_actions(Some(actions))
                .customize()
                .interceptor(attempts.clone())
                .send()
                .await
                .map_err(|e| api_error("ModifyRule", &owner.describe(), &endpoint, &e))?;
            Ok(out.rules().first().map(|r| r.actions().to_vec()).unwrap_or_default())
        }
    }
}

/// Where a listener's load balancer and a target group are (three Describe calls).
pub struct Placements {
    pub load_balancer: Placement,
    pub target_group: Placement,
    /// The listener's default actions, read on the way (saves the caller a Describe).
    pub listener_actions: Vec<Action>,
}

/// The listener's load balancer placement and the target group's (three Describe calls).
pub async fn placements(aws: &AwsClients, listener_arn: &str, target_group_arn: &str) -> Result<Placements, AwsError> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    let listener = format!("listener {listener_arn}");
    tracing::debug!(aws_call = "DescribeListeners", %listener_arn, "aws call");
    let l = client
        .describe_listeners()
        .listener_arns(listener_arn)
        .send()
        .await
        .map_err(|e| api_error("DescribeListeners", &listener, &endpoint, &e))?;
    let listener = l.listeners().first();
    let lb_arn = listener.and_then(|l| l.load_balancer_arn()).unwrap_or_default().to_string();
    let listener_actions = listener.map(|l| l.default_actions().to_vec()).unwrap_or_default();
    tracing::debug!(aws_call = "DescribeLoadBalancers", %lb_arn, "aws call");
    let lb = client
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .map_err(|e| api_error("DescribeLoadBalancers", &format!("load balancer {lb_arn}"), &endpoint, &e))?;
    let lb = lb.load_balancers().first();
    tracing::debug!(aws_call = "DescribeTargetGroups", %target_group_arn, "aws call");
    let tg =
        client.describe_target_groups().target_group_arns(target_group_arn).send().await.map_err(|e| {
            api_error("DescribeTargetGroups", &format!("target group {target_group_arn}"), &endpoint, &e)
        })?;
    let tg = tg.target_groups().first();
    Ok(Placements {
        load_balancer: Placement {
            vpc_id: lb.and_then(|l| l.vpc_id()).map(str::to_string),
            lb_type: lb.and_then(|l| l.r#type()).map(|t| t.as_str().to_string()),
            protocol: None,
            load_balancers: vec![lb_arn.clone()],
        },
        target_group: Placement {
            vpc_id: tg.and_then(|t| t.vpc_id()).map(str::to_string),
            lb_type: None,
            protocol: tg.and_then(|t| t.protocol()).map(|p| p.as_str().to_string()),
            load_balancers: tg.map(|t| t.load_balancer_arns().to_vec()).unwrap_or_default(),
        },
        listener_actions,
    })
}

/// What the fleet guard needs to know of the entries other than `this` in `next`: the health of
/// those at weight > 0 (one DescribeTargetHealth each, at the same time) and the drain records of
/// those at weight 0 (one DescribeTags for all of them).
pub async fn observe_fleet(aws: &AwsClients, next: &[WeightedTargetGroup], this: &str) -> Result<FleetView, AwsError> {
    let (serving, drained) = fleet::to_observe(next, this);
    let health = futures::future::try_join_all(serving.iter().map(|arn| target_health(aws, arn)));
    let (health, tags) = futures::future::try_join(health, describe_tags(aws, &drained)).await?;
    let healthy = serving.into_iter().zip(health).map(|(arn, h)| (arn, h.healthy)).collect();
    let records = tags.into_iter().filter_map(|(arn, t)| fleet::record_of(&t).map(|r| (arn, r))).collect();
    Ok(FleetView { healthy, records })
}

/// The tags of these resources (one DescribeTags; ELBv2 takes up to 20 ARNs, a forward action
/// holds at most 5 target groups).
pub async fn describe_tags(
    aws: &AwsClients,
    arns: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
    if arns.is_empty() {
        return Ok(BTreeMap::new());
    }
    let client = aws.elbv2().await?;
    tracing::debug!(aws_call = "DescribeTags", resources = arns.len(), "aws call");
    let out = client
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| api_error("DescribeTags", &arns.join(", "), &aws.elbv2_endpoint(), &e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter_map(|d| {
            let tags = d.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            Some((d.resource_arn()?.to_string(), tags))
        })
        .collect())
}

/// Adds or overwrites tags on one resource (one AddTags call).
pub async fn add_tags(aws: &AwsClients, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
    use aws_sdk_elasticloadbalancingv2::types::Tag;
    let client = aws.elbv2().await?;
    tracing::debug!(aws_call = "AddTags", resource = %arn, "aws call");
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    client
        .add_tags()
        .resource_arns(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| api_error("AddTags", arn, &aws.elbv2_endpoint(), &e))?;
    Ok(())
}

/// Removes tags from one resource (one RemoveTags call; absent keys are no error).
pub async fn remove_tags(aws: &AwsClients, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    let client = aws.elbv2().await?;
    tracing::debug!(aws_call = "RemoveTags", resource = %arn, "aws call");
    client
        .remove_tags()
        .resource_arns(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| api_error("RemoveTags", arn, &aws.elbv2_endpoint(), &e))?;
    Ok(())
}
