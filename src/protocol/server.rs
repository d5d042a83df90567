//! The go-plugin side of a provider process: handshake, listener, AutoMTLS, and the gRPC
//! services go-plugin expects next to the provider (health, controller, broker, stdio).

use super::go_plugin::{
    self, ConnInfo, StdioData, grpc_broker_server::GrpcBroker, grpc_broker_server::GrpcBrokerServer,
    grpc_controller_server::GrpcController, grpc_controller_server::GrpcControllerServer, grpc_stdio_server::GrpcStdio,
    grpc_stdio_server::GrpcStdioServer,
};
use super::health::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus, health_server::Health,
    health_server::HealthServer,
};
use super::tfplugin6::provider_server::{Provider, ProviderServer};
use super::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, timing, tls};
use futures::Stream;
use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically. (This is a Terraform provider: run it through terraform.)"
    )]
    NotLaunchedByTerraform,
    #[error(
        "Terraform offered plugin protocol versions {offered:?}; this provider speaks only version {PROTOCOL_VERSION}"
    )]
    UnsupportedProtocol { offered: String },
    #[error("no listener could be opened: {0}")]
    Listen(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// How this process was started.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Serve without the handshake or TLS and print a `TF_REATTACH_PROVIDERS` value instead.
    pub debug: bool,
    /// Full provider address for the reattach line, e.g. `registry.terraform.io/shardkit/shard`.
    pub provider_address: String,
}

/// Where we listen, as announced in the handshake line.
enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

impl Listener {
    fn network(&self) -> &'static str {
        match self {
            Listener::Unix(..) => "unix",
            Listener::Tcp(_) => "tcp",
        }
    }
    fn address(&self) -> String {
        match self {
            Listener::Unix(_, path) => path.display().to_string(),
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Checks the go-plugin environment before anything else happens.
pub fn check_handshake_env() -> Result<(), ServeError> {
    if std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        return Err(ServeError::NotLaunchedByTerraform);
    }
    if let Ok(offered) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        let speaks = offered.split(',').any(|v| v.trim().parse() == Ok(PROTOCOL_VERSION));
        if !offered.trim().is_empty() && !speaks {
            return Err(ServeError::UnsupportedProtocol { offered });
        }
    }
    Ok(())
}

async fn open_listener() -> Result<Listener, ServeError> {
    let dir = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("plugin{}", rand::random::<u64>()));
    match UnixListener::bind(&path) {
        Ok(l) => return Ok(Listener::Unix(l, path)),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unix socket unavailable, using tcp")
        }
    }
    let env_port = |k: &str, d: u16| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (min, max) = (env_port("PLUGIN_MIN_PORT", 10000), env_port("PLUGIN_MAX_PORT", 25000));
    for port in min..=max {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            return Ok(Listener::Tcp(l));
        }
    }
    Err(ServeError::Listen(format!("no free tcp port in {min}..={max} and no unix socket in {}", dir.display())))
}

/// Runs the plugin until Terraform calls `GRPCController.Shutdown` (or, in debug mode, Ctrl-C).
pub async fn serve<P: Provider>(provider: P, launch: Launch) -> Result<(), ServeError> {
    if !launch.debug {
        check_handshake_env()?;
    }
    let listener = open_listener().await?;
    timing::mark("listener");
    let tls = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !launch.debug && !pem.trim().is_empty() => Some(tls::server_tls(&pem)?),
        _ => None,
    };
    timing::mark("tls_config");

    if let Some(why) = plaintext_reason(launch.debug, tls.is_some()) {
        tracing::warn!(address = %listener.address(), "serving gRPC in plaintext: {why}");
        if launch.debug {
            eprintln!("Warning: serving gRPC in plaintext on {}: {why}", listener.address());
        }
    }
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let line = handshake_line(&listener, tls.as_ref());
    if launch.debug {
        print_reattach(&listener, &launch.provider_address);
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    timing::mark("handshake_line");
    watch_interrupts(launch.debug, shutdown_tx.clone());

    let incoming = accept_loop(listener, tls.map(|t| t.config));
    let services = tonic::transport::Server::builder()
        .layer(timing::TimingLayer)
        .add_service(
            ProviderServer::new(provider)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(HealthServer::new(PluginHealth))
        .add_service(GrpcControllerServer::new(Controller { shutdown: shutdown_tx.clone() }))
        .add_service(GrpcBrokerServer::new(Broker { shutdown: shutdown_rx.clone() }))
        .add_service(GrpcStdioServer::new(Stdio { shutdown: shutdown_rx.clone() }));
    let mut signal = shutdown_rx.clone();
    let server = services.serve_with_incoming_shutdown(incoming, async move {
        let _ = signal.wait_for(|s| *s).await;
    });
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => res?,
        _ = shutdown_rx.wait_for(|s| *s) => {
            // Let the Shutdown reply and in-flight calls finish briefly; Terraform kills
            // plugins that linger after Shutdown, and idle streams would hold us forever.
            let _ = tokio::time::timeout(Duration::from_millis(500), server).await;
        }
    }
    tracing::debug!("plugin server stopped");
    timing::report();
    Ok(())
}

/// Why the server would serve without TLS, if it would: `--debug` (a developer's reattach, no
/// handshake), or a Terraform that sent no `PLUGIN_CLIENT_CERT` (AutoMTLS off). Whenever this is
/// `Some`, the server says so in its log before serving.
pub fn plaintext_reason(debug: bool, tls: bool) -> Option<&'static str> {
    match (debug, tls) {
        (_, true) => None,
        (true, false) => Some("--debug serves without TLS; anything on this machine can connect"),
        (false, false) => {
            Some("Terraform sent no PLUGIN_CLIENT_CERT (AutoMTLS off), so calls are not encrypted or authenticated")
        }
    }
}

fn handshake_line(listener: &Listener, tls: Option<&tls::ServerTls>) -> String {
    format!(
        "1|{PROTOCOL_VERSION}|{}|{}|grpc|{}",
        listener.network(),
        listener.address(),
        tls.map(tls::ServerTls::announced_cert).unwrap_or_default()
    )
}

fn print_reattach(listener: &Listener, provider_address: &str) {
    let reattach = serde_json::json!({
        provider_address: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": listener.network(), "String": listener.address() }
        }
    });
    println!(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    );
}

/// Terraform handles Ctrl-C itself (it calls StopProvider), so a plugin ignores SIGINT the way
/// go-plugin does. In debug mode nobody else stops us, so Ctrl-C shuts down.
fn watch_interrupts(debug: bool, shutdown: watch::Sender<bool>) {
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if debug {
                let _ = shutdown.send(true);
                return;
            }
            tracing::debug!("interrupt ignored; Terraform will call StopProvider");
        }
    });
}

type Incoming = tokio_stream::wrappers::ReceiverStream<Result<Conn, std::io::Error>>;

/// Accepts connections, completing TLS handshakes concurrently so a slow or refused client
/// never blocks the next one. Refused handshakes are logged and dropped.
fn accept_loop(listener: Listener, tls: Option<Arc<rustls::ServerConfig>>) -> Incoming {
    let (tx, rx) = mpsc::channel(16);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let stream: Box<dyn AsyncStream> = match &listener {
                Listener::Unix(l, _) => match l.accept().await {
                    Ok((s, _)) => Box::new(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                Listener::Tcp(l) => match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        Box::new(s)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let tx = tx.clone();
            match &acceptor {
                None => {
                    if tx.send(Ok(Conn(stream))).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let start = std::time::Instant::now();
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                timing::record("TLS handshake", start.elapsed());
                                let _ = tx.send(Ok(Conn(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => tracing::warn!(error = %e, "TLS handshake refused"),
                            Err(_) => tracing::warn!("TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}

/// One accepted connection, plain or TLS, over unix or tcp.
pub struct Conn(Box<dyn AsyncStream>);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// grpc.health.v1: go-plugin checks service "plugin".
struct PluginHealth;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Health for PluginHealth {
    async fn check(&self, req: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        match req.into_inner().service.as_str() {
            "" | "plugin" => Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 })),
            other => Err(Status::not_found(format!("unknown service {other:?}"))),
        }
    }

    type WatchStream = BoxStream<HealthCheckResponse>;

    async fn watch(&self, req: Request<HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let status = self.check(req).await?.into_inner();
        let stream = futures::stream::once(async move { Ok(status) }).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}

struct Controller {
    shutdown: watch::Sender<bool>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<go_plugin::Empty>) -> Result<Response<go_plugin::Empty>, Status> {
        tracing::debug!("shutdown requested by Terraform");
        let _ = self.shutdown.send(true);
        Ok(Response::new(go_plugin::Empty {}))
    }
}

/// A stream that ends when the plugin shuts down and never yields before.
fn idle_until_shutdown<T: Send + 'static>(mut shutdown: watch::Receiver<bool>) -> BoxStream<T> {
    Box::pin(
        futures::stream::once(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .filter_map(|_| async { None }),
    )
}

struct Broker {
    shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = BoxStream<ConnInfo>;

    async fn start_stream(
        &self,
        req: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        // Providers never dial back; drain what Terraform sends so the stream stays healthy.
        let mut inbound = req.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
        Ok(Response::new(idle_until_shutdown(self.shutdown.clone())))
    }
}

struct Stdio {
    shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(idle_until_shutdown(self.shutdown.clone())))
    }
}

use futures::StreamExt as _;
