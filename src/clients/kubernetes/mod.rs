//! Kubernetes for this provider, one job per file:
//! - [`connection`]: the connection block (`hub`, a resource's `cluster`), its checks, its source;
//! - [`client`]: one client per connection, built on first use within the deadline, cached;
//! - [`call`]: the one way to call the API server and follow a watch (deadline, Ctrl-C, retries);
//! - [`error`]: the one error type, naming the call, classified by type and status code;
//! - [`exec`]: credential plugins, run by the provider as killable child processes with a timeout;
//! - [`names`]: Kubernetes naming rules for plan-time checks;
//! - [`fields`]: server-side apply field ownership and conflicts.

pub mod call;
pub mod client;
pub mod connection;
pub mod error;
pub mod exec;
pub mod fields;
pub mod names;

pub use call::{ATTEMPTS, Watched};
pub use client::{KubeClient, KubeClients};
pub use connection::{
    BlockKind, Connection, DEFAULT_EXEC_API_VERSION, DirectAuth, ExecBlock, Source, connection_block,
};
pub use error::{Call, KubeError};
pub use fields::FIELD_MANAGER;
