//! The sandbox's data plane: what makes "zero downtime" a measured figure instead of a claim.
//!
//! - [`Proxy`]: a weighted HTTP load balancer on loopback standing in for the shared ALB's data
//!   plane. It polls moto's DescribeListeners and DescribeRules for the listener every
//!   [`POLL_INTERVAL`] and routes each new request as the ALB routes it: the first rule (by
//!   priority) whose conditions the request meets, else the default action; a weighted forward
//!   picks one target group by weight per request
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#rule-action-types>).
//!   A request routed to a target group whose backend is stopped FAILS (502), as on an ALB whose
//!   targets are gone: it is never retried onto another target group, or the zero would be the
//!   stand-in's doing.
//! - [`Backend`]: one shard's pods, an HTTP server that answers with its shard and version (the
//!   canary's share of a shard's requests is the canary's weight).
//! - [`Load`]: a steady rate of requests through the proxy, tallied per shard, per version and
//!   per failure.
//! - [`Proxy::publish_metrics`]: the ALB's CloudWatch metrics of each target group, as the proxy
//!   measured them (`RequestCount`, `HTTPCode_Target_5XX_Count`, `TargetResponseTime`,
//!   `UnHealthyHostCount`), put into moto's CloudWatch every [`METRICS_PERIOD`]: what
//!   `shard_weight`'s metric guard reads.
//!
//! Everything speaks HTTP/1.1 with `Connection: close`, one request per connection.

#![allow(dead_code)]

use aws_sdk_elasticloadbalancingv2::types::{Action, Rule, RuleCondition};
use rand::Rng as _;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// How often the proxy reads the listener. AWS does not publish how long a ModifyListener takes
/// to reach the ALB's nodes; it is seconds. The sandbox scales time down (its drain delay is 2 s
/// where the stacks use 45 s), and half a second keeps the propagation a quarter of the drain
/// delay: a harsher ratio than production's few seconds against 45.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long a backend takes to answer: requests are in flight for this long, so a weight change or
/// a stop always meets some.
pub const SERVICE_TIME: Duration = Duration::from_millis(20);
/// A request with no answer after this long counts as failed (the ALB's idle timeout is 60 s;
/// nothing here should take more than milliseconds).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The request the load generator sends, as the rules see it.
const PATH: &str = "/";
const HOST: &str = "service.sandbox";

// ---------------------------------------------------------------------------------------------
// Backends

/// What a shard's pods run: the stable version, and a canary with its weight (0..=100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub stable: String,
    pub canary: Option<(String, u32)>,
}

/// One shard's pods behind its target group: an HTTP server on a fixed loopback port (the
/// target's address, registered once in the proxy, as a pod IP in a target group). Stopping it is
/// a node upgrade: the listening socket closes and requests in flight are cut.
pub struct Backend {
    pub shard: String,
    pub addr: SocketAddr,
    pub versions: Arc<Mutex<Versions>>,
    sick: Arc<Sick>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Starts serving on `addr` (a fixed port: a restarted backend is the same target).
    pub async fn start(shard: &str, addr: SocketAddr, versions: Versions) -> std::io::Result<Backend> {
        let socket = TcpSocket::new_v4()?;
        // The port was this backend's before a stop; connections of that life may linger.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        let versions = Arc::new(Mutex::new(versions));
        let sick = Arc::new(Sick::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(shard.to_string(), listener, versions.clone(), sick.clone(), stop.clone()));
        Ok(Backend { shard: shard.to_string(), addr, versions, sick, stop, task })
    }

    pub fn set_versions(&self, v: Versions) {
        *self.versions.lock().unwrap() = v;
    }

    /// A sick release: every `one_in`-th request `version` answers is a 500 (a bug on one code
    /// path: the pods are up, Ready and pass health checks, so only the metrics tell).
    pub fn set_sick(&self, version: &str, one_in: u32) {
        *self.sick.release.lock().unwrap() = Some((version.to_string(), one_in.max(1)));
    }

    /// Stops at once: no new connection is accepted and the ones in flight are closed unanswered
    /// (a node drained by an upgrade does not wait for an ALB that still sends it traffic).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// The sick release of a backend, if any, and how many requests it has answered.
#[derive(Default)]
struct Sick {
    release: Mutex<Option<(String, u32)>>,
    answered: std::sync::atomic::AtomicU64,
}

impl Sick {
    /// Whether this request, answered by `version`, gets a 500.
    fn fails(&self, version: &str) -> bool {
        let Some((sick, one_in)) = self.release.lock().unwrap().clone() else { return false };
        sick == version
            && self.answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(u64::from(one_in))
    }
}

async fn serve(
    shard: String,
    listener: TcpListener,
    versions: Arc<Mutex<Versions>>,
    sick: Arc<Sick>,
    stop: CancellationToken,
) {
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        let Ok((mut stream, _)) = conn else { continue };
        let (shard, versions, sick, stop) = (shard.clone(), versions.clone(), sick.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = async {
                    if read_head(&mut stream).await.is_none() {
                        return;
                    }
                    tokio::time::sleep(SERVICE_TIME).await;
                    let version = {
                        let v = versions.lock().unwrap();
                        match &v.canary {
                            Some((canary, weight)) if rand::rng().random_range(0..100) < *weight => canary.clone(),
                            _ => v.stable.clone(),
                        }
                    };
                    let body = format!("{shard} {version}\n");
                    let answer = if sick.fails(&version) {
                        served_by(&shard, &version, &response(500, "Internal Server Error", &format!("{shard} {version} internal error\n")))
                    } else {
                        served_by(&shard, &version, &response(200, "OK", &body))
                    };
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                } => {}
            }
        });
    }
}

fn response(code: u16, reason: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The answer with a header naming the pods that gave it (so that a failure is attributed to the
/// shard and version that answered it, not to the proxy).
fn served_by(shard: &str, version: &str, answer: &str) -> String {
    answer.replacen("\r\n", &format!("\r\nX-Served-By: {shard} {version}\r\n"), 1)
}

/// Reads an HTTP request or response head (up to the blank line); None if the peer closed first.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

// ---------------------------------------------------------------------------------------------
// The proxy (the ALB's data plane)

/// Where the listener sends the load generator's requests, as last read from moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Nothing read yet.
    Unknown,
    /// (target group ARN, weight) of the forward action that applies.
    Forward(Vec<(String, i32)>),
    /// Another action (fixed-response, redirect, …): answered with this status.
    Other(String),
}

#[derive(Debug, Default)]
struct ProxyState {
    route: Option<Route>,
    /// When the route last changed, and to what (for the stage reports).
    changes: Vec<(Instant, Route)>,
    poll_errors: u64,
    /// Per target group, what the proxy measured since the last publish (publish_metrics).
    measured: BTreeMap<String, Measured>,
    /// PutMetricData calls that failed (the metric guard would see gaps).
    publish_errors: u64,
    /// The last failure of one, to say why.
    publish_error: Option<String>,
    published: u64,
}

/// What ALB counts for a target group: requests routed to it (`RequestCount`: once a target is
/// chosen, whatever the outcome), the targets' own 5xx answers (`HTTPCode_Target_5XX_Count`; the
/// 502 the proxy answers when a target refuses is the load balancer's, `HTTPCode_ELB_502_Count`,
/// not counted here) and each answer's time (`TargetResponseTime`, seconds).
#[derive(Debug, Default, Clone)]
struct Measured {
    requests: u64,
    target_5xx: u64,
    response_times: Vec<f64>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    targets: Arc<BTreeMap<String, SocketAddr>>,
    state: Arc<Mutex<ProxyState>>,
    live: tokio::sync::watch::Receiver<bool>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Serves on a free loopback port, routing to `targets` (target group ARN → its backend's
    /// address) by the forward action of `listener_arn`, read through `elbv2` (moto itself).
    pub async fn start(
        elbv2: aws_sdk_elasticloadbalancingv2::Client,
        listener_arn: &str,
        targets: BTreeMap<String, SocketAddr>,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let stop = CancellationToken::new();
        let (live_tx, live) = tokio::sync::watch::channel(false);
        let poller = tokio::spawn(poll(elbv2, listener_arn.to_string(), state.clone(), live_tx, stop.clone()));
        let targets = Arc::new(targets);
        let server = tokio::spawn(proxy_serve(listener, targets.clone(), state.clone(), stop.clone()));
        Ok(Proxy { addr, targets, state, live, stop, tasks: vec![poller, server] })
    }

    /// The route the proxy applies to new requests now.
    pub fn route(&self) -> Route {
        self.state.lock().unwrap().route.clone().unwrap_or(Route::Unknown)
    }

    /// Becomes true once the listener first forwards with a total weight above 0 (the service
    /// is live: before that an ALB has nowhere to send a request).
    pub fn live(&self) -> tokio::sync::watch::Receiver<bool> {
        self.live.clone()
    }

    /// Waits until the proxy applies a route that `pred` accepts (at most `limit`).
    pub async fn wait_route(&self, limit: Duration, pred: impl Fn(&Route) -> bool) -> Result<(), Route> {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.route();
            if pred(&r) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(r);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn poll_errors(&self) -> u64 {
        self.state.lock().unwrap().poll_errors
    }

    /// (PutMetricData calls made, failed, the last failure).
    pub fn publish_stats(&self) -> (u64, u64, Option<String>) {
        let s = self.state.lock().unwrap();
        (s.published, s.publish_errors, s.publish_error.clone())
    }

    /// Publishes the ALB's metrics of each target group in `targets` to CloudWatch (`cloudwatch`:
    /// moto through the realism proxy, see [`cloudwatch_at`]) every [`METRICS_PERIOD`], timestamped
    /// now, with the dimensions ALB gives them: `LoadBalancer` = `app/NAME/ID` (from
    /// `listener_arn`) and `TargetGroup` = `targetgroup/NAME/ID`
    /// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>).
    /// As ALB, a target group without requests in a period has no `RequestCount`,
    /// `TargetResponseTime` or 5xx data point, and a 5xx count is published only when not zero.
    /// `UnHealthyHostCount`: for a target group with targets in `registered`, those whose pods do
    /// not accept a connection (a health check of the proxy's own, every period).
    pub fn publish_metrics(
        &mut self,
        cloudwatch: aws_sdk_cloudwatch::Client,
        listener_arn: &str,
        registered: Registered,
    ) {
        let targets = self.targets.clone();
        let task = tokio::spawn(publish(
            cloudwatch,
            load_balancer_dimension(listener_arn),
            targets,
            registered,
            self.state.clone(),
            self.stop.clone(),
        ));
        self.tasks.push(task);
    }

    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn poll(
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    listener_arn: String,
    state: Arc<Mutex<ProxyState>>,
    live: tokio::sync::watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match read_route(&elbv2, &listener_arn).await {
            Ok(route) => {
                if let Route::Forward(tgs) = &route
                    && tgs.iter().map(|(_, w)| i64::from(*w)).sum::<i64>() > 0
                {
                    live.send_replace(true);
                }
                let mut s = state.lock().unwrap();
                if s.route.as_ref() != Some(&route) {
                    s.changes.push((Instant::now(), route.clone()));
                    s.route = Some(route);
                }
            }
            // An ALB keeps serving its last configuration when its control plane is slow.
            Err(_) => state.lock().unwrap().poll_errors += 1,
        }
    }
}

/// The action the ALB applies to the load generator's request: rules by priority, then the
/// default action.
async fn read_route(elbv2: &aws_sdk_elasticloadbalancingv2::Client, listener: &str) -> Result<Route, String> {
    let listeners = elbv2.describe_listeners().listener_arns(listener).send().await.map_err(|e| format!("{e:?}"))?;
    let default = listeners.listeners().first().ok_or("no such listener")?.default_actions().to_vec();
    let mut rules: Vec<Rule> = Vec::new();
    let mut marker = None;
    loop {
        let page = elbv2
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        rules.extend(page.rules().iter().filter(|r| !r.is_default().unwrap_or(false)).cloned());
        match page.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    rules.sort_by_key(|r| r.priority().and_then(|p| p.parse::<i64>().ok()).unwrap_or(i64::MAX));
    let actions = rules
        .iter()
        .find(|r| r.conditions().iter().all(request_meets))
        .map(|r| r.actions().to_vec())
        .unwrap_or(default);
    Ok(route_of(&actions))
}

/// Whether the load generator's request (`GET /`, headers `Host: service.sandbox` and
/// `Connection: close` only) meets a rule condition. Conditions on fields it does not model (query string, source IP)
/// are taken as not met: no rule in the sandbox uses them.
pub fn request_meets(c: &RuleCondition) -> bool {
    let values = |cfg: Option<&[String]>| -> Vec<String> {
        cfg.map(<[String]>::to_vec).filter(|v| !v.is_empty()).unwrap_or_else(|| c.values().to_vec())
    };
    match c.field() {
        Some("path-pattern") => {
            values(c.path_pattern_config().map(|p| p.values())).iter().any(|p| glob(p, PATH, false))
        }
        Some("host-header") => values(c.host_header_config().map(|h| h.values())).iter().any(|p| glob(p, HOST, true)),
        Some("http-request-method") => {
            values(c.http_request_method_config().map(|m| m.values())).iter().any(|m| m == "GET")
        }
        // The lock rule of shard_weight matches a header no real request carries.
        Some("http-header") => c.http_header_config().is_some_and(|h| {
            let value = match h.http_header_name().map(str::to_ascii_lowercase).as_deref() {
                Some("host") => HOST,
                Some("connection") => "close",
                _ => return false,
            };
            h.values().iter().any(|p| glob(p, value, true))
        }),
        _ => false,
    }
}

/// ALB's wildcards: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    fn at(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| at(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && at(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && at(&p[1..], &t[1..]),
        }
    }
    at(&p, &t)
}

fn route_of(actions: &[Action]) -> Route {
    let mut sorted = actions.to_vec();
    sorted.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
    // Authentication actions come first on an ALB; the sandbox has none. The terminal action decides.
    let Some(last) = sorted.last() else { return Route::Other("503 no action".into()) };
    match last.r#type().map(|t| t.as_str()) {
        Some("forward") => {
            let groups = last.forward_config().map(|f| f.target_groups()).unwrap_or_default();
            if groups.is_empty() {
                // The short form: one target group, weight 1.
                return match last.target_group_arn() {
                    Some(tg) => Route::Forward(vec![(tg.to_string(), 1)]),
                    None => Route::Other("503 forward to nothing".into()),
                };
            }
            Route::Forward(
                groups
                    .iter()
                    .map(|g| (g.target_group_arn().unwrap_or_default().to_string(), g.weight().unwrap_or(1)))
                    .collect(),
            )
        }
        Some("fixed-response") => Route::Other(format!(
            "{} fixed-response",
            last.fixed_response_config().and_then(|f| f.status_code()).map(str::to_string).unwrap_or_default()
        )),
        other => Route::Other(format!("503 {}", other.unwrap_or("unknown action"))),
    }
}

async fn proxy_serve(
    listener: TcpListener,
    targets: Arc<BTreeMap<String, SocketAddr>>,
    state: Arc<Mutex<ProxyState>>,
    stop: CancellationToken,
) {
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        let Ok((client, _)) = conn else { continue };
        let (targets, state) = (targets.clone(), state.clone());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, forward(client, &targets, &state)).await;
        });
    }
}

/// One request: routed with the route in force when it arrives (a later weight change does not
/// touch it: in-flight requests finish where they went).
async fn forward(mut client: TcpStream, targets: &BTreeMap<String, SocketAddr>, state: &Mutex<ProxyState>) {
    let Some(head) = read_head(&mut client).await else { return };
    let route = state.lock().unwrap().route.clone().unwrap_or(Route::Unknown);
    let tgs = match route {
        Route::Forward(tgs) => tgs,
        Route::Unknown => return reply(&mut client, 503, "listener not read yet").await,
        Route::Other(what) => return reply(&mut client, 503, &what).await,
    };
    let total: i64 = tgs.iter().map(|(_, w)| i64::from((*w).max(0))).sum();
    if total == 0 {
        return reply(&mut client, 503, "every target group at weight 0").await;
    }
    let mut pick = rand::rng().random_range(0..total);
    let mut chosen = &tgs[0].0;
    for (tg, w) in &tgs {
        let w = i64::from((*w).max(0));
        if pick < w {
            chosen = tg;
            break;
        }
        pick -= w;
    }
    let Some(addr) = targets.get(chosen) else {
        return reply(&mut client, 503, &format!("no targets in {chosen}")).await;
    };
    state.lock().unwrap().measured.entry(chosen.clone()).or_default().requests += 1;
    // No retry elsewhere: the ALB returns 502 when its target refuses or drops the connection.
    let mut upstream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return reply(&mut client, 502, &format!("{chosen}: {e}")).await,
    };
    if upstream.write_all(&head).await.is_err() {
        return reply(&mut client, 502, &format!("{chosen}: connection closed")).await;
    }
    // TargetResponseTime: from the request leaving the load balancer until the answer's head
    // (the backends write head and body at once).
    let sent = Instant::now();
    let mut answer = Vec::new();
    let complete = upstream.read_to_end(&mut answer).await.is_ok()
        && answer.windows(4).any(|w| w == b"\r\n\r\n")
        && answer.starts_with(b"HTTP/1.1 ");
    if !complete {
        return reply(&mut client, 502, &format!("{chosen}: closed without an answer")).await;
    }
    {
        let mut s = state.lock().unwrap();
        let m = s.measured.entry(chosen.clone()).or_default();
        m.response_times.push(sent.elapsed().as_secs_f64());
        if answer.get(9) == Some(&b'5') {
            m.target_5xx += 1;
        }
    }
    let _ = client.write_all(&answer).await;
    let _ = client.shutdown().await;
}

async fn reply(client: &mut TcpStream, code: u16, why: &str) {
    let reason = if code == 502 { "Bad Gateway" } else { "Service Unavailable" };
    let _ = client.write_all(response(code, reason, &format!("{code} {reason}: {why}\n")).as_bytes()).await;
    let _ = client.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The ALB's metrics in CloudWatch

/// How often the proxy publishes its metrics. ALB publishes per minute, a minute or two late; the
/// sandbox scales time down (a 3 s ramp interval stands for minutes), so it publishes every
/// second, at most a second late.
pub const METRICS_PERIOD: Duration = Duration::from_secs(1);
/// How long the proxy's health check waits for a target to accept a connection.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_millis(250);

/// Targets registered per target group (ARN → count), as the AWS Load Balancer Controller
/// registered them: kept by whoever registers them (the sandbox's pods).
pub type Registered = Arc<Mutex<BTreeMap<String, u32>>>;

/// `app/NAME/ID` from `arn:…:listener/app/NAME/ID/LISTENER_ID`.
pub fn load_balancer_dimension(listener_arn: &str) -> String {
    let tail = listener_arn.split_once(":listener/").map(|(_, t)| t).unwrap_or_default();
    tail.split('/').take(3).collect::<Vec<_>>().join("/")
}

/// `targetgroup/NAME/ID` from `arn:…:targetgroup/NAME/ID`.
pub fn target_group_dimension(target_group_arn: &str) -> String {
    format!("targetgroup/{}", target_group_arn.split_once(":targetgroup/").map(|(_, t)| t).unwrap_or_default())
}

async fn publish(
    cloudwatch: aws_sdk_cloudwatch::Client,
    load_balancer: String,
    targets: Arc<BTreeMap<String, SocketAddr>>,
    registered: Registered,
    state: Arc<Mutex<ProxyState>>,
    stop: CancellationToken,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    let mut tick = tokio::time::interval(METRICS_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let measured = std::mem::take(&mut state.lock().unwrap().measured);
        let registered = registered.lock().unwrap().clone();
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        let mut data = Vec::new();
        for (tg, addr) in targets.iter() {
            let dims = vec![
                Dimension::builder().name("LoadBalancer").value(&load_balancer).build(),
                Dimension::builder().name("TargetGroup").value(target_group_dimension(tg)).build(),
            ];
            let datum = |name: &str, unit: StandardUnit| {
                MetricDatum::builder().metric_name(name).set_dimensions(Some(dims.clone())).timestamp(now).unit(unit)
            };
            let m = measured.get(tg).cloned().unwrap_or_default();
            if m.requests > 0 {
                data.push(datum("RequestCount", StandardUnit::Count).value(m.requests as f64).build());
            }
            if m.target_5xx > 0 {
                data.push(datum("HTTPCode_Target_5XX_Count", StandardUnit::Count).value(m.target_5xx as f64).build());
            }
            // Every answer's time, as values with counts (to the millisecond; a datum takes at
            // most 150 distinct values), so that CloudWatch's percentiles are over requests.
            let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
            for t in &m.response_times {
                *counts.entry((t * 1000.0).round() as u64).or_default() += 1;
            }
            let counts: Vec<(u64, u32)> = counts.into_iter().collect();
            for chunk in counts.chunks(150) {
                let mut d = datum("TargetResponseTime", StandardUnit::Seconds);
                for (ms, n) in chunk {
                    d = d.values(*ms as f64 / 1000.0).counts(f64::from(*n));
                }
                data.push(d.build());
            }
            if let Some(n) = registered.get(tg).copied().filter(|n| *n > 0) {
                let up =
                    matches!(tokio::time::timeout(HEALTH_CHECK_TIMEOUT, TcpStream::connect(addr)).await, Ok(Ok(_)));
                let unhealthy = if up { 0 } else { n };
                data.push(datum("UnHealthyHostCount", StandardUnit::Count).value(f64::from(unhealthy)).build());
            }
        }
        if data.is_empty() {
            continue;
        }
        let put = cloudwatch.put_metric_data().namespace("AWS/ApplicationELB").set_metric_data(Some(data)).send().await;
        let mut s = state.lock().unwrap();
        s.published += 1;
        if let Err(e) = put {
            s.publish_errors += 1;
            s.publish_error = Some(format!("{e:?}"));
        }
    }
}

/// A CloudWatch client for `endpoint`: in the sandbox and the tests, the AWS-realism proxy in
/// front of moto (tests/fixtures/fault_proxy.py), which translates the SDK's Smithy RPC v2 CBOR
/// to the JSON protocol moto speaks. Request compression is off: CloudWatch accepts gzip bodies
/// for PutMetricData, but that proxy does not decode them (and the bodies here are small).
pub async fn cloudwatch_at(endpoint: &str) -> Result<aws_sdk_cloudwatch::Client, String> {
    use shard_provider::clients::aws::{AwsClients, AwsSettings};
    let aws = AwsClients::new(AwsSettings { region: Some("us-east-1".into()), ..Default::default() });
    let sdk = aws.sdk().await.map_err(|e| format!("AWS SDK configuration: {e}"))?;
    let config =
        aws_sdk_cloudwatch::config::Builder::from(sdk).endpoint_url(endpoint).disable_request_compression(true).build();
    Ok(aws_sdk_cloudwatch::Client::from_conf(config))
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// Counts of requests: in all, served per shard and per (shard, version), failed per reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub failed: u64,
    pub served: BTreeMap<String, u64>,
    pub versions: BTreeMap<(String, String), u64>,
    pub failures: BTreeMap<String, u64>,
    /// Failed requests that a shard's pods answered themselves (a 5xx with their X-Served-By),
    /// per (shard, version); the others failed in the proxy (502, 503) or on the way.
    pub answered_by: BTreeMap<(String, String), u64>,
    /// The first few failures: (seconds since the load started, what).
    pub samples: Vec<(f64, String)>,
}

impl Tally {
    /// What happened since `earlier` (a snapshot of the same tally).
    pub fn since(&self, earlier: &Tally) -> Tally {
        fn diff<K: Ord + Clone>(now: &BTreeMap<K, u64>, then: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
            now.iter()
                .map(|(k, v)| (k.clone(), v - then.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        }
        Tally {
            requests: self.requests - earlier.requests,
            failed: self.failed - earlier.failed,
            served: diff(&self.served, &earlier.served),
            versions: diff(&self.versions, &earlier.versions),
            failures: diff(&self.failures, &earlier.failures),
            answered_by: diff(&self.answered_by, &earlier.answered_by),
            samples: self.samples[earlier.samples.len()..].to_vec(),
        }
    }

    /// Requests served by each version, over all shards.
    pub fn by_version(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, v), n) in &self.versions {
            *out.entry(v.clone()).or_default() += n;
        }
        out
    }

    pub fn json(&self) -> Json {
        json!({
            "requests": self.requests,
            "failed": self.failed,
            "served": self.served,
            "versions": self.by_version(),
            "failures": self.failures,
            "failed_answered_by": self
                .answered_by
                .iter()
                .map(|((shard, version), n)| (format!("{shard} :{version}"), json!(n)))
                .collect::<serde_json::Map<String, Json>>(),
        })
    }

    /// "812 requests, 0 failed; shard-1 49 %, shard-2 51 %; :1 100 %".
    pub fn summary(&self) -> String {
        let pct = |n: u64| if self.requests == 0 { 0.0 } else { 100.0 * n as f64 / self.requests as f64 };
        let shards: Vec<String> = self.served.iter().map(|(s, n)| format!("{s} {:.0} %", pct(*n))).collect();
        let versions: Vec<String> = self.by_version().iter().map(|(v, n)| format!(":{v} {:.1} %", pct(*n))).collect();
        let mut out = format!("{} requests, {} failed", self.requests, self.failed);
        if !shards.is_empty() {
            out.push_str(&format!("; served by {}", shards.join(", ")));
        }
        if !versions.is_empty() {
            out.push_str(&format!("; versions {}", versions.join(", ")));
        }
        if !self.failures.is_empty() {
            let why: Vec<String> = self.failures.iter().map(|(k, n)| format!("{n} × {k}")).collect();
            out.push_str(&format!(" ({}", why.join(", ")));
            if !self.answered_by.is_empty() {
                let by: Vec<String> =
                    self.answered_by.iter().map(|((s, v), n)| format!("{n} by {s}'s pods on :{v}")).collect();
                out.push_str(&format!("; answered {}", by.join(", ")));
            }
            out.push(')');
        }
        out
    }
}

/// A steady rate of `GET /` through the proxy, from the moment the service is live until stopped.
pub struct Load {
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// `rate` requests a second to `proxy`, once `live` turns true.
    pub fn start(proxy: SocketAddr, rate: u32, mut live: tokio::sync::watch::Receiver<bool>) -> Load {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stop = CancellationToken::new();
        let (t, s) = (tally.clone(), stop.clone());
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = s.cancelled() => return,
                _ = live.wait_for(|v| *v) => {}
            }
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
            // A late tick (a busy machine) is not made up with a burst: the rate stays steady.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut inflight = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = s.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let t = t.clone();
                inflight.spawn(async move {
                    let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, request(proxy)).await {
                        Ok(r) => r,
                        Err(_) => Err(("no answer in 5 s".to_string(), None)),
                    };
                    let mut t = t.lock().unwrap();
                    t.requests += 1;
                    match outcome {
                        Ok((shard, version)) => {
                            *t.served.entry(shard.clone()).or_default() += 1;
                            *t.versions.entry((shard, version)).or_default() += 1;
                        }
                        Err((why, by)) => {
                            t.failed += 1;
                            if let Some(by) = by {
                                *t.answered_by.entry(by).or_default() += 1;
                            }
                            // The reason without the details (ports, ARNs) that make each unique.
                            let kind = why.split(':').next().unwrap_or(&why).to_string();
                            *t.failures.entry(kind).or_default() += 1;
                            if t.samples.len() < 20 {
                                t.samples.push((started.elapsed().as_secs_f64(), why));
                            }
                        }
                    }
                });
                while inflight.try_join_next().is_some() {}
            }
            // Requests in flight finish and are counted.
            while inflight.join_next().await.is_some() {}
        });
        Load { tally, stop, task }
    }

    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    /// Stops sending, waits for the requests in flight, and returns the whole tally.
    pub async fn stop(self) -> Tally {
        self.stop.cancel();
        let _ = self.task.await;
        self.tally.lock().unwrap().clone()
    }
}

/// Why a request failed, and the (shard, version) whose pods answered it, if they did.
type Failure = (String, Option<(String, String)>);

/// One request: Ok((shard, version)) from a 200 answer, else why it failed.
async fn request(proxy: SocketAddr) -> Result<(String, String), Failure> {
    let on_way = |e: std::io::Error| (format!("proxy: {e}"), None);
    let mut s = TcpStream::connect(proxy).await.map_err(on_way)?;
    let req = format!("GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(on_way)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.map_err(on_way)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| (format!("proxy: no HTTP answer: {text:?}"), None))?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        let by = head.lines().find_map(|l| l.strip_prefix("X-Served-By: ")).and_then(|v| {
            let (shard, version) = v.trim().split_once(' ')?;
            Some((shard.to_string(), version.to_string()))
        });
        return Err((format!("HTTP {status}: {}", body.trim()), by));
    }
    let mut words = body.split_whitespace();
    match (words.next(), words.next()) {
        (Some(shard), Some(version)) => Ok((shard.to_string(), version.to_string())),
        _ => Err((format!("HTTP 200 without shard and version: {body:?}"), None)),
    }
}

/// An ELBv2 client for `endpoint` (moto itself: the data plane reads the listener as the ALB's
/// nodes have it, not through the realism proxy the provider meets). The static credentials come
/// from the environment (AWS_ACCESS_KEY_ID, …).
pub async fn elbv2_at(endpoint: &str) -> Result<aws_sdk_elasticloadbalancingv2::Client, String> {
    use shard_provider::clients::aws::{AwsClients, AwsSettings, Endpoints};
    let aws = AwsClients::new(AwsSettings {
        region: Some("us-east-1".into()),
        endpoints: Endpoints { elbv2: Some(endpoint.to_string()), ..Default::default() },
        ..Default::default()
    });
    aws.elbv2().await.cloned().map_err(|e| format!("ELBv2 client: {e}"))
}
