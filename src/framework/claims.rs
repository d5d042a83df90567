//! Two resources of one configuration managing the same remote object: Terraform plans a whole
//! configuration in one provider process, so a resource type can notice the second claim at plan
//! time (e.g. two `shard_weight` blocks for one target group, which would fight on every apply).

use std::collections::HashMap;
use std::sync::Mutex;

/// The objects planned in this process, by key: (plans of existing instances, plans of new ones).
#[derive(Debug, Default)]
pub struct Claims(Mutex<HashMap<String, (u32, u32)>>);

impl Claims {
    /// Records one plan of the object `key`; `prior_key` is the object the prior state named (None
    /// on create). True when another resource of this configuration claimed `key` already.
    ///
    /// A replacement is planned twice in one process (as an update with a prior state naming
    /// another object, then as a create without one), so it is not counted; two claims of the same
    /// kind (two updates, or two creates) are certainly two resources.
    pub fn duplicate(&self, key: &str, prior_key: Option<&str>) -> bool {
        if prior_key.is_some_and(|p| p != key) {
            return false;
        }
        let mut claims = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (existing, new) = claims.entry(key.to_string()).or_insert((0, 0));
        let count = if prior_key.is_some() { existing } else { new };
        *count += 1;
        *count > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_of_one_kind_is_a_duplicate_and_a_replacement_is_not() {
        let c = Claims::default();
        assert!(!c.duplicate("a", None));
        assert!(c.duplicate("a", None), "two creates of one object");
        assert!(!c.duplicate("b", Some("b")));
        assert!(c.duplicate("b", Some("b")), "two resources in state for one object");
        // Replacing x by y: planned as an update from x (not counted), then as a create of y.
        assert!(!c.duplicate("y", Some("x")));
        assert!(!c.duplicate("y", None));
        assert!(!c.duplicate("b", None), "an existing and a new plan of one object: a replacement's two passes");
    }
}
