//! The provider binary: Terraform starts it (go-plugin handshake); `--debug` serves for a
//! debugger and prints a TF_REATTACH_PROVIDERS value instead.

use shard_provider::framework::server::Server;
use shard_provider::protocol::server::{Launch, ServeError, serve};
use shard_provider::protocol::{logging, timing};
use shard_provider::provider::{REGISTRY_ADDRESS, ShardProvider};

const USAGE: &str = "\
usage: terraform-provider-shard [--debug | --version | --help]

A Terraform provider (registry address shardkit/shard): Terraform starts it; it is not run by hand.
  --debug    serve without Terraform's handshake and print a TF_REATTACH_PROVIDERS value to set in
             the shell that runs Terraform (for a debugger)
  --version  print the version
Install: a filesystem mirror (scripts/release.sh --mirror DIR) or dev_overrides; see README.md.";

fn main() -> std::process::ExitCode {
    timing::process_started();
    let mut debug = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--debug" | "-debug" => debug = true,
            "--version" | "-version" => {
                println!("terraform-provider-shard {}", env!("CARGO_PKG_VERSION"));
                return std::process::ExitCode::SUCCESS;
            }
            "--help" | "-help" | "-h" => {
                println!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n\n{USAGE}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    // Refuse before starting anything when not launched by Terraform.
    if !debug && let Err(e) = shard_provider::protocol::server::check_handshake_env() {
        eprintln!("{e}");
        return std::process::ExitCode::from(1);
    }
    logging::init("shard_provider", logging::level_from_env("shard"));
    timing::mark("logging");
    // Two worker threads: the provider is I/O bound and Terraform runs several in parallel.
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    timing::mark("runtime");
    let launch = Launch { debug, provider_address: REGISTRY_ADDRESS.to_string() };
    let server = Server::new(ShardProvider);
    timing::mark("schemas");
    match runtime.block_on(serve(server, launch)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e @ ServeError::NotLaunchedByTerraform) => {
            eprintln!("{e}");
            std::process::ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("terraform-provider-shard: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
