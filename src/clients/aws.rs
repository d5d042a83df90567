//! AWS clients built from aws-config's default chain (env, profile, SSO, IRSA, IMDS) plus the
//! provider's overrides. Built on first use, not at ConfigureProvider: the configuration may
//! hold values that are unknown until apply, and many runs never call AWS at all. The one
//! exception builds the ELBv2 client in the background from ConfigureProvider, never waited for
//! and sending nothing ([`AwsClients::prepare_elbv2`]).

use super::server_clock::{DateHeaderInterceptor, ServerClock};
use crate::framework::{AttrPath, Diagnostics};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The AWS part of the provider configuration, as given (values may be unknown).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<AssumeRole>,
    pub endpoints: Endpoints,
    /// Names of attributes that were unknown at configure time.
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    pub elbv2: Option<String>,
    pub eks: Option<String>,
    pub sts: Option<String>,
    pub cloudwatch: Option<String>,
    pub route53: Option<String>,
}

/// Why an AWS call could not be made or failed. Mapped to a diagnostic at the resource boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("{0} depend on values known only after apply; AWS cannot be called until they are known")]
    SettingsUnknown(String),
    #[error("set `region` in the provider block, or AWS_REGION / a profile region in the environment")]
    NoRegion,
    /// `code` is the service's error code (e.g. `PriorityInUse`), when it sent one. `transient`:
    /// the failure may pass if the call is made again later (throttling, a 5xx, no answer).
    #[error("{why}: {chain}")]
    Api { call: &'static str, resource: String, why: String, chain: String, code: Option<String>, transient: bool },
}

impl AwsError {
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Throttling, a server error or no answer: worth trying again while time is left.
    pub fn is_transient(&self) -> bool {
        matches!(self, AwsError::Api { transient: true, .. })
    }
}

/// Calls `call` again after a transient failure (throttling, a 5xx, no answer) while `deadline`
/// leaves room, spaced 1 s doubling to 8 s, until Ctrl-C. The SDK's own attempts come first; this
/// covers a burst that outlasts them, so that a refresh or a plan never fails on a fault its
/// timeout could still outwait (the hardening run found a DescribeRules throttled past the SDK's
/// five attempts under 30 % injected faults). A persistent failure ends at the deadline with the
/// last error.
pub async fn retry_transient<T, F, Fut>(
    deadline: std::time::Instant,
    cancel: &tokio_util::sync::CancellationToken,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut pause = Duration::from_secs(1);
    loop {
        match call().await {
            Err(e) if e.is_transient() && std::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, pause_ms = pause.as_millis() as u64, "transient AWS failure, trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(e),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

impl From<AwsError> for Diagnostics {
    fn from(e: AwsError) -> Diagnostics {
        match &e {
            AwsError::SettingsUnknown(_) => {
                Diagnostics::error("Provider configuration is not known yet", e.to_string())
            }
            AwsError::NoRegion => Diagnostics::attr_error(AttrPath::attr("region"), "No AWS region", e.to_string()),
            AwsError::Api { call, resource, .. } => {
                Diagnostics::error(format!("{call} failed for {resource}"), e.to_string())
            }
        }
    }
}

/// Lazily-built SDK clients shared by every resource in this provider process. A clone shares
/// them (for [`AwsClients::prepare_elbv2`]'s background task).
#[derive(Clone)]
pub struct AwsClients {
    settings: Arc<AwsSettings>,
    sdk: Arc<OnceCell<aws_types::SdkConfig>>,
    elbv2: Arc<OnceCell<aws_sdk_elasticloadbalancingv2::Client>>,
    eks: Arc<OnceCell<aws_sdk_eks::Client>>,
    cloudwatch: Arc<OnceCell<aws_sdk_cloudwatch::Client>>,
    route53: Arc<OnceCell<aws_sdk_route53::Client>>,
    /// AWS's clock, from the `Date` of ELBv2 responses (the listener lock judges time in it).
    clock: Arc<ServerClock>,
    action_writes: ActionWrites,
}

/// Counts the starts and ends of this process's listener and rule action writes, so a refresh
/// read taken before or during one is not reused after it (listener_reads.rs).
#[derive(Debug, Clone, Default)]
pub struct ActionWrites(Arc<AtomicU64>);

impl ActionWrites {
    /// Changes whenever an action write starts or ends.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks an action write as started until the returned guard is dropped.
    pub fn start(&self) -> ActionWrite {
        self.0.fetch_add(1, Ordering::SeqCst);
        ActionWrite(self.0.clone())
    }
}

/// Held while an action write is out; dropping it (the write succeeded, failed or was
/// cancelled) changes the count again.
pub struct ActionWrite(Arc<AtomicU64>);

impl Drop for ActionWrite {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl AwsClients {
    pub fn new(settings: AwsSettings) -> AwsClients {
        AwsClients {
            settings: Arc::new(settings),
            sdk: Arc::default(),
            elbv2: Arc::default(),
            eks: Arc::default(),
            cloudwatch: Arc::default(),
            route53: Arc::default(),
            clock: Arc::default(),
            action_writes: ActionWrites::default(),
        }
    }

    /// Builds the SDK configuration and the ELBv2 client in the background, so that the first
    /// refresh read does not wait for it (about 6 ms: aws-config's chains and profile files, the
    /// HTTPS client; docs/benchmarks.md, "Run 6"). Terraform configures the provider some 10–15
    /// ms before its first read. Nothing is sent: aws-config's `ConfigLoader::load` (1.13,
    /// src/lib.rs) builds the credentials chain without calling `provide_credentials`, which the
    /// first request does, as before. Only when the region is configured or in the environment:
    /// otherwise its region chain (default_provider/region.rs: environment, profile, then IMDS)
    /// may probe the instance metadata service, a network call that a run without AWS calls must
    /// not make.
    pub fn prepare_elbv2(&self) {
        let region_known_locally = self.settings.region.is_some()
            || ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().any(|v| std::env::var_os(v).is_some_and(|r| !r.is_empty()));
        if !self.settings.unknown.is_empty() || !region_known_locally {
            return;
        }
        let this = self.clone();
        // A failure is not kept: the first real use builds again and reports it.
        tokio::spawn(async move { this.elbv2().await.map(|_| ()) });
    }

    /// This process's action writes (started and ended), shared by its clients.
    pub fn action_writes(&self) -> &ActionWrites {
        &self.action_writes
    }

    pub fn clock(&self) -> &Arc<ServerClock> {
        &self.clock
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// Where ELBv2 calls go, for error messages.
    pub fn elbv2_endpoint(&self) -> String {
        match &self.settings.endpoints.elbv2 {
            Some(e) => e.clone(),
            None => format!(
                "the regional ELBv2 endpoint{}",
                self.settings.region.as_deref().map(|r| format!(" of {r}")).unwrap_or_default()
            ),
        }
    }

    /// The SDK configuration (credentials chain, region, retries), built once.
    pub async fn sdk(&self) -> Result<&aws_types::SdkConfig, AwsError> {
        if !self.settings.unknown.is_empty() {
            return Err(AwsError::SettingsUnknown(self.settings.unknown.join(", ")));
        }
        self.sdk.get_or_try_init(|| load_sdk_config(&self.settings)).await
    }

    pub async fn elbv2(&self) -> Result<&aws_sdk_elasticloadbalancingv2::Client, AwsError> {
        let sdk = self.sdk().await?;
        Ok(self
            .elbv2
            .get_or_init(|| async {
                let mut b = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
                    .interceptor(DateHeaderInterceptor(self.clock.clone()))
                    .retry_partition(unlimited_retry_partition("shard-elbv2"));
                if let Some(e) = &self.settings.endpoints.elbv2 {
                    b = b.endpoint_url(e);
                }
                aws_sdk_elasticloadbalancingv2::Client::from_conf(b.build())
            })
            .await)
    }

    pub async fn cloudwatch(&self) -> Result<&aws_sdk_cloudwatch::Client, AwsError> {
        let sdk = self.sdk().await?;
        Ok(self
            .cloudwatch
            .get_or_init(|| async {
                let mut b = aws_sdk_cloudwatch::config::Builder::from(sdk);
                if let Some(e) = &self.settings.endpoints.cloudwatch {
                    b = b.endpoint_url(e);
                }
                aws_sdk_cloudwatch::Client::from_conf(b.build())
            })
            .await)
    }

    /// Route 53 (a global service: the SDK's endpoint rules send it to the partition's one
    /// endpoint whatever the region). Its responses' `Date` feeds the same server clock, which
    /// judges the DNS lock's expiry (clients::dns_lock).
    pub async fn route53(&self) -> Result<&aws_sdk_route53::Client, AwsError> {
        let sdk = self.sdk().await?;
        Ok(self
            .route53
            .get_or_init(|| async {
                let mut b = aws_sdk_route53::config::Builder::from(sdk)
                    .interceptor(DateHeaderInterceptor(self.clock.clone()))
                    .retry_partition(unlimited_retry_partition("shard-route53"));
                if let Some(e) = &self.settings.endpoints.route53 {
                    b = b.endpoint_url(e);
                }
                aws_sdk_route53::Client::from_conf(b.build())
            })
            .await)
    }

    /// Where Route 53 calls go, for error messages.
    pub fn route53_endpoint(&self) -> String {
        self.settings.endpoints.route53.clone().unwrap_or_else(|| "the Route 53 endpoint".to_string())
    }

    pub async fn eks(&self) -> Result<&aws_sdk_eks::Client, AwsError> {
        let sdk = self.sdk().await?;
        Ok(self
            .eks
            .get_or_init(|| async {
                let mut b =
                    aws_sdk_eks::config::Builder::from(sdk).retry_partition(unlimited_retry_partition("shard-eks"));
                if let Some(e) = &self.settings.endpoints.eks {
                    b = b.endpoint_url(e);
                }
                aws_sdk_eks::Client::from_conf(b.build())
            })
            .await)
    }
}

/// A retry partition without the standard mode's retry quota. The quota (a token bucket that
/// retries drain) is a client-side circuit breaker for long-lived services; in a provider process
/// that lives for one Terraform run it turns a burst of throttling into failures after a single
/// attempt, for every call of the run. terraform-provider-aws made the same choice for its Go SDK
/// v2 clients (`RateLimiter: ratelimit.None`, "to maintain behavioral compatibility with AWS SDK
/// for Go v1"). The attempt count and backoff still bound each call.
fn unlimited_retry_partition(name: &'static str) -> aws_smithy_runtime::client::retries::RetryPartition {
    use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
    RetryPartition::custom(name).token_bucket(TokenBucket::unlimited()).build()
}

async fn load_sdk_config(s: &AwsSettings) -> Result<aws_types::SdkConfig, AwsError> {
    // Standard retry mode: throttling and 5xx are retried with jittered backoff by the SDK itself.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Backoff capped at 2 s: five attempts then fit in one call's 10 s budget under the
        // listener lock (clients::listener_lock::CALL_TIMEOUT), 1 + 2 + 2 + 2 s of sleeps at most.
        .retry_config(RetryConfig::standard().with_max_attempts(5).with_max_backoff(Duration::from_secs(2)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(region) = &s.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &s.profile {
        loader = loader.profile_name(profile);
    }
    let base = loader.load().await;
    if base.region().is_none() {
        return Err(AwsError::NoRegion);
    }
    let Some(role) = &s.assume_role else {
        return Ok(base);
    };
    let mut sts_config = base.to_builder();
    if let Some(e) = &s.endpoints.sts {
        sts_config.set_endpoint_url(Some(e.clone()));
    }
    let mut assume = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(role.session_name.clone().unwrap_or_else(|| "terraform-provider-shard".into()));
    if let Some(id) = &role.external_id {
        assume = assume.external_id(id);
    }
    let provider = assume.configure(&sts_config.build()).build().await;
    Ok(base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
}

/// An AWS failure as a diagnostic naming the call, the resource and the endpoint, with the
/// error's cause chain (never credentials: the SDK does not put them in errors).
pub fn api_error<E>(
    call: &'static str,
    resource: &str,
    endpoint: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> AwsError
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let chain = cause_chain(err);
    let why = if chain.contains("loading credentials") {
        "could not get AWS credentials (from assume_role through the sts endpoint, or the default chain)".to_string()
    } else {
        match err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!("could not reach {endpoint}"),
            SdkError::ServiceError(_) => format!("{endpoint} refused it"),
            _ => format!("the request to {endpoint} failed"),
        }
    };
    let code = err.as_service_error().and_then(|s| s.code()).map(str::to_string);
    // The SDK's own classification of what it retries (aws-smithy-runtime's retry classifiers):
    // no answer, a 5xx, or one of the throttling codes.
    let transient = match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || code.as_deref().is_some_and(|c| {
                    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&c)
                        || aws_runtime::retries::classifiers::TRANSIENT_ERRORS.contains(&c)
                })
        }
        _ => false,
    };
    AwsError::Api { call, resource: resource.to_string(), why, chain, code, transient }
}

/// "outer: cause: root cause", skipping repeated messages. Service errors show their code and
/// message (e.g. "ListenerNotFound: One or more listeners not found").
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio_util::sync::CancellationToken;

    fn api(transient: bool) -> AwsError {
        AwsError::Api {
            call: "DescribeRules",
            resource: "listener rule r".into(),
            why: "refused".into(),
            chain: "Throttling".into(),
            code: Some("Throttling".into()),
            transient,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_outwaited_until_the_deadline_and_others_return_at_once() {
        let calls = AtomicU32::new(0);
        let far = std::time::Instant::now() + Duration::from_secs(600);
        let cancel = CancellationToken::new();
        let answer = retry_transient(far, &cancel, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 3 { Err(api(true)) } else { Ok(n) }
        })
        .await;
        assert_eq!(answer.unwrap(), 3, "three throttled answers, then the fourth call succeeds");

        calls.store(0, Ordering::SeqCst);
        let refused: Result<(), _> = retry_transient(far, &cancel, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api(false))
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not tried again");

        // No room before the deadline: the transient error is returned, not waited on.
        calls.store(0, Ordering::SeqCst);
        let near = std::time::Instant::now() + Duration::from_millis(500);
        let late: Result<(), _> = retry_transient(near, &cancel, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api(true))
        })
        .await;
        assert!(late.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
