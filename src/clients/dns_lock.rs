//! A lock per DNS name across processes and machines, built on Route 53 itself: a change batch
//! is atomic, a `CREATE` of a record set that exists fails (`InvalidChangeBatch` "… but it already
//! exists") and a `DELETE` must match the record set exactly or fails ("… the values provided do
//! not match the current values")
//! (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>).
//! So a TXT record `_shard-lock.<name>` is a lock: taking it is a CREATE, releasing it a DELETE of
//! the exact value this holder wrote (never another holder's), breaking a stale one a single batch
//! `DELETE <stale value>` + `CREATE <ours>` (which fails if anyone touched it meanwhile).
//!
//! The value records the owner token, the expiry (unix seconds, in AWS's clock: the `Date` of
//! Route 53's responses, see `server_clock`) and the holder, with the listener lock's lifetime
//! rules: [`LOCK_TTL`], the holder's [`HOLDER_MARGIN`], the contenders'
//! [`BREAK_GRACE`](super::listener_lock::BREAK_GRACE),
//! [`MAX_FUTURE_EXPIRY`] and [`MAX_CLOCK_SKEW`] (see `listener_lock`).
//!
//! Fencing: every write made under the lock carries [`DnsLock::fence`], `DELETE <our value>` +
//! `CREATE <our value>`, in the same batch. Route 53 makes all changes of a batch or none, so a
//! write lands only while the lock record still holds this holder's value: a write that got no
//! answer and arrives late, after a release or a break, is refused whole. Unlike ELBv2 there is
//! no need to keep the lock after an unanswered write.

use super::aws::{AwsClients, AwsError, api_error};
use super::listener_lock::{CALL_TIMEOUT, HOLDER_MARGIN, LOCK_TTL, LockInfo, MAX_FUTURE_EXPIRY};
use super::route53_records::{BatchRefusal, batch_refusal, normalize_name, refusal_names};
use super::server_clock::{MAX_CLOCK_SKEW, ServerClock};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The lock record's label in front of the name.
pub const LOCK_LABEL: &str = "_shard-lock";
/// How long a release is tried again after throttling or a 5xx.
const RELEASE_BUDGET: Duration = Duration::from_secs(15);
/// The lock record's TTL: nobody resolves it; the smallest useful value.
const LOCK_RECORD_TTL: i64 = 1;

/// Why the DNS lock could not be taken or kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsLockError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(
        "another shard_dns_weight apply held the lock {name} until the timeout (a TXT record; see docs/resources/dns_weight.md)"
    )]
    TimedOut { name: String },
    #[error("cancelled while waiting for the lock {name}; nothing was changed")]
    Cancelled { name: String },
    #[error(
        "{name} holds a TXT record that is not a shard_dns_weight lock ({value}); shard_dns_weight uses that name \
         for its lock: delete or rename that record"
    )]
    Taken { name: String, value: String },
    #[error(
        "the lock {name} (holder {holder}) says it expires at unix time {expires_unix}, more than \
         {MAX_FUTURE_EXPIRY:?} from now ({now_unix}); no holder writes that (a lock lasts {LOCK_TTL:?}). If no apply \
         is running, delete that TXT record"
    )]
    Implausible { name: String, holder: String, expires_unix: u64, now_unix: u64 },
    #[error(
        "this machine's clock is {offset_secs} s {direction} AWS's (the Date of Route 53's responses); the DNS lock \
         tolerates {MAX_CLOCK_SKEW:?}. Nothing was written: synchronise the clock (NTP) and apply again"
    )]
    ClockSkew { name: String, offset_secs: u64, direction: &'static str },
    #[error("the lock {name} is too close to its expiry to write safely ({left:?} left); nothing was written")]
    Expiring { name: String, left: Duration },
    #[error(
        "the lock {name} was no longer ours when the write arrived (broken by another apply after a stall); nothing was written"
    )]
    Lost { name: String },
    #[error("{call} for the lock {name} took longer than {CALL_TIMEOUT:?}")]
    CallTimedOut { name: String, call: &'static str },
    #[error("the lock record {name} could not be built: {why}")]
    Build { name: String, why: String },
}

impl DnsLockError {
    /// Worth another round: the lock was lost or ran out of time, or AWS had a passing fault.
    pub fn is_transient(&self) -> bool {
        match self {
            DnsLockError::Aws(a) => a.is_transient() || a.code() == Some("PriorRequestNotComplete"),
            DnsLockError::Lost { .. } | DnsLockError::Expiring { .. } | DnsLockError::CallTimedOut { .. } => true,
            _ => false,
        }
    }
}

/// `_shard-lock.<name>`, the name without a trailing dot.
pub fn lock_name(name: &str) -> String {
    format!("{LOCK_LABEL}.{}", name.trim_end_matches('.'))
}

/// The TXT value (quoted, as Route 53 stores TXT strings) for a lock.
pub fn render(info: &LockInfo) -> String {
    format!("\"shard-lock owner={} expires={} holder={}\"", info.owner, info.expires_unix, info.holder)
}

/// A TXT value read back as a lock, if it is one.
pub fn parse(value: &str) -> Option<LockInfo> {
    let inner = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut words = inner.split_whitespace();
    if words.next()? != "shard-lock" {
        return None;
    }
    let (mut owner, mut expires, mut holder) = (None, None, None);
    for w in words {
        match w.split_once('=') {
            Some(("owner", v)) if !v.is_empty() => owner = Some(v.to_string()),
            Some(("expires", v)) => expires = Some(v.parse::<u64>().ok()?),
            Some(("holder", v)) => holder = Some(v.to_string()),
            _ => {}
        }
    }
    Some(LockInfo { owner: owner?, expires_unix: expires?, holder: holder.unwrap_or_else(|| "unknown".into()) })
}

/// The holder's name, in the characters a TXT word may hold here: `host:pid`.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host: String =
        host.chars().filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c)).take(60).collect::<String>();
    format!("{}:{}", if host.is_empty() { "host" } else { &host }, std::process::id())
}

/// What stands at the lock name.
#[derive(Debug, Clone, PartialEq)]
enum AtName {
    Nothing,
    /// The read failed transiently: wait and try again.
    Unread,
    Lock {
        info: LockInfo,
        raw: Box<ResourceRecordSet>,
    },
    Other(String),
}

/// What a contender does after its CREATE met an existing record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Our own value: an earlier attempt of this CREATE (retried by the SDK) landed.
    Ours,
    Wait,
    /// Expired long enough ago: replace it in one batch.
    Break,
    /// Gone meanwhile: try again at once.
    Retry,
    Taken,
    Implausible,
}

fn verdict(at: &AtName, our_owner: &str, now_unix: u64) -> Verdict {
    match at {
        AtName::Nothing => Verdict::Retry,
        AtName::Unread => Verdict::Wait,
        AtName::Other(_) => Verdict::Taken,
        AtName::Lock { info, .. } if info.owner == our_owner => Verdict::Ours,
        AtName::Lock { info, .. } if info.implausible(now_unix) => Verdict::Implausible,
        AtName::Lock { info, .. } if info.breakable(now_unix) => Verdict::Break,
        AtName::Lock { .. } => Verdict::Wait,
    }
}

/// A held lock. Release it with [`DnsLock::release`] on every path.
pub struct DnsLock {
    zone_id: String,
    name: String,
    value: String,
    expires_unix: u64,
    trusted_until: Instant,
    clock: Arc<ServerClock>,
}

fn txt(name: &str, value: &str) -> Result<ResourceRecordSet, DnsLockError> {
    let build = |why: String| DnsLockError::Build { name: name.to_string(), why };
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Txt)
        .ttl(LOCK_RECORD_TTL)
        .resource_records(ResourceRecord::builder().value(value).build().map_err(|e| build(e.to_string()))?)
        .build()
        .map_err(|e| build(e.to_string()))
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, DnsLockError> {
    let name = set.name().to_string();
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| DnsLockError::Build { name, why: e.to_string() })
}

/// Sends a batch of lock changes; `Ok(None)` on success, `Ok(Some(refusal))` when Route 53
/// refused it as invalid (the record was not as the batch expected).
async fn send(
    aws: &AwsClients,
    zone_id: &str,
    name: &str,
    changes: Vec<Change>,
    purpose: &'static str,
) -> Result<Option<BatchRefusal>, DnsLockError> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(format!("terraform-provider-shard {purpose}"))
        .build()
        .map_err(|e| DnsLockError::Build { name: name.into(), why: e.to_string() })?;
    tracing::debug!(aws_call = "ChangeResourceRecordSets", purpose, %name, "aws call");
    let call = client
        .change_resource_record_sets()
        .hosted_zone_id(zone_id.trim_start_matches("/hostedzone/"))
        .change_batch(batch)
        .send();
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Err(_) => Err(DnsLockError::CallTimedOut { name: name.into(), call: "ChangeResourceRecordSets" }),
        Ok(Ok(_)) => Ok(None),
        Ok(Err(e)) => {
            let err = api_error("ChangeResourceRecordSets (lock)", name, &endpoint, &e);
            let AwsError::Api { code, chain, .. } = &err else { return Err(err.into()) };
            match batch_refusal(code.as_deref(), chain) {
                Some(r) => Ok(Some(r)),
                None => Err(err.into()),
            }
        }
    }
}

fn skew_error(name: &str, offset: i64) -> DnsLockError {
    DnsLockError::ClockSkew {
        name: name.to_string(),
        offset_secs: offset.unsigned_abs(),
        direction: if offset > 0 { "behind" } else { "ahead of" },
    }
}

impl DnsLock {
    /// Takes the lock of `name` in `zone_id`, waiting with jittered backoff while another holder
    /// has it and breaking one whose expiry has long passed, until `deadline` or cancellation.
    pub async fn acquire(
        aws: &AwsClients,
        cancel: &CancellationToken,
        zone_id: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<DnsLock, DnsLockError> {
        let lock = lock_name(name);
        let clock = aws.clock().clone();
        clock.check_skew().map_err(|o| skew_error(&lock, o))?;
        let mut backoff = Duration::from_millis(100);
        let mut last_inspection: Option<Instant> = None;
        let mut attempts = 0u64;
        // One owner token for the whole wait: an attempt that got no answer but landed is
        // recognised as ours by the next attempt's inspection.
        let owner = format!("{:032x}", rand::random::<u128>());
        loop {
            if attempts > 0 && Instant::now() >= deadline {
                return Err(DnsLockError::TimedOut { name: lock });
            }
            attempts += 1;
            let stamped = Instant::now();
            let info = LockInfo {
                owner: owner.clone(),
                expires_unix: clock.now_unix().saturating_add(LOCK_TTL.as_secs()),
                holder: holder_name(),
            };
            let value = render(&info);
            let held = |value: String, expires_unix: u64| DnsLock {
                zone_id: zone_id.to_string(),
                name: lock.clone(),
                value,
                expires_unix,
                trusted_until: stamped + LOCK_TTL - HOLDER_MARGIN,
                clock: clock.clone(),
            };
            let create = vec![change(ChangeAction::Create, txt(&lock, &value)?)?];
            let outcome = match send(aws, zone_id, &lock, create, "lock").await {
                Ok(o) => o,
                Err(e) if e.is_transient() => Some(BatchRefusal::Other),
                Err(e) => return Err(e),
            };
            match outcome {
                None => return held(value, info.expires_unix).confirm(),
                Some(BatchRefusal::AlreadyExists) => {
                    if last_inspection.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        last_inspection = Some(Instant::now());
                        let at = match inspect(aws, zone_id, &lock).await {
                            Ok(at) => at,
                            // Throttled (the account's 5 requests a second): look again later.
                            Err(e) if e.is_transient() => AtName::Unread,
                            Err(e) => return Err(e),
                        };
                        let now = clock.now_unix();
                        match (verdict(&at, &info.owner, now), at) {
                            // An earlier attempt landed: hold the lock with the value it wrote.
                            (Verdict::Ours, AtName::Lock { info: found, raw }) => {
                                let written = raw.resource_records().first().map(|r| r.value().to_string());
                                return held(written.unwrap_or(value), found.expires_unix).confirm();
                            }
                            (Verdict::Retry, _) => continue,
                            (Verdict::Break, AtName::Lock { info: stale, raw }) => {
                                tracing::warn!(lock = %lock, holder = %stale.holder, "breaking an expired DNS lock");
                                let batch = vec![
                                    change(ChangeAction::Delete, *raw)?,
                                    change(ChangeAction::Create, txt(&lock, &value)?)?,
                                ];
                                match send(aws, zone_id, &lock, batch, "break stale lock").await {
                                    Ok(None) => return held(value, info.expires_unix).confirm(),
                                    // Someone else changed it first: look again.
                                    Ok(Some(_)) => continue,
                                    Err(e) if e.is_transient() => {}
                                    Err(e) => return Err(e),
                                }
                            }
                            (Verdict::Taken, AtName::Other(v)) => {
                                return Err(DnsLockError::Taken { name: lock, value: v });
                            }
                            (Verdict::Implausible, AtName::Lock { info, .. }) => {
                                return Err(DnsLockError::Implausible {
                                    name: lock,
                                    holder: info.holder,
                                    expires_unix: info.expires_unix,
                                    now_unix: now,
                                });
                            }
                            _ => {}
                        }
                    }
                }
                // Throttled or a 5xx (retried by the SDK already): wait like for a holder.
                Some(_) => {}
            }
            if Instant::now().checked_add(backoff).is_none_or(|t| t > deadline) {
                return Err(DnsLockError::TimedOut { name: lock });
            }
            let sleep = Duration::from_millis(rand::random_range(50..=backoff.as_millis() as u64));
            tokio::select! {
                _ = cancel.cancelled() => return Err(DnsLockError::Cancelled { name: lock }),
                _ = tokio::time::sleep(sleep) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// The clock check a new holder makes once the CREATE's answer has told AWS's time.
    fn confirm(self) -> Result<DnsLock, DnsLockError> {
        match self.clock.check_skew() {
            Ok(()) => Ok(self),
            Err(offset) => Err(skew_error(&self.name, offset)),
        }
    }

    pub fn record_name(&self) -> &str {
        &self.name
    }

    /// The changes that make a batch land only while this lock stands (see the module docs).
    pub fn fence(&self) -> Result<[Change; 2], DnsLockError> {
        Ok([
            change(ChangeAction::Delete, txt(&self.name, &self.value)?)?,
            change(ChangeAction::Create, txt(&self.name, &self.value)?)?,
        ])
    }

    /// Whether a refusal of a fenced batch was about the lock record (the fence failed).
    pub fn refusal_is_fence(&self, message: &str) -> bool {
        refusal_names(message, &self.name)
    }

    /// As the listener lock's: the lesser of the monotonic and the wall clock's count.
    pub fn time_left(&self) -> Duration {
        let by_instant = self.trusted_until.saturating_duration_since(Instant::now());
        let trusted_until_unix = self.expires_unix.saturating_sub(HOLDER_MARGIN.as_secs());
        let by_wall = Duration::from_secs(trusted_until_unix.saturating_sub(self.clock.now_unix()));
        by_instant.min(by_wall)
    }

    /// Refuses a write with less than one call's time left on the lock.
    pub fn ensure_time_for_write(&self) -> Result<(), DnsLockError> {
        let left = self.time_left();
        if left < CALL_TIMEOUT {
            return Err(DnsLockError::Expiring { name: self.name.clone(), left });
        }
        Ok(())
    }

    /// Deletes the lock record with exactly our value (so never a newer holder's). A failure is
    /// logged: the lock expires, and contenders break it a grace period after that.
    pub async fn release(self, aws: &AwsClients) {
        let Ok(delete) = txt(&self.name, &self.value).and_then(|s| change(ChangeAction::Delete, s)) else { return };
        // A lock left behind costs every contender its expiry plus the grace: a throttled
        // release is worth a few more tries.
        let until = Instant::now() + RELEASE_BUDGET;
        let mut pause = Duration::from_millis(300);
        loop {
            match send(aws, &self.zone_id, &self.name, vec![delete.clone()], "unlock").await {
                Ok(None) => return,
                Ok(Some(r)) => {
                    return tracing::warn!(lock = %self.name, refusal = ?r, "the DNS lock was no longer ours at release");
                }
                Err(e) if e.is_transient() && Instant::now() + pause < until => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(3));
                }
                Err(e) => {
                    return tracing::warn!(lock = %self.name, error = %e, "could not release the DNS lock; it expires by itself");
                }
            }
        }
    }
}

/// The TXT record at the lock name, if any.
async fn inspect(aws: &AwsClients, zone_id: &str, lock: &str) -> Result<AtName, DnsLockError> {
    let client = aws.route53().await?;
    let endpoint = aws.route53_endpoint();
    tracing::debug!(aws_call = "ListResourceRecordSets", purpose = "lock", %lock, "aws call");
    let call = client
        .list_resource_record_sets()
        .hosted_zone_id(zone_id.trim_start_matches("/hostedzone/"))
        .start_record_name(lock)
        .start_record_type(RrType::Txt)
        .max_items(1)
        .send();
    let page = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| DnsLockError::CallTimedOut { name: lock.into(), call: "ListResourceRecordSets" })?
        .map_err(|e| api_error("ListResourceRecordSets (lock)", lock, &endpoint, &e))?;
    let Some(found) = page
        .resource_record_sets()
        .iter()
        .find(|r| normalize_name(r.name()) == normalize_name(lock) && *r.r#type() == RrType::Txt)
    else {
        return Ok(AtName::Nothing);
    };
    let values: Vec<&str> = found.resource_records().iter().map(|r| r.value()).collect();
    Ok(match values.as_slice() {
        [one] => match parse(one) {
            Some(info) => AtName::Lock { info, raw: Box::new(found.clone()) },
            None => AtName::Other(one.to_string()),
        },
        many => AtName::Other(many.join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::listener_lock::BREAK_GRACE;

    #[test]
    fn lock_values_round_trip_and_foreign_txt_is_not_a_lock() {
        let info = LockInfo { owner: "abc123".into(), expires_unix: 1_700_000_000, holder: "ci-7:42".into() };
        let v = render(&info);
        assert_eq!(v, "\"shard-lock owner=abc123 expires=1700000000 holder=ci-7:42\"");
        assert_eq!(parse(&v), Some(info));
        for foreign in [
            "\"v=spf1 -all\"",
            "shard-lock owner=a expires=1",
            "\"shard-lock expires=1\"",
            "\"shard-lock owner=a expires=18446744073709551616\"",
            "\"shard-lock owner=a expires=-1\"",
            "\"\"",
        ] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
        assert_eq!(lock_name("api.example.com."), "_shard-lock.api.example.com");
        let h = holder_name();
        assert!(h.chars().all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c)), "{h}");
    }

    #[test]
    fn a_contender_adopts_its_own_lock_waits_for_a_live_one_and_breaks_only_after_the_grace() {
        let info = LockInfo { owner: "mine".into(), expires_unix: 1000, holder: "h".into() };
        let raw = txt("_shard-lock.a.example.com", &render(&info)).unwrap();
        let at = AtName::Lock { info, raw: Box::new(raw) };
        assert_eq!(verdict(&at, "mine", 5000), Verdict::Ours);
        assert_eq!(verdict(&at, "other", 999), Verdict::Wait);
        assert_eq!(verdict(&at, "other", 1005), Verdict::Wait, "expired, within the grace");
        assert_eq!(verdict(&at, "other", 1000 + BREAK_GRACE.as_secs() + 1), Verdict::Break);
        assert_eq!(verdict(&AtName::Nothing, "other", 0), Verdict::Retry);
        assert_eq!(verdict(&AtName::Other("\"x\"".into()), "other", 0), Verdict::Taken);
        let far = LockInfo { owner: "o".into(), expires_unix: u64::MAX, holder: "x".into() };
        let raw = txt("_shard-lock.a.example.com", &render(&far)).unwrap();
        assert_eq!(
            verdict(&AtName::Lock { info: far, raw: Box::new(raw) }, "other", 1_700_000_000),
            Verdict::Implausible
        );
    }

    #[test]
    fn the_fence_deletes_and_recreates_exactly_our_value() {
        let lock = DnsLock {
            zone_id: "Z1".into(),
            name: "_shard-lock.api.example.com".into(),
            value: "\"shard-lock owner=o expires=5 holder=h\"".into(),
            expires_unix: 5,
            trusted_until: Instant::now(),
            clock: Arc::default(),
        };
        let [delete, create] = lock.fence().unwrap();
        assert_eq!(*delete.action(), ChangeAction::Delete);
        assert_eq!(*create.action(), ChangeAction::Create);
        for c in [&delete, &create] {
            let s = c.resource_record_set().unwrap();
            assert_eq!(s.resource_records()[0].value(), lock.value);
            assert_eq!(s.name(), "_shard-lock.api.example.com");
        }
        assert!(lock.refusal_is_fence(
            "[Tried to delete resource record set [name='_shard-lock.api.example.com.', type='TXT'] but it was not found]"
        ));
        assert!(!lock.refusal_is_fence(
            "[Tried to create resource record set [name='api.example.com.', type='A'] but it already exists]"
        ));
        assert!(
            matches!(lock.ensure_time_for_write(), Err(DnsLockError::Expiring { .. })),
            "an expired lock writes nothing"
        );
    }
}
