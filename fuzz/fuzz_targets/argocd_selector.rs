//! Label selectors as Argo CD's cluster generators apply them (`selector_matches`,
//! apimachinery's `LabelSelectorAsSelector`) and the generators found in an ApplicationSet
//! (`cluster_selectors`). Input: JSON `{"selector": ..., "labels": {...}, "appset": ...}`.
//! A selector matches exactly when its `matchLabels` and each of its `matchExpressions` match
//! on their own; `In`/`NotIn` and `Exists`/`DoesNotExist` are complements; an empty selector
//! matches everything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};
use shard_provider::argo::argocd::{cluster_selectors, selector_matches};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Input {
    #[serde(default)]
    selector: Json,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    appset: Json,
}

fn check(selector: &Json, labels: &BTreeMap<String, String>) {
    let whole = selector_matches(selector, labels);
    let by_labels = selector_matches(&json!({ "matchLabels": selector["matchLabels"] }), labels);
    let expressions = selector["matchExpressions"].as_array().cloned().unwrap_or_default();
    let mut each = by_labels;
    for e in &expressions {
        let alone = selector_matches(&json!({ "matchExpressions": [e] }), labels);
        each &= alone;
        let complement = match e["operator"].as_str() {
            Some("In") => "NotIn",
            Some("NotIn") => "In",
            Some("Exists") => "DoesNotExist",
            Some("DoesNotExist") => "Exists",
            _ => {
                assert!(!alone, "an unknown operator selected {labels:?}: {e}");
                continue;
            }
        };
        let mut flipped = e.clone();
        flipped["operator"] = complement.into();
        assert_ne!(selector_matches(&json!({ "matchExpressions": [flipped] }), labels), alone, "{e} vs {complement}");
    }
    assert_eq!(whole, each, "{selector} on {labels:?}: the whole and its parts disagree");
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else { return };
    assert!(selector_matches(&json!({}), &input.labels));
    assert!(selector_matches(&Json::Null, &input.labels));
    check(&input.selector, &input.labels);
    for selector in cluster_selectors(&input.appset).iter().take(16) {
        check(selector, &input.labels);
    }
});
