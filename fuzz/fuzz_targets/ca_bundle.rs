//! CA bundles (`normalise_ca`, `certificates`): what is accepted holds a certificate, is
//! accepted again as it is and as base64 of it (the EKS form) with the same result, and every
//! certificate found is one DER SEQUENCE spanning its bytes.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use shard_provider::clients::pem::{certificates, normalise_ca};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for der in certificates(text) {
        assert_eq!(der.first(), Some(&0x30), "a certificate that is no SEQUENCE");
    }
    let Ok(pem) = normalise_ca(text) else { return };
    assert!(!certificates(&pem).is_empty(), "accepted without a certificate");
    let pem = pem.trim();
    assert_eq!(normalise_ca(pem).as_deref(), Ok(pem), "not accepted again as it is");
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
    assert_eq!(normalise_ca(&b64).as_deref(), Ok(pem), "not accepted as base64 of itself");
});
