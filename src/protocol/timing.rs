//! Where a provider process spends its time, measured on the server side, in one place: the
//! start-up milestones of the process (runtime, listener, TLS, handshake line, first RPC) and
//! every gRPC call, timed by a tower layer around the whole tonic server (so new RPCs are timed
//! without touching their handlers).
//!
//! Each call is logged at DEBUG (`rpc_micros`). With `SHARD_RPC_TIMINGS=FILE` in the provider's
//! environment (Terraform passes its own environment to the plugins it starts), the process
//! appends one JSON line to FILE when it stops: its milestones and, per RPC, the count and a
//! histogram summary (p50/p90/max, microseconds). scripts/benchmark.py reads these lines; see
//! docs/benchmarks.md. A call's time runs from the request reaching the server (HTTP/2 frames
//! already read) until the last frame of its response has been produced: decoding, the handler,
//! and encoding. Costs two clock reads and one uncontended lock per call.

use hyper::body::{Body, Frame, SizeHint};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The environment variable naming the file the summary is appended to.
pub const ENV: &str = "SHARD_RPC_TIMINGS";

static START: OnceLock<Instant> = OnceLock::new();
static STATS: Mutex<Stats> = Mutex::new(Stats { milestones: Vec::new(), calls: BTreeMap::new(), first_rpc: None });

struct Stats {
    milestones: Vec<(&'static str, Duration)>,
    calls: BTreeMap<String, Vec<Duration>>,
    first_rpc: Option<Duration>,
}

fn since_start() -> Duration {
    START.get_or_init(Instant::now).elapsed()
}

/// Starts the process clock; call first thing in `main` (otherwise the first milestone starts it).
pub fn process_started() {
    START.get_or_init(Instant::now);
}

/// Records a start-up milestone (time since [`process_started`]).
pub fn mark(name: &'static str) {
    let at = since_start();
    if let Ok(mut s) = STATS.lock() {
        s.milestones.push((name, at));
    }
}

/// Records one timed operation under `name` (an RPC, or e.g. a TLS handshake).
pub fn record(name: &str, took: Duration) {
    tracing::debug!(rpc = name, rpc_micros = took.as_micros() as u64, "rpc timing");
    if let Ok(mut s) = STATS.lock() {
        match s.calls.get_mut(name) {
            Some(v) => v.push(took),
            None => {
                s.calls.insert(name.to_string(), vec![took]);
            }
        }
    }
}

fn first_rpc() {
    let at = since_start();
    if let Ok(mut s) = STATS.lock()
        && s.first_rpc.is_none()
    {
        s.first_rpc = Some(at);
    }
}

/// The summary as one JSON object: milestones in ms since the process clock started, and per
/// name the count, total, p50, p90 and max in microseconds.
pub fn summary() -> serde_json::Value {
    let Ok(s) = STATS.lock() else { return serde_json::Value::Null };
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let mut milestones = serde_json::Map::new();
    for (name, at) in &s.milestones {
        milestones.insert((*name).to_string(), ms(*at).into());
    }
    if let Some(at) = s.first_rpc {
        milestones.insert("first_rpc".into(), ms(at).into());
    }
    milestones.insert("summary".into(), ms(since_start()).into());
    let mut calls = serde_json::Map::new();
    for (name, durations) in &s.calls {
        let mut us: Vec<u64> = durations.iter().map(|d| d.as_micros() as u64).collect();
        us.sort_unstable();
        let pick = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
        calls.insert(
            name.clone(),
            serde_json::json!({
                "count": us.len(),
                "total_us": us.iter().sum::<u64>(),
                "p50_us": pick(0.5),
                "p90_us": pick(0.9),
                "max_us": us[us.len() - 1],
            }),
        );
    }
    serde_json::json!({ "pid": std::process::id(), "milestones_ms": milestones, "rpcs": calls })
}

/// At the end of the process: appends the summary to the file `SHARD_RPC_TIMINGS` names, if set.
pub fn report() {
    let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) else { return };
    let line = format!("{}\n", summary());
    // One write of a short line to a file opened for appending: lines of concurrent plugin
    // processes do not interleave (O_APPEND).
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not write the RPC timings to {}", std::path::Path::new(&path).display());
    }
}

/// The tower layer timing every call to the server it wraps.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimingLayer;

impl<S> tower::Layer<S> for TimingLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Timed<S> {
    inner: S,
}

/// `/tfplugin6.Provider/PlanResourceChange` → `PlanResourceChange`; other services keep their
/// short service name (`GRPCController/Shutdown`).
fn rpc_name(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    if service == "tfplugin6.Provider" {
        method.to_string()
    } else {
        format!("{}/{method}", service.rsplit('.').next().unwrap_or(service))
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Timed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Body,
{
    type Response = http::Response<TimedBody<ResBody>>;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        first_rpc();
        let name = rpc_name(req.uri().path());
        TimedFuture { inner: self.inner.call(req), timer: Some((name, Instant::now())) }
    }
}

pin_project_lite::pin_project! {
    pub struct TimedFuture<F> {
        #[pin]
        inner: F,
        timer: Option<(String, Instant)>,
    }
}

impl<F, B, E> Future for TimedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Body,
{
    type Output = Result<http::Response<TimedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        let mut timer = this.timer.take();
        Poll::Ready(res.map(|r| {
            r.map(|inner| {
                // A response that is complete already (gRPC's trailers-only answer, e.g. an error
                // status) is never polled for frames: its call ends here.
                if inner.is_end_stream()
                    && let Some((name, start)) = timer.take()
                {
                    record(&name, start.elapsed());
                }
                TimedBody { inner, timer }
            })
        }))
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its call's time when its last frame (gRPC's trailers) has
    /// been produced. A stream that never ends (go-plugin's broker and stdio streams) or a call the
    /// client reset is not recorded.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        timer: Option<(String, Instant)>,
    }
}

impl<B: Body> Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        let last = match &frame {
            None | Some(Err(_)) => true,
            Some(Ok(f)) => f.is_trailers(),
        };
        if last && let Some((name, start)) = this.timer.take() {
            record(&name, start.elapsed());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names_are_short() {
        assert_eq!(rpc_name("/tfplugin6.Provider/PlanResourceChange"), "PlanResourceChange");
        assert_eq!(rpc_name("/plugin.GRPCController/Shutdown"), "GRPCController/Shutdown");
        assert_eq!(rpc_name("/grpc.health.v1.Health/Check"), "Health/Check");
    }

    /// The layer times a call from the request to the response body's last frame, under the
    /// method's short name, and counts an already complete (trailers-only) response too.
    #[tokio::test]
    async fn the_layer_times_each_call_to_its_last_frame() {
        use tower::{Layer as _, Service as _, ServiceExt as _};
        let inner = tower::service_fn(|req: http::Request<()>| async move {
            let body = if req.uri().path().ends_with("Fails") {
                Frames(0)
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Frames(2)
            };
            Ok::<_, std::convert::Infallible>(http::Response::new(body))
        });
        let count = |name: &str| summary()["rpcs"][name]["count"].as_u64().unwrap_or(0);
        let (ok_before, failed_before) = (count("LayerTestCall"), count("LayerTestFails"));
        let mut svc = TimingLayer.layer(inner);
        let req = http::Request::builder().uri("/tfplugin6.Provider/LayerTestCall").body(()).unwrap();
        let resp = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(count("LayerTestCall"), ok_before, "not recorded before the body's last frame");
        let mut body = Box::pin(resp.into_body());
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            frame.unwrap();
        }
        assert_eq!(count("LayerTestCall"), ok_before + 1);
        assert!(summary()["rpcs"]["LayerTestCall"]["max_us"].as_u64().unwrap() >= 5000);
        let req = http::Request::builder().uri("/tfplugin6.Provider/LayerTestFails").body(()).unwrap();
        let _resp = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(count("LayerTestFails"), failed_before + 1);
    }

    /// A response body of `n` frames (the last one trailers, as gRPC's); 0 is complete at once.
    struct Frames(u8);

    impl Body for Frames {
        type Data = &'static [u8];
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            let frame = match self.0 {
                0 => None,
                1 => Some(Ok(Frame::trailers(http::HeaderMap::new()))),
                _ => Some(Ok(Frame::data(&b"message"[..]))),
            };
            self.0 = self.0.saturating_sub(1);
            Poll::Ready(frame)
        }
        fn is_end_stream(&self) -> bool {
            self.0 == 0
        }
    }

    #[test]
    fn summary_counts_and_orders_calls() {
        for us in [30, 10, 20] {
            record("summary-test", Duration::from_micros(us));
        }
        mark("summary-test-mark");
        let s = summary();
        let c = &s["rpcs"]["summary-test"];
        assert_eq!(c["count"], 3);
        assert_eq!(c["total_us"], 60);
        assert_eq!(c["p50_us"], 20);
        assert_eq!(c["max_us"], 30);
        assert!(s["milestones_ms"]["summary-test-mark"].is_number());
    }
}
