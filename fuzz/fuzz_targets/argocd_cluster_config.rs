//! Argo CD cluster Secrets as the provider reads them. The input is read two ways:
//! - as the Secret's `config` data key (`ClusterConfig::parse`, Go's case-insensitive
//!   `json.Unmarshal` of `ClusterConfig`): what parses writes back (`to_bytes`) to the same
//!   config, keeping its own foreign settings changes nothing, and Debug never shows a password,
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

fn check_config(config: &ClusterConfig) {
    let bytes = config.to_bytes();
    let again = ClusterConfig::parse(&bytes).unwrap_or_else(|e| panic!("{config:?} written as it does not parse: {e}"));
    // Everything the provider reads or writes survives being written; a foreign JSON float may
    // move by an ulp (serde_json reads floats of more than 17 digits without `float_roundtrip`),
    // so foreign values are compared after one write: from then on the config is a fixpoint.
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
    let third = ClusterConfig::parse(&again.to_bytes()).expect("parses");
    assert!(third == again, "config is no fixpoint after one write: {again:?} became {third:?}");
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
