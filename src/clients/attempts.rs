//! What each attempt of a write came to, recorded by an SDK interceptor: the SDK retries inside one
//! `send`, and a caller that must know whether a write may still land (the listener lock) needs
//! every attempt's outcome, not only the last.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// What one attempt of a write came to, as far as the client can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer: carried out.
    Applied,
    /// A 4xx answer (validation, throttling: AWS refused before acting) or a 503 ("currently
    /// unable to handle the request", RFC 9110 §15.6.4): not carried out.
    Refused,
    /// No answer (timeout, connection lost) or another 5xx (500/502/504: the service or a gateway
    /// failed, possibly after acting): it may have been carried out, or may still be.
    Unknown,
}

impl AttemptOutcome {
    pub fn of_status(status: Option<u16>) -> AttemptOutcome {
        match status {
            Some(200..=299) => AttemptOutcome::Applied,
            Some(400..=499) | Some(503) => AttemptOutcome::Refused,
            _ => AttemptOutcome::Unknown,
        }
    }
}

/// Records the outcome of each attempt of one operation (the SDK retries inside one `send`).
#[derive(Debug, Clone, Default)]
pub struct AttemptLog(Arc<Mutex<Vec<AttemptOutcome>>>);

impl AttemptLog {
    pub fn outcomes(&self) -> Vec<AttemptOutcome> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// An attempt whose outcome is unknown: it may land later.
    pub fn any_unknown(&self) -> bool {
        self.outcomes().contains(&AttemptOutcome::Unknown)
    }
}

impl Intercept for AttemptLog {
    fn name(&self) -> &'static str {
        "AttemptLog"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let outcome = AttemptOutcome::of_status(context.response().map(|r| r.status().as_u16()));
        if let Ok(mut v) = self.0.lock() {
            v.push(outcome);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_classified_by_what_the_client_can_know() {
        assert_eq!(AttemptOutcome::of_status(Some(200)), AttemptOutcome::Applied);
        assert_eq!(AttemptOutcome::of_status(Some(400)), AttemptOutcome::Refused, "throttling, validation");
        assert_eq!(AttemptOutcome::of_status(Some(503)), AttemptOutcome::Refused);
        for unknown in [None, Some(500), Some(502), Some(504)] {
            assert_eq!(AttemptOutcome::of_status(unknown), AttemptOutcome::Unknown, "{unknown:?}");
        }
    }
}
