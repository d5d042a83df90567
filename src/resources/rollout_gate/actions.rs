//! `shard_rollout_promote`, `shard_rollout_abort`, `shard_rollout_retry`: the `kubectl argo
//! rollouts` verbs as actions (`terraform apply -invoke=action.shard_rollout_abort.NAME`), for an
//! incident on one shard's canary. Each sends exactly the patches the CLI sends (see
//! [`crate::argo::rollouts`]: `promote_patches`, `promote_full_patches`, `abort_patch`,
//! `retry_patch`; upstream `pkg/kubectl-argo-rollouts/cmd/{promote,abort,retry}`), with a
//! resourceVersion precondition on the state it read (a Rollout that changed in between is
//! refused with 409 and the action says so, where the CLI would patch blindly), then reads the
//! Rollout once more and reports what the controller has to work on. Like the CLI, it does not
//! wait for the controller: follow the result with a `shard_rollout_gate` or `kubectl argo
//! rollouts get`.
//!
//! An action changes the Rollout, not state: a `shard_rollout_gate` on the Rollout shows what
//! changed at its next plan (an abort or retry restarts the canary, which the gate plans again).

use super::follow::{Stop, client_for, get_rollout, missing, rollout_api, send};
use super::model::Model;
use crate::argo::rollouts::{self, Patches};
use crate::clients::ShardData;
use crate::clients::kubernetes::{BlockKind, Connection, connection_block, names};
use crate::framework::schema::{Attribute, validators};
use crate::framework::timeouts::format_duration;
use crate::framework::{Action, AttrPath, Ctx, Diagnostics, Schema, ValidateRequest};
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct RolloutActionConfig {
    namespace: String,
    name: String,
    cluster: Option<Connection>,
    /// Promote only: `--full`.
    full: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Promote,
    Abort,
    Retry,
}

impl Verb {
    fn cli(self, full: bool) -> &'static str {
        match (self, full) {
            (Verb::Promote, false) => "kubectl argo rollouts promote",
            (Verb::Promote, true) => "kubectl argo rollouts promote --full",
            (Verb::Abort, _) => "kubectl argo rollouts abort",
            (Verb::Retry, _) => "kubectl argo rollouts retry rollout",
        }
    }
}

fn schema(verb: Verb, description: &str) -> Schema {
    let mut attributes = vec![
        Attribute::string("namespace")
            .required()
            .validate(validators::string(names::dns_label))
            .description("Namespace of the Rollout."),
        Attribute::string("name")
            .required()
            .validate(validators::string(names::dns_subdomain))
            .description("Name of the Rollout (`argoproj.io/v1alpha1`)."),
        Attribute::string("timeout")
            .optional()
            .validate(validators::positive_duration())
            .description("How long the action may take (connecting, reading, patching). Default: `2m`."),
    ];
    if verb == Verb::Promote {
        attributes.push(Attribute::bool("full").optional().description(
            "As `--full`: skip the remaining steps, pauses and analysis (`status.promoteFull`); a blue-green preview becomes active. Default: `false`.",
        ));
    }
    Schema::new(description, attributes).with_block(connection_block(
        "cluster",
        "The shard's cluster; set exactly one source: `eks_cluster_name`, `config_path` or `host`. Default: the provider's `hub`.",
        BlockKind::Resource,
    ))
}

fn validate(req: &ValidateRequest) -> Diagnostics {
    match crate::framework::decode::<Option<Connection>>("cluster", req.config.get("cluster")) {
        Ok(Some(c)) => c.validate(&AttrPath::attr("cluster")),
        _ => Diagnostics::new(),
    }
}

/// The patches `verb` sends to the Rollout as it is (`None`: nothing to do, and why).
fn patches_for(verb: Verb, full: bool, view: &rollouts::RolloutView) -> Result<Patches, String> {
    let patches = match (verb, full) {
        (Verb::Promote, false) => view.promote_patches(),
        (Verb::Promote, true) => view.promote_full_patches(),
        (Verb::Abort, _) => Patches { spec: None, status: Some(rollouts::abort_patch()) },
        (Verb::Retry, _) => Patches { spec: None, status: Some(rollouts::retry_patch()) },
    };
    if patches.is_empty() {
        return Err(match verb {
            Verb::Promote if full => "it is fully promoted already".into(),
            _ => "it has nothing to promote".into(),
        });
    }
    Ok(patches)
}

async fn run(ctx: &Ctx<ShardData>, config: RolloutActionConfig, verb: Verb) -> Result<(), Diagnostics> {
    let full = config.full.unwrap_or(false);
    let m = Model::unread(config.namespace, config.name, config.cluster);
    let client = client_for(ctx, &m).await?;
    let api = rollout_api(&client, &m.namespace);
    let Some(view) = get_rollout(ctx, &client, &m).await? else {
        return Err(missing(ctx, &client, &m).await);
    };
    ctx.progress(format!("Rollout {} on {}: {}", m.key(), client.host, view.describe()));
    let patches = match patches_for(verb, full, &view) {
        Ok(p) => p,
        Err(why) => {
            ctx.progress(format!("nothing sent: {why}"));
            return Ok(());
        }
    };
    ctx.progress(format!("{}: {}", verb.cli(full), describe_patches(&patches)));
    match send(ctx, &client, &api, &m, &view, &patches).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Diagnostics::error(
                "The Rollout changed while the action ran",
                format!(
                    "Rollout {} changed between the read and the patch (409 Conflict), so nothing was sent to the \
                     version it had; look at it (`kubectl argo rollouts get rollout {} -n {}`) and invoke again",
                    m.key(),
                    m.name,
                    m.namespace
                ),
            ));
        }
        Err(stop) => return Err(stop_diagnostics(ctx, &m, stop)),
    }
    if let Ok(Some(after)) = get_rollout(ctx, &client, &m).await {
        ctx.progress(format!("sent; the Rollout now: {} (the controller acts on it next)", after.describe()));
    }
    Ok(())
}

fn describe_patches(p: &Patches) -> String {
    let parts: Vec<String> =
        [p.status.as_ref().map(|s| format!("status {s}")), p.spec.as_ref().map(|s| format!("spec {s}"))]
            .into_iter()
            .flatten()
            .collect();
    parts.join(", then ")
}

fn stop_diagnostics(ctx: &Ctx<ShardData>, m: &Model, stop: Stop) -> Diagnostics {
    match stop {
        Stop::TimedOut { .. } => Diagnostics::error(
            "Timed out",
            format!("the action on Rollout {} timed out after {}", m.key(), format_duration(ctx.limit())),
        ),
        Stop::Cancelled(_) => Diagnostics::error("Cancelled", "Terraform asked the provider to stop (Ctrl-C)"),
        Stop::Error(d) | Stop::Partial(_, d) => d,
        Stop::Failed { message, .. } | Stop::Blocked { message, .. } => {
            Diagnostics::error("Rollout action failed", message)
        }
    }
}

macro_rules! rollout_action {
    ($ty:ident, $name:literal, $verb:expr, $description:literal) => {
        pub struct $ty;

        #[async_trait]
        impl Action<ShardData> for $ty {
            type Config = RolloutActionConfig;

            fn name(&self) -> &'static str {
                $name
            }

            fn default_timeout(&self) -> Duration {
                Duration::from_secs(120)
            }

            fn schema(&self) -> Schema {
                schema($verb, $description)
            }

            async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
                validate(req)
            }

            async fn invoke(&self, ctx: &Ctx<ShardData>, config: RolloutActionConfig) -> Result<(), Diagnostics> {
                run(ctx, config, $verb).await
            }
        }
    };
}

rollout_action!(
    PromoteAction,
    "rollout_promote",
    Verb::Promote,
    "Promotes an Argo Rollout now, as `kubectl argo rollouts promote` (or `--full`) does: past the pause it waits at (canary), or the preview to active (blue-green). Sends the CLI's patches to the Rollout as the action read it; does not wait for the controller."
);
rollout_action!(
    AbortAction,
    "rollout_abort",
    Verb::Abort,
    "Aborts an Argo Rollout now, as `kubectl argo rollouts abort` does (`status.abort=true`): Argo Rollouts moves traffic back to the stable revision. Does not wait for the controller."
);
rollout_action!(
    RetryAction,
    "rollout_retry",
    Verb::Retry,
    "Retries an aborted Argo Rollout, as `kubectl argo rollouts retry rollout` does (`status.abort=false`): Argo Rollouts starts the canary's steps again. Does not wait for the controller."
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_verb_sends_the_clis_patch_and_a_promote_with_nothing_to_do_sends_none() {
        let paused = rollouts::RolloutView::from_json(&json!({
            "metadata": {"generation": 2, "resourceVersion": "7"},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}},
            "status": {"observedGeneration": "2", "currentStepIndex": 1, "currentPodHash": "b", "stableRS": "a",
                       "pauseConditions": [{"reason": "CanaryPauseStep"}], "controllerPause": true}
        }));
        let promote = patches_for(Verb::Promote, false, &paused).expect("a paused canary promotes");
        assert_eq!(promote.status, Some(json!({"status": {"pauseConditions": null}})));
        assert_eq!(patches_for(Verb::Abort, false, &paused).unwrap().status, Some(json!({"status": {"abort": true}})));
        assert_eq!(patches_for(Verb::Retry, false, &paused).unwrap().status, Some(json!({"status": {"abort": false}})));
        let full = patches_for(Verb::Promote, true, &paused).unwrap();
        assert_eq!(full.status, Some(json!({"status": {"promoteFull": true}})));

        let promoted = rollouts::RolloutView::from_json(&json!({
            "spec": {"strategy": {"blueGreen": {}}},
            "status": {"currentPodHash": "a", "stableRS": "a"}
        }));
        assert!(patches_for(Verb::Promote, true, &promoted).is_err(), "a fully promoted Rollout gets no patch");
    }
}
