//! Logs as go-plugin expects them on a plugin's stderr: one hclog JSON object per line with
//! `@level`, `@message`, `@module` and `@timestamp`. Terraform then shows them under TF_LOG /
//! TF_LOG_PROVIDER at the level we state. Fields whose names suggest secrets are redacted here
//! as a second line of defence; the first is never passing secrets to `tracing` at all.

use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The level Terraform asked for: `TF_LOG_PROVIDER_<NAME>`, `TF_LOG_PROVIDER`, then `TF_LOG`.
/// Unset means off, as Terraform discards provider logs then anyway.
pub fn level_from_env(provider_name: &str) -> LevelFilter {
    let specific = format!("TF_LOG_PROVIDER_{}", provider_name.to_ascii_uppercase());
    let raw = [specific.as_str(), "TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    match raw.map(|v| v.to_ascii_uppercase()).as_deref() {
        None | Some("OFF") => LevelFilter::OFF,
        Some("TRACE") | Some("JSON") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("INFO") => LevelFilter::INFO,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") => LevelFilter::ERROR,
        Some(_) => LevelFilter::TRACE, // Terraform treats unknown values as TRACE
    }
}

/// Installs the hclog-JSON layer for this process. `own_crate` logs at `level`; third-party
/// crates (SDKs, HTTP, TLS) at most at INFO, since their debug output can carry request data.
pub fn init(own_crate: &str, level: LevelFilter) {
    if level == LevelFilter::OFF {
        return;
    }
    let third_party = level.min(LevelFilter::INFO);
    let filter = Targets::new().with_default(third_party).with_target(own_crate, level);
    let _ = tracing_subscriber::registry().with(HclogJson.with_filter(filter)).try_init();
}

/// `at` in hclog's layout 2006-01-02T15:04:05.000000Z07:00 (microseconds, UTC), which go-plugin
/// parses exactly; a line it cannot parse is shown raw instead of at its level.
fn hclog_timestamp(at: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(at).map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()).unwrap_or_default()
}

/// Formats events as hclog JSON lines on stderr.
pub struct HclogJson;

impl<S: Subscriber> Layer<S> for HclogJson {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_event(event);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }
}

pub fn format_event(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let level = match *meta.level() {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    };
    let module = meta.target().split("::").next().unwrap_or("provider");
    let timestamp = hclog_timestamp(std::time::SystemTime::now());
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level.into());
    obj.insert("@message".into(), fields.message.unwrap_or_default().into());
    obj.insert("@module".into(), format!("provider.{module}").into());
    obj.insert("@timestamp".into(), timestamp.into());
    for (k, v) in fields.extra {
        obj.insert(k, v);
    }
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// Field names never printed in clear.
pub fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["token", "password", "secret", "key_data", "private_key", "authorization", "credential"]
        .iter()
        .any(|s| n.contains(s))
}

#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    extra: Vec<(String, serde_json::Value)>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else if is_secret_field(field.name()) {
            self.extra.push((field.name().to_string(), "[REDACTED]".into()));
        } else {
            self.extra.push((field.name().to_string(), value));
        }
    }
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.put(field, s.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Capture(Arc<Mutex<Vec<String>>>);
    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            self.0.lock().unwrap().push(format_event(event));
        }
    }

    #[test]
    fn timestamps_are_in_hclogs_layout() {
        let at = |secs: u64, nanos: u32| std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
        // Microseconds, truncated (not rounded), always six digits; UTC with Z.
        assert_eq!(hclog_timestamp(at(1_795_000_000, 123_456_789)), "2026-11-18T11:06:40.123456Z");
        assert_eq!(hclog_timestamp(at(1_795_000_000, 999_999_999)), "2026-11-18T11:06:40.999999Z");
        assert_eq!(hclog_timestamp(at(1_795_000_000, 0)), "2026-11-18T11:06:40.000000Z");
        assert_eq!(hclog_timestamp(at(0, 1_000)), "1970-01-01T00:00:00.000001Z");
        assert_eq!(hclog_timestamp(at(951_782_400, 5_000_000)), "2000-02-29T00:00:00.005000Z");
    }

    #[test]
    fn lines_are_hclog_json_with_levels_and_redacted_secrets() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(token = "s3cr3t", listener = "l-1", "lock held");
            tracing::trace!("fine detail");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.ends_with('\n') && l.matches('\n').count() == 1));
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["@level"], "warn");
        assert_eq!(first["@message"], "lock held");
        assert_eq!(first["@module"], "provider.shard_provider");
        assert_eq!(first["listener"], "l-1");
        assert_eq!(first["token"], "[REDACTED]");
        assert!(!lines[0].contains("s3cr3t"));
        // Exactly hclog's layout: microseconds and Z.
        let ts = first["@timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2006-01-02T15:04:05.000000Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.');
        let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second["@level"], "trace");
    }
}
