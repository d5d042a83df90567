//! Refresh reads of listeners, coalesced within one provider process.
//!
//! Terraform refreshes every resource of a configuration in parallel through one provider
//! process; twenty `shard_weight` on four listeners would make twenty `DescribeListeners` calls.
//! `DescribeListeners` takes up to 20 listener ARNs
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListeners.html>),
//! so reads that arrive within a short window share one call.
//!
//! Terraform refreshes at most `-parallelism` (10) resources at a time, and even one wave
//! arrives spread over several milliseconds (each instance upgrades its state first). So a
//! listener is read at most once per plan, however the reads fall:
//! - a read whose listener is in a call already sent joins that call's answer;
//! - a read of another listener opens a window of its own, whose call goes out beside the first
//!   (windows do not wait for each other);
//! - an answer is reused for [`SNAPSHOT_FOR`] after its call was sent, which serves the waves
//!   after it.
//!
//! Joining a call or reusing its answer stops once an action write of this process has started
//! since the call was sent (then the listener is read again, so a process reads its own
//! writes). The plan sees the listeners as one snapshot, at most that old; nothing is written
//! from it, since writes read under the listener lock with their own call (entry_edit.rs).

use super::aws::{AwsClients, AwsError, api_error};
use aws_sdk_elasticloadbalancingv2::types::Action;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the first read of a window waits for others to join.
const WINDOW: Duration = Duration::from_millis(3);
/// How long after its call was sent a listener's answer serves later reads. A plan's refresh of
/// a few hundred resources against AWS takes about this long; the apply reads again anyway.
pub const SNAPSHOT_FOR: Duration = Duration::from_secs(5);
/// DescribeListeners' limit on ARNs per call.
const MAX_PER_CALL: usize = 20;

type Answer = Result<Option<Vec<Action>>, AwsError>;
type Waiters = HashMap<String, Vec<oneshot::Sender<Answer>>>;

#[derive(Default)]
struct State {
    /// Reads waiting for the open window to close, by listener.
    pending: Waiters,
    /// A window is open: its task sends `pending` when it closes.
    window_open: bool,
    /// Calls sent and not answered yet, by call number (a few at a time: a scan finds a
    /// listener's).
    in_flight: HashMap<u64, Call>,
    next_call: u64,
    /// The last answer for each listener, for the reads after it.
    snapshots: HashMap<String, Snapshot>,
}

/// A DescribeListeners call that was sent, and every read waiting for its answer: each listener
/// of the call has a `waiting` entry.
struct Call {
    /// [`ActionWrites::count`](super::aws::ActionWrites::count) when it was sent.
    writes: u64,
    waiting: Waiters,
}

/// A listener's answer and what it can be reused for.
struct Snapshot {
    /// When its call was sent (the answer is at least this fresh).
    sent: Instant,
    /// [`ActionWrites::count`](super::aws::ActionWrites::count) when its call was sent.
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
    state: Arc<Mutex<State>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl ListenerReads {
    /// The listener's default actions, or None when it does not exist.
    pub async fn default_actions(&self, aws: &AwsClients, listener_arn: &str) -> Answer {
        let (tx, rx) = oneshot::channel();
        let open_window = {
            let mut st = self.lock();
            let writes = aws.action_writes().count();
            if let Some(s) = st.snapshots.get(listener_arn)
                && s.serves(Instant::now(), writes)
            {
                return Ok(s.actions.clone());
            }
            let joinable =
                st.in_flight.values_mut().find(|c| c.writes == writes && c.waiting.contains_key(listener_arn));
            match joinable {
                Some(call) => {
                    call.waiting.entry(listener_arn.to_string()).or_default().push(tx);
                    false
                }
                None => {
                    st.pending.entry(listener_arn.to_string()).or_default().push(tx);
                    !std::mem::replace(&mut st.window_open, true)
                }
            }
        };
        if open_window {
            // A task of its own, so a caller cancelled meanwhile cannot strand the others.
            let (this, aws) = (self.clone(), aws.clone());
            tokio::spawn(async move { this.close_window(aws).await });
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits out the window (the client is built meanwhile if it was not yet), then sends what
    /// gathered, 20 listeners a call, the calls side by side.
    async fn close_window(&self, aws: AwsClients) {
        let (client, ()) = tokio::join!(aws.elbv2(), tokio::time::sleep(WINDOW));
        let client = match client {
            Ok(c) => c.clone(),
            Err(e) => {
                let waiting = {
                    let mut st = self.lock();
                    st.window_open = false;
                    std::mem::take(&mut st.pending)
                };
                for tx in waiting.into_values().flatten() {
                    let _ = tx.send(Err(e.clone()));
                }
                return;
            }
        };
        let (sent, writes) = (Instant::now(), aws.action_writes().count());
        let calls: Vec<(u64, Vec<String>)> = {
            let mut st = self.lock();
            st.window_open = false;
            let mut pending = std::mem::take(&mut st.pending);
            let arns: Vec<String> = pending.keys().cloned().collect();
            arns.chunks(MAX_PER_CALL)
                .map(|chunk| {
                    let id = st.next_call;
                    st.next_call += 1;
                    let waiting: Waiters = chunk.iter().filter_map(|a| pending.remove_entry(a)).collect();
                    st.in_flight.insert(id, Call { writes, waiting });
                    (id, chunk.to_vec())
                })
                .collect()
        };
        let endpoint = aws.elbv2_endpoint();
        let answered = calls.into_iter().map(|(id, arns)| {
            let (client, endpoint) = (&client, &endpoint);
            async move { (id, self.describe(client, endpoint, &arns).await) }
        });
        // Each call's readers are answered as soon as it returns.
        let mut answered: futures::stream::FuturesUnordered<_> = answered.collect();
        while let Some((id, mut answers)) = answered.next().await {
            let waiting = {
                let mut st = self.lock();
                let call = st.in_flight.remove(&id);
                for (arn, answer) in &answers {
                    // Failures are not kept: the next read asks again. An older answer does not
                    // replace a newer one.
                    if let Ok(actions) = answer
                        && st.snapshots.get(arn).is_none_or(|s| s.sent <= sent)
                    {
                        st.snapshots.insert(arn.clone(), Snapshot { sent, writes, actions: actions.clone() });
                    }
                }
                call.map(|c| c.waiting).unwrap_or_default()
            };
            for (arn, senders) in waiting {
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
