//! The stored-state JSON decoder (UpgradeResourceState's `raw_state.json`) against a type
//! derived from the input: it accepts exactly the JSON serde_json accepts (UTF-8 checked), the typed and untyped
//! decoders agree, and what it decodes goes through msgpack (what the provider then sends to
//! Terraform) and back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shard_provider::protocol::{json, msgpack};

fuzz_target!(|data: &[u8]| {
    let Some((ty, bytes)) = shard_fuzz::type_and_payload(data) else { return };
    // serde_json's syntax check skips strings without checking their UTF-8; json::parse reads
    // them, so it refuses invalid UTF-8 too (as it should: such state is corrupt).
    let syntax_ok = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    let parsed_ok = json::parse(bytes).is_ok();
    assert!(!parsed_ok || syntax_ok, "json::parse accepts what serde_json refuses");
    if std::str::from_utf8(bytes).is_ok() {
        assert_eq!(parsed_ok, syntax_ok, "json::parse disagrees with serde_json on the syntax");
    }
    let Ok((value, types)) = json::decode_typed(&ty, bytes) else { return };
    assert_eq!(json::decode(&ty, bytes).ok().as_ref(), Some(&value), "decode and decode_typed disagree");
    assert!(value.fits(&ty), "decoded {value:?} does not fit {}", ty.to_json());
    let encoded = msgpack::try_encode(&ty, &value, &types)
        .unwrap_or_else(|e| panic!("decoded {value:?} does not encode as {}: {e}", ty.to_json()));
    let (again, again_types) =
        msgpack::decode_typed(&ty, &encoded).unwrap_or_else(|e| panic!("encoded {value:?} does not decode: {e}"));
    assert_eq!(value, again, "JSON → msgpack → value as {}", ty.to_json());
    assert_eq!(types, again_types, "dynamic types after JSON → msgpack as {}", ty.to_json());
});
