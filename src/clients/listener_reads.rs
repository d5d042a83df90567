//! Refresh reads of listeners, coalesced within one provider process.
//!
//! Terraform refreshes every resource of a configuration in parallel through one provider
//! process; twenty `shard_weight` on four listeners would make twenty `DescribeListeners` calls.
//! `DescribeListeners` takes up to 20 listener ARNs
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListeners.html>),
//! so reads that arrive within a short window share one call.
//!
//! Terraform refreshes at most `-parallelism` (10) resources at a time, so a larger
//! configuration reads in waves, each after the one before has finished. A wave served by the
//! answers of the one before makes one read per listener per plan instead of one per wave: an
//! answer is reused for [`SNAPSHOT_FOR`] after its call was sent, unless an action write of this
//! process started since (then it is read again, so a process reads its own writes). The plan
//! sees the listeners as one snapshot, at most that old; nothing is written from it, since
//! writes read under the listener lock with their own call (entry_edit.rs).

use super::aws::{ActionWrites, AwsClients, AwsError, api_error};
use aws_sdk_elasticloadbalancingv2::types::Action;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the first read of a batch waits for others to join.
const WINDOW: Duration = Duration::from_millis(3);
/// How long after its call was sent a listener's answer serves later reads. A plan's refresh of
/// a few hundred resources against AWS takes about this long; the apply reads again anyway.
pub const SNAPSHOT_FOR: Duration = Duration::from_secs(5);
/// DescribeListeners' limit on ARNs per call.
const MAX_PER_CALL: usize = 20;

type Answer = Result<Option<Vec<Action>>, AwsError>;

#[derive(Default)]
struct Waiting {
    by_arn: HashMap<String, Vec<oneshot::Sender<Answer>>>,
    /// A task is collecting and sending batches.
    leader: bool,
    /// The last answer for each listener, for the waves after it.
    snapshots: HashMap<String, Snapshot>,
}

/// A listener's answer and what it can be reused for.
struct Snapshot {
    /// When its call was sent (the answer is at least this fresh).
    sent: Instant,
    /// [`ActionWrites::count`] when its call was sent.
    writes: u64,
    actions: Option<Vec<Action>>,
}

impl Snapshot {
    /// Whether a read at `now`, with `writes` action write starts and ends so far, may use it.
    fn serves(&self, now: Instant, writes: u64) -> bool {
        self.writes == writes && now.saturating_duration_since(self.sent) <= SNAPSHOT_FOR
    }
}

/// Shared by the resources of one provider process.
#[derive(Default, Clone)]
pub struct ListenerReads {
    waiting: Arc<Mutex<Waiting>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl ListenerReads {
    /// The listener's default actions, or None when it does not exist.
    pub async fn default_actions(&self, aws: &AwsClients, listener_arn: &str) -> Answer {
        let client = aws.elbv2().await?.clone();
        let endpoint = aws.elbv2_endpoint();
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = w.snapshots.get(listener_arn)
                && s.serves(Instant::now(), aws.action_writes().count())
            {
                return Ok(s.actions.clone());
            }
            w.by_arn.entry(listener_arn.to_string()).or_default().push(tx);
            !std::mem::replace(&mut w.leader, true)
        };
        if lead {
            // A task of its own, so a caller cancelled meanwhile cannot strand the others.
            let (this, writes) = (self.clone(), aws.action_writes().clone());
            tokio::spawn(async move { this.lead(client, endpoint, writes).await });
        }
        rx.await.unwrap_or_else(|_| {
            Err(AwsError::Api {
                call: "DescribeListeners",
                resource: format!("listener {listener_arn}"),
                why: "the shared read was abandoned".into(),
                chain: "no answer".into(),
                code: None,
                transient: true,
            })
        })
    }

    /// DescribeListeners calls made so far (for tests and benchmarks).
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn lead(
        &self,
        client: aws_sdk_elasticloadbalancingv2::Client,
        endpoint: String,
        action_writes: ActionWrites,
    ) {
        tokio::time::sleep(WINDOW).await;
        loop {
            let batch: Vec<(String, Vec<oneshot::Sender<Answer>>)> = {
                let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                let arns: Vec<String> = w.by_arn.keys().take(MAX_PER_CALL).cloned().collect();
                if arns.is_empty() {
                    w.leader = false;
                    return;
                }
                arns.into_iter().map(|a| (a.clone(), w.by_arn.remove(&a).unwrap_or_default())).collect()
            };
            let arns: Vec<String> = batch.iter().map(|(a, _)| a.clone()).collect();
            let (sent, writes) = (Instant::now(), action_writes.count());
            let mut answers = self.describe(&client, &endpoint, &arns).await;
            {
                let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                for (arn, answer) in &answers {
                    // Failures are not kept: the next read asks again.
                    if let Ok(actions) = answer {
                        w.snapshots.insert(arn.clone(), Snapshot { sent, writes, actions: actions.clone() });
                    }
                }
            }
            for (arn, senders) in batch {
                let answer = answers.remove(&arn).unwrap_or(Ok(None));
                for tx in senders {
                    let _ = tx.send(answer.clone());
                }
            }
        }
    }

    /// One call for all `arns`; if one of them does not exist ELBv2 fails the whole call with
    /// ListenerNotFound, and each is then asked alone.
    async fn describe(
        &self,
        client: &aws_sdk_elasticloadbalancingv2::Client,
        endpoint: &str,
        arns: &[String],
    ) -> HashMap<String, Answer> {
        let one_call = |arns: Vec<String>| {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(aws_call = "DescribeListeners", listeners = arns.len(), "aws call");
            client.describe_listeners().set_listener_arns(Some(arns)).send()
        };
        let resource = |arns: &[String]| format!("listener {}", arns.join(", "));
        match one_call(arns.to_vec()).await {
            Ok(out) => {
                let mut found: HashMap<String, Answer> = arns.iter().map(|a| (a.clone(), Ok(None))).collect();
                for l in out.listeners() {
                    if let Some(arn) = l.listener_arn() {
                        found.insert(arn.to_string(), Ok(Some(l.default_actions().to_vec())));
                    }
                }
                found
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_listener_not_found_exception()) && arns.len() > 1 => {
                let mut found = HashMap::new();
                for arn in arns {
                    let answer = match one_call(vec![arn.clone()]).await {
                        Ok(out) => Ok(out.listeners().first().map(|l| l.default_actions().to_vec())),
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_listener_not_found_exception()) => Ok(None),
                        Err(e) => {
                            Err(api_error("DescribeListeners", &resource(std::slice::from_ref(arn)), endpoint, &e))
                        }
                    };
                    found.insert(arn.clone(), answer);
                }
                found
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_listener_not_found_exception()) => {
                arns.iter().map(|a| (a.clone(), Ok(None))).collect()
            }
            Err(e) => {
                let err = api_error("DescribeListeners", &resource(arns), endpoint, &e);
                arns.iter().map(|a| (a.clone(), Err(err.clone()))).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_serves_until_it_is_too_old_or_a_write_started() {
        let sent = Instant::now();
        let snap = Snapshot { sent, writes: 4, actions: None };
        assert!(snap.serves(sent, 4), "at once");
        assert!(snap.serves(sent + SNAPSHOT_FOR, 4), "at its age limit");
        assert!(!snap.serves(sent + SNAPSHOT_FOR + Duration::from_millis(1), 4), "older");
        assert!(!snap.serves(sent, 5), "a write started after the call was sent");
        assert!(!snap.serves(sent, 6), "a write started and ended");
    }
}
