//! The connection block (`Connection::validate`, `Connection::resolve`), from JSON
//! (`{"host":{"Known":"https://..."},"token":"Unknown",...}`) or built with `arbitrary`: a block
//! that validates with every value known resolves to its one source (or to none when it is
//! empty), a CA it resolves with holds certificates, and Debug output never shows the token.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use shard_provider::clients::kubernetes::KubeError;
use shard_provider::clients::kubernetes::connection::{Connection, DirectAuth, ExecBlock, Source};
use shard_provider::clients::pem::certificates;
use shard_provider::framework::{Attr, AttrPath};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Arbitrary)]
enum A<T> {
    #[default]
    Null,
    Unknown,
    Known(T),
}

impl<T> From<A<T>> for Attr<T> {
    fn from(a: A<T>) -> Attr<T> {
        match a {
            A::Null => Attr::Null,
            A::Unknown => Attr::Unknown,
            A::Known(t) => Attr::Known(t),
        }
    }
}

#[derive(Debug, Deserialize, Arbitrary)]
struct Exec {
    api_version: Option<String>,
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, Arbitrary)]
#[serde(default)]
struct Block {
    host: A<String>,
    token: A<String>,
    cluster_ca_certificate: A<String>,
    insecure: A<bool>,
    config_path: A<String>,
    config_context: A<String>,
    eks_cluster_name: A<String>,
    exec: Option<Exec>,
}

impl Default for Block {
    fn default() -> Block {
        Block {
            host: A::Null,
            token: A::Null,
            cluster_ca_certificate: A::Null,
            insecure: A::Null,
            config_path: A::Null,
            config_context: A::Null,
            eks_cluster_name: A::Null,
            exec: None,
        }
    }
}

fn known<T>(a: &Attr<T>) -> bool {
    !matches!(a, Attr::Unknown)
}

fuzz_target!(|data: &[u8]| {
    let Some(b) = shard_fuzz::json_or_arbitrary::<Block>(data) else { return };
    let c = Connection {
        host: b.host.into(),
        token: b.token.into(),
        cluster_ca_certificate: b.cluster_ca_certificate.into(),
        insecure: b.insecure.into(),
        config_path: b.config_path.into(),
        config_context: b.config_context.into(),
        eks_cluster_name: b.eks_cluster_name.into(),
        exec: b.exec.map(|e| ExecBlock { api_version: e.api_version, command: e.command, args: e.args, env: e.env }),
        argocd_namespace: Attr::Null,
    };
    let diags = c.validate(&AttrPath::attr("hub"));
    let all_known =
        [&c.host, &c.token, &c.cluster_ca_certificate, &c.config_path, &c.config_context, &c.eks_cluster_name]
            .into_iter()
            .all(known)
            && known(&c.insecure);
    let resolved = c.resolve();
    if diags.is_empty() && all_known {
        match &resolved {
            Ok(_) => {}
            Err(KubeError::NoSource) => assert!(c.is_empty(), "{c:?} has a source but resolves to none"),
            Err(e) => panic!("{c:?} validates but does not resolve: {e}"),
        }
    }
    if let Ok(Source::Direct { ca_pem: Some(pem), .. }) = &resolved {
        assert!(!certificates(pem).is_empty(), "resolved with a CA that holds no certificate");
    }
    if let Ok(Source::Direct { auth: DirectAuth::Token(t), .. }) = &resolved {
        assert_eq!(Some(t), c.token.known());
    }
    // Debug output is the same whatever the token is (so it shows none of it).
    if let Attr::Known(token) = &c.token {
        let other = Connection { token: Attr::Known(format!("{token}-other")), ..c.clone() };
        assert_eq!(format!("{c:?}"), format!("{other:?}"), "Connection's Debug depends on the token");
        if let (Ok(source), Ok(other_source)) = (&resolved, other.resolve()) {
            assert_eq!(format!("{source:?}"), format!("{other_source:?}"), "Source's Debug depends on the token");
        }
    }
});
