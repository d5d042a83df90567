//! Provider-private data stored beside a resource's state or an ephemeral resource's result.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Provider-private data stored beside a resource's state (opaque to Terraform, shown to no
/// one, but stored in the state file: never put a secret here). Keys map to JSON values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Private(BTreeMap<String, serde_json::Value>);

impl Private {
    /// Reads the bytes Terraform hands back; unreadable or empty bytes are an empty map.
    pub fn from_bytes(bytes: &[u8]) -> Private {
        if bytes.is_empty() {
            return Private::default();
        }
        serde_json::from_slice(bytes).map(Private).unwrap_or_default()
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.0.is_empty() { Vec::new() } else { serde_json::to_vec(&self.0).unwrap_or_default() }
    }
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    pub fn set<T: Serialize>(&mut self, key: &str, value: &T) {
        if let Ok(v) = serde_json::to_value(value) {
            self.0.insert(key.to_string(), v);
        }
    }
    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
