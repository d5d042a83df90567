//! Kubernetes clients: one per connection, built on first use (inside the operation's
//! deadline) and cached for the life of the provider process.

use super::connection::{DEFAULT_EXEC_API_VERSION, DirectAuth, ExecBlock, Source};
use super::error::{Call, KubeError};
use super::exec::ExecPlugin;
use crate::clients::aws::{AwsClients, cause_chain as chain};
use crate::clients::eks::describe_cluster;
use crate::clients::eks_token;
use crate::clients::live_token::LiveToken;
use crate::clients::pem::certificates;
use crate::framework::{Ctx, Interrupted};
use kube::config::{AuthInfo, ExecConfig, KubeConfigOptions, Kubeconfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// A built client and the host it talks to (for messages). Every call goes through
/// [`KubeClient::call`].
#[derive(Clone)]
pub struct KubeClient {
    pub client: kube::Client,
    pub host: String,
}

/// Kubernetes clients of this provider process: one per connection, built at first use.
#[derive(Default)]
pub struct KubeClients {
    cells: Mutex<HashMap<String, Arc<OnceCell<KubeClient>>>>,
    built: std::sync::atomic::AtomicUsize,
}

impl KubeClients {
    /// The client for `source`, building it on first use: reading a kubeconfig, or describing
    /// an EKS cluster and signing its first token, within the operation's deadline.
    pub async fn connect<D>(&self, ctx: &Ctx<D>, aws: &AwsClients, source: &Source) -> Result<KubeClient, KubeError> {
        let host = source.describe();
        let last = match source {
            Source::Eks { .. } => "describing the EKS cluster and signing a token",
            Source::Kubeconfig { .. } => "reading the kubeconfig",
            Source::Direct { .. } => "building the client",
        };
        match ctx.bounded(self.client(aws, source)).await {
            Ok(built) => built,
            Err(Interrupted::TimedOut(after)) => {
                Err(KubeError::TimedOut { host, call: Box::new(Call::connect()), after, last: last.into() })
            }
            Err(Interrupted::Cancelled) => {
                Err(KubeError::Cancelled { host, call: Box::new(Call::connect()), last: last.into() })
            }
        }
    }

    /// The client for `source`, building it on first use (unbounded: prefer [`Self::connect`]).
    pub async fn client(&self, aws: &AwsClients, source: &Source) -> Result<KubeClient, KubeError> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(source.cache_key()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            let built = build(aws, source).await?;
            self.built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(connection = %source.describe(), "kubernetes client built");
            Ok(built)
        })
        .await
        .cloned()
    }

    /// How many clients this process has built (each connection at most once).
    pub fn built(&self) -> usize {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn base_config(host: &str, ca_pem: Option<&str>, insecure: bool) -> Result<kube::Config, KubeError> {
    let uri: http::Uri = host
        .parse()
        .map_err(|e| KubeError::Config { origin: host.to_string(), message: format!("invalid URL: {e}") })?;
    let mut config = kube::Config::new(uri);
    config.connect_timeout = Some(Duration::from_secs(10));
    config.accept_invalid_certs = insecure;
    if let Some(pem) = ca_pem {
        config.root_cert = Some(certificates(pem));
    }
    config.default_retry = false; // see `KubeClient::call`
    Ok(config)
}

async fn build(aws: &AwsClients, source: &Source) -> Result<KubeClient, KubeError> {
    let config_error = |message: String| KubeError::Config { origin: source.describe(), message };
    match source {
        Source::Kubeconfig { path, context } => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| config_error(chain(&e)))?;
            let options = KubeConfigOptions { context: context.clone(), ..Default::default() };
            let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| config_error(chain(&e)))?;
            config.default_retry = false; // see `KubeClient::call`
            let host = config.cluster_url.to_string().trim_end_matches('/').to_string();
            // The kubeconfig user's credential plugin is run here, not by kube-rs (see `exec`).
            let plugin = config.auth_info.exec.as_ref().and_then(ExecPlugin::from_config);
            let token = match plugin {
                Some(plugin) => {
                    config.auth_info.exec = None;
                    Some(plugin_token(&host, plugin).await?)
                }
                None => None,
            };
            finish(config, token, host, source).await
        }
        Source::Direct { host, ca_pem, insecure, auth } => {
            let mut config = base_config(host, ca_pem.as_deref(), *insecure)?;
            let token = match auth {
                DirectAuth::Token(t) => {
                    config.auth_info = AuthInfo { token: Some(t.clone().into()), ..Default::default() };
                    None
                }
                DirectAuth::Exec(e) => match ExecPlugin::from_config(&exec_config(e)) {
                    Some(plugin) => Some(plugin_token(host, plugin).await?),
                    None => return Err(config_error("the exec block names no command".into())),
                },
                DirectAuth::None => None,
            };
            finish(config, token, host.clone(), source).await
        }
        Source::Eks { cluster } => {
            let eks_error = |message: String| KubeError::Eks { cluster: cluster.clone(), message };
            let described =
                describe_cluster(aws, cluster).await.map_err(|e| eks_error(format!("DescribeCluster failed: {e}")))?;
            let (endpoint, ca_pem) = described.endpoint_and_ca().map_err(eks_error)?;
            let signer = eks_token::signer_for(aws, cluster).await.map_err(eks_error)?;
            let token = LiveToken::start(signer).await.map_err(eks_error)?;
            let config = base_config(&endpoint, Some(&ca_pem), false)?;
            finish(config, Some(token), endpoint, source).await
        }
    }
}

/// The first token of a credential plugin, within the caller's deadline (the plugin is killed
/// when it runs out), and later ones before each expires.
async fn plugin_token(host: &str, plugin: ExecPlugin) -> Result<Arc<LiveToken>, KubeError> {
    LiveToken::start(plugin).await.map_err(|message| KubeError::Plugin { host: host.to_string(), message })
}

/// The client: `token`, when the credentials are a live token, on every request.
async fn finish(
    config: kube::Config,
    token: Option<Arc<LiveToken>>,
    host: String,
    source: &Source,
) -> Result<KubeClient, KubeError> {
    let config_error = |message: String| KubeError::Config { origin: source.describe(), message };
    // kube-rs builds its auth layer here; for what the provider does not run itself (a plugin
    // that wants provideClusterInfo, an auth-provider) that blocks, so not on an async worker.
    let builder = tokio::task::spawn_blocking(move || kube::client::ClientBuilder::try_from(config))
        .await
        .map_err(|e| config_error(format!("building the client failed: {e}")))?
        .map_err(|e| config_error(chain(&e)))?;
    let client = match token {
        Some(token) => builder.with_layer(&BearerLayer(token)).with_layer(&RequestLog).build(),
        None => builder.with_layer(&RequestLog).build(),
    };
    Ok(KubeClient { client, host })
}

fn exec_config(e: &ExecBlock) -> ExecConfig {
    ExecConfig {
        api_version: Some(e.api_version.clone().unwrap_or_else(|| DEFAULT_EXEC_API_VERSION.to_string())),
        command: Some(e.command.clone()),
        args: e.args.clone(),
        env: e.env.as_ref().map(|env| {
            env.iter()
                .map(|(k, v)| HashMap::from([("name".to_string(), k.clone()), ("value".to_string(), v.clone())]))
                .collect()
        }),
        drop_env: None,
        install_hint: None,
        interactive_mode: Some(kube::config::ExecInteractiveMode::Never),
        provide_cluster_info: false,
        cluster: None,
        other: Default::default(),
    }
}

/// Logs every request a client sends at debug level, method and path only (never headers), so
/// the provider's log shows what a resource costs in API calls (`kube_request=...`).
#[derive(Clone, Copy)]
struct RequestLog;

type BodyRequest = http::Request<kube::client::Body>;

impl<S> tower::Layer<S> for RequestLog {
    type Service = tower::util::MapRequest<S, fn(BodyRequest) -> BodyRequest>;

    fn layer(&self, inner: S) -> Self::Service {
        tower::util::MapRequest::new(inner, log_request as fn(BodyRequest) -> BodyRequest)
    }
}

fn log_request(req: BodyRequest) -> BodyRequest {
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    tracing::debug!(kube_request = %format!("{} {target}", req.method()), "kubernetes request");
    req
}

/// Sets `Authorization: Bearer <current token>` (EKS, a credential plugin) on every request.
#[derive(Clone)]
struct BearerLayer(Arc<LiveToken>);

impl<S> tower::Layer<S> for BearerLayer {
    type Service = tower::util::MapRequest<
        S,
        Box<dyn Fn(http::Request<kube::client::Body>) -> http::Request<kube::client::Body> + Send + Sync>,
    >;

    fn layer(&self, inner: S) -> Self::Service {
        let token = self.0.clone();
        tower::util::MapRequest::new(
            inner,
            Box::new(move |mut req: http::Request<kube::client::Body>| {
                if let Ok(mut value) = http::HeaderValue::from_str(&format!("Bearer {}", token.get())) {
                    value.set_sensitive(true);
                    req.headers_mut().insert(http::header::AUTHORIZATION, value);
                }
                req
            }),
        )
    }
}
