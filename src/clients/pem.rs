//! CA bundles as users and AWS hand them out: PEM text, or base64 of it (EKS's
//! `certificateAuthority.data`), checked to hold at least one real certificate.

use base64::Engine;

/// PEM as given, or PEM from base64-of-PEM (what EKS and many outputs hand out).
pub fn normalise_ca(text: &str) -> Result<String, String> {
    let text = text.trim();
    let pem = if text.contains("-----BEGIN CERTIFICATE-----") {
        text.to_string()
    } else {
        let compact: String = text.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| "expected PEM text starting with -----BEGIN CERTIFICATE-----, or base64 of it".to_string())?;
        let decoded = String::from_utf8(bytes).map_err(|_| "base64 that does not decode to PEM text".to_string())?;
        if !decoded.contains("-----BEGIN CERTIFICATE-----") {
            return Err("base64 that does not decode to a PEM certificate".into());
        }
        decoded
    };
    if certificates(&pem).is_empty() {
        return Err("no readable certificate in the PEM text".into());
    }
    Ok(pem)
}

pub fn certificates(pem: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .filter(|der| is_der_sequence(der))
        .collect()
}

/// A certificate is one DER SEQUENCE spanning all its bytes; PEM armour around junk is not.
fn is_der_sequence(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (der.first(), der.get(1)) else { return false };
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || der.len() < 2 + n {
            return false;
        }
        (der[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    header + len == der.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_may_be_pem_or_base64_of_pem_but_not_junk() {
        // A real self-signed certificate (rcgen) so the PEM parses.
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem();
        assert_eq!(normalise_ca(&cert).unwrap(), cert.trim());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&cert);
        assert_eq!(normalise_ca(&b64).unwrap(), cert);
        // moto's certificateAuthority.data is random text, not base64 of a PEM.
        assert!(normalise_ca("kxEeTUZ7QDCqA3zNdrsJAxUZfN9m").is_err());
        assert!(
            normalise_ca("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmdhcmJhZ2UKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")
                .is_err()
        );
    }
}
