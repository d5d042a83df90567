//! A lock per listener that works across processes and machines, built on an atomic primitive
//! of the ELBv2 API itself: `CreateRule` at a reserved priority fails with `PriorityInUse` while
//! another holder has it (priorities are unique per listener:
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html>).
//! Nothing else needs to exist (no DynamoDB table, no S3 object).
//!
//! The lock rule sits at the lock priority (provider setting `lock_priority`, default
//! [`DEFAULT_LOCK_PRIORITY`]) with one condition on the header `x-shard-provider-lock`. Its
//! values record the owner, the expiry (unix seconds) and who holds it; ALB ORs the values of one
//! header condition, so the rule matches a request carrying that header with any of those
//! strings, which no real client sends. Its action is a fixed 503.
//!
//! Lifetime: the expiry is stamped before `CreateRule` is sent, in AWS's clock (the `Date` of
//! ELBv2 responses, [`super::server_clock`]), and judged by contenders in AWS's clock too, so two
//! machines' clocks never have to agree; a local clock more than
//! [`super::server_clock::MAX_CLOCK_SKEW`] from AWS's is refused. The holder treats its lock as
//! valid only until [`HOLDER_MARGIN`] before that expiry, measured twice, by the monotonic clock
//! and by the wall clock (a suspended laptop's monotonic clock stops, its wall clock does not), and
//! the lesser counts. It bounds every call it makes under the lock by [`CALL_TIMEOUT`] and writes
//! only while at least one call's time is left ([`ListenerLock::ensure_time_for_write`]); a
//! contender breaks a lock only [`BREAK_GRACE`] after its expiry. A write sent while the lock is
//! trusted therefore has 25 s (plus the call's own time) to land before anyone may break the lock.
//! A holder that crashed leaves the rule behind; after its expiry the next contender deletes it by
//! that rule's ARN, so it can never delete a newer lock.
//!
//! A write whose outcome the holder cannot know (no answer; see `entry_edit`) may still land
//! later: the holder then keeps the lock ([`ListenerLock::keep`]) instead of releasing it, so the
//! rule stands until its expiry and no one writes before the late write can no longer land.
//!
//! Two lock priorities on one listener (two provider configurations with different
//! `lock_priority`) would exclude nothing: after taking the lock, the holder looks for a live lock
//! rule at another priority and refuses, naming both ([`LockError::TwoLocks`]).

use super::aws::{AwsClients, AwsError, api_error};
use super::paging::{Pager, PagingError, search_pages};
use super::server_clock::{MAX_CLOCK_SKEW, ServerClock};
use crate::framework::Diagnostics;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, HttpHeaderConditionConfig, Rule, RuleCondition,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The listener rule priority reserved for the lock by default (the lowest ALB allows: rule
/// priorities are 1..50000).
pub const DEFAULT_LOCK_PRIORITY: i32 = 50000;
pub const LOCK_HEADER: &str = "x-shard-provider-lock";
/// How long a lock is valid; holders keep it for one read-modify-write (well under a second).
pub const LOCK_TTL: Duration = Duration::from_secs(60);
/// The holder stops trusting its lock this long before the recorded expiry.
pub const HOLDER_MARGIN: Duration = Duration::from_secs(15);
/// A contender breaks an expired lock only this long after the recorded expiry.
pub const BREAK_GRACE: Duration = Duration::from_secs(10);
/// A lock rule whose expiry is further ahead than this was not written by a holder (they stamp
/// [`LOCK_TTL`] ahead): refused with an error naming it instead of being waited for.
pub const MAX_FUTURE_EXPIRY: Duration = Duration::from_secs(3600);
/// Each ELBv2 call made under the lock (or to take it) gets at most this long, SDK retries
/// included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(
        "another shard_weight apply held the lock of {listener} until the timeout; \
         it is the rule at the provider's lock_priority (see docs/resources/weight.md)"
    )]
    TimedOut { listener: String },
    #[error(
        "listener {listener} has a rule at priority {priority} that is not a shard_weight lock; \
         shard_weight uses that priority for its lock: move the rule, or set the provider's lock_priority \
         to a priority no rule uses"
    )]
    PriorityTaken { listener: String, priority: i32 },
    #[error("cancelled while waiting for the lock of {listener}; nothing was changed")]
    Cancelled { listener: String },
    #[error(
        "the load balancer of {listener} has no free listener-rule slot (quota: 100 rules per Application Load \
         Balancer, default rules not counted), and shard_weight's lock is a rule: it needs one free slot. \
         Remove an unused rule or raise the quota \"Rules per Application Load Balancer\" in Service Quotas"
    )]
    NoRuleSlot { listener: String },
    #[error(
        "the lock of {listener} is too close to its expiry to write safely ({left:?} left; the calls under it \
         were slow, e.g. throttled); nothing was written, apply again"
    )]
    Expiring { listener: String, left: Duration },
    #[error("{call} under the lock of {listener} took longer than {CALL_TIMEOUT:?}; nothing more was written")]
    CallTimedOut { listener: String, call: String },
    #[error("reading the rules of {listener} for its lock: {source}")]
    Paging {
        listener: String,
        #[source]
        source: PagingError,
    },
    #[error(
        "the lock rule {rule} of {listener} (holder {holder}) says it expires at unix time {expires_unix}, \
         more than {MAX_FUTURE_EXPIRY:?} from now ({now_unix}); no holder writes that (a lock lasts {LOCK_TTL:?}), \
         so the rule was written by hand or by a machine whose clock is far off. If no apply is running, delete \
         that rule"
    )]
    ImplausibleExpiry { listener: String, rule: String, holder: String, expires_unix: u64, now_unix: u64 },
    #[error(
        "this machine's clock is {offset_secs} s {direction} AWS's (the Date of ELBv2's responses); the listener \
         lock tolerates {MAX_CLOCK_SKEW:?}, because other machines' applies judge its expiry. Nothing was written: \
         synchronise the clock (NTP, e.g. chrony or systemd-timesyncd) and apply again"
    )]
    ClockSkew { listener: String, offset_secs: u64, direction: &'static str },
    #[error(
        "listener {listener} has two shard_weight locks at the same moment: ours at priority {ours} and {holder}'s \
         at priority {other} (rule {other_rule}). Locks at two priorities exclude nothing, so nothing was written. \
         Every provider configuration that edits this listener must use one lock_priority (the other is set to \
         {other} somewhere)"
    )]
    TwoLocks { listener: String, ours: i32, other: i32, other_rule: String, holder: String },
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
            LockError::NoRuleSlot { .. } => Diagnostics::error("No listener rule slot for the lock", e.to_string()),
            LockError::Expiring { .. } | LockError::CallTimedOut { .. } => {
                Diagnostics::error("Listener lock ran out of time", e.to_string())
            }
            LockError::Paging { .. } => Diagnostics::error("Listener rules could not be listed", e.to_string()),
            LockError::ImplausibleExpiry { .. } => {
                Diagnostics::error("Listener lock rule with an impossible expiry", e.to_string())
            }
            LockError::ClockSkew { .. } => Diagnostics::error("Clock too far from AWS's", e.to_string()),
            LockError::TwoLocks { .. } => Diagnostics::error("Two lock priorities on one listener", e.to_string()),
        }
    }
}

/// The listener is filled in by the caller (see `ListenerLock::inspect`).
impl From<PagingError> for LockError {
    fn from(source: PagingError) -> LockError {
        LockError::Paging { listener: String::new(), source }
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

    /// Expired long enough ago that a contender may break it (allowing for clock skew). The
    /// expiry is read from the rule, so the sum is checked: `expires=18446744073709551615` is
    /// never breakable (and [`LockInfo::implausible`] refuses it first).
    pub fn breakable(&self, now_unix: u64) -> bool {
        self.expires_unix.checked_add(BREAK_GRACE.as_secs()).is_some_and(|t| t < now_unix)
    }

    /// An expiry further ahead than any holder stamps ([`LOCK_TTL`] from its clock) plus
    /// [`MAX_FUTURE_EXPIRY`] of clock skew.
    pub fn implausible(&self, now_unix: u64) -> bool {
        now_unix.checked_add(MAX_FUTURE_EXPIRY.as_secs()).is_none_or(|limit| self.expires_unix > limit)
    }
}

fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{}:{}", if host.is_empty() { "host" } else { &host }, std::process::id())
}

/// A held lock. Release it with [`ListenerLock::release`] on every path.
pub struct ListenerLock {
    rule_arn: String,
    listener_arn: String,
    /// Until when this holder may trust the lock by the monotonic clock (see the module docs).
    trusted_until: Instant,
    /// The expiry written in the rule, in AWS's clock.
    expires_unix: u64,
    clock: Arc<ServerClock>,
}

fn skew_error(listener: &str, offset: i64) -> LockError {
    LockError::ClockSkew {
        listener: listener.to_string(),
        offset_secs: offset.unsigned_abs(),
        direction: if offset > 0 { "behind" } else { "ahead of" },
    }
}

/// What sits at the lock priority of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AtPriority {
    Nothing,
    Lock { arn: String, info: LockInfo },
    OtherRule,
}

/// What a contender does about the rule at the lock priority after `PriorityInUse`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Our own rule: an earlier attempt of this `CreateRule` (retried by the SDK) was created.
    Ours(String),
    /// Held by someone else and still valid: wait.
    Wait,
    /// Expired long enough ago: delete this rule, then try again.
    Break(String),
    /// Free now (deleted meanwhile): try again at once.
    Retry,
    /// Not a lock at all.
    Taken,
    /// A lock whose expiry no holder writes: refuse, naming it.
    Implausible(String),
}

fn verdict(at: &AtPriority, our_owner: &str, now_unix: u64) -> Verdict {
    match at {
        AtPriority::Nothing => Verdict::Retry,
        AtPriority::OtherRule => Verdict::Taken,
        AtPriority::Lock { arn, info } if info.owner == our_owner => Verdict::Ours(arn.clone()),
        AtPriority::Lock { arn, info } if info.implausible(now_unix) => Verdict::Implausible(arn.clone()),
        AtPriority::Lock { arn, info } if info.breakable(now_unix) => Verdict::Break(arn.clone()),
        AtPriority::Lock { .. } => Verdict::Wait,
    }
}

impl ListenerLock {
    /// Acquires the lock of `listener_arn` at `priority`, retrying with jittered backoff while
    /// another holder has it, breaking a lock whose expiry has long passed, until `deadline` or
    /// cancellation.
    pub async fn acquire(
        aws: &AwsClients,
        cancel: &CancellationToken,
        listener_arn: &str,
        priority: i32,
        deadline: Instant,
    ) -> Result<ListenerLock, LockError> {
        let client = aws.elbv2().await?;
        let endpoint = aws.elbv2_endpoint();
        let listener = || listener_arn.to_string();
        let clock = aws.clock().clone();
        // Known from any earlier ELBv2 response of this process (the refresh reads come first).
        clock.check_skew().map_err(|o| skew_error(listener_arn, o))?;
        let mut backoff = Duration::from_millis(50);
        // Looking at the rule costs DescribeRules calls; under contention once a second is plenty.
        let mut last_inspection: Option<Instant> = None;
        let mut attempts = 0u64;
        loop {
            // The deadline bounds every round, also those that retry at once (`continue` below);
            // the first attempt is always made.
            if attempts > 0 && Instant::now() >= deadline {
                return Err(LockError::TimedOut { listener: listener() });
            }
            attempts += 1;
            let stamped = Instant::now();
            let info = LockInfo {
                owner: format!("{:032x}", rand::random::<u128>()),
                expires_unix: clock.now_unix().saturating_add(LOCK_TTL.as_secs()),
                holder: holder_name(),
            };
            let held = |rule_arn: String| ListenerLock {
                rule_arn,
                listener_arn: listener_arn.to_string(),
                trusted_until: stamped + LOCK_TTL - HOLDER_MARGIN,
                expires_unix: info.expires_unix,
                clock: clock.clone(),
            };
            tracing::debug!(aws_call = "CreateRule", purpose = "lock", %listener_arn, owner = %info.owner, "aws call");
            let create = client
                .create_rule()
                .listener_arn(listener_arn)
                .priority(priority)
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
                .send();
            let attempt = tokio::time::timeout(CALL_TIMEOUT, create)
                .await
                .map_err(|_| LockError::CallTimedOut { listener: listener(), call: "CreateRule (lock)".into() })?;
            match attempt {
                Ok(out) => {
                    let rule_arn = out.rules().first().and_then(|r| r.rule_arn()).unwrap_or_default().to_string();
                    return held(rule_arn).confirm(aws, priority, deadline).await;
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_priority_in_use_exception()) => {
                    if last_inspection.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        last_inspection = Some(Instant::now());
                        let at = Self::inspect(aws, listener_arn, priority, deadline).await?;
                        let now = clock.now_unix();
                        match verdict(&at, &info.owner, now) {
                            Verdict::Ours(arn) => {
                                tracing::debug!(%listener_arn, "CreateRule was retried after it succeeded; the lock is ours");
                                return held(arn).confirm(aws, priority, deadline).await;
                            }
                            Verdict::Retry => continue,
                            Verdict::Break(arn) => {
                                Self::break_stale(aws, listener_arn, &arn, &at).await?;
                                continue;
                            }
                            Verdict::Taken => return Err(LockError::PriorityTaken { listener: listener(), priority }),
                            Verdict::Implausible(rule) => {
                                let (holder, expires_unix) = match &at {
                                    AtPriority::Lock { info, .. } => (info.holder.clone(), info.expires_unix),
                                    _ => (String::new(), 0),
                                };
                                return Err(LockError::ImplausibleExpiry {
                                    listener: listener(),
                                    rule,
                                    holder,
                                    expires_unix,
                                    now_unix: now,
                                });
                            }
                            Verdict::Wait => {}
                        }
                    }
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_too_many_rules_exception()) => {
                    return Err(LockError::NoRuleSlot { listener: listener() });
                }
                Err(e) => {
                    let e = api_error("CreateRule (lock)", &format!("listener {listener_arn}"), &endpoint, &e);
                    return Err(e.into());
                }
            }
            if Instant::now().checked_add(backoff).is_none_or(|t| t > deadline) {
                return Err(LockError::TimedOut { listener: listener() });
            }
            // Full jitter spreads racing applies apart.
            let sleep = Duration::from_millis(rand::random_range(10..=backoff.as_millis() as u64));
            tokio::select! {
                _ = cancel.cancelled() => return Err(LockError::Cancelled { listener: listener() }),
                _ = tokio::time::sleep(sleep) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// The rule at `priority`.
    async fn inspect(
        aws: &AwsClients,
        listener_arn: &str,
        priority: i32,
        deadline: Instant,
    ) -> Result<AtPriority, LockError> {
        let wanted = priority.to_string();
        let found = find_rule(aws, listener_arn, deadline, |rule| {
            (rule.priority() == Some(wanted.as_str())).then(|| match LockInfo::of_rule(rule) {
                Some(info) => AtPriority::Lock { arn: rule.rule_arn().unwrap_or_default().to_string(), info },
                None => AtPriority::OtherRule,
            })
        })
        .await?;
        Ok(found.unwrap_or(AtPriority::Nothing))
    }

    /// Checks what a new holder must know before it trusts its lock: its clock is close enough
    /// to AWS's (the `CreateRule` answer has just told), and no live lock of this provider sits
    /// at another priority. On refusal the lock is released.
    async fn confirm(self, aws: &AwsClients, priority: i32, deadline: Instant) -> Result<ListenerLock, LockError> {
        if let Err(offset) = self.clock.check_skew() {
            let e = skew_error(&self.listener_arn, offset);
            self.release(aws).await;
            return Err(e);
        }
        let now = self.clock.now_unix();
        let ours = priority.to_string();
        let other = find_rule(aws, &self.listener_arn, deadline, |rule| {
            let at = rule.priority().filter(|p| *p != ours && *p != "default")?;
            let info = LockInfo::of_rule(rule)?;
            // A crashed holder's lock at the other priority excludes no one either, but it is not
            // a second live holder: the contenders at that priority break it.
            (!info.breakable(now)).then(|| (at.to_string(), rule.rule_arn().unwrap_or_default().to_string(), info))
        })
        .await;
        match other {
            Ok(None) => Ok(self),
            Ok(Some((other, other_rule, info))) => {
                let e = LockError::TwoLocks {
                    listener: self.listener_arn.clone(),
                    ours: priority,
                    other: other.parse().unwrap_or_default(),
                    other_rule,
                    holder: info.holder,
                };
                self.release(aws).await;
                Err(e)
            }
            Err(e) => {
                self.release(aws).await;
                Err(e)
            }
        }
    }

    /// Deletes an expired lock rule by its ARN (never a newer lock, which has another ARN).
    async fn break_stale(aws: &AwsClients, listener_arn: &str, arn: &str, at: &AtPriority) -> Result<(), LockError> {
        let client = aws.elbv2().await?;
        let endpoint = aws.elbv2_endpoint();
        let holder = match at {
            AtPriority::Lock { info, .. } => info.holder.as_str(),
            _ => "unknown",
        };
        tracing::warn!(%listener_arn, %holder, "breaking an expired listener lock");
        tracing::debug!(aws_call = "DeleteRule", purpose = "break stale lock", rule = %arn, "aws call");
        let call = client.delete_rule().rule_arn(arn).send();
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => Err(LockError::CallTimedOut { listener: listener_arn.into(), call: "DeleteRule".into() }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.as_service_error().is_some_and(|s| s.is_rule_not_found_exception()) => Ok(()),
            Ok(Err(e)) => Err(api_error("DeleteRule (stale lock)", &format!("rule {arn}"), &endpoint, &e).into()),
        }
    }

    /// How long this holder may still trust the lock: the lesser of the monotonic clock's count
    /// and the wall clock's (in AWS's time), so a process that was suspended or paused for a
    /// while wakes up with its budget gone instead of writing after a contender may have broken
    /// the lock.
    pub fn time_left(&self) -> Duration {
        let by_instant = self.trusted_until.saturating_duration_since(Instant::now());
        let trusted_until_unix = self.expires_unix.saturating_sub(HOLDER_MARGIN.as_secs());
        let by_wall = Duration::from_secs(trusted_until_unix.saturating_sub(self.clock.now_unix()));
        by_instant.min(by_wall)
    }

    /// When the lock expires (AWS's clock, unix seconds), as written in its rule.
    pub fn expires_unix(&self) -> u64 {
        self.expires_unix
    }

    /// Seconds until contenders may break this lock (expiry plus [`BREAK_GRACE`]).
    pub fn breakable_in(&self) -> Duration {
        let at = self.expires_unix.saturating_add(BREAK_GRACE.as_secs());
        Duration::from_secs(at.saturating_sub(self.clock.now_unix()))
    }

    /// Leaves the lock rule in place until it expires: after a write whose outcome is unknown,
    /// which may still land (see the module docs). Contenders break it after its expiry.
    pub fn keep(self, why: &str) {
        tracing::warn!(
            listener = %self.listener_arn,
            rule = %self.rule_arn,
            expires_unix = self.expires_unix,
            why,
            "keeping the listener lock until it expires"
        );
    }

    /// Refuses a write that could land after the lock may have been broken: at least one whole
    /// call's time must be left.
    pub fn ensure_time_for_write(&self) -> Result<(), LockError> {
        let left = self.time_left();
        if left < CALL_TIMEOUT {
            return Err(LockError::Expiring { listener: self.listener_arn.clone(), left });
        }
        Ok(())
    }

    /// Runs one ELBv2 call under the lock, bounded by [`CALL_TIMEOUT`].
    pub async fn call<T>(&self, name: &str, fut: impl std::future::Future<Output = T>) -> Result<T, LockError> {
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| LockError::CallTimedOut { listener: self.listener_arn.clone(), call: name.to_string() })
    }

    /// Releases the lock. A failure is logged, not fatal: the lock expires after its TTL.
    pub async fn release(self, aws: &AwsClients) {
        let Ok(client) = aws.elbv2().await else { return };
        tracing::debug!(aws_call = "DeleteRule", purpose = "unlock", rule = %self.rule_arn, "aws call");
        match tokio::time::timeout(CALL_TIMEOUT, client.delete_rule().rule_arn(&self.rule_arn).send()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                listener = %self.listener_arn,
                error = %aws_smithy_types::error::display::DisplayErrorContext(&e),
                "could not release the listener lock; it expires by itself"
            ),
            Err(_) => {
                tracing::warn!(listener = %self.listener_arn, "releasing the listener lock timed out; it expires by itself")
            }
        }
    }
}

/// The first rule of the listener for which `pick` says something, reading every page of
/// DescribeRules (a listener may have up to 100 rules; a page may hold fewer). The walk is bounded
/// by `deadline`, by [`super::paging::MAX_PAGES`] and refuses a marker it has already followed.
async fn find_rule<T>(
    aws: &AwsClients,
    listener_arn: &str,
    deadline: Instant,
    pick: impl Fn(&Rule) -> Option<T>,
) -> Result<Option<T>, LockError> {
    let client = aws.elbv2().await?;
    let endpoint = aws.elbv2_endpoint();
    let pager = Pager::new("DescribeRules", deadline);
    let pick = &pick;
    search_pages(pager, |marker: Option<String>| {
        tracing::debug!(aws_call = "DescribeRules", purpose = "lock", %listener_arn, "aws call");
        let call = client.describe_rules().listener_arn(listener_arn).set_marker(marker).send();
        let endpoint = &endpoint;
        async move {
            let page = tokio::time::timeout(CALL_TIMEOUT, call)
                .await
                .map_err(|_| LockError::CallTimedOut { listener: listener_arn.into(), call: "DescribeRules".into() })?
                .map_err(|e| api_error("DescribeRules (lock)", &format!("listener {listener_arn}"), endpoint, &e))?;
            let found = page.rules().iter().find_map(pick);
            Ok::<_, LockError>((found, page.next_marker().map(str::to_string)))
        }
    })
    .await
    .map_err(|e| match e {
        LockError::Paging { source, .. } => LockError::Paging { listener: listener_arn.into(), source },
        other => other,
    })
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

    #[test]
    fn a_contender_adopts_its_own_rule_waits_for_a_valid_one_and_breaks_only_after_the_grace() {
        let info = LockInfo { owner: "mine".into(), expires_unix: 1000, holder: "h".into() };
        let lock = AtPriority::Lock { arn: "arn-1".into(), info: info.clone() };
        assert_eq!(verdict(&lock, "mine", 999), Verdict::Ours("arn-1".into()), "a retried CreateRule that landed");
        assert_eq!(verdict(&lock, "mine", 5000), Verdict::Ours("arn-1".into()));
        assert_eq!(verdict(&lock, "other", 999), Verdict::Wait);
        assert_eq!(verdict(&lock, "other", 1005), Verdict::Wait, "expired, but within the skew grace");
        assert_eq!(verdict(&lock, "other", 1000 + BREAK_GRACE.as_secs() + 1), Verdict::Break("arn-1".into()));
        assert_eq!(verdict(&AtPriority::Nothing, "other", 0), Verdict::Retry);
        assert_eq!(verdict(&AtPriority::OtherRule, "other", 0), Verdict::Taken);
    }

    /// Issue 16, item 12: a lock rule's values come from the listener, i.e. from anyone who can
    /// write a rule there. None of them may overflow or panic.
    #[test]
    fn hostile_lock_rule_values_neither_overflow_nor_wait_forever() {
        let rule_with = |values: &[&str]| {
            let cond = RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    HttpHeaderConditionConfig::builder()
                        .http_header_name(LOCK_HEADER)
                        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
                        .build(),
                )
                .build();
            Rule::builder().priority("50000").conditions(cond).build()
        };
        let max = LockInfo::of_rule(&rule_with(&["o", "expires=18446744073709551615", "holder=x"])).expect("a lock");
        assert_eq!(max.expires_unix, u64::MAX);
        for now in [0, 1_700_000_000, u64::MAX - 1, u64::MAX] {
            assert!(!max.breakable(now), "no overflow in expiry + grace");
            let _ = max.expired(now);
        }
        assert!(max.implausible(1_700_000_000));
        let at = AtPriority::Lock { arn: "arn-x".into(), info: max.clone() };
        assert_eq!(verdict(&at, "other", 1_700_000_000), Verdict::Implausible("arn-x".into()));
        assert_eq!(verdict(&at, "o", 1_700_000_000), Verdict::Ours("arn-x".into()), "our own rule stays ours");
        // The error names the rule and says what to do.
        let e = LockError::ImplausibleExpiry {
            listener: "L".into(),
            rule: "arn-x".into(),
            holder: "x".into(),
            expires_unix: u64::MAX,
            now_unix: 1_700_000_000,
        };
        let text = e.to_string();
        assert!(text.contains("arn-x") && text.contains("18446744073709551615") && text.contains("delete"), "{text}");
        // A sane lock a little ahead (another machine's clock a few minutes fast) is still waited for.
        let ahead = LockInfo { owner: "o".into(), expires_unix: 1_700_000_000 + 600, holder: "h".into() };
        assert!(!ahead.implausible(1_700_000_000));
        assert_eq!(verdict(&AtPriority::Lock { arn: "a".into(), info: ahead }, "other", 1_700_000_000), Verdict::Wait);
        // Unparseable expiries: not a lock of ours (PriorityTaken, a clear error), never a panic.
        for bad in
            ["expires=18446744073709551616", "expires=-1", "expires=1e9223372036854775807", "expires=", "expires=NaN"]
        {
            assert_eq!(LockInfo::of_rule(&rule_with(&["o", bad])), None, "{bad}");
        }
        assert_eq!(LockInfo::of_rule(&rule_with(&[])), None, "no values at all");
    }

    #[test]
    fn the_holder_stops_writing_before_a_contender_may_break_the_lock() {
        // Holder: trusts the lock until TTL - HOLDER_MARGIN, writes only with CALL_TIMEOUT left.
        let last_write_ends = LOCK_TTL - HOLDER_MARGIN;
        // Contender: breaks only BREAK_GRACE after TTL.
        let earliest_break = LOCK_TTL + BREAK_GRACE;
        assert!(earliest_break - last_write_ends >= Duration::from_secs(25), "room for clock skew");
        let clock = Arc::new(ServerClock::default());
        let now = clock.now_unix();
        let lock = ListenerLock {
            rule_arn: "r".into(),
            listener_arn: "l".into(),
            trusted_until: Instant::now() + CALL_TIMEOUT / 2,
            expires_unix: now + LOCK_TTL.as_secs(),
            clock: clock.clone(),
        };
        assert!(matches!(lock.ensure_time_for_write(), Err(LockError::Expiring { .. })));
        let fresh = ListenerLock { trusted_until: Instant::now() + LOCK_TTL, ..lock };
        assert!(fresh.ensure_time_for_write().is_ok());
    }

    /// Issue 16, item 3: the monotonic clock stops while a machine sleeps; the wall clock (in
    /// AWS's time) does not. A holder that wakes after its lock's expiry has no time left even
    /// though its monotonic budget says otherwise.
    #[test]
    fn a_holder_that_slept_past_its_expiry_has_no_time_left() {
        let clock = Arc::new(ServerClock::default());
        let now = clock.now_unix();
        let slept = ListenerLock {
            rule_arn: "r".into(),
            listener_arn: "l".into(),
            // The monotonic clock did not count the sleep: 45 s still look left.
            trusted_until: Instant::now() + LOCK_TTL - HOLDER_MARGIN,
            // But the wall clock says the lock was stamped two minutes ago.
            expires_unix: now - 120 + LOCK_TTL.as_secs(),
            clock: clock.clone(),
        };
        assert_eq!(slept.time_left(), Duration::ZERO);
        assert!(matches!(slept.ensure_time_for_write(), Err(LockError::Expiring { .. })));
        assert_eq!(slept.breakable_in(), Duration::ZERO, "contenders may already break it");
        // A clock AWS says is 30 s behind: our stamps are made in AWS's time, so the window is
        // as long as it should be, and the skew itself is refused before any lock work.
        clock.observe(now as i64 + 30, now as i64);
        assert!(clock.now_unix() >= now + 30);
        assert!(matches!(skew_error("l", 30), LockError::ClockSkew { offset_secs: 30, direction: "behind", .. }));
        let text = skew_error("l", -45).to_string();
        assert!(text.contains("45 s ahead of AWS's") && text.contains("NTP"), "{text}");
    }
}
