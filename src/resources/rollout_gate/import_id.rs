//! The gate's import id: `<namespace>/<name>`, optionally followed by the `cluster` block's
//! settings (Terraform sends no resource configuration to an import).

use crate::clients::kubernetes::Connection;
use crate::framework::Attr;
use std::collections::BTreeMap;

/// `<namespace>/<name>`, optionally followed by `,key=value` pairs of the `cluster` block (the
/// provider sees no resource configuration during an import, so the cluster must be in the id).
pub(super) fn parse_import_id(id: &str) -> Result<(String, String, Option<Connection>), String> {
    let usage = "expected `<namespace>/<name>`, optionally followed by the cluster block's settings as \
                 `,key=value` (e.g. `app/api,eks_cluster_name=shard-2` or \
                 `app/api,config_path=/home/me/.kube/config,config_context=shard-2`)";
    let mut parts = id.split(',');
    let head = parts.next().unwrap_or_default().trim();
    let (namespace, name) = head
        .split_once('/')
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| format!("{id:?}: {usage}"))?;
    let mut cluster = Connection::default();
    let mut any = false;
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("{part:?} is not key=value; {usage}"))?;
        let (key, value) = (key.trim(), value.trim().to_string());
        any = true;
        match key {
            "host" => cluster.host = Attr::Known(value),
            "cluster_ca_certificate" => cluster.cluster_ca_certificate = Attr::Known(value),
            "insecure" => cluster.insecure = Attr::Known(value == "true"),
            "config_path" => cluster.config_path = Attr::Known(value),
            "config_context" => cluster.config_context = Attr::Known(value),
            "eks_cluster_name" => cluster.eks_cluster_name = Attr::Known(value),
            "exec_command" => cluster.exec.get_or_insert_with(Default::default).command = value,
            "exec_api_version" => cluster.exec.get_or_insert_with(Default::default).api_version = Some(value),
            "exec_arg" => {
                cluster.exec.get_or_insert_with(Default::default).args.get_or_insert_with(Vec::new).push(value)
            }
            "exec_env" => {
                let (k, v) = value.split_once('=').ok_or_else(|| format!("exec_env={value}: expected NAME=VALUE"))?;
                cluster
                    .exec
                    .get_or_insert_with(Default::default)
                    .env
                    .get_or_insert_with(BTreeMap::new)
                    .insert(k.into(), v.into());
            }
            other => return Err(format!("unknown cluster setting {other:?}; {usage}")),
        }
    }
    if cluster.exec.as_ref().is_some_and(|e| e.command.is_empty()) {
        return Err("exec_arg/exec_env/exec_api_version need exec_command".into());
    }
    Ok((namespace.to_string(), name.to_string(), any.then_some(cluster)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_name_the_rollout_and_optionally_its_cluster() {
        let (ns, name, cluster) = parse_import_id("app/api").unwrap();
        assert_eq!((ns.as_str(), name.as_str(), cluster), ("app", "api", None));
        let (_, _, cluster) = parse_import_id("app/api,config_path=/k/config,config_context=shard-2").unwrap();
        let c = cluster.unwrap();
        assert_eq!(
            (c.config_path.known().map(String::as_str), c.config_context.known().map(String::as_str)),
            (Some("/k/config"), Some("shard-2"))
        );
        let (_, _, cluster) = parse_import_id(
            "app/api,host=https://h:6443,exec_command=aws,exec_arg=eks,exec_arg=get-token,exec_env=A=b",
        )
        .unwrap();
        let e = cluster.unwrap().exec.unwrap();
        assert_eq!(e.args.unwrap(), vec!["eks", "get-token"]);
        assert_eq!(e.env.unwrap()["A"], "b");
        for bad in ["api", "app/", "/api", "a/b/c", "app/api,nope=1", "app/api,config_path", "app/api,exec_arg=x"] {
            assert!(parse_import_id(bad).is_err(), "{bad}");
        }
    }
}
