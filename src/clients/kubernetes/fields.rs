//! Server-side apply field ownership: which fields a field manager owns (`managedFields`), the
//! conflicts a failed apply reports, and the field paths both use
//! (<https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts>).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value as Json;

/// The field manager of every server-side apply this provider makes.
pub const FIELD_MANAGER: &str = "terraform-provider-shard";

/// Which data keys, labels and annotations a field manager owns, from `managedFields`.
#[derive(Debug, Default, PartialEq)]
pub struct Owned {
    pub data: Vec<String>,
    pub labels: Vec<String>,
    pub annotations: Vec<String>,
}

/// None when `manager` owns nothing in the object.
pub fn owned_by(metadata: &ObjectMeta, manager: &str) -> Option<Owned> {
    let entries = metadata.managed_fields.as_ref()?;
    let mut owned: Option<Owned> = None;
    for e in entries.iter().filter(|e| e.manager.as_deref() == Some(manager)) {
        let Some(fields) = e.fields_v1.as_ref().map(|f| &f.0) else { continue };
        let o = owned.get_or_insert_with(Owned::default);
        let keys = |v: &Json| -> Vec<String> {
            v.as_object()
                .map(|m| m.keys().filter_map(|k| k.strip_prefix("f:")).map(str::to_string).collect())
                .unwrap_or_default()
        };
        o.data.extend(keys(&fields["f:data"]));
        o.labels.extend(keys(&fields["f:metadata"]["f:labels"]));
        o.annotations.extend(keys(&fields["f:metadata"]["f:annotations"]));
    }
    owned
}

/// One field another manager holds, from a 409 apply conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    /// `.data.config`, `.metadata.labels.env`, …
    pub field: String,
}

/// The conflicts of a failed server-side apply (`FieldManagerConflict` causes); empty when the
/// 409 was something else.
pub fn conflicts(status: &kube::core::Status) -> Vec<Conflict> {
    let Some(details) = &status.details else { return Vec::new() };
    details
        .causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| Conflict {
            // message: `conflict with "kubectl-edit" using v1` (older: `conflict with "x"`).
            manager: c.message.split('"').nth(1).unwrap_or(&c.message).to_string(),
            field: c.field.clone(),
        })
        .collect()
}

/// The field path of a label, annotation or data key, as conflicts name it.
pub fn label_field(key: &str) -> String {
    format!(".metadata.labels.{key}")
}
pub fn annotation_field(key: &str) -> String {
    format!(".metadata.annotations.{key}")
}
pub fn data_field(key: &str) -> String {
    format!(".data.{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflicts_name_the_manager() {
        let status: kube::core::Status = serde_json::from_value(json!({
            "code": 409, "reason": "Conflict", "message": "Apply failed with 1 conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict",
                                    "message": "conflict with \"argocd-server\" using v1", "field": ".data.config"}]}
        }))
        .unwrap();
        assert_eq!(
            conflicts(&status),
            vec![Conflict { manager: "argocd-server".into(), field: ".data.config".into() }]
        );
    }
}
