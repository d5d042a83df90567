//! The one way this provider calls Kubernetes: every request and every watch goes through
//! [`KubeClient::call`] or [`KubeClient::watch`], which apply the operation's deadline, Ctrl-C
//! and the bounded retry policy, and report one error type naming the call.
//!
//! The retry policy: transient failures ([`KubeError::is_transient`]: 429, 5xx, connection
//! failures, a 409 the call opts into) are tried [`ATTEMPTS`] times with backoff from 250 ms,
//! about 4 s in all, within the deadline. Clients are built without kube's own retry layer
//! (15 retries with backoff up to 1000 s, meant for controllers), which would multiply with this
//! one and outlast a deadline.

use super::client::KubeClient;
use super::error::{Call, KubeError};
use crate::framework::{Ctx, Interrupted};
use futures::{Stream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use std::future::Future;
use std::time::Duration;

/// Attempts of one API call (and consecutive failures of a watch) before a transient failure
/// is reported.
pub const ATTEMPTS: u32 = 5;

/// A watch failure this long after the previous one is not "in a row": the watch recovered in
/// between (kube-runtime's backoff stays below a minute).
const QUIET_RECOVERY: Duration = Duration::from_secs(120);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << (attempt - 1).min(6))
}

impl KubeClient {
    /// Runs one API call under the deadline and Ctrl-C of `ctx`, retrying transient failures.
    /// A timeout or a stop says so, with the last failure seen; it is never reported as an
    /// unreachable server.
    pub async fn call<D, T, F, Fut>(&self, ctx: &Ctx<D>, call: Call, mut request: F) -> Result<T, KubeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut last = String::from("no answer yet");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match ctx.bounded(request()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => KubeError::from_kube(&self.host, &call, e),
                Err(i) => return Err(self.interrupted(&call, i, last)),
            };
            if attempt >= ATTEMPTS || !err.is_transient() {
                return Err(err.explained().await);
            }
            tracing::debug!(attempt, error = %err, "transient Kubernetes failure, retrying");
            last = format!("attempt {attempt} of {ATTEMPTS} failed: {err}");
            if let Err(i) = ctx.sleep(backoff(attempt)).await {
                return Err(self.interrupted(&call, i, last));
            }
        }
    }

    /// The error for a call the deadline or Ctrl-C ended.
    fn interrupted(&self, call: &Call, why: Interrupted, last: String) -> KubeError {
        let (host, call) = (self.host.clone(), Box::new(call.clone()));
        match why {
            Interrupted::TimedOut(after) => KubeError::TimedOut { host, call, after, last },
            Interrupted::Cancelled => KubeError::Cancelled { host, call, last },
        }
    }

    /// Follows a kube-runtime watcher (list, then watch; it resumes by itself after a dropped
    /// connection, listing again after a 410 Gone inside the watch) under the same policy as
    /// [`Self::call`]: transient failures are retried with kube-runtime's backoff and come through as
    /// [`Watched::Retrying`] (so a wait can say what it last saw); a failure that retrying
    /// cannot mend (401, 403, a missing resource type, TLS), or [`ATTEMPTS`] transient ones in
    /// a row, ends the stream with the error. The deadline and Ctrl-C are the consumer's
    /// ([`Ctx::watch`]).
    ///
    /// `items` is a kube-runtime stream: `watcher` events, a `reflector` over them, or
    /// `watch_object`'s object-or-none.
    pub fn watch<T, S>(
        &self,
        call: Call,
        items: S,
    ) -> impl Stream<Item = Result<Watched<T>, KubeError>> + Send + use<T, S>
    where
        T: Send + 'static,
        S: Stream<Item = Result<T, watcher::Error>> + Send + 'static,
    {
        let host = self.host.clone();
        // Failures in a row; a watch that recovers quietly brings no event to reset the count,
        // so a failure long after the previous one starts a new run.
        let failures = std::sync::Arc::new(std::sync::Mutex::new((0u32, tokio::time::Instant::now())));
        items.default_backoff().then(move |item| {
            let (host, call, failures) = (host.clone(), call.clone(), failures.clone());
            async move {
                let raw = match item {
                    Ok(item) => {
                        failures.lock().unwrap_or_else(|p| p.into_inner()).0 = 0;
                        return Ok(Watched::Item(item));
                    }
                    Err(e) => e,
                };
                // kube-runtime (watcher.rs, `step_trampolined`) starts over with a fresh list after
                // a 410 Gone inside the watch (an `ERROR` event: `WatchError`) or from the list,
                // as https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
                // asks. A watch *start* answered 410 (`WatchStartFailed`) it retries from the same
                // resourceVersion (state `InitListed`), which stays too old: that one counts as a
                // failure, so the wait ends after `ATTEMPTS` of them in a row, naming the 410,
                // instead of retrying until its deadline.
                let start_failed = matches!(raw, watcher::Error::WatchStartFailed(_));
                let err = match raw {
                    watcher::Error::InitialListFailed(k)
                    | watcher::Error::WatchStartFailed(k)
                    | watcher::Error::WatchFailed(k) => KubeError::from_kube(&host, &call, k),
                    watcher::Error::WatchError(status) => KubeError::from_kube(&host, &call, kube::Error::Api(status)),
                    watcher::Error::NoResourceVersion => KubeError::Config {
                        origin: host.clone(),
                        message: format!(
                            "{call}: no metadata.resourceVersion in the list (the resource cannot be watched)"
                        ),
                    },
                };
                let gone = err.status() == Some(410) && !start_failed;
                let n = {
                    let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
                    if f.1.elapsed() > QUIET_RECOVERY {
                        f.0 = 0;
                    }
                    // A 410 Gone inside the watch is the watcher's business: it re-lists.
                    if !gone {
                        f.0 += 1;
                    }
                    f.1 = tokio::time::Instant::now();
                    f.0
                };
                let retried = err.is_transient() || (start_failed && err.status() == Some(410));
                if gone || (retried && n < ATTEMPTS) {
                    tracing::debug!(failures = n, error = %err, "watch interrupted; kube-runtime resumes it");
                    Ok(Watched::Retrying(err))
                } else {
                    Err(err.explained().await)
                }
            }
        })
    }
}

/// One item of [`KubeClient::watch`].
pub enum Watched<T> {
    Item(T),
    /// A transient failure; the watcher resumes after its backoff.
    Retrying(KubeError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Ctx;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio_util::sync::CancellationToken;

    fn client() -> KubeClient {
        // Never used to send anything: the requests below are closures.
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        KubeClient { client, host: "https://h:6443".into() }
    }

    fn unavailable() -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("etcd unavailable", "ServiceUnavailable").with_code(503).boxed())
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_a_bounded_number_of_times() {
        let ctx = Ctx::new(Arc::new(()), CancellationToken::new(), Duration::from_secs(60));
        let tries = AtomicU32::new(0);
        let r: Result<(), _> = client()
            .call(&ctx, Call::new("get", "secrets"), || async {
                tries.fetch_add(1, Ordering::Relaxed);
                Err(unavailable())
            })
            .await;
        assert_eq!(tries.load(Ordering::Relaxed), ATTEMPTS);
        assert_eq!(r.unwrap_err().status(), Some(503));
        let tries = AtomicU32::new(0);
        let r = client()
            .call(&ctx, Call::new("get", "secrets"), || async {
                if tries.fetch_add(1, Ordering::Relaxed) < 2 { Err(unavailable()) } else { Ok(7) }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
    }

    fn gone() -> kube::Error {
        let status = kube::core::Status::failure("too old resource version: 5 (9)", "Expired").with_code(410);
        kube::Error::Api(status.boxed())
    }

    /// What the consumer of [`KubeClient::watch`] sees for `errors` from the watcher: `R` for
    /// Retrying, `E` for the error that ends it.
    async fn watched(errors: Vec<watcher::Error>) -> String {
        let items = futures::stream::iter(errors.into_iter().map(Err::<(), _>));
        let out: Vec<_> = client().watch(Call::new("watch", "applications"), items).collect().await;
        out.iter().map(|r| if matches!(r, Ok(Watched::Retrying(_))) { 'R' } else { 'E' }).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_410_inside_the_watch_is_resumed_but_a_watch_start_answered_410_is_given_up_on() {
        // In the stream (an ERROR event), kube-runtime lists again: never counted.
        let inside = (0..8)
            .map(|_| watcher::Error::WatchError(Box::new(kube::core::Status::failure("", "Expired").with_code(410))));
        assert_eq!(watched(inside.collect()).await, "RRRRRRRR");
        // A watch start answered 410 is retried from the same resourceVersion: counted, and the
        // fifth in a row ends the watch with the 410.
        let start = (0..5).map(|_| watcher::Error::WatchStartFailed(gone()));
        assert_eq!(watched(start.collect()).await, "RRRRE");
        let start = vec![watcher::Error::WatchStartFailed(gone()), watcher::Error::WatchStartFailed(unavailable())];
        assert_eq!(watched(start).await, "RR");
        // Other failures: transient ones are retried, the rest end it at once.
        let forbidden = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        assert_eq!(watched(vec![watcher::Error::WatchStartFailed(kube::Error::Api(forbidden.boxed()))]).await, "E");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_or_a_stop_is_reported_as_such_not_as_an_unreachable_server() {
        let ctx = Ctx::new(Arc::new(()), CancellationToken::new(), Duration::from_secs(5));
        let call = Call::new("patch", "secrets").namespace("argocd").name("cluster-shard-2");
        let hangs = || futures::future::pending::<Result<(), kube::Error>>();
        let err = client().call(&ctx, call.clone(), hangs).await.unwrap_err();
        assert!(matches!(err, KubeError::TimedOut { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "patch secrets/cluster-shard-2 in namespace argocd on https://h:6443 timed out after 5s (last seen: no answer yet)"
        );
        // Failing, then hanging: the last failure is what was last seen.
        let ctx = Ctx::new(Arc::new(()), CancellationToken::new(), Duration::from_secs(5));
        let tries = AtomicU32::new(0);
        let err = client()
            .call(&ctx, call.clone(), || {
                let first = tries.fetch_add(1, Ordering::Relaxed) == 0;
                async move { if first { Err::<(), _>(unavailable()) } else { futures::future::pending().await } }
            })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("timed out after 5s") && text.contains("attempt 1 of 5 failed") && text.contains("503"),
            "{text}"
        );

        let cancel = CancellationToken::new();
        let ctx = Ctx::new(Arc::new(()), cancel.clone(), Duration::from_secs(600));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            cancel.cancel();
        });
        let err = client().call(&ctx, call, hangs).await.unwrap_err();
        assert!(matches!(err, KubeError::Cancelled { .. }), "{err:?}");
        let diag = crate::framework::Diagnostics::from(err).to_string();
        assert!(diag.contains("Kubernetes call cancelled") && !diag.contains("unreachable"), "{diag}");
    }
}
