//! The Kubernetes part of the acceptance bench: a real kube-apiserver 1.20 (tests/support/kube.rs).
//! These tests show what it serves and prove the behaviours the provider's Kubernetes code relies
//! on are real: CRDs with Argo's schemas, status subresources, label selectors, server-side apply
//! conflicts, optimistic concurrency, watches, RBAC and the kubeconfig.
//!
//! No Argo controller runs on the bench: where Argo CD or Argo Rollouts would write status, the
//! tests write it themselves, the way those controllers do.

mod support;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value as Json, json};
use std::time::Duration;
use support::kube::{KubeBench, LIMITED_NAMESPACE};

fn argo(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind))
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn object(name: &str, ar: &ApiResource, rest: Json) -> DynamicObject {
    let mut value = json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": { "name": name },
    });
    value.as_object_mut().unwrap().extend(rest.as_object().cloned().unwrap_or_default());
    serde_json::from_value(value).expect("dynamic object")
}

fn rollout(name: &str) -> DynamicObject {
    object(
        name,
        &argo("Rollout"),
        json!({ "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": "nginx:1.27" }] }
            },
            "strategy": { "canary": { "steps": [{ "setWeight": 20 }, { "pause": {} }, { "setWeight": 60 }] } }
        }}),
    )
}

#[tokio::test]
async fn argo_crds_are_established_with_upstream_subresources() {
    let kube = KubeBench::shared();
    let crds = Api::<CustomResourceDefinition>::all(kube.admin_client());
    for (name, status_subresource) in
        [("applications.argoproj.io", false), ("applicationsets.argoproj.io", true), ("rollouts.argoproj.io", true)]
    {
        let crd = crds.get(name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        assert!(
            conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"),
            "{name} not Established: {conditions:?}"
        );
        let version = &crd.spec.versions[0];
        // Like upstream: Argo CD's Application has no status subresource (its controller patches
        // the whole object); ApplicationSet and Rollout have one.
        let subresources = version.subresources.clone().unwrap_or_default();
        assert_eq!(subresources.status.is_some(), status_subresource, "{name} status subresource");
    }
    let served = kube.admin_client().list_api_group_resources("argoproj.io/v1alpha1").await.expect("discovery");
    let mut names: Vec<&str> = served.resources.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["applications", "applicationsets", "applicationsets/status", "rollouts", "rollouts/scale", "rollouts/status"]
    );
}

#[tokio::test]
async fn application_status_is_written_on_the_main_resource_like_argo_cd_does() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("app-status").await;
    let ar = argo("Application");
    let apps = Api::<DynamicObject>::namespaced_with(kube.admin_client(), &ns, &ar);
    let app = object(
        "shard-2",
        &ar,
        json!({ "spec": {
            "project": "default",
            "destination": { "server": "https://10.0.0.2:6443", "namespace": "web" },
            "source": { "repoURL": "https://git.example/web.git", "path": "deploy", "targetRevision": "HEAD" }
        }}),
    );
    apps.create(&PostParams::default(), &app).await.expect("create Application");

    // The schema is enforced where the provider reads: destination.server must be a string.
    let bad = object("bad", &ar, json!({ "spec": { "project": "default", "destination": { "server": 42 } } }));
    let err = api_error(apps.create(&PostParams::default(), &bad).await);
    assert!(err.is_invalid() && err.message.contains("spec.destination.server"), "{err:?}");

    // Playing Argo CD's application controller: a merge patch of the Application with its status.
    let status = json!({ "status": {
        "sync": { "status": "Synced", "revision": "abc123", "bogus": "pruned" },
        "health": { "status": "Healthy" },
        "operationState": {
            "phase": "Succeeded", "message": "successfully synced", "startedAt": "2026-11-22T10:00:00Z",
            "operation": { "sync": { "revision": "abc123" } }
        }
    }});
    let patched = apps.patch("shard-2", &PatchParams::default(), &Patch::Merge(&status)).await.expect("patch status");
    let got = &patched.data["status"];
    assert_eq!(got["sync"]["status"], "Synced");
    assert_eq!(got["health"]["status"], "Healthy");
    assert_eq!(got["operationState"]["phase"], "Succeeded");
    assert!(got["sync"].get("bogus").is_none(), "unknown fields in precise parts are pruned: {got}");
    // Free-form parts keep what they are given.
    assert_eq!(patched.data["spec"]["source"]["repoURL"], "https://git.example/web.git");

    // There is no /status subresource to write to, as on a real Argo CD cluster.
    let err = api_error(apps.get_status("shard-2").await);
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn rollout_status_goes_through_its_subresource_with_a_string_observed_generation() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("rollout-status").await;
    let ar = argo("Rollout");
    let rollouts = Api::<DynamicObject>::namespaced_with(kube.admin_client(), &ns, &ar);
    let created = rollouts.create(&PostParams::default(), &rollout("web")).await.expect("create Rollout");
    assert_eq!(created.metadata.generation, Some(1));

    // Playing the Argo Rollouts controller: paused at the canary's pause step.
    let status = json!({ "status": {
        "observedGeneration": "1", "phase": "Paused", "message": "CanaryPauseStep",
        "currentStepIndex": 1, "currentPodHash": "6d4b", "stableRS": "5c9f",
        "pauseConditions": [{ "reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z" }],
        "controllerPause": true
    }});
    let paused = rollouts.patch_status("web", &PatchParams::default(), &Patch::Merge(&status)).await.expect("status");
    assert_eq!(paused.data["status"]["observedGeneration"], json!("1"), "a string, as Argo Rollouts writes it");
    assert_eq!(paused.data["status"]["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(paused.metadata.generation, Some(1), "status writes do not bump the generation");

    // The schema types observedGeneration as a string: an integer is rejected.
    let err = api_error(
        rollouts
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "observedGeneration": 2 } })),
            )
            .await,
    );
    assert!(err.is_invalid() && err.message.contains("status.observedGeneration"), "{err:?}");

    // With a status subresource, status in a main-resource write is ignored; spec changes bump the
    // generation (the controller has not observed it: phase Progressing by Argo's rule).
    let spec_patch = json!({ "spec": { "paused": true }, "status": { "phase": "Degraded" } });
    let patched = rollouts.patch("web", &PatchParams::default(), &Patch::Merge(&spec_patch)).await.expect("patch");
    assert_eq!(patched.data["spec"]["paused"], true);
    assert_eq!(patched.data["status"]["phase"], "Paused");
    assert_eq!(patched.metadata.generation, Some(2));

    // `kubectl argo rollouts promote`: clear the pause conditions on the status subresource.
    let promote = json!({ "status": { "pauseConditions": null } });
    let promoted =
        rollouts.patch_status("web", &PatchParams::default(), &Patch::Merge(&promote)).await.expect("promote");
    assert!(promoted.data["status"].get("pauseConditions").is_none(), "{}", promoted.data["status"]);

    // The scale subresource maps spec.replicas.
    let scale = rollouts.get_scale("web").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
}

#[tokio::test]
async fn secrets_are_listed_by_label_selector() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("selector").await;
    let secrets = Api::<Secret>::namespaced(kube.admin_client(), &ns);
    for (name, labels) in [
        ("shard-1", vec![("argocd.argoproj.io/secret-type", "cluster"), ("shard", "1")]),
        ("shard-2", vec![("argocd.argoproj.io/secret-type", "cluster"), ("shard", "2")]),
        ("shard-3", vec![("argocd.argoproj.io/secret-type", "cluster"), ("shard", "3")]),
        ("repo", vec![("argocd.argoproj.io/secret-type", "repository")]),
    ] {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            string_data: Some([("server".to_string(), format!("https://{name}.example"))].into()),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &secret).await.expect("create secret");
    }
    let names = |list: kube::core::ObjectList<Secret>| {
        let mut n: Vec<String> = list.items.into_iter().filter_map(|s| s.metadata.name).collect();
        n.sort();
        n
    };
    let clusters = secrets.list(&ListParams::default().labels("argocd.argoproj.io/secret-type=cluster")).await;
    assert_eq!(names(clusters.expect("list")), ["shard-1", "shard-2", "shard-3"]);
    let some =
        secrets.list(&ListParams::default().labels("argocd.argoproj.io/secret-type=cluster,shard in (1,3)")).await;
    assert_eq!(names(some.expect("list")), ["shard-1", "shard-3"]);
    let unlabelled = secrets.list(&ListParams::default().labels("!shard")).await;
    assert_eq!(names(unlabelled.expect("list")), ["repo"]);
}

#[tokio::test]
async fn server_side_apply_reports_a_field_manager_conflict() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("apply").await;
    let ar = argo("Rollout");
    let rollouts = Api::<DynamicObject>::namespaced_with(kube.admin_client(), &ns, &ar);
    let mut mine = rollout("web");
    mine.data["spec"]["paused"] = json!(true);
    rollouts.patch("web", &PatchParams::apply("shard-gate"), &Patch::Apply(&mine)).await.expect("first apply");

    let theirs = object("web", &ar, json!({ "spec": { "paused": false } }));
    let err = api_error(rollouts.patch("web", &PatchParams::apply("someone-else"), &Patch::Apply(&theirs)).await);
    assert!(err.is_conflict(), "{err:?}");
    assert!(err.message.contains("shard-gate") && err.message.contains(".spec.paused"), "{err:?}");

    let forced = rollouts
        .patch("web", &PatchParams::apply("someone-else").force(), &Patch::Apply(&theirs))
        .await
        .expect("forced apply");
    assert_eq!(forced.data["spec"]["paused"], false);
    let managers: Vec<String> =
        forced.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"someone-else".to_string()), "{managers:?}");
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_conflicts() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("stale").await;
    let maps = Api::<ConfigMap>::namespaced(kube.admin_client(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta { name: Some("weights".into()), ..Default::default() },
        data: Some([("shard-1".to_string(), "50".to_string())].into()),
        ..Default::default()
    };
    let read = maps.create(&PostParams::default(), &cm).await.expect("create");
    let mut first = read.clone();
    first.data.as_mut().unwrap().insert("shard-1".into(), "0".into());
    maps.replace("weights", &PostParams::default(), &first).await.expect("first update");
    let mut second = read;
    second.data.as_mut().unwrap().insert("shard-1".into(), "100".into());
    let err = api_error(maps.replace("weights", &PostParams::default(), &second).await);
    assert!(err.is_conflict(), "{err:?}");
    let now = maps.get("weights").await.expect("get");
    assert_eq!(now.data.unwrap()["shard-1"], "0", "the stale write changed nothing");
}

#[tokio::test]
async fn a_watch_sees_changes() {
    let kube = KubeBench::shared();
    let ns = kube.namespace("watch").await;
    let maps = Api::<ConfigMap>::namespaced(kube.admin_client(), &ns);
    let version = maps.list(&ListParams::default()).await.expect("list").metadata.resource_version.expect("rv");
    let mut events = maps.watch(&WatchParams::default().timeout(20), &version).await.expect("watch").boxed();
    let cm =
        ConfigMap { metadata: ObjectMeta { name: Some("seen".into()), ..Default::default() }, ..Default::default() };
    maps.create(&PostParams::default(), &cm).await.expect("create");
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.try_next().await.expect("watch stream").expect("watch ended") {
                WatchEvent::Bookmark(_) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("no watch event within 15 s");
    match event {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("seen")),
        other => panic!("expected Added, got {other:?}"),
    }
}

#[tokio::test]
async fn the_limited_token_is_forbidden_outside_its_namespace() {
    let kube = KubeBench::shared();
    let limited = kube.limited_client();
    let inside = Api::<Secret>::namespaced(limited.clone(), LIMITED_NAMESPACE);
    inside.list(&ListParams::default()).await.expect("the limited user may list secrets in limited-ns");

    let err = api_error(Api::<Secret>::namespaced(limited.clone(), "default").list(&ListParams::default()).await);
    assert!(err.is_forbidden() && err.code == 403, "{err:?}");
    assert!(err.message.contains("User \"limited\""), "{err:?}");
    let secret =
        Secret { metadata: ObjectMeta { name: Some("nope".into()), ..Default::default() }, ..Default::default() };
    let err = api_error(inside.create(&PostParams::default(), &secret).await);
    assert!(err.is_forbidden(), "reading is not writing: {err:?}");

    let stranger = kube::Client::try_from(kube.config("not-a-token")).expect("client");
    let err = api_error(Api::<Secret>::namespaced(stranger, LIMITED_NAMESPACE).list(&ListParams::default()).await);
    assert_eq!(err.code, 401, "{err:?}");
}

#[tokio::test]
async fn the_admin_kubeconfig_works() {
    let kube = KubeBench::shared();
    let kubeconfig = Kubeconfig::read_from(kube.kubeconfig_path()).expect("read kubeconfig");
    assert_eq!(kubeconfig.current_context.as_deref(), Some("bench"));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
        .await
        .expect("config from kubeconfig");
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), kube.host());
    let client = kube::Client::try_from(config).expect("client");
    let version = client.apiserver_version().await.expect("version");
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "20"), "{version:?}");
    // Admin: may read secrets anywhere.
    Api::<Secret>::namespaced(client, "kube-system").list(&ListParams::default()).await.expect("admin lists secrets");

    let options = KubeConfigOptions { context: Some("bench-limited".into()), ..Default::default() };
    let limited = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("limited context");
    let client = kube::Client::try_from(limited).expect("client");
    let err = api_error(Api::<Secret>::namespaced(client, "kube-system").list(&ListParams::default()).await);
    assert!(err.is_forbidden(), "{err:?}");
}
