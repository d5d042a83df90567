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
    }
}
