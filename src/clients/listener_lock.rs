//! A lock per listener that works across processes and machines, built on an atomic primitive
//! of the ELBv2 API itself: `CreateRule` at a reserved priority fails with `PriorityInUse` while
//! another holder has it. Nothing else needs to exist (no DynamoDB table, no S3 object).
//!
//! The lock rule sits at priority [`LOCK_PRIORITY`] and matches only requests carrying the
//! header `x-shard-provider-lock` with the holder's random owner id, so no real request ever hits
//! it; its action is a fixed 503. Its header values record the owner, the expiry (unix seconds)
//! and who holds it. A holder that crashed leaves the rule behind; once its expiry has passed,
//! the next contender deletes it (by that rule's ARN, so it can never delete a newer lock).

use super::aws::{AwsClients, AwsError, api_error};
use crate::framework::Diagnostics;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, HttpHeaderConditionConfig, Rule, RuleCondition,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// The listener rule priority reserved for the lock (the lowest ALB allows).
pub const LOCK_PRIORITY: i32 = 50000;
pub const LOCK_HEADER: &str = "x-shard-provider-lock";
/// How long a lock is valid; holders keep it for one read-modify-write (well under a second).
pub const LOCK_TTL: Duration = Duration::from_secs(60);

/// Why the lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(
        "another shard_weight apply held the lock of {listener} until the timeout; \
         it is the rule at priority {LOCK_PRIORITY} (see docs/resources/weight.md)"
    )]
    TimedOut { listener: String },
    #[error(
        "listener {listener} has a rule at priority {LOCK_PRIORITY} that is not a shard_weight lock; \
         shard_weight uses that priority for its lock, so move the rule to another priority"
    )]
    PriorityTaken { listener: String },
    #[error("cancelled while waiting for the lock of {listener}; nothing was changed")]
    Cancelled { listener: String },
}

impl From<LockError> for Diagnostics {
    fn from(e: LockError) -> Diagnostics {
        match e {
            LockError::Aws(a) => a.into(),
            LockError::TimedOut { .. } => Diagnostics::error("Timed out waiting for the listener lock", e.to_string()),
            LockError::PriorityTaken { .. } => {
                Diagnostics::error("Listener rule priority reserved by shard_weight is taken", e.to_string())
            }
            LockError::Cancelled { .. } => {
                Diagnostics::error("Cancelled while waiting for the listener lock", e.to_string())
            }
        }
    }
}

/// What the lock rule says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub owner: String,
    pub expires_unix: u64,
    pub holder: String,
}

impl LockInfo {
    /// The lock rule's condition: the header that no real request carries, holding our record.
    fn condition(&self) -> RuleCondition {
        let values =
            vec![self.owner.clone(), format!("expires={}", self.expires_unix), format!("holder={}", self.holder)];
        RuleCondition::builder()
            .field("http-header")
            .http_header_config(
                HttpHeaderConditionConfig::builder().http_header_name(LOCK_HEADER).set_values(Some(values)).build(),
            )
            .build()
    }

    /// Reads a rule's lock information, if it is a lock rule.
    pub fn of_rule(rule: &Rule) -> Option<LockInfo> {
        let header = rule.conditions().iter().find_map(|c| c.http_header_config())?;
        if header.http_header_name() != Some(LOCK_HEADER) {
            return None;
        }
        let values = header.values();
        let owner = values.first()?.clone();
        let expires_unix = values.iter().find_map(|v| v.strip_prefix("expires="))?.parse().ok()?;
        let holder = values.iter().find_map(|v| v.strip_prefix("holder=")).unwrap_or("unknown").to_string();
        Some(LockInfo { owner, expires_unix, holder })
    }

    pub fn expired(&self, now_unix: u64) -> bool {
        self.expires_unix < now_unix
    }
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{}:{}", if host.is_empty() { "host" } else { &host }, std::process::id())
}

/// A held lock. Release it with [`ListenerLock::release`] on every path.
pub struct ListenerLock {
    rule_arn: String,
    listener_arn: String,
}

impl ListenerLock {
    /// Acquires the lock of `listener_arn`, retrying with jittered backoff while another holder
    /// has it, breaking a lock whose expiry has passed, until `deadline` or cancellation.
    pub async fn acquire(
        aws: &AwsClients,
        cancel: &CancellationToken,
        listener_arn: &str,
        deadline: Instant,
    ) -> Result<ListenerLock, LockError> {
        let client = aws.elbv2().await?;
        let endpoint = aws.elbv2_endpoint();
        let mut backoff = Duration::from_millis(50);
        // Looking for a stale lock costs a DescribeRules; under contention once a second is plenty.
        let mut last_inspection: Option<Instant> = None;
        loop {
            let info = LockInfo {
                owner: format!("{:032x}", rand::random::<u128>()),
                expires_unix: now_unix() + LOCK_TTL.as_secs(),
                holder: holder_name(),
            };
            tracing::debug!(aws_call = "CreateRule", purpose = "lock", %listener_arn, owner = %info.owner, "aws call");
            let attempt = client
                .create_rule()
                .listener_arn(listener_arn)
                .priority(LOCK_PRIORITY)
                .conditions(info.condition())
                .actions(
                    Action::builder()
                        .r#type(ActionTypeEnum::FixedResponse)
                        .fixed_response_config(
                            FixedResponseActionConfig::builder()
                                .status_code("503")
                                .content_type("text/plain")
                                .message_body("terraform-provider-shard lock")
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await;
            match attempt {
                Ok(out) => {
                    let rule_arn = out.rules().first().and_then(|r| r.rule_arn()).unwrap_or_default().to_string();
                    return Ok(ListenerLock { rule_arn, listener_arn: listener_arn.to_string() });
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_priority_in_use_exception()) => {
                    if last_inspection.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        last_inspection = Some(Instant::now());
                        if Self::break_if_stale(aws, listener_arn).await? {
                            continue;
                        }
                    }
                }
                Err(e) => {
                    let e = api_error("CreateRule (lock)", &format!("listener {listener_arn}"), &endpoint, &e);
                    return Err(e.into());
                }
            }
            if Instant::now() + backoff > deadline {
                return Err(LockError::TimedOut { listener: listener_arn.to_string() });
            }
            // Full jitter spreads racing applies apart.
            let sleep = Duration::from_millis(rand::random_range(10..=backoff.as_millis() as u64));
            tokio::select! {
                _ = cancel.cancelled() => return Err(LockError::Cancelled { listener: listener_arn.to_string() }),
                _ = tokio::time::sleep(sleep) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Deletes the rule at the lock priority if it is an expired lock. Returns whether the lock
    /// looks free now (deleted, or already gone).
    async fn break_if_stale(aws: &AwsClients, listener_arn: &str) -> Result<bool, LockError> {
        let client = aws.elbv2().await?;
        let endpoint = aws.elbv2_endpoint();
        tracing::debug!(aws_call = "DescribeRules", purpose = "lock", %listener_arn, "aws call");
        let rules = client
            .describe_rules()
            .listener_arn(listener_arn)
            .send()
            .await
            .map_err(|e| api_error("DescribeRules (lock)", &format!("listener {listener_arn}"), &endpoint, &e))?;
        let Some(rule) = rules.rules().iter().find(|r| r.priority() == Some(&LOCK_PRIORITY.to_string())) else {
            return Ok(true);
        };
        let Some(info) = LockInfo::of_rule(rule) else {
            return Err(LockError::PriorityTaken { listener: listener_arn.to_string() });
        };
        if !info.expired(now_unix()) {
            return Ok(false);
        }
        let arn = rule.rule_arn().unwrap_or_default();
        tracing::warn!(%listener_arn, holder = %info.holder, "breaking an expired listener lock");
        tracing::debug!(aws_call = "DeleteRule", purpose = "break stale lock", rule = %arn, "aws call");
        match client.delete_rule().rule_arn(arn).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_rule_not_found_exception()) => Ok(true),
            Err(e) => Err(api_error("DeleteRule (stale lock)", &format!("rule {arn}"), &endpoint, &e).into()),
        }
    }

    /// Releases the lock. A failure is logged, not fatal: the lock expires after its TTL.
    pub async fn release(self, aws: &AwsClients) {
        let Ok(client) = aws.elbv2().await else { return };
        tracing::debug!(aws_call = "DeleteRule", purpose = "unlock", rule = %self.rule_arn, "aws call");
        if let Err(e) = client.delete_rule().rule_arn(&self.rule_arn).send().await {
            tracing::warn!(
                listener = %self.listener_arn,
                error = %aws_smithy_types::error::display::DisplayErrorContext(&e),
                "could not release the listener lock; it expires by itself"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_information_round_trips_through_a_rule() {
        let info = LockInfo { owner: "abc".into(), expires_unix: 1_700_000_000, holder: "ci-7:42".into() };
        let rule = Rule::builder().priority("50000").conditions(info.condition()).build();
        assert_eq!(LockInfo::of_rule(&rule), Some(info.clone()));
        assert!(info.expired(1_700_000_001));
        assert!(!info.expired(1_699_999_999));
        assert_eq!(LockInfo::of_rule(&Rule::builder().priority("50000").build()), None);
    }
}
