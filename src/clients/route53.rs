//! Route 53 I/O: a name's record sets (ListResourceRecordSets, paged and bounded), change batches
//! (ChangeResourceRecordSets), waiting for a change to reach every Route 53 DNS server
//! (GetChange until `INSYNC`), health check status (GetHealthCheckStatus), and one shard's
//! locked edit of its weighted record ([`edit_locked`]). The decisions are in `route53_records`.

use super::aws::{AwsClients, AwsError, api_error};
use super::dns_lock::{DnsLock, DnsLockError};
use super::fleet::{self, FleetGuard, FleetRefusal, FleetView};
use super::paging::{Pager, PagingError};
use super::route53_records::{
    self as records, BatchRefusal, Desired, DnsChange, GroupRefusal, RecordSet, RoutingError, batch_refusal,
};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Each Route 53 call gets at most this long, SDK retries included (as under the listener lock).
pub const CALL_TIMEOUT: Duration = super::listener_lock::CALL_TIMEOUT;
/// How often a wait for `INSYNC` asks GetChange. Route 53 propagates "generally within 60 seconds"
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html>); every 2 s keeps
/// the calls well under the API's 5 requests a second per account.
pub const CHANGE_POLL: Duration = Duration::from_secs(2);
/// How long one health check read may be retried after throttling.
const HEALTH_READ_BUDGET: Duration = Duration::from_secs(30);
/// Records per ListResourceRecordSets page (Route 53's maximum is 300).
const PAGE_SIZE: i32 = 300;

/// Why a Route 53 operation failed, with what it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Route53Error {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("listing the records of {name} in hosted zone {zone_id}: {source}")]
    Paging {
        zone_id: String,
        name: String,
        #[source]
        source: PagingError,
    },
    #[error("{call} for {what} took longer than {CALL_TIMEOUT:?}")]
    CallTimedOut { call: &'static str, what: String },
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Group(#[from] GroupRefusal),
    #[error(transparent)]
    Fleet(#[from] FleetRefusal),
    #[error(transparent)]
    Lock(#[from] DnsLockError),
    #[error("Route 53 refused the change of {what}: {message}")]
    Refused { what: String, message: String },
    #[error(
        "change {change_id} of {what} was not INSYNC when the deadline passed (last status {status}); it propagates on its own"
    )]
    NotInSync { change_id: String, what: String, status: String },
    #[error("the record could not be built: {0}")]
    Build(String),
}

impl Route53Error {
    /// Worth another round while the deadline allows: throttling, a 5xx, no answer, a lock lost
    /// to a contender, a call that ran out of time.
    pub fn is_transient(&self) -> bool {
        match self {
            Route53Error::Aws(a) => a.is_transient() || a.code() == Some("PriorRequestNotComplete"),
            Route53Error::Lock(l) => l.is_transient(),
            Route53Error::CallTimedOut { .. } => true,
            _ => false,
        }
    }
}

async fn bounded<T>(call: &'static str, what: &str, fut: impl Future<Output = T>) -> Result<T, Route53Error> {
    tokio::time::timeout(CALL_TIMEOUT, fut).await.map_err(|_| Route53Error::CallTimedOut { call, what: what.into() })
}

/// `Z…` or `/hostedzone/Z…` → `Z…`.
fn bare_zone(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// Every record set of `name` and `rtype` in the zone (ListResourceRecordSets from that name and
/// type on, following NextRecordName/Type/Identifier while they stay on it), bounded like ELBv2's
/// paging: by the deadline, [`super::paging::MAX_PAGES`] pages and a repeated position.
pub async fn list_name(
    aws: &AwsClients,
    zone_id: &str,
    name: &str,
    rtype: &str,
    deadline: Instant,
) -> Result<Vec<RecordSet>, Route53Error> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    let want = records::normalize_name(name);
    let what = format!("{name} {rtype} in hosted zone {zone_id}");
    let mut pager = Pager::new("ListResourceRecordSets", deadline);
    let mut position: (String, String, Option<String>) = (name.to_string(), rtype.to_string(), None);
    let mut out = Vec::new();
    loop {
        pager.before_page().map_err(|source| paging(zone_id, name, source))?;
        let page = read_retrying(deadline, || {
            tracing::debug!(aws_call = "ListResourceRecordSets", %zone_id, name = %position.0, "aws call");
            let call = client
                .list_resource_record_sets()
                .hosted_zone_id(bare_zone(zone_id))
                .start_record_name(&position.0)
                .start_record_type(RrType::from(position.1.as_str()))
                .set_start_record_identifier(position.2.clone())
                .max_items(PAGE_SIZE)
                .send();
            let (what, endpoint) = (&what, &endpoint);
            async move {
                bounded("ListResourceRecordSets", what, call)
                    .await?
                    .map_err(|e| Route53Error::from(api_error("ListResourceRecordSets", what, endpoint, &e)))
            }
        })
        .await?;
        let mut left_the_name = false;
        for raw in page.resource_record_sets() {
            let r = RecordSet::of(raw);
            if r.name != want || r.rtype != rtype {
                left_the_name = true;
                break;
            }
            out.push(r);
        }
        if left_the_name || !page.is_truncated() {
            return Ok(out);
        }
        let next = (
            page.next_record_name().unwrap_or_default().to_string(),
            page.next_record_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            page.next_record_identifier().map(str::to_string),
        );
        if records::normalize_name(&next.0) != want || next.1 != rtype {
            return Ok(out);
        }
        let marker = format!("{}\u{0}{}\u{0}{}", next.0, next.1, next.2.as_deref().unwrap_or(""));
        if pager.next(Some(&marker)).map_err(|source| paging(zone_id, name, source))?.is_none() {
            return Ok(out);
        }
        position = next;
    }
}

/// A read made again after a transient failure (throttling above all: Route 53 allows 5 requests
/// a second per account, shared by every apply of every shard) until `deadline`, beyond the SDK's
/// own attempts, with jittered pauses growing to 5 s.
async fn read_retrying<T, F, Fut>(deadline: Instant, mut call: F) -> Result<T, Route53Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Route53Error>>,
{
    let mut pause = Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if e.is_transient() && Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "transient failure of a Route 53 read; trying again");
                tokio::time::sleep(Duration::from_millis(rand::random_range(
                    pause.as_millis() as u64 / 2..=pause.as_millis() as u64,
                )))
                .await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

fn paging(zone_id: &str, name: &str, source: PagingError) -> Route53Error {
    Route53Error::Paging { zone_id: zone_id.into(), name: name.into(), source }
}

/// Sends one change batch (atomic: Route 53 makes all of its changes or none,
/// <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>).
/// Returns the change id. A refusal (`InvalidChangeBatch`) comes back as an [`AwsError`] with
/// its code and message, for [`batch_refusal`].
pub async fn change(
    aws: &AwsClients,
    zone_id: &str,
    changes: Vec<Change>,
    comment: &str,
) -> Result<String, Route53Error> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    let what = format!("hosted zone {zone_id}");
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(comment)
        .build()
        .map_err(|e| Route53Error::Build(e.to_string()))?;
    tracing::debug!(aws_call = "ChangeResourceRecordSets", %zone_id, comment, "aws call");
    let call = client.change_resource_record_sets().hosted_zone_id(bare_zone(zone_id)).change_batch(batch).send();
    let out = bounded("ChangeResourceRecordSets", &what, call).await?.map_err(|e| {
        let mut err = api_error("ChangeResourceRecordSets", &what, &endpoint, &e);
        // The message says which record and why; the chain has it, keep it first-hand too.
        if let (AwsError::Api { why, .. }, Some(msg)) = (
            &mut err,
            e.as_service_error().and_then(|s| {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                s.message().map(str::to_string)
            }),
        ) {
            *why = format!("{why}: {msg}");
        }
        err
    })?;
    Ok(out.change_info().map(|c| c.id().to_string()).unwrap_or_default())
}

/// The refusal of a batch, if Route 53 refused it as invalid.
pub fn refusal_of(e: &Route53Error) -> Option<(BatchRefusal, String)> {
    let Route53Error::Aws(AwsError::Api { code, chain, .. }) = e else { return None };
    batch_refusal(code.as_deref(), chain).map(|r| (r, chain.clone()))
}

/// One change of a batch.
pub fn one(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, Route53Error> {
    Change::builder().action(action).resource_record_set(set).build().map_err(|e| Route53Error::Build(e.to_string()))
}

/// Waits until the change is `INSYNC` (polled every [`CHANGE_POLL`]) or `deadline` passes.
pub async fn wait_in_sync(
    aws: &AwsClients,
    cancel: &CancellationToken,
    change_id: &str,
    what: &str,
    deadline: Instant,
) -> Result<(), Route53Error> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    let id = change_id.trim_start_matches("/change/");
    loop {
        tracing::debug!(aws_call = "GetChange", change = %id, "aws call");
        let status = match bounded("GetChange", what, client.get_change().id(id).send()).await? {
            Ok(out) => out.change_info().map(|c| c.status().clone()),
            Err(e) => {
                let e = api_error("GetChange", &format!("change {id}"), &endpoint, &e);
                if !e.is_transient() {
                    return Err(e.into());
                }
                None
            }
        };
        if status == Some(ChangeStatus::Insync) {
            return Ok(());
        }
        let shown = status.map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown (throttled)".into());
        if Instant::now() + CHANGE_POLL > deadline {
            return Err(Route53Error::NotInSync { change_id: id.into(), what: what.into(), status: shown });
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                return Err(Route53Error::NotInSync { change_id: id.into(), what: what.into(), status: shown });
            }
            _ = tokio::time::sleep(CHANGE_POLL) => {}
        }
    }
}

/// Whether a health check is healthy now (GetHealthCheckStatus; see [`records::healthy`]), with
/// the checkers' reports for messages.
pub async fn health_check_status(aws: &AwsClients, id: &str) -> Result<(bool, String), Route53Error> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    let what = format!("health check {id}");
    tracing::debug!(aws_call = "GetHealthCheckStatus", health_check = %id, "aws call");
    let deadline = Instant::now() + HEALTH_READ_BUDGET;
    let out = read_retrying(deadline, || {
        let call = client.get_health_check_status().health_check_id(id).send();
        let (what, endpoint) = (&what, &endpoint);
        async move {
            bounded("GetHealthCheckStatus", what, call)
                .await?
                .map_err(|e| Route53Error::from(api_error("GetHealthCheckStatus", what, endpoint, &e)))
        }
    })
    .await?;
    let statuses: Vec<String> = out
        .health_check_observations()
        .iter()
        .filter_map(|o| o.status_report().and_then(|r| r.status()).map(str::to_string))
        .collect();
    let ok = statuses.iter().filter(|s| s.starts_with("Success")).count();
    Ok((records::healthy(&statuses), format!("{ok} of {} health checkers report success", statuses.len())))
}

/// One shard's edit of its weighted record, made under the name's lock.
#[derive(Debug, Clone)]
pub struct DnsEdit {
    pub zone_id: String,
    pub desired: Desired,
    /// `Set(weight)` writes `desired` at that weight; `Remove` deletes the record.
    pub change: DnsChange,
    pub allow_all_zero: bool,
    /// Checked when the edit takes a serving record out.
    pub guard: Option<FleetGuard>,
}

impl DnsEdit {
    pub fn describe(&self) -> String {
        format!(
            "{} {} ({}) in hosted zone {}",
            self.desired.name, self.desired.rtype, self.desired.set_identifier, self.zone_id
        )
    }
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The record's weight before (None: absent).
    pub before: Option<i64>,
    /// The change to wait for (None: nothing had to be written).
    pub change_id: Option<String>,
}

/// The longest pause between rounds after a transient failure.
const MAX_TRANSIENT_PAUSE: Duration = Duration::from_secs(30);

/// Applies `edit` under the name's DNS lock (waiting for it until `deadline` or cancellation),
/// writing nothing when the record already holds what is asked. Transient failures (throttling,
/// 5xx, no answer, a lock lost to a contender) are retried in rounds until the deadline: every
/// write carries the lock's fence (see `dns_lock`), so a write that got no answer can land only
/// while this holder's lock stands, and the next round's fresh read shows whether it did.
pub async fn edit_locked(
    aws: &AwsClients,
    cancel: &CancellationToken,
    edit: &DnsEdit,
    deadline: Instant,
) -> Result<Edited, Route53Error> {
    let mut first_before = None;
    let mut rounds = 0u32;
    loop {
        let result = match DnsLock::acquire(aws, cancel, &edit.zone_id, &edit.desired.name, deadline).await {
            Ok(lock) => {
                let result = edit_under(&lock, aws, edit, deadline).await;
                lock.release(aws).await;
                result
            }
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(done) => return Ok(Edited { before: first_before.unwrap_or(done.before), ..done }),
            Err(attempt @ (Attempt::Unanswered(..) | Attempt::Failed(..))) if attempt.error().is_transient() => {
                let e = match attempt {
                    // The write may have landed: the weight before it is the one this round read.
                    Attempt::Unanswered(before, e) => {
                        first_before.get_or_insert(before);
                        e
                    }
                    // Nothing was written: the next round's read is the weight before.
                    Attempt::Failed(e) => e,
                };
                rounds += 1;
                let pause = Duration::from_secs(1 << rounds.min(5)).min(MAX_TRANSIENT_PAUSE);
                if Instant::now() + pause > deadline {
                    return Err(e);
                }
                tracing::warn!(record = %edit.describe(), error = %e, round = rounds, "transient failure; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(e),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            Err(Attempt::Unanswered(_, e) | Attempt::Failed(e)) => return Err(e),
        }
    }
}

/// How one locked round failed: with the weight read before (if the read got that far).
enum Attempt {
    /// The write got no answer (it may have landed, fenced by the lock).
    Unanswered(Option<i64>, Route53Error),
    Failed(Route53Error),
}

impl Attempt {
    fn error(&self) -> &Route53Error {
        match self {
            Attempt::Unanswered(_, e) | Attempt::Failed(e) => e,
        }
    }
}

impl From<DnsLockError> for Attempt {
    fn from(e: DnsLockError) -> Attempt {
        Attempt::Failed(e.into())
    }
}

impl From<Route53Error> for Attempt {
    fn from(e: Route53Error) -> Attempt {
        Attempt::Failed(e)
    }
}

async fn edit_under(lock: &DnsLock, aws: &AwsClients, edit: &DnsEdit, deadline: Instant) -> Result<Edited, Attempt> {
    let d = &edit.desired;
    let records = list_name(aws, &edit.zone_id, &d.name, &d.rtype, deadline).await?;
    let group = records::weighted_group(&records, &d.name, &d.rtype).map_err(Route53Error::from)?;
    let ours = records.iter().find(|r| r.set_identifier.as_deref() == Some(d.set_identifier.as_str()));
    let before = ours.and_then(RecordSet::weight);
    let fail = Attempt::Failed;
    let (ours_change, after) = match edit.change {
        DnsChange::Set(w) => {
            let want = Desired { weight: w, ..d.clone() };
            if ours.is_some_and(|o| want.matches(o)) {
                return Ok(Edited { before, change_id: None });
            }
            (
                one(ChangeAction::Upsert, want.record_set().map_err(Route53Error::Build).map_err(fail)?)
                    .map_err(fail)?,
                Some(w),
            )
        }
        DnsChange::Remove => match ours {
            None => return Ok(Edited { before, change_id: None }),
            // A DELETE must match the record exactly: the record as just read.
            Some(o) => (one(ChangeAction::Delete, o.raw.clone()).map_err(fail)?, None),
        },
    };
    // The fleet guard first (it names the serving shards), then the all-zero rule.
    let edited = |allow_all_zero: bool| {
        records::edit_group(&group, &d.set_identifier, edit.change, allow_all_zero, &d.name, &d.rtype)
    };
    let next = edited(true).map_err(|e| fail(e.into()))?;
    if let Some(guard) = &edit.guard
        && fleet::is_drain(before.map(clamp), after.map(clamp))
    {
        let view = observe(aws, &next, &d.set_identifier).await.map_err(fail)?;
        let now = i64::try_from(aws.clock().now_unix()).unwrap_or(i64::MAX);
        let owner = format!("{} {}", d.name, d.rtype);
        if let Err(refusal) = fleet::check(guard, &owner, &d.set_identifier, &records::as_fleet(&next), &view, now) {
            match &guard.override_reason {
                None => return Err(fail(refusal.into())),
                Some(why) => tracing::warn!(reason = %why, refusal = %refusal, "fleet guard overridden"),
            }
        }
    }
    edited(edit.allow_all_zero).map_err(|e| fail(e.into()))?;
    lock.ensure_time_for_write().map_err(|e| fail(e.into()))?;
    let mut batch = vec![ours_change];
    batch.extend(lock.fence().map_err(|e| fail(e.into()))?);
    match change(aws, &edit.zone_id, batch, &format!("terraform-provider-shard: {}", d.set_identifier)).await {
        Ok(id) => {
            tracing::info!(record = %edit.describe(), change = ?edit.change, change_id = %id, "weighted record updated");
            Ok(Edited { before, change_id: Some(id) })
        }
        Err(e) => {
            if let Some((_, message)) = refusal_of(&e) {
                // The fence failed: the lock record is no longer ours (broken after a stall).
                if lock.refusal_is_fence(&message) {
                    return Err(fail(DnsLockError::Lost { name: lock.record_name().to_string() }.into()));
                }
                return Err(fail(Route53Error::Refused { what: edit.describe(), message }));
            }
            match e {
                Route53Error::CallTimedOut { .. } => Err(Attempt::Unanswered(before, e)),
                e if e.is_transient() => Err(Attempt::Unanswered(before, e)),
                e => Err(fail(e)),
            }
        }
    }
}

fn clamp(w: i64) -> i32 {
    i32::try_from(w).unwrap_or(i32::MAX)
}

/// The fleet guard's view of the other records: a serving record counts as healthy unless its
/// health check says otherwise (a record without a health check is answered whatever its
/// target's state, so Route 53 treats it as healthy).
pub async fn observe(aws: &AwsClients, next: &[records::Member], this: &str) -> Result<FleetView, Route53Error> {
    let mut view = FleetView::default();
    for m in next.iter().filter(|m| m.set_identifier != this && m.weight > 0) {
        let healthy = match &m.health_check_id {
            None => true,
            Some(id) => health_check_status(aws, id).await?.0,
        };
        view.healthy.insert(m.set_identifier.clone(), i64::from(healthy));
    }
    Ok(view)
}
