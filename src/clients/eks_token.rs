//! Bearer tokens for EKS clusters, made in-process the way `aws eks get-token` and
//! aws-iam-authenticator make them (no aws CLI, no exec plugin): a presigned STS
//! `GetCallerIdentity` URL whose signature covers the header `x-k8s-aws-id: <cluster name>`,
//! base64url-encoded without padding behind the prefix `k8s-aws-v1.`.
//!
//! EKS accepts such a token for 15 minutes after it was signed (the `X-Amz-Expires=60` in the
//! URL is not what bounds it; aws-iam-authenticator checks the signing time):
//! <https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html> and
//! <https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster>.
//! A client therefore re-signs well before that: see [`REFRESH_EVERY`].

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use std::time::{Duration, SystemTime};

/// The header whose signed value binds the token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// How long EKS accepts a token after it was signed.
pub const TOKEN_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// Tokens are valid for 15 minutes; a fresh one is signed every 5.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("could not get AWS credentials to sign an EKS token: {0}")]
    Credentials(String),
    #[error("could not sign the EKS token: {0}")]
    Signing(String),
}

/// The STS endpoint a token is signed for: the provider's `endpoints.sts`, else the regional one.
pub fn sts_url(sts_endpoint: Option<&str>, region: &str) -> String {
    let base = match sts_endpoint {
        Some(e) => e.trim_end_matches('/').to_string(),
        None => format!("https://sts.{region}.amazonaws.com"),
    };
    format!("{base}/?Action=GetCallerIdentity&Version=2011-06-15")
}

/// Signs a token for `cluster` at `now` (pure: no I/O).
pub fn presign(
    cluster: &str,
    region: &str,
    sts_url: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<String, TokenError> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into();
    let signable =
        SignableRequest::new("GET", sts_url, std::iter::once((CLUSTER_ID_HEADER, cluster)), SignableBody::Bytes(&[]))
            .map_err(|e| TokenError::Signing(e.to_string()))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| TokenError::Signing(e.to_string()))?.into_parts();
    let mut request =
        http::Request::builder().method("GET").uri(sts_url).body(()).map_err(|e| TokenError::Signing(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    let url = request.uri().to_string();
    Ok(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)))
}

/// Signs tokens for one cluster with the provider's credentials.
#[derive(Clone)]
pub struct Signer {
    pub cluster: String,
    pub region: String,
    pub sts_url: String,
    pub credentials: SharedCredentialsProvider,
}

/// A signer for `cluster` with the provider's AWS credentials, region and STS endpoint.
pub async fn signer_for(aws: &super::aws::AwsClients, cluster: &str) -> Result<Signer, String> {
    let sdk = aws.sdk().await.map_err(|e| e.to_string())?;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let credentials = sdk.credentials_provider().ok_or_else(|| "no AWS credentials to sign a token".to_string())?;
    Ok(Signer {
        cluster: cluster.to_string(),
        sts_url: sts_url(aws.settings().endpoints.sts.as_deref(), &region),
        region,
        credentials,
    })
}

impl Signer {
    pub async fn token(&self) -> Result<String, TokenError> {
        let creds = self.credentials.provide_credentials().await.map_err(|e| {
            TokenError::Credentials(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
        })?;
        presign(&self.cluster, &self.region, &self.sts_url, &creds, SystemTime::now())
    }
}

/// A client's EKS tokens: a fresh one every [`REFRESH_EVERY`] (EKS accepts each for 15 minutes).
#[async_trait::async_trait]
impl super::live_token::TokenSource for Signer {
    async fn fetch(&self) -> Result<(String, Option<Duration>), String> {
        Ok((self.token().await.map_err(|e| e.to_string())?, Some(REFRESH_EVERY)))
    }

    fn describe(&self) -> String {
        format!("EKS cluster {}", self.cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(token: &str) -> String {
        let b64 = token.strip_prefix(TOKEN_PREFIX).expect("prefix");
        assert!(!b64.contains('=') && !b64.contains('+') && !b64.contains('/'), "base64url without padding: {b64}");
        String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn a_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "test");
        let url = sts_url(None, "eu-west-1");
        let token = presign("shard-2", "eu-west-1", &url, &creds, SystemTime::UNIX_EPOCH).unwrap();
        let url = decoded(&token);
        assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"));
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F19700101%2Feu-west-1%2Fsts%2Faws4_request",
            "X-Amz-Date=19700101T000000Z",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} missing in {url}");
        }
        assert!(!url.contains("secret"), "the secret key never appears");
        // The signature covers the cluster name: another cluster gets another token.
        let other = presign("shard-3", "eu-west-1", &sts_url(None, "eu-west-1"), &creds, SystemTime::UNIX_EPOCH);
        assert_ne!(other.unwrap(), token);
    }

    #[test]
    fn a_custom_sts_endpoint_is_used() {
        assert_eq!(
            sts_url(Some("http://127.0.0.1:5000/"), "us-east-1"),
            "http://127.0.0.1:5000/?Action=GetCallerIdentity&Version=2011-06-15"
        );
    }
}
