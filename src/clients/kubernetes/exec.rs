//! Credential plugins (`client.authentication.k8s.io` ExecCredential), run by the provider
//! itself instead of by kube-rs. kube-rs runs a plugin with a blocking call while the client is
//! built, on whatever thread builds it, with no timeout: on the provider's two async worker
//! threads, two plugins that hang stop every RPC, deadline and Ctrl-C. Here a plugin is an
//! async child process with a timeout that is killed when it runs out or the operation ends,
//! and its output never reaches a message (it holds the token).
//!
//! Protocol: <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins>
//! (`KUBERNETES_EXEC_INFO` in the environment; an ExecCredential on stdout with `status.token`
//! and an optional RFC 3339 `status.expirationTimestamp`).

use crate::clients::live_token::TokenSource;
use async_trait::async_trait;
use serde_json::{Value as Json, json};
use std::time::Duration;

/// How long one run of a plugin may take (kubectl has no limit; an interactive login flow is
/// refused by `interactive: false` anyway). The operation's deadline bounds the first run too.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A token is replaced this long before it expires.
const EARLY: Duration = Duration::from_secs(60);

/// One credential plugin, as a connection's `exec` block or a kubeconfig user names it.
#[derive(Clone, PartialEq)]
pub struct ExecPlugin {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub api_version: String,
}

/// Names the program only: arguments and environment may carry secrets.
impl std::fmt::Debug for ExecPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExecPlugin({})", self.command)
    }
}

impl ExecPlugin {
    /// From a kubeconfig user's (or our block's) `exec`. None for what this runner does not do:
    /// `provideClusterInfo` (the plugin wants the cluster in `KUBERNETES_EXEC_INFO`), which is
    /// left to kube-rs.
    pub fn from_config(exec: &kube::config::ExecConfig) -> Option<ExecPlugin> {
        if exec.provide_cluster_info {
            return None;
        }
        let env = exec
            .env
            .iter()
            .flatten()
            .filter_map(|pair| Some((pair.get("name")?.clone(), pair.get("value")?.clone())))
            .collect();
        Some(ExecPlugin {
            command: exec.command.clone()?,
            args: exec.args.clone().unwrap_or_default(),
            env,
            api_version: exec
                .api_version
                .clone()
                .unwrap_or_else(|| super::connection::DEFAULT_EXEC_API_VERSION.to_string()),
        })
    }

    fn program(&self) -> &str {
        self.command.rsplit('/').next().unwrap_or(&self.command)
    }

    /// Runs the plugin once: its token and when it expires. The child is killed if it outlives
    /// [`PLUGIN_TIMEOUT`] or the future is dropped (the operation's deadline, Ctrl-C).
    pub async fn run(&self) -> Result<(String, Option<jiff::Timestamp>), String> {
        let info =
            json!({ "apiVersion": self.api_version, "kind": "ExecCredential", "spec": { "interactive": false } });
        let mut command = tokio::process::Command::new(&self.command);
        command
            .args(&self.args)
            .env_clear()
            .envs(plugin_environment(std::env::vars(), &self.env))
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let program = self.program();
        let child = command.spawn().map_err(|e| format!("could not start the credential plugin {program}: {e}"))?;
        let output = match tokio::time::timeout(PLUGIN_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(format!("the credential plugin {program} failed: {e}")),
            Err(_) => {
                return Err(format!(
                    "the credential plugin {program} did not answer within {}s; it was stopped",
                    PLUGIN_TIMEOUT.as_secs()
                ));
            }
        };
        if !output.status.success() {
            return Err(format!(
                "the credential plugin {program} exited with {} (its output is not shown: it may hold credentials)",
                output.status
            ));
        }
        parse_credential(&output.stdout).map_err(|why| format!("the credential plugin {program} {why}"))
    }
}

/// The token and expiry of an ExecCredential; the error never quotes the output. (`pub` for
/// the fuzz target `kubeconfig`.)
pub fn parse_credential(stdout: &[u8]) -> Result<(String, Option<jiff::Timestamp>), String> {
    let doc: Json = serde_json::from_slice(stdout)
        .map_err(|_| "printed no ExecCredential JSON (the output is not shown: it may hold credentials)".to_string())?;
    let status = &doc["status"];
    let Some(token) = status["token"].as_str().filter(|t| !t.is_empty()) else {
        let why = if status["clientCertificateData"].is_string() {
            "answered with a client certificate; only tokens are supported from credential plugins here"
        } else {
            "printed an ExecCredential without status.token"
        };
        return Err(why.into());
    };
    let expires = match status["expirationTimestamp"].as_str() {
        Some(ts) => {
            Some(ts.parse::<jiff::Timestamp>().map_err(|_| format!("gave an unreadable expirationTimestamp {ts:?}"))?)
        }
        None => None,
    };
    Ok((token.to_string(), expires))
}

#[async_trait]
impl TokenSource for ExecPlugin {
    async fn fetch(&self) -> Result<(String, Option<Duration>), String> {
        let (token, expires) = self.run().await?;
        let refresh_in = expires.map(|at| {
            let left = at.duration_since(jiff::Timestamp::now());
            let left = Duration::try_from(left).unwrap_or_default();
            left.saturating_sub(EARLY).max(Duration::from_secs(10))
        });
        Ok((token, refresh_in))
    }

    fn describe(&self) -> String {
        format!("credential plugin {}", self.program())
    }
}

/// Variables of the provider's environment a credential plugin gets, by name or prefix: what
/// the usual plugins read (`aws eks get-token`, aws-iam-authenticator and argocd-k8s-auth: `AWS_*`;
/// kubelogin: `AZURE_*`, `AAD_*`; gke-gcloud-auth-plugin: `CLOUDSDK_*`, `GOOGLE_*`), the process
/// basics and proxies. Everything else (CI tokens, `TF_*`, other secrets of the runner) stays
/// out; a plugin that needs more gets it through `exec.env`.
const PLUGIN_ENV_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "KUBECONFIG",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
];
const PLUGIN_ENV_PREFIXES: &[&str] = &["AWS_", "AZURE_", "AAD_", "CLOUDSDK_", "GOOGLE_"];

/// The environment of a credential plugin: the allowed part of `parent`, then `named` (the
/// user's `exec.env`, which wins).
pub fn plugin_environment(
    parent: impl Iterator<Item = (String, String)>,
    named: &[(String, String)],
) -> Vec<(String, String)> {
    let allowed = |k: &str| PLUGIN_ENV_NAMES.contains(&k) || PLUGIN_ENV_PREFIXES.iter().any(|p| k.starts_with(p));
    let mut env: Vec<(String, String)> = parent.filter(|(k, _)| allowed(k)).collect();
    env.retain(|(k, _)| !named.iter().any(|(n, _)| n == k));
    env.extend(named.iter().cloned());
    env
}

#[cfg(test)]
mod tests {

    #[test]
    fn plugins_get_only_the_environment_they_need_and_what_the_user_names() {
        let parent = [
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("AWS_PROFILE", "shards"),
            ("AWS_SECRET_ACCESS_KEY", "needed-by-aws-eks-get-token"),
            ("GITHUB_TOKEN", "ci-secret"),
            ("TF_TOKEN_app_terraform_io", "tf-secret"),
            ("VAULT_TOKEN", "vault-secret"),
            ("AWSX", "not-a-prefix-match"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let named = vec![("AWS_PROFILE".to_string(), "other".to_string()), ("EXTRA".to_string(), "1".to_string())];
        let env = plugin_environment(parent.into_iter(), &named);
        let get = |k: &str| env.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("PATH"), ["/usr/bin"]);
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), ["needed-by-aws-eks-get-token"]);
        assert_eq!(get("AWS_PROFILE"), ["other"], "the user's value wins, once");
        assert_eq!(get("EXTRA"), ["1"]);
        for secret in ["GITHUB_TOKEN", "TF_TOKEN_app_terraform_io", "VAULT_TOKEN", "AWSX"] {
            assert!(get(secret).is_empty(), "{secret} leaked to the plugin");
        }
    }
    use super::*;

    #[test]
    fn credentials_are_read_and_never_quoted_in_errors() {
        let ok = br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
                     "status":{"token":"t0k3n","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#;
        let (token, expires) = parse_credential(ok).unwrap();
        assert_eq!(token, "t0k3n");
        assert_eq!(expires.unwrap().to_string(), "2030-01-01T00:00:00Z");
        assert_eq!(parse_credential(br#"{"status":{"token":"t"}}"#).unwrap().1, None);
        for (bad, why) in [
            (&b"token: canary-secret"[..], "no ExecCredential JSON"),
            (br#"{"status":{"clientCertificateData":"canary-secret"}}"#, "client certificate"),
            (br#"{"status":{}}"#, "without status.token"),
            (br#"{"status":{"token":"canary-secret","expirationTimestamp":"soon"}}"#, "unreadable expirationTimestamp"),
        ] {
            let e = parse_credential(bad).unwrap_err();
            assert!(e.contains(why) && !e.contains("canary-secret"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_plugin_that_hangs_is_stopped_when_its_caller_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let plugin = ExecPlugin {
            command: "/bin/sh".into(),
            args: vec!["-c".into(), format!("echo $$ > {}; exec sleep 600", pid_file.display())],
            env: vec![],
            api_version: crate::clients::kubernetes::connection::DEFAULT_EXEC_API_VERSION.into(),
        };
        let gave_up = tokio::time::timeout(Duration::from_millis(500), plugin.run()).await;
        assert!(gave_up.is_err(), "it hangs");
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        // kill_on_drop: the child is killed (and reaped by tokio) once the run is dropped.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let alive = |pid: &str| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z'))
                .unwrap_or(false)
        };
        while alive(&pid) {
            assert!(std::time::Instant::now() < deadline, "the plugin {pid} is still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
