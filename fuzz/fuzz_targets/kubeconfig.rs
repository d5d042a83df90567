//! A kubeconfig as the provider reads one for `config_path` (client.rs `build`): kube's YAML
//! reader, the context/cluster/user resolution and CA parsing of `Config::from_custom_kubeconfig`
//! (for the current context and for each named one), then the provider's own credential-plugin
//! runner (`ExecPlugin::from_config`), and the plugin's ExecCredential output
//! (`parse_credential`, whose errors never quote the output: it holds the token). File
//! references (certificate-authority, client-certificate, client-key, tokenFile) are removed
//! first: the fuzzer must not read files from this machine; the inline `-data` forms remain.
#![no_main]

use kube::config::{ExecConfig, KubeConfigOptions, Kubeconfig};
use libfuzzer_sys::fuzz_target;
use shard_provider::clients::kubernetes::exec::{ExecPlugin, parse_credential};

fn check_exec(exec: &ExecConfig) {
    match ExecPlugin::from_config(exec) {
        Some(plugin) => {
            assert!(!exec.provide_cluster_info);
            assert_eq!(Some(&plugin.command), exec.command.as_ref());
            assert_eq!(plugin.args, exec.args.clone().unwrap_or_default());
            assert!(plugin.env.len() <= exec.env.as_ref().map_or(0, Vec::len));
            assert!(!plugin.api_version.is_empty() || exec.api_version.as_deref() == Some(""));
        }
        None => assert!(exec.provide_cluster_info || exec.command.is_none()),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(e) = parse_credential(data) {
            if let Some(token) = doc["status"]["token"].as_str().filter(|t| t.len() >= 8) {
                let quoted = doc["status"]["expirationTimestamp"].as_str().is_some_and(|ts| ts.contains(token));
                assert!(quoted || !e.contains(token), "the error quotes the token: {e}");
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut kubeconfig) = Kubeconfig::from_yaml(text) else { return };
    for cluster in kubeconfig.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        cluster.certificate_authority = None;
    }
    for user in kubeconfig.auth_infos.iter_mut().filter_map(|u| u.auth_info.as_mut()) {
        user.client_certificate = None;
        user.client_key = None;
        user.token_file = None;
        if let Some(exec) = &user.exec {
            check_exec(exec);
        }
    }
    let contexts = std::iter::once(None).chain(kubeconfig.contexts.iter().map(|c| Some(c.name.clone())).take(4));
    for context in contexts.collect::<Vec<_>>() {
        let options = KubeConfigOptions { context, ..Default::default() };
        let Ok(config) =
            futures::executor::block_on(kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options))
        else {
            continue;
        };
        // What client.rs then does with it.
        let _host = config.cluster_url.to_string().trim_end_matches('/').to_string();
        if let Some(exec) = &config.auth_info.exec {
            check_exec(exec);
        }
    }
});
