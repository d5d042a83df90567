//! `list "shard_weight"`: every target group entry in the weighted forward actions of one
//! listener, or of every listener of a load balancer (default actions and rules), as
//! `shard_weight` states, so that `terraform query -generate-config-out` writes an `import` and
//! a `resource` block per shard for a fleet that runs already.

use super::{Model, WeightResource};
use crate::clients::ShardData;
use crate::clients::arn::{self, ArnKind, ElbArn};
use crate::clients::elbv2;
use crate::clients::forward::ActionOwner;
use crate::framework::schema::Attribute;
use crate::framework::{AttrPath, Ctx, Diagnostics, ListResource, Listing, Schema, ValidateRequest};
use crate::protocol::value::Type;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct ListConfig {
    listener_arn: Option<String>,
    load_balancer_arn: Option<String>,
    target_group_arns: Option<Vec<String>>,
}

/// `<target group name> in <listener or rule>`: what a person recognises in `terraform query`.
fn display_name(owner: &ActionOwner, target_group_arn: &str) -> String {
    let tg = ElbArn::parse(target_group_arn, ArnKind::TargetGroup)
        .map(|a| a.name().to_string())
        .unwrap_or_else(|_| target_group_arn.to_string());
    let short = |arn: &str| arn.rsplit_once(":listener").map_or(arn.to_string(), |(_, l)| format!("listener{l}"));
    match owner {
        ActionOwner::Listener(l) => format!("{tg} in {}", short(l)),
        ActionOwner::Rule(r) => format!("{tg} in {}", short(r).replacen("listener-rule", "rule", 1)),
    }
}

#[async_trait]
impl ListResource<ShardData> for WeightResource {
    type Config = ListConfig;

    fn name(&self) -> &'static str {
        "weight"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(5 * 60)
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "The target group entries of the weighted forward actions (the default action and every rule's) of one \
             listener or of every listener of a load balancer, each as a `shard_weight`. With `terraform query \
             -generate-config-out=FILE`, an `import` block and a `resource` block per entry.",
            vec![
                Attribute::string("listener_arn").optional().validate(arn::validate_alb_listener()).description(
                    "List this listener's entries. Exactly one of `listener_arn` and `load_balancer_arn`.",
                ),
                Attribute::string("load_balancer_arn")
                    .optional()
                    .validate(arn::validate(ArnKind::LoadBalancer))
                    .description("List the entries of every listener of this load balancer."),
                Attribute::new("target_group_arns", Type::list(Type::String))
                    .optional()
                    .description("Only these target groups' entries (e.g. one shard directory's). Default: all."),
            ],
        )
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        let set = |name: &str| !req.config.get(name).is_null();
        match (set("listener_arn"), set("load_balancer_arn")) {
            (true, true) => Diagnostics::attr_error(
                AttrPath::attr("load_balancer_arn"),
                "Conflicting list configuration",
                "set either listener_arn or load_balancer_arn, not both",
            ),
            (false, false) if req.config.get("listener_arn").is_wholly_known() => Diagnostics::attr_error(
                AttrPath::attr("listener_arn"),
                "Missing list configuration",
                "set listener_arn (one listener) or load_balancer_arn (all its listeners)",
            ),
            _ => Diagnostics::new(),
        }
    }

    async fn list(&self, ctx: &Ctx<ShardData>, config: ListConfig, out: &mut Listing) -> Result<(), Diagnostics> {
        let aws = &ctx.data.aws;
        let deadline = ctx.deadline().into_std();
        let listeners = match (&config.listener_arn, &config.load_balancer_arn) {
            (Some(l), _) => vec![l.clone()],
            (None, Some(lb)) => elbv2::listeners_of(aws, lb, deadline).await?,
            (None, None) => return Ok(()),
        };
        let wanted = |tg: &str| config.target_group_arns.as_ref().is_none_or(|only| only.iter().any(|w| w == tg));
        for listener in listeners {
            ctx.progress(format!("reading the forward actions of {listener}"));
            for (owner, forward) in elbv2::forwards_of_listener(aws, &listener, deadline).await? {
                let rule = match &owner {
                    ActionOwner::Rule(r) => Some(r.clone()),
                    ActionOwner::Listener(_) => None,
                };
                for entry in forward.target_groups.iter().filter(|e| wanted(&e.arn)) {
                    let m = Model::unread(listener.clone(), rule.clone(), entry.arn.clone())
                        .read_from(&forward, entry.weight);
                    if !out.push(display_name(&owner, &entry.arn), &m).await? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_say_which_shard_and_where() {
        let tg = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-2/0123456789abcdef";
        let listener =
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2";
        let rule = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        assert_eq!(
            display_name(&ActionOwner::Listener(listener.into()), tg),
            "shard-2 in listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2"
        );
        assert_eq!(
            display_name(&ActionOwner::Rule(rule.into()), tg),
            "shard-2 in rule/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
        );
    }
}
