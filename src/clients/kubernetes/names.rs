//! Kubernetes naming rules, checked at plan time so a bad name never reaches the API server
//! (<https://kubernetes.io/docs/concepts/overview/working-with-objects/names/>,
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>).

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A DNS-1123 label: at most 63 lowercase alphanumerics or `-`, alphanumeric at both ends.
pub fn dns_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid name: at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (Secret names).
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && part.starts_with(alnum)
                && part.ends_with(alnum)
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        ))
    }
}

/// The name part of a label key, or a label value (which may also be empty).
fn qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || c == '-' || c == '_' || c == '.')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63
/// characters of alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
pub fn qualified_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || dns_subdomain(p).is_err())
    {
        return Err(format!("key {key:?}: the prefix {p:?} must be a DNS subdomain such as example.com"));
    }
    if !qualified_name_part(name) {
        return Err(format!(
            "key {key:?}: the name part must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || qualified_name_part(v) {
        Ok(())
    } else {
        Err(format!(
            "value {v:?}: at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or empty)"
        ))
    }
}

/// The most bytes all annotations of one object may hold together, keys and values counted
/// (apimachinery `ValidateAnnotationsSize`: `TotalAnnotationSizeLimitB = 256 * (1 << 10)`,
/// staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The most bytes a Secret's data may hold (`MaxSecretSize = 1 * 1024 * 1024`,
/// pkg/apis/core/types.go; `ValidateSecret` sums the values).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Annotations within [`TOTAL_ANNOTATION_SIZE_LIMIT`] (the sum of key and value lengths).
pub fn annotations_size<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), String> {
    let total: usize = entries.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    if total <= TOTAL_ANNOTATION_SIZE_LIMIT {
        Ok(())
    } else {
        Err(format!(
            "the annotations hold {total} bytes (keys and values); Kubernetes accepts at most {TOTAL_ANNOTATION_SIZE_LIMIT} (256 KiB) per object"
        ))
    }
}

/// ExecCredential API versions client-go (and so kube-rs and Argo CD) accepts:
/// `client.authentication.k8s.io/v1alpha1` was removed in Kubernetes 1.24
/// (<https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins>).
pub const EXEC_API_VERSIONS: &[&str] = &["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

/// An environment variable name a plugin can be given: not empty, no `=` and no NUL (POSIX
/// environ entries are `name=value` C strings; Rust's `Command::env` would fail the spawn).
pub fn env_var_name(k: &str) -> Result<(), String> {
    if k.is_empty() || k.contains(['=', '\0']) {
        Err(format!("{k:?} is not an environment variable name: it must be non-empty, without '=' or NUL"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_naming_rules() {
        assert!(qualified_key("env").is_ok());
        assert!(qualified_key("example.com/shard").is_ok());
        assert!(qualified_key("-bad").is_err());
        assert!(qualified_key("Example.com/x").is_err());
        assert!(qualified_key(&"a".repeat(64)).is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("a b").is_err());
        assert!(dns_subdomain("cluster-shard-2").is_ok());
        assert!(dns_subdomain("Cluster").is_err());
        assert!(dns_label("argocd").is_ok());
        assert!(dns_label("a.b").is_err());
        assert!(dns_label("web,metadata.name=x").is_err(), "a ',' would add a field selector");
        assert!(annotations_size([("a", "b")]).is_ok());
        let big = "v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        assert!(annotations_size([("k", big.as_str())]).unwrap_err().contains("262145 bytes"));
        assert!(env_var_name("AWS_PROFILE").is_ok());
        assert!(env_var_name("A=B").is_err() && env_var_name("").is_err());
    }
}
