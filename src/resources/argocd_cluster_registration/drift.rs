//! The model and the live Secret: refresh (drift shows as a diff, values that mean the same
//! are kept as written) and import (a model from an existing Secret).

use super::model::{AwsAuth, Exec, Model, known_str, resource_id, token_unchanged};
use crate::argo::argocd::{self, LiveCluster, SECRET_TYPE_LABEL};
use crate::clients::kubernetes::fields::owned_by;
use crate::clients::kubernetes::{DEFAULT_EXEC_API_VERSION, FIELD_MANAGER};
use crate::clients::pem::normalise_ca;
use crate::framework::{Attr, Diagnostics, Private};
use k8s_openapi::api::core::v1::Secret;
use std::collections::BTreeMap;

/// The state after comparing it with the live Secret: every owned field that differs takes the
/// live value (so the plan shows the drift); values that mean the same are kept as written.
pub(super) fn refresh(state: &Model, live: &LiveCluster, private: &Private, warn: &mut Vec<String>) -> Model {
    let mut m = state.clone();
    m.name = live.name.clone();
    if argocd::trim_server(state.server()) != live.server {
        m.server = Attr::Known(live.server.clone());
    }
    let state_namespaces = state.namespaces.clone().unwrap_or_default();
    if state_namespaces.iter().map(|s| s.trim()).collect::<Vec<_>>() != live.namespaces {
        m.namespaces = Some(live.namespaces.clone());
    }
    if state.cluster_resources.unwrap_or(false) != live.cluster_resources {
        m.cluster_resources = Some(live.cluster_resources);
    }
    if state.project.clone().unwrap_or_default() != live.project {
        m.project = (!live.project.is_empty()).then(|| live.project.clone());
    }
    let live_shard = match &live.shard {
        Some(Ok(n)) => Some(*n),
        _ => None,
    };
    if state.controller_shard != live_shard {
        m.controller_shard = live_shard;
    }
    // Labels and annotations: the keys this resource manages, with their live values.
    let refresh_map = |ours: &Option<BTreeMap<String, String>>, live: &BTreeMap<String, String>| {
        ours.as_ref()
            .map(|o| o.keys().filter_map(|k| live.get(k).map(|v| (k.clone(), v.clone()))).collect::<BTreeMap<_, _>>())
    };
    m.labels = refresh_map(&state.labels, &live.labels);
    m.annotations = refresh_map(&state.annotations, &live.annotations);

    let config = match &live.config {
        Ok(c) => c,
        Err(e) => {
            warn.push(format!("its config cannot be read by Argo CD ({e})"));
            null_auth(&mut m);
            return m;
        }
    };
    // tlsClientConfig.
    if config.tls.insecure != state.insecure {
        m.insecure = config.tls.insecure;
    }
    let state_ca = known_str(&state.ca_data).and_then(|c| normalise_ca(c).ok());
    let live_ca = config.ca_pem();
    if state_ca.as_deref().map(str::trim) != live_ca.as_deref().map(str::trim) {
        m.ca_data = match live_ca {
            Some(pem) => Attr::Known(pem),
            None => Attr::Null,
        };
    }
    // Credentials: the live ones, in the shape of the state's blocks.
    m.aws_auth = config.aws_auth.as_ref().map(|a| {
        let implied = state.aws_cluster_name().unwrap_or_default() == a.cluster_name
            && state.aws_auth.as_ref().is_some_and(|s| s.cluster_name.is_none());
        AwsAuth {
            role_arn: keep_or(state.aws_auth.as_ref().and_then(|s| s.role_arn.clone()), &a.role_arn),
            cluster_name: if implied { None } else { (!a.cluster_name.is_empty()).then(|| a.cluster_name.clone()) },
            profile: keep_or(state.aws_auth.as_ref().and_then(|s| s.profile.clone()), &a.profile),
        }
    });
    m.exec = config.exec.as_ref().map(|e| {
        let s = state.exec.as_ref();
        Exec {
            command: e.command.clone(),
            args: keep_or_vec(s.and_then(|s| s.args.clone()), &e.args),
            env: match s.and_then(|s| s.env.clone()) {
                Some(env) if env == e.env => Some(env),
                None if e.env.is_empty() => None,
                _ => Some(e.env.clone()),
            },
            // The default this resource writes for an unset api_version is no drift.
            api_version: match s.and_then(|s| s.api_version.clone()) {
                None if e.api_version == DEFAULT_EXEC_API_VERSION => None,
                state => keep_or(state, &e.api_version),
            },
            install_hint: keep_or(s.and_then(|s| s.install_hint.clone()), &e.install_hint),
        }
    });
    let live_token = (!config.bearer_token.is_empty()).then_some(config.bearer_token.as_str());
    if !token_unchanged(private, live_token) {
        let wrote = state.bearer_token_version.is_some();
        if wrote || live_token.is_some() {
            warn.push(match (wrote, live_token) {
                (true, Some(_)) => "its bearer token is not the one Terraform wrote".to_string(),
                (true, None) => "its bearer token was removed".to_string(),
                _ => "it holds a bearer token Terraform did not write".to_string(),
            });
        }
        // A version that differs from the configuration's makes the plan write the token again.
        m.bearer_token_version = None;
    }
    let extra = config.unmanaged();
    if !extra.is_empty() {
        warn.push(format!("its config has other credentials ({}), which the next write replaces", extra.join(", ")));
        null_auth(&mut m);
    }
    m
}

/// Marks the credentials as gone, so the plan writes the whole config again.
fn null_auth(m: &mut Model) {
    m.aws_auth = None;
    m.exec = None;
    m.bearer_token_version = None;
}

/// The state's value when the live one means the same; else the live one (empty is null).
fn keep_or(state: Option<String>, live: &str) -> Option<String> {
    match state {
        Some(s) if s == live => Some(s),
        None if live.is_empty() => None,
        _ if live.is_empty() => None,
        _ => Some(live.to_string()),
    }
}

fn keep_or_vec(state: Option<Vec<String>>, live: &[String]) -> Option<Vec<String>> {
    match state {
        Some(s) if s == live => Some(s),
        None if live.is_empty() => None,
        _ => Some(live.to_vec()),
    }
}

/// A model for an existing Secret (import): everything from the Secret as Argo CD reads it.
pub(super) fn imported(
    namespace: &str,
    secret_name: &str,
    secret: &Secret,
    live: &LiveCluster,
) -> Result<Model, Diagnostics> {
    let config = live
        .config
        .clone()
        .map_err(|e| Diagnostics::error("Cannot import", format!("Secret {namespace}/{secret_name}: {e}")))?;
    // Labels and annotations this provider's field manager owns; all user ones otherwise.
    let owned = owned_by(&secret.metadata, FIELD_MANAGER);
    let pick = |all: BTreeMap<String, String>, keys: Option<&Vec<String>>| -> Option<BTreeMap<String, String>> {
        let picked: BTreeMap<String, String> = match keys {
            Some(keys) => all.into_iter().filter(|(k, _)| keys.contains(k)).collect(),
            None => all,
        };
        (!picked.is_empty()).then_some(picked)
    };
    let mut labels_owned = owned.as_ref().map(|o| o.labels.clone());
    if let Some(l) = labels_owned.as_mut() {
        l.retain(|k| k != SECRET_TYPE_LABEL);
    }
    let aws = config.aws_auth.as_ref();
    // The common shape: `eks_cluster_name` names the cluster and awsAuthConfig uses it.
    let eks_cluster_name = aws.map(|a| a.cluster_name.clone()).filter(|n| !n.is_empty());
    Ok(Model {
        id: Attr::Known(resource_id(namespace, secret_name)),
        name: live.name.clone(),
        namespace: Attr::Known(namespace.to_string()),
        secret_name: Attr::Known(secret_name.to_string()),
        eks_cluster_name,
        server: Attr::Known(live.server.clone()),
        ca_data: config.ca_pem().map_or(Attr::Null, Attr::Known),
        insecure: config.tls.insecure,
        aws_auth: aws.map(|a| AwsAuth {
            role_arn: (!a.role_arn.is_empty()).then(|| a.role_arn.clone()),
            cluster_name: None,
            profile: (!a.profile.is_empty()).then(|| a.profile.clone()),
        }),
        exec: config.exec.as_ref().map(|e| Exec {
            command: e.command.clone(),
            args: (!e.args.is_empty()).then(|| e.args.clone()),
            env: (!e.env.is_empty()).then(|| e.env.clone()),
            api_version: (!e.api_version.is_empty()).then(|| e.api_version.clone()),
            install_hint: (!e.install_hint.is_empty()).then(|| e.install_hint.clone()),
        }),
        bearer_token: None,
        bearer_token_version: None,
        labels: pick(live.user_labels(), labels_owned.as_ref()),
        annotations: pick(live.user_annotations(), owned.as_ref().map(|o| &o.annotations)),
        project: (!live.project.is_empty()).then(|| live.project.clone()),
        namespaces: (!live.namespaces.is_empty()).then(|| live.namespaces.clone()),
        cluster_resources: live.cluster_resources.then_some(true),
        controller_shard: match live.shard {
            Some(Ok(n)) => Some(n),
            _ => None,
        },
        wait_for_sync: None,
        wait_for_removal: true,
        force_conflicts: false,
        applications: Attr::Known(Vec::new()),
        timeouts: None,
    })
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::argo::argocd::ClusterSecret;
    use base64::Engine;
    use k8s_openapi::ByteString;

    fn model() -> Model {
        Model {
            id: Attr::Known("argocd/cluster-shard-2".into()),
            name: "shard-2".into(),
            namespace: Attr::Known("argocd".into()),
            secret_name: Attr::Known("cluster-shard-2".into()),
            eks_cluster_name: Some("shard-2".into()),
            server: Attr::Known("https://h".into()),
            ca_data: Attr::Null,
            insecure: false,
            aws_auth: Some(AwsAuth {
                role_arn: Some("arn:aws:iam::1:role/r".into()),
                cluster_name: None,
                profile: None,
            }),
            exec: None,
            bearer_token: None,
            bearer_token_version: None,
            labels: Some([("env".to_string(), "prod".to_string())].into()),
            annotations: None,
            project: None,
            namespaces: None,
            cluster_resources: None,
            controller_shard: None,
            wait_for_sync: None,
            wait_for_removal: true,
            force_conflicts: false,
            applications: Attr::Known(Vec::new()),
            timeouts: None,
        }
    }

    fn live_of(c: &ClusterSecret, extra_labels: &[(&str, &str)]) -> (Secret, LiveCluster) {
        let body = c.apply_body();
        let mut secret: Secret = serde_json::from_value(body).unwrap();
        let labels = secret.metadata.labels.get_or_insert_with(Default::default);
        for (k, v) in extra_labels {
            labels.insert(k.to_string(), v.to_string());
        }
        let live = LiveCluster::from_secret(&secret);
        (secret, live)
    }

    #[test]
    fn a_secret_written_from_a_state_refreshes_to_the_same_state() {
        let m = model();
        let (_, live) = live_of(&m.cluster_secret(None).unwrap(), &[("argocd.argoproj.io/kubernetes-version", "1.31")]);
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &Private::default(), &mut warn), m);
        assert!(warn.is_empty(), "{warn:?}");
    }

    #[test]
    fn drift_in_config_and_labels_shows_in_the_refreshed_state() {
        let m = model();
        let mut c = m.cluster_secret(None).unwrap();
        c.config.aws_auth.as_mut().unwrap().role_arn = "arn:aws:iam::1:role/other".into();
        c.labels.insert("env".into(), "dev".into());
        let (_, live) = live_of(&c, &[]);
        let mut warn = Vec::new();
        let r = refresh(&m, &live, &Private::default(), &mut warn);
        assert_eq!(r.aws_auth.as_ref().unwrap().role_arn.as_deref(), Some("arn:aws:iam::1:role/other"));
        assert_eq!(r.labels.as_ref().unwrap()["env"], "dev");

        // Settings the resource does not manage: the credentials are shown as gone.
        let mut c = m.cluster_secret(None).unwrap();
        c.config.username = "admin".into();
        let (_, live) = live_of(&c, &[]);
        let r = refresh(&m, &live, &Private::default(), &mut warn);
        assert!(r.aws_auth.is_none());
        assert!(warn.iter().any(|w| w.contains("username")), "{warn:?}");
    }

    #[test]
    fn a_changed_token_is_noticed_through_its_hash() {
        let mut m = model();
        m.aws_auth = None;
        m.bearer_token_version = Some(1);
        let mut private = Private::default();
        super::super::model::remember_token(&mut private, Some("t1"));
        let (_, live) = live_of(&m.cluster_secret(Some("t1")).unwrap(), &[]);
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &private, &mut warn).bearer_token_version, Some(1));
        let (_, edited) = live_of(&m.cluster_secret(Some("t2")).unwrap(), &[]);
        assert_eq!(refresh(&m, &edited, &private, &mut warn).bearer_token_version, None);
        assert!(warn[0].contains("not the one Terraform wrote"));
        // Keyed per resource: the same token leaves different marks, and neither is the bare hash.
        let mut other = Private::default();
        super::super::model::remember_token(&mut other, Some("t1"));
        let mark = |p: &Private| p.get::<String>("bearer_token_hmac").unwrap();
        assert_ne!(mark(&private), mark(&other));
        assert_ne!(mark(&private), argocd::token_hash("t1"));
        // What earlier versions recorded is still understood.
        let mut legacy = Private::default();
        legacy.set("bearer_token_sha256", &argocd::token_hash("t1"));
        assert_eq!(refresh(&m, &live, &legacy, &mut warn).bearer_token_version, Some(1));
    }

    #[test]
    fn a_ca_given_as_base64_stays_as_given_when_it_means_the_same() {
        let cert = rcgen::generate_simple_self_signed(vec!["h".into()]).unwrap().cert.pem();
        let mut m = model();
        m.ca_data = Attr::Known(base64::engine::general_purpose::STANDARD.encode(&cert));
        let (_, live) = live_of(&m.cluster_secret(None).unwrap(), &[]);
        assert_eq!(live.config.as_ref().unwrap().ca_pem().unwrap(), cert, "caData is base64 of the PEM");
        let mut warn = Vec::new();
        assert_eq!(refresh(&m, &live, &Private::default(), &mut warn).ca_data, m.ca_data);
    }

    #[test]
    fn import_takes_what_this_provider_owns() {
        let m = model();
        let (mut secret, live) = live_of(&m.cluster_secret(None).unwrap(), &[("team", "x")]);
        secret.metadata.managed_fields =
            Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
                manager: Some(FIELD_MANAGER.into()),
                operation: Some("Apply".into()),
                fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(serde_json::json!({
                    "f:data": {"f:config": {}, "f:name": {}, "f:server": {}},
                    "f:metadata": {"f:labels": {"f:env": {}, "f:argocd.argoproj.io/secret-type": {}}}
                }))),
                ..Default::default()
            }]);
        let i = imported("argocd", "cluster-shard-2", &secret, &live).unwrap();
        assert_eq!(i.labels, m.labels, "only the labels this provider's field manager owns");
        assert_eq!(i.eks_cluster_name.as_deref(), Some("shard-2"));
        assert_eq!(i.aws_auth, m.aws_auth);
        let _ = ByteString(Vec::new());
    }
}
