//! One locked read-modify-write of a target group's entry in a forward action: take the
//! listener lock, read the action, edit only this entry, write, compare the read-back, release
//! the lock on every path.

use super::aws::AwsClients;
use super::elbv2::{self, ElbError};
use super::forward::{ActionOwner, EntryChange, edit_entries, find_forward, same_entries, with_target_groups};
use super::listener_lock::ListenerLock;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

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
    let lock = ListenerLock::acquire(aws, cancel, &edit.listener_arn, edit.lock_priority, deadline).await?;
    let result = edit_under(&lock, aws, edit).await;
    lock.release(aws).await;
    result
}

/// The read-modify-write itself: every call bounded, and no write unless the lock has time
/// left for it.
async fn edit_under(lock: &ListenerLock, aws: &AwsClients, edit: &EntryEdit) -> Result<Option<i32>, ElbError> {
    let owner = &edit.owner;
    let (actions, forward) = lock.call("DescribeListeners", elbv2::read_forward(aws, owner)).await??;
    let before = forward.weight_of(&edit.target_group_arn);
    let next = edit_entries(
        &forward.target_groups,
        &edit.target_group_arn,
        edit.change,
        edit.allow_total_outage,
        &owner.describe(),
    )?;
    if next == forward.target_groups {
        return Ok(before);
    }
    lock.ensure_time_for_write()?;
    let write = elbv2::write_actions(aws, owner, with_target_groups(&actions, forward.index, &next));
    let written = lock.call("ModifyListener", write).await??;
    // Read-back: ELBv2 answers Modify with the actions it now holds.
    let after = find_forward(&written, owner).map_err(ElbError::NotForward)?;
    if !same_entries(&after.target_groups, &next) {
        return Err(ElbError::Overwritten { owner: owner.describe(), held: after.target_groups, expected: next });
    }
    tracing::info!(owner = %owner.describe(), target_group = %edit.target_group_arn, change = ?edit.change, "forward action updated");
    Ok(before)
}
