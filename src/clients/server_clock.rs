//! AWS's clock, as the `Date` header of ELBv2 responses tells it, read by an SDK interceptor
//! (`aws_smithy_runtime_api` `Intercept`), so no call site has to look at raw responses.
//!
//! Why a shared clock: the listener lock's expiry is stamped by one machine and judged by another.
//! Judged in local clocks, it is only as good as the skew between them. Every AWS response carries
//! a `Date` header (RFC 9110 §6.6.1, one-second resolution), so every holder and contender can use
//! the one clock they share: AWS's. A local clock further off than [`MAX_CLOCK_SKEW`] is refused
//! outright (a machine without NTP), because holders of older provider versions judge in local time.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far this machine's clock may be from AWS's before lock work is refused. The lock leaves
/// 25 s between a holder's last write and the earliest break (see `listener_lock`); 20 s keeps a
/// margin for the `Date` header's resolution and the response's time on the wire.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(20);

/// The offset of AWS's clock from this machine's, learnt from responses.
#[derive(Debug, Default)]
pub struct ServerClock {
    /// AWS's seconds minus local seconds at the moment the response arrived.
    offset: Mutex<Option<i64>>,
}

fn local_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl ServerClock {
    /// Records a `Date` header value seen now. Values that do not parse are ignored.
    pub fn observe_header(&self, date: &str) {
        if let Ok(t) = aws_smithy_types::DateTime::from_str(date, aws_smithy_types::date_time::Format::HttpDate) {
            self.observe(t.secs(), local_unix());
        }
    }

    pub fn observe(&self, server_unix: i64, local_unix: i64) {
        let offset = server_unix.saturating_sub(local_unix);
        if let Ok(mut o) = self.offset.lock() {
            *o = Some(offset);
        }
    }

    /// AWS's clock minus ours, in seconds, once a response has told it.
    pub fn offset(&self) -> Option<i64> {
        self.offset.lock().ok().and_then(|o| *o)
    }

    /// Now, in AWS's clock when known (else the local clock), as unix seconds.
    pub fn now_unix(&self) -> u64 {
        let now = local_unix().saturating_add(self.offset().unwrap_or(0));
        u64::try_from(now).unwrap_or(0)
    }

    /// `Err(offset)` when the local clock is further than [`MAX_CLOCK_SKEW`] from AWS's.
    pub fn check_skew(&self) -> Result<(), i64> {
        match self.offset() {
            Some(o) if o.unsigned_abs() > MAX_CLOCK_SKEW.as_secs() => Err(o),
            _ => Ok(()),
        }
    }
}

/// Feeds the `Date` header of every response to a [`ServerClock`].
#[derive(Debug, Clone)]
pub struct DateHeaderInterceptor(pub Arc<ServerClock>);

impl Intercept for DateHeaderInterceptor {
    fn name(&self) -> &'static str {
        "DateHeaderInterceptor"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            self.0.observe_header(date);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_header_sets_the_offset_and_a_far_clock_is_refused() {
        let clock = ServerClock::default();
        assert_eq!(clock.offset(), None);
        assert!(clock.check_skew().is_ok(), "unknown is not refused: the first response tells");
        clock.observe(1_700_000_030, 1_700_000_000);
        assert_eq!(clock.offset(), Some(30));
        assert_eq!(clock.check_skew(), Err(30));
        clock.observe(1_700_000_000, 1_700_000_012);
        assert_eq!(clock.offset(), Some(-12));
        assert!(clock.check_skew().is_ok());
        // An HTTP-date (IMF-fixdate) as AWS sends it; garbage is ignored, never a panic.
        clock.observe_header("Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(clock.offset().is_some_and(|o| o < -900_000_000), "a clock from 1994 is far off");
        let before = clock.offset();
        for junk in ["", "yesterday", "Sun, 99 Nov 1994 08:49:37 GMT", "\u{0}"] {
            clock.observe_header(junk);
        }
        assert_eq!(clock.offset(), before);
        // Extremes saturate.
        clock.observe(i64::MAX, i64::MIN);
        assert_eq!(clock.offset(), Some(i64::MAX));
        assert_eq!(clock.now_unix(), u64::try_from(i64::MAX).unwrap());
        clock.observe(i64::MIN, i64::MAX);
        assert_eq!(clock.now_unix(), 0);
    }
}
