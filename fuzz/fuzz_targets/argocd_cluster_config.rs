//! Argo CD cluster Secrets as the provider reads them. The input is read two ways:
//! - as the Secret's `config` data key (`ClusterConfig::parse`, Go's case-insensitive
//!   `json.Unmarshal` of `ClusterConfig`): what parses writes back (`to_bytes`) to the same
//!   config (foreign floats within an ulp or so), keeping its own foreign settings changes nothing, and Debug never shows a password,
//!   bearer token or key;
//! - as a whole Secret (JSON, data base64 as the API returns it; `LiveCluster::from_secret`,
//!   Argo CD's `SecretToCluster`): fields come out as Argo CD reads them, and the Secret the
//!   provider would write for that cluster (`ClusterSecret::apply_body`) reads back the same.
#![no_main]

use k8s_openapi::api::core::v1::Secret;
use libfuzzer_sys::fuzz_target;
use shard_provider::argo::argocd::{
    ClusterConfig, ClusterSecret, LiveCluster, SECRET_TYPE_LABEL, SYSTEM_ANNOTATIONS, secret_name_for,
};

/// Equal JSON, floats within a few ulps.
fn nearly_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15
        }
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| nearly_equal(x, y)),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, x), (ky, y))| kx == ky && nearly_equal(x, y))
        }
        _ => a == b,
    }
}

fn check_config(config: &ClusterConfig) {
    let bytes = config.to_bytes();
    let again = ClusterConfig::parse(&bytes).unwrap_or_else(|e| panic!("{config:?} written as it does not parse: {e}"));
    // Everything the provider reads or writes survives being written; a foreign JSON float may
    // move by an ulp each time (serde_json reads floats without `float_roundtrip`, which is not
    // always exact even for its own output), so foreign values are compared within that.
    let typed = |c: &ClusterConfig| {
        let exec = c.exec.as_ref().map(|e| {
            (&e.command, &e.args, &e.env, &e.api_version, &e.install_hint, e.provide_cluster_info, e.config.is_some())
        });
        let tls = (c.tls.insecure, &c.tls.server_name, &c.tls.cert_data, &c.tls.key_data, &c.tls.ca_data);
        let keys = (c.other.keys().collect::<Vec<_>>(), c.tls.other.keys().collect::<Vec<_>>());
        format!(
            "{:?}",
            (
                &c.username,
                &c.password,
                &c.bearer_token,
                tls,
                &c.aws_auth,
                exec,
                c.disable_compression,
                &c.proxy_url,
                keys
            )
        )
    };
    assert_eq!(typed(&again), typed(config), "the config changed by being written");
    let foreign = |c: &ClusterConfig| {
        let exec = c.exec.as_ref().and_then(|e| e.config.clone());
        serde_json::json!([c.other, c.tls.other, exec])
    };
    assert!(nearly_equal(&foreign(&again), &foreign(config)), "foreign settings changed by being written");
    let mut kept = config.clone();
    kept.keep_foreign_settings(config);
    assert!(kept == *config, "keeping its own foreign settings changed {config:?}");
    let _ = (config.ca_pem(), config.unmanaged());
    let debug = format!("{config:?}");
    let mut blank = config.clone();
    blank.password.clear();
    blank.bearer_token.clear();
    blank.tls.key_data.clear();
    let blank_debug = format!("{blank:?}");
    for secret in [&config.password, &config.bearer_token, &config.tls.key_data] {
        if secret.len() >= 8 && !blank_debug.contains(secret.as_str()) {
            assert!(!debug.contains(secret.as_str()), "Debug shows a credential");
        }
    }
}

fn check_secret(secret: &Secret) {
    let live = LiveCluster::from_secret(secret);
    assert!(!live.server.ends_with('/'), "server {:?} keeps a trailing /", live.server);
    for ns in &live.namespaces {
        assert!(!ns.is_empty() && ns.trim() == ns && !ns.contains(','), "namespace {ns:?}");
    }
    assert!(!live.user_labels().contains_key(SECRET_TYPE_LABEL));
    assert!(SYSTEM_ANNOTATIONS.iter().all(|a| !live.user_annotations().contains_key(*a)));
    let name = secret_name_for(&live.name);
    assert!(name.starts_with("cluster-") && name.len() <= 253 && !name.ends_with('-'), "{name:?}");
    assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{name:?}");
    let Ok(config) = &live.config else { return };
    check_config(config);
    // What the provider writes for this cluster, read back as Argo CD reads it.
    let ours = ClusterSecret {
        namespace: "argocd".into(),
        secret_name: name,
        name: live.name.clone(),
        server: live.server.clone(),
        namespaces: live.namespaces.clone(),
        cluster_resources: live.cluster_resources,
        project: Some(live.project.clone()),
        shard: live.shard.clone().and_then(Result::ok),
        config: config.clone(),
        labels: live.user_labels(),
        annotations: live.user_annotations(),
    };
    let body = ours.apply_body();
    let written: Secret = serde_json::from_value(body).expect("apply_body is a Secret");
    let back = LiveCluster::from_secret(&written);
    assert!(back.is_cluster, "the written Secret lacks the cluster label");
    assert_eq!(
        (&back.name, &back.server, &back.namespaces, back.cluster_resources, &back.project),
        (&live.name, &live.server, &live.namespaces, live.cluster_resources, &live.project)
    );
    assert_eq!(back.shard.clone().and_then(Result::ok), ours.shard);
    assert!(back.config.as_ref().ok() == Some(config), "config after writing it");
    assert_eq!(back.user_labels(), live.user_labels());
    assert_eq!(back.user_annotations(), live.user_annotations());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = ClusterConfig::parse(data) {
        check_config(&config);
    }
    if let Ok(secret) = serde_json::from_slice::<Secret>(data) {
        check_secret(&secret);
    }
});
