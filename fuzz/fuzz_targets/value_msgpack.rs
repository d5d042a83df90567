//! The msgpack value decoder (`DynamicValue.msgpack`) against a type derived from the input:
//! whatever it accepts fits the type, encodes without a mismatch, and decodes back to the same
//! value and dynamic types; encoding what was decoded again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shard_provider::protocol::msgpack;

fuzz_target!(|data: &[u8]| {
    let Some((ty, bytes)) = shard_fuzz::type_and_payload(data) else { return };
    let Ok((value, types)) = msgpack::decode_typed(&ty, bytes) else { return };
    assert!(value.fits(&ty), "decoded {value:?} does not fit {}", ty.to_json());
    let encoded = msgpack::try_encode(&ty, &value, &types)
        .unwrap_or_else(|e| panic!("decoded {value:?} does not encode as {}: {e}", ty.to_json()));
    let (again, again_types) =
        msgpack::decode_typed(&ty, &encoded).unwrap_or_else(|e| panic!("re-encoded {value:?} does not decode: {e}"));
    assert_eq!(value, again, "msgpack round trip as {}", ty.to_json());
    assert_eq!(types, again_types, "dynamic types after a round trip as {}", ty.to_json());
    assert_eq!(encoded, msgpack::encode_typed(&ty, &again, &again_types), "encoding is not stable");
});
