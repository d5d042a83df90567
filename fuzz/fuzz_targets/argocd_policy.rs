//! The ApplicationSet controller's policy from `argocd-cmd-params-cm` (`ControllerPolicy::
//! from_cmd_params`), the policy that applies to an ApplicationSet (`effective_policy`), an
//! Application's status (`app_status`, `owner_application_set`) and whether it leaves with the
//! cluster (`leaves_with_the_cluster`). Input: JSON `{"data": {...}, "appset": ..., "app": ...,
//! "labels": {...}}`, or `data` alone built with `arbitrary`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use shard_provider::argo::argocd::{
    Accept, ControllerPolicy, app_status, effective_policy, leaves_with_the_cluster, owner_application_set,
    policy_deletes, removal_verdict,
};
use std::collections::BTreeMap;

const OVERRIDE: &str = "applicationsetcontroller.enable.policy.override";

#[derive(serde::Deserialize, Default)]
struct Input {
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    appset: Json,
    #[serde(default)]
    app: Json,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fuzz_target!(|bytes: &[u8]| {
    let input = match serde_json::from_slice::<Input>(bytes) {
        Ok(input) => input,
        Err(_) => match BTreeMap::<String, String>::arbitrary_take_rest(arbitrary::Unstructured::new(bytes)) {
            Ok(data) => Input { data, ..Input::default() },
            Err(_) => return,
        },
    };
    let controller = ControllerPolicy::from_cmd_params(&input.data);
    assert_eq!(controller.policy.trim(), controller.policy);
    if !input.data.contains_key(OVERRIDE) {
        assert_eq!(controller.override_allowed, controller.policy.is_empty(), "{:?}", input.data);
    }
    let (policy, from) = effective_policy(&input.appset, &controller);
    assert!(!policy.is_empty(), "an empty policy from {from}");
    if from == "the default" {
        assert_eq!(policy, "sync");
    }
    assert_eq!(policy_deletes(&policy), policy == "sync" || policy == "create-delete");

    let status = app_status(&input.app);
    assert!(!status.sync_status.is_empty() && !status.health_status.is_empty());
    if status.ready(Accept::default()) {
        assert!(status.ready(Accept { suspended: true }));
        assert_eq!((status.sync_status.as_str(), status.health_status.as_str()), ("Synced", "Healthy"));
    }
    assert!(status.describe().starts_with(&status.name));
    assert_eq!(status.application_set.as_deref(), owner_application_set(&input.app));
    assert!(removal_verdict(std::slice::from_ref(&status)).is_err());

    let mut appsets = BTreeMap::new();
    if let Some(owner) = owner_application_set(&input.app) {
        appsets.insert(owner.to_string(), input.appset.clone());
    }
    let verdict = leaves_with_the_cluster(&input.app, &appsets, &controller, &input.labels);
    if verdict.is_ok() && input.app["metadata"]["deletionTimestamp"].is_null() {
        assert!(policy_deletes(&policy), "leaves under policy {policy}");
    }
});
