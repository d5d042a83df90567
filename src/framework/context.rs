//! The context of one operation: the provider's data, the StopProvider signal, the deadline the
//! server derived from the `timeouts` block (or the resource's default), and a place for
//! warnings. Waiting — sleeping, polling, following a watch — goes through here, so every wait
//! ends at the deadline or at Ctrl-C the same way.

use super::diag::Diagnostics;
use super::timeouts::format_duration;
use futures::{Stream, StreamExt};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The operation was cancelled by StopProvider (Ctrl-C) or ran past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    #[error("cancelled: Terraform asked the provider to stop (Ctrl-C)")]
    Cancelled,
    /// Carries the operation's whole limit, which is what the user configured.
    #[error("timed out after {}", format_duration(*.0))]
    TimedOut(Duration),
}

/// Per-operation context handed to every resource and data source call.
pub struct Ctx<D> {
    pub data: Arc<D>,
    pub cancel: CancellationToken,
    deadline: Instant,
    limit: Duration,
    warnings: Mutex<Diagnostics>,
    /// Where [`Ctx::progress`] lines go besides the log: an action's event stream, which the
    /// CLI prints as the action runs (None for resources, whose progress only the log shows).
    progress: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

/// What a probe found: the awaited result, or why not yet (kept for the timeout message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    Ready(T),
    NotYet(String),
}

/// Why a wait ended without its condition holding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError<E> {
    #[error("timed out after {} (last seen: {last})", format_duration(*waited))]
    TimedOut { waited: Duration, last: String },
    #[error("cancelled: Terraform asked the provider to stop (Ctrl-C)")]
    Cancelled,
    /// The watch stream ended (a watcher with resume never ends; a plain watch may).
    #[error("the watch ended before the condition held (last seen: {last})")]
    Ended { last: String },
    #[error(transparent)]
    Failed(E),
}

impl<E> From<Interrupted> for WaitError<E> {
    fn from(i: Interrupted) -> WaitError<E> {
        match i {
            Interrupted::Cancelled => WaitError::Cancelled,
            Interrupted::TimedOut(limit) => WaitError::TimedOut { waited: limit, last: String::new() },
        }
    }
}

/// `limit` from now; a limit past what the clock can represent (a hostile timeout) is "never".
fn after(limit: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(limit).unwrap_or_else(|| now + FAR_FUTURE)
}

/// About thirty years: later than any operation runs, early enough for every clock.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl<D> Ctx<D> {
    /// A context whose operation may take `limit` from now.
    pub fn new(data: Arc<D>, cancel: CancellationToken, limit: Duration) -> Ctx<D> {
        Ctx { data, cancel, deadline: after(limit), limit, warnings: Mutex::new(Diagnostics::new()), progress: None }
    }

    /// This context, with [`Ctx::progress`] lines also sent to `to`.
    pub fn with_progress(mut self, to: tokio::sync::mpsc::UnboundedSender<String>) -> Ctx<D> {
        self.progress = Some(to);
        self
    }

    /// Says what a long operation is doing now: logged, and streamed to the CLI when an action
    /// runs (`terraform apply -invoke` prints each line as it comes).
    pub fn progress(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(progress = %message);
        if let Some(to) = &self.progress {
            // A closed stream (the CLI went away) is the cancellation's business, not ours.
            let _ = to.send(message);
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The operation's whole limit (what the user configured or the resource's default).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Adds a warning (or any diagnostic) to whatever the operation returns.
    pub fn warn(&self, summary: impl Into<String>, detail: impl Into<String>) {
        self.add(Diagnostics::warning(summary, detail));
    }

    pub fn add(&self, diags: Diagnostics) {
        self.warnings.lock().unwrap_or_else(|p| p.into_inner()).extend(diags);
    }

    /// The diagnostics collected through [`Ctx::warn`] and [`Ctx::add`].
    pub fn take_diagnostics(&self) -> Diagnostics {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sleeps `d`; if the deadline comes first, sleeps until it and reports the timeout.
    pub async fn sleep(&self, d: Duration) -> Result<(), Interrupted> {
        let remaining = self.remaining();
        let (nap, timed_out) = if d > remaining { (remaining, true) } else { (d, false) };
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted::Cancelled),
            _ = tokio::time::sleep(nap) => if timed_out { Err(Interrupted::TimedOut(self.limit)) } else { Ok(()) },
        }
    }

    /// Runs `fut` until it finishes, the deadline passes, or Terraform asks us to stop.
    pub async fn bounded<T>(&self, fut: impl Future<Output = T>) -> Result<T, Interrupted> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted::Cancelled),
            r = tokio::time::timeout_at(self.deadline, fut) => r.map_err(|_| Interrupted::TimedOut(self.limit)),
        }
    }

    /// Like [`Ctx::bounded`], but also at most `limit` from now (one call's own budget); a
    /// call that runs out of that budget reports `TimedOut(limit)`.
    pub async fn within<T>(&self, limit: Duration, fut: impl Future<Output = T>) -> Result<T, Interrupted> {
        let own = after(limit);
        let (until, reported) = if own < self.deadline { (own, limit) } else { (self.deadline, self.limit) };
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted::Cancelled),
            r = tokio::time::timeout_at(until, fut) => r.map_err(|_| Interrupted::TimedOut(reported)),
        }
    }

    /// Calls `probe` every `interval` until it reports [`Check::Ready`], the deadline passes,
    /// Terraform asks us to stop, or the probe fails. The probe runs at once, then after each
    /// interval; a probe still running at the deadline is abandoned.
    pub async fn poll<T, E, F, Fut>(&self, interval: Duration, mut probe: F) -> Result<T, WaitError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<T>, E>>,
    {
        let started = Instant::now();
        let mut last = String::from("nothing yet");
        loop {
            match self.bounded(probe()).await {
                Ok(Ok(Check::Ready(t))) => return Ok(t),
                Ok(Ok(Check::NotYet(why))) => last = why,
                Ok(Err(e)) => return Err(WaitError::Failed(e)),
                Err(i) => return Err(self.ended(i, started, last)),
            }
            if let Err(i) = self.sleep(interval).await {
                return Err(self.ended(i, started, last));
            }
        }
    }

    /// A readiness gate: `probe` checked a single time (`once`) or polled every `interval` until
    /// it is ready. Not ready is `not_ready(last seen, "")` after a single check, or
    /// `not_ready(last seen, "; waited 12s")` at the deadline; Ctrl-C is an error saying that
    /// `what` was being waited for, with `unchanged` (what the interruption left as it was).
    pub async fn gate<F, Fut>(
        &self,
        interval: Duration,
        once: bool,
        mut probe: F,
        not_ready: impl Fn(&str, &str) -> Diagnostics,
        what: &str,
        unchanged: &str,
    ) -> Result<(), Diagnostics>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Check<()>, Diagnostics>>,
    {
        if once {
            return match probe().await? {
                Check::Ready(()) => Ok(()),
                Check::NotYet(seen) => Err(not_ready(&seen, "")),
            };
        }
        match self.poll(interval, probe).await {
            Ok(()) => Ok(()),
            Err(WaitError::TimedOut { waited, last }) => {
                Err(not_ready(&last, &format!("; waited {}", format_duration(waited))))
            }
            Err(WaitError::Failed(d)) => Err(d),
            Err(WaitError::Cancelled | WaitError::Ended { .. }) => {
                Err(Diagnostics::error(format!("Cancelled while waiting for {what}"), unchanged))
            }
        }
    }

    /// Feeds every item of `stream` (e.g. a Kubernetes watch) to `check` until it reports
    /// [`Check::Ready`], the deadline passes, Terraform asks us to stop, the stream fails or
    /// ends.
    pub async fn watch<T, E, I, S, F>(&self, stream: S, mut check: F) -> Result<T, WaitError<E>>
    where
        S: Stream<Item = Result<I, E>>,
        F: FnMut(I) -> Check<T>,
    {
        let started = Instant::now();
        let mut last = String::from("no event yet");
        let mut stream = std::pin::pin!(stream);
        loop {
            match self.bounded(stream.next()).await {
                Ok(Some(Ok(item))) => match check(item) {
                    Check::Ready(t) => return Ok(t),
                    Check::NotYet(why) => last = why,
                },
                Ok(Some(Err(e))) => return Err(WaitError::Failed(e)),
                Ok(None) => return Err(WaitError::Ended { last }),
                Err(i) => return Err(self.ended(i, started, last)),
            }
        }
    }

    fn ended<E>(&self, i: Interrupted, started: Instant, last: String) -> WaitError<E> {
        match i {
            Interrupted::Cancelled => WaitError::Cancelled,
            Interrupted::TimedOut(_) => WaitError::TimedOut { waited: started.elapsed(), last },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(limit: Duration) -> Ctx<()> {
        Ctx::new(Arc::new(()), CancellationToken::new(), limit)
    }

    /// Issue 16, item 12: a limit past what the clock holds (Duration::MAX, a huge timeout) is
    /// "never", not an overflow panic, in `new` and in `within`.
    #[tokio::test(start_paused = true)]
    async fn huge_limits_do_not_overflow_the_clock() {
        for limit in [Duration::MAX, Duration::from_secs(u64::MAX / 2), Duration::from_secs(1_000_000_000_000)] {
            let c = ctx(limit);
            assert!(c.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
            assert_eq!(c.within(limit, async { 7 }).await, Ok(7));
            assert_eq!(c.sleep(Duration::from_secs(1)).await, Ok(()));
            assert!(c.remaining() > Duration::from_secs(86_400));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_stops_at_the_deadline_and_says_so() {
        let c = ctx(Duration::from_secs(10));
        assert_eq!(c.sleep(Duration::from_secs(4)).await, Ok(()));
        let before = Instant::now();
        assert_eq!(c.sleep(Duration::from_secs(60)).await, Err(Interrupted::TimedOut(Duration::from_secs(10))));
        assert_eq!(before.elapsed(), Duration::from_secs(6), "slept only until the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn poll_returns_when_ready_and_reports_the_last_state_on_timeout() {
        let c = ctx(Duration::from_secs(30));
        let mut n = 0;
        let got: Result<i32, WaitError<String>> = c
            .poll(Duration::from_secs(2), || {
                n += 1;
                let seen = n;
                async move { Ok(if seen == 3 { Check::Ready(seen) } else { Check::NotYet(format!("{seen} of 3")) }) }
            })
            .await;
        assert_eq!(got, Ok(3));

        let never: Result<(), WaitError<String>> =
            c.poll(Duration::from_secs(2), || async { Ok(Check::NotYet("0 healthy".into())) }).await;
        match never {
            Err(WaitError::TimedOut { last, waited }) => {
                assert_eq!(last, "0 healthy");
                assert!(waited <= Duration::from_secs(30) && waited >= Duration::from_secs(25), "{waited:?}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn poll_stops_on_cancel_and_on_probe_failure() {
        let c = ctx(Duration::from_secs(600));
        let token = c.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            token.cancel();
        });
        let r: Result<(), WaitError<String>> =
            c.poll(Duration::from_secs(1), || async { Ok(Check::NotYet("waiting".into())) }).await;
        assert_eq!(r, Err(WaitError::Cancelled));

        let c = ctx(Duration::from_secs(600));
        let r: Result<(), WaitError<String>> =
            c.poll(Duration::from_secs(1), || async { Err("403".to_string()) }).await;
        assert_eq!(r, Err(WaitError::Failed("403".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn within_reports_its_own_budget_unless_the_deadline_comes_first() {
        let c = ctx(Duration::from_secs(100));
        let slow = tokio::time::sleep(Duration::from_secs(50));
        assert_eq!(c.within(Duration::from_secs(5), slow).await, Err(Interrupted::TimedOut(Duration::from_secs(5))));
        let slow = tokio::time::sleep(Duration::from_secs(500));
        assert_eq!(
            c.within(Duration::from_secs(400), slow).await,
            Err(Interrupted::TimedOut(Duration::from_secs(100)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn watch_checks_each_event_and_reports_an_ended_stream() {
        let c = ctx(Duration::from_secs(60));
        let events = futures::stream::iter(vec![Ok::<_, String>("Progressing"), Ok("Healthy")]);
        let r = c.watch(events, |e| if e == "Healthy" { Check::Ready(e) } else { Check::NotYet(e.into()) }).await;
        assert_eq!(r, Ok("Healthy"));
        let events = futures::stream::iter(vec![Ok::<_, String>("Progressing")]);
        let r: Result<(), _> = c.watch(events, |e| Check::NotYet(e.to_string())).await;
        assert_eq!(r, Err(WaitError::Ended { last: "Progressing".into() }));
        let silent = futures::stream::pending::<Result<(), String>>();
        let r: Result<(), _> = c.watch(silent, |_| Check::NotYet(String::new())).await;
        assert!(matches!(r, Err(WaitError::TimedOut { .. })), "{r:?}");
    }
}
