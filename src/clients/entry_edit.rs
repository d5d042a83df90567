//! One locked read-modify-write of a target group's entry in a forward action: take the
//! listener lock, read the action, edit only this entry, write, compare the read-back, and
//! release the lock — or keep it until it expires when the write may still land.
//!
//! Two ways a lock released too early loses another apply's update, and what is done here:
//! - **Ambiguous write.** A Modify call that got no answer (timeout, connection lost, a 5xx other
//!   than 503) may be carried out later. The lock is then kept (not deleted) until it expires, so
//!   the late write lands before any other holder may read (see `listener_lock`'s timing).
//! - **Read-after-write lag.** ELBv2 reads are eventually consistent ("Elastic Load Balancing API
//!   … eventual consistency": results of an API command might not be immediately visible to all
//!   subsequent commands). Before releasing, the holder reads through DescribeListeners /
//!   DescribeRules until the read shows its own write, so the next holder's read, made after the
//!   release, does not see the action from before it. A write that stays invisible for
//!   [`VISIBILITY_LIMIT`] keeps the lock instead. (Stated assumption: the lag a reader sees does
//!   not outlast the lag the writer saw on its own read by more than the lock's lifetime. AWS does
//!   not publish a bound; docs/reliability.md says what is and is not proven.)

use super::attempts::AttemptLog;
use super::aws::AwsClients;
use super::elbv2::{self, ElbError};
use super::fleet::{self, FleetGuard};
use super::forward::{ActionOwner, EntryChange, edit_entries, find_forward, same_entries, with_target_groups};
use super::listener_lock::{ListenerLock, LockError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a holder waits for its own write to show in reads before keeping the lock instead of
/// releasing it.
pub const VISIBILITY_LIMIT: Duration = Duration::from_secs(10);

/// The entry to edit and how.
#[derive(Debug, Clone)]
pub struct EntryEdit {
    pub listener_arn: String,
    pub owner: ActionOwner,
    pub target_group_arn: String,
    pub change: EntryChange,
    pub allow_total_outage: bool,
    /// The listener rule priority the lock uses (the provider's `lock_priority`).
    pub lock_priority: i32,
    /// Checked, with the drain recorded, when the edit takes a serving entry out.
    pub guard: Option<FleetGuard>,
}

/// What the holder does with the lock after its read-modify-write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum After {
    Release,
    /// Keep the rule until it expires, for this reason.
    Keep(&'static str),
}

/// Applies `edit` under the listener lock (waiting for it until `deadline` or cancellation).
/// Returns the entry's weight before the edit (None if it was absent). Writes nothing when the
/// entry already matches.
pub async fn edit_locked(
    aws: &AwsClients,
    cancel: &CancellationToken,
    edit: &EntryEdit,
    deadline: Instant,
) -> Result<Option<i32>, ElbError> {
    let mut first_before = None;
    let mut transient_rounds = 0;
    loop {
        let (result, breakable_at) =
            match ListenerLock::acquire(aws, cancel, &edit.listener_arn, edit.lock_priority, deadline).await {
                Ok(lock) => {
                    let (result, after) = edit_under(&lock, aws, edit).await;
                    let breakable_at = Instant::now() + lock.breakable_in();
                    match after {
                        After::Release => lock.release(aws).await,
                        After::Keep(why) => lock.keep(why),
                    }
                    (result, breakable_at)
                }
                // Taking the lock failed (a transient one is retried below).
                Err(e) => (Err(e.into()), Instant::now()),
            };
        match result {
            // Once contenders may break the kept lock, the unanswered write can no longer land
            // (see listener_lock's timing): then take the lock again and redo the change from a
            // fresh read, which shows whether the write landed. Transient faults thus cost time,
            // not the apply, when the deadline allows the wait.
            Err(ElbError::OutcomeUnknown { ref cause, before, .. }) if breakable_at + RETRY_MARGIN < deadline => {
                first_before.get_or_insert(before);
                tracing::warn!(
                    owner = %edit.owner.describe(),
                    %cause,
                    "the write got no answer; waiting until it can no longer land, then trying again"
                );
            }
            // The weight before the change is the one the first try read.
            Ok(before) => return Ok(first_before.unwrap_or(before)),
            // Throttling, 5xx, no answer to a read, a call under the lock that ran out of time:
            // the lock was released and nothing was written. The SDK already made 5 attempts;
            // more rounds, spaced out (2 s doubling to 30 s), until the operation's deadline: a
            // transient fault never fails an apply that its timeout could still finish (a
            // persistent outage fails at the timeout, with the last error).
            Err(e) if is_transient(&e) => {
                transient_rounds += 1;
                let pause = Duration::from_secs(1 << transient_rounds.min(5)).min(MAX_TRANSIENT_PAUSE);
                if Instant::now() + pause + RETRY_MARGIN > deadline {
                    return Err(e);
                }
                tracing::warn!(owner = %edit.owner.describe(), error = %e, round = transient_rounds, "transient failure; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(e),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The longest pause between rounds of the whole locked edit after a transient failure (each
/// round with the SDK's own attempts inside).
const MAX_TRANSIENT_PAUSE: Duration = Duration::from_secs(30);

fn is_transient(e: &ElbError) -> bool {
    match e {
        ElbError::Aws(a) | ElbError::Lock(LockError::Aws(a)) => a.is_transient(),
        ElbError::Lock(LockError::CallTimedOut { .. } | LockError::Expiring { .. }) => true,
        _ => false,
    }
}

/// Time left after the kept lock becomes breakable for another try to take it and write.
const RETRY_MARGIN: Duration = Duration::from_secs(15);

/// The read-modify-write itself: every call bounded, and no write unless the lock has time
/// left for it.
async fn edit_under(lock: &ListenerLock, aws: &AwsClients, edit: &EntryEdit) -> (Result<Option<i32>, ElbError>, After) {
    let owner = &edit.owner;
    let read = match lock.call("DescribeListeners", elbv2::read_forward(aws, owner)).await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return (Err(e), After::Release),
        Err(e) => return (Err(e.into()), After::Release),
    };
    let (actions, forward) = read;
    let before = forward.weight_of(&edit.target_group_arn);
    let next = match edit_entries(
        &forward.target_groups,
        &edit.target_group_arn,
        edit.change,
        edit.allow_total_outage,
        &owner.describe(),
    ) {
        Ok(next) => next,
        Err(e) => return (Err(e.into()), After::Release),
    };
    if next == forward.target_groups {
        return (Ok(before), After::Release);
    }
    let after_weight = next.iter().find(|t| t.arn == edit.target_group_arn).map(|t| t.weight);
    if let Some(guard) = &edit.guard
        && fleet::is_drain(before, after_weight)
        && let Err(e) = guard_drain(lock, aws, edit, guard, &next).await
    {
        return (Err(e), After::Release);
    }
    if let Err(e) = lock.ensure_time_for_write() {
        return (Err(e.into()), After::Release);
    }
    let attempts = AttemptLog::default();
    let write = elbv2::write_actions(aws, owner, with_target_groups(&actions, forward.index, &next), &attempts);
    let written = match lock.call("ModifyListener", write).await {
        Ok(Ok(written)) => written,
        Ok(Err(e)) if attempts.any_unknown() => {
            let e = outcome_unknown(lock, aws, edit, &e.to_string(), before).await;
            return (Err(e), After::Keep("the write got no answer and may still land"));
        }
        Ok(Err(e)) => return (Err(e.into()), After::Release),
        Err(e) => {
            // Dropped in flight: the request may have reached ELBv2.
            let e = outcome_unknown(lock, aws, edit, &e.to_string(), before).await;
            return (Err(e), After::Keep("the write was cut off in flight and may still land"));
        }
    };
    // Read-back: ELBv2 answers Modify with the actions it now holds.
    let after = match find_forward(&written, owner) {
        Ok(after) => after,
        Err(why) => return (Err(ElbError::NotForward(why)), After::Release),
    };
    if !same_entries(&after.target_groups, &next) {
        let e = ElbError::Overwritten { owner: owner.describe(), held: after.target_groups, expected: next };
        return (Err(e), After::Release);
    }
    tracing::info!(owner = %owner.describe(), target_group = %edit.target_group_arn, change = ?edit.change, "forward action updated");
    if edit.guard.is_some() && before == Some(0) && after_weight.unwrap_or(0) > 0 {
        // Back in traffic: the drain record no longer applies (best effort; it is only ever
        // read for entries at weight 0, and the next drain overwrites it).
        if let Err(e) = lock
            .call("RemoveTags", elbv2::remove_tags(aws, &edit.target_group_arn, &fleet::RECORD_TAGS))
            .await
            .map_err(ElbError::from)
            .and_then(|r| r.map_err(ElbError::from))
        {
            tracing::warn!(target_group = %edit.target_group_arn, error = %e, "could not remove the drain record");
        }
    }
    if attempts.any_unknown() {
        // Carried out, but an earlier attempt that got no answer may land again later, over
        // whatever the next holder writes.
        return (Ok(before), After::Keep("an earlier attempt of the write got no answer"));
    }
    if !own_write_visible(lock, aws, owner, &next).await {
        return (Ok(before), After::Keep("the write did not show in reads within the visibility limit"));
    }
    (Ok(before), After::Release)
}

/// The fleet guard of a drain, under the lock: reads the other entries' health and drain
/// records, refuses (unless overridden), and records this drain on the target group before the
/// write, so the action never shows a guarded drain without its record.
async fn guard_drain(
    lock: &ListenerLock,
    aws: &AwsClients,
    edit: &EntryEdit,
    guard: &FleetGuard,
    next: &[super::forward::WeightedTargetGroup],
) -> Result<(), ElbError> {
    let view = lock.call("DescribeTargetHealth", elbv2::observe_fleet(aws, next, &edit.target_group_arn)).await??;
    let now = i64::try_from(aws.clock().now_unix()).unwrap_or(i64::MAX);
    if let Err(refusal) = fleet::check(guard, &edit.owner.describe(), &edit.target_group_arn, next, &view, now) {
        let Some(why) = &guard.override_reason else { return Err(refusal.into()) };
        tracing::warn!(reason = %why, refusal = %refusal, "fleet guard overridden");
    }
    let tags = fleet::record_tags(guard, now);
    lock.call("AddTags", elbv2::add_tags(aws, &edit.target_group_arn, &tags)).await??;
    Ok(())
}

/// Reads until the read path shows `next` (usually the first read does), for at most
/// [`VISIBILITY_LIMIT`].
async fn own_write_visible(
    lock: &ListenerLock,
    aws: &AwsClients,
    owner: &ActionOwner,
    next: &[super::forward::WeightedTargetGroup],
) -> bool {
    let until = Instant::now() + VISIBILITY_LIMIT;
    let mut pause = Duration::from_millis(100);
    loop {
        if let Ok(Ok((_, forward))) = lock.call("DescribeListeners (read-back)", elbv2::read_forward(aws, owner)).await
            && same_entries(&forward.target_groups, next)
        {
            return true;
        }
        if Instant::now() + pause > until {
            tracing::warn!(owner = %owner.describe(), "the write did not show in reads within {VISIBILITY_LIMIT:?}");
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// The error for a write that may still land, with what the listener shows now (one read,
/// best effort: it may itself lag).
async fn outcome_unknown(
    lock: &ListenerLock,
    aws: &AwsClients,
    edit: &EntryEdit,
    cause: &str,
    before: Option<i32>,
) -> ElbError {
    let shows = match lock.call("DescribeListeners", elbv2::read_forward(aws, &edit.owner)).await {
        Ok(Ok((_, forward))) => match forward.weight_of(&edit.target_group_arn) {
            Some(w) => format!("weight {w} for target group {}", edit.target_group_arn),
            None => format!("no entry for target group {}", edit.target_group_arn),
        },
        _ => "nothing readable (the read failed too)".to_string(),
    };
    ElbError::OutcomeUnknown {
        owner: edit.owner.describe(),
        cause: cause.to_string(),
        shows,
        breakable_in_secs: lock.breakable_in().as_secs(),
        before,
    }
}
