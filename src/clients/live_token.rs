//! A bearer token kept current in the background, for Kubernetes clients whose credentials
//! expire: EKS tokens signed in-process ([`super::eks_token`]) and tokens from credential plugins
//! ([`super::kubernetes::exec`]). The first token is fetched while the client is built (within
//! the operation's deadline); later ones before the current one runs out, off the request path,
//! so a request never waits for a plugin.

use async_trait::async_trait;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// After a failed refresh, the next attempt comes this much later (the current token usually
/// has time left).
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where tokens come from.
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// A fresh token, and how long until it should be replaced (None: it does not expire).
    async fn fetch(&self) -> Result<(String, Option<Duration>), String>;
    /// What it is, for log lines (never a secret).
    fn describe(&self) -> String;
}

/// The current token, refreshed while anything holds it (the refresher stops when the last
/// client using it is dropped).
pub struct LiveToken {
    current: RwLock<String>,
}

impl LiveToken {
    /// Fetches the first token now (so a credentials problem surfaces at once) and starts the
    /// refresher when it expires.
    pub async fn start(source: impl TokenSource) -> Result<Arc<LiveToken>, String> {
        let (token, refresh_in) = source.fetch().await?;
        let live = Arc::new(LiveToken { current: RwLock::new(token) });
        if let Some(after) = refresh_in {
            tokio::spawn(refresh(Arc::downgrade(&live), source, after));
        }
        Ok(live)
    }

    pub fn get(&self) -> String {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn refresh(live: Weak<LiveToken>, source: impl TokenSource, mut after: Duration) {
    loop {
        tokio::time::sleep(after).await;
        let Some(live) = live.upgrade() else { return };
        match source.fetch().await {
            Ok((token, next)) => {
                *live.current.write().unwrap_or_else(|p| p.into_inner()) = token;
                let Some(next) = next else { return };
                after = next;
            }
            Err(e) => {
                tracing::warn!(source = %source.describe(), error = %e, "could not refresh a Kubernetes token; trying again");
                after = RETRY_AFTER;
            }
        }
    }
}
