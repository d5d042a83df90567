//! Layer 1 — the wire: generated tfplugin6 and go-plugin types, the go-plugin handshake,
//! AutoMTLS, the gRPC server and the value codecs. Nothing in here knows about shards.

pub mod json;
pub mod logging;
pub mod msgpack;
pub mod server;
pub mod timing;
pub mod tls;
pub mod value;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod go_plugin {
    tonic::include_proto!("plugin");
}

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

/// go-plugin's handshake cookie for Terraform providers.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The only plugin protocol major version served.
pub const PROTOCOL_VERSION: u32 = 6;
/// gRPC message limit both ways; Terraform allows 256 MiB (tonic's decode default is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;
