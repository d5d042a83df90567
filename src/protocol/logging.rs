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
    let timestamp =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
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
