//! The registration's schema and its plan-time checks of the configuration.

use crate::argo::argocd::{self, SECRET_TYPE_LABEL};
use crate::clients::aws_rules;
use crate::clients::kubernetes::names;
use crate::clients::pem::normalise_ca;
use crate::framework::schema::{Attribute, NestedBlock, Nesting, validators};
use crate::framework::timeouts::{Op, timeouts_block_with_defaults};
use crate::framework::{AttrPath, Diagnostics, Schema};
use crate::protocol::value::{Type, Value};
use std::time::Duration;

const DEFAULT_WAIT: &str = "20m";

pub(super) fn schema(default_timeout: impl Fn(Op) -> Duration) -> Schema {
    let s = |n: &str| Attribute::string(n);
    Schema::new(
        "This shard as an Argo CD cluster: a cluster Secret in Argo CD's namespace on the hub (the provider's \
         `hub` connection), written with server-side apply under this provider's field manager. ApplicationSet \
         cluster generators pick it up by its labels. Optionally waits until the Applications targeting the \
         cluster are Synced and Healthy, and on destroy until they are gone. Argo CD is never called and the \
         shard itself is never contacted.",
        vec![
            s("id").computed().use_state_for_unknown().description("`<namespace>/<secret_name>`; also the import id."),
            s("name")
                .required()
                .validate(validators::non_empty())
                .description("Argo CD cluster name (Secret data `name`): what `destination.name` and the cluster generator's `{{name}}` use. Changing it updates the Secret in place."),
            s("namespace")
                .optional()
                .computed()
                .use_state_for_unknown()
                .requires_replace()
                .validate(validators::string(names::dns_label))
                .description("Namespace of the Secret: Argo CD's namespace on the hub. Default: the provider's `hub.argocd_namespace`, else `argocd`. Changing it forces replacement."),
            s("secret_name")
                .optional()
                .computed()
                .use_state_for_unknown()
                .requires_replace()
                .validate(validators::string(names::dns_subdomain))
                .description("Name of the Secret, fixed at creation: renaming the cluster keeps it. Default: `cluster-<name>` (a name that is not a DNS label gets a cleaned-up form with a short hash). Changing it forces replacement."),
            s("eks_cluster_name").optional().validate(validators::string(aws_rules::eks_cluster_name)).description("EKS cluster whose endpoint and CA to register when `server` and `ca_data` are not set (`eks:DescribeCluster` with the provider's AWS settings, once at create and on every later plan), and the default `aws_auth.cluster_name`."),
            s("server")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(validators::url())
                .description("API server URL (Secret data `server`, written without a trailing `/`). Required without `eks_cluster_name`. Default: the EKS cluster's endpoint."),
            s("ca_data")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(validators::string(pem))
                .description("PEM CA bundle of the API server (base64 of PEM accepted), written as `tlsClientConfig.caData`. Default: the EKS cluster's CA with `eks_cluster_name`, else none (the system roots)."),
            Attribute::bool("insecure").default(false).description("`tlsClientConfig.insecure`: Argo CD skips TLS verification (tests only). Excludes `ca_data` (client-go refuses a CA with insecure), and no CA is read from EKS then. Default: `false`."),
            s("bearer_token")
                .optional()
                .sensitive()
                .write_only()
                .description("Write-only (Terraform 1.11+): a bearer token for Argo CD, written as `bearerToken`; never in state or plan, never logged. Requires `bearer_token_version`. Set exactly one of `aws_auth`, `exec` and `bearer_token`."),
            Attribute::number("bearer_token_version")
                .optional()
                .description("Version of `bearer_token`, required with it: raise it to write a new token. Terraform stores no token (a hash of the last one written is kept in private state), so a token edited or removed in the Secret shows as a change of this value, and apply writes it again."),
            Attribute::new("labels", Type::map(Type::String))
                .optional()
                .description("Labels of the Secret, for ApplicationSet cluster generator selectors (`metadata.labels.<k>` in templates). Keys and values follow Kubernetes rules; `argocd.argoproj.io/secret-type` is set by the resource and cannot be given. Labels others add (Argo CD's `argocd.argoproj.io/kubernetes-version`, say) are kept and never show as a diff."),
            Attribute::new("annotations", Type::map(Type::String)).optional().description("Annotations of the Secret (`metadata.annotations.<k>` in generators). `kubectl.kubernetes.io/last-applied-configuration` and `managed-by` are refused (Argo CD drops them)."),
            s("project").optional().validate(validators::string(names::dns_subdomain)).description("Make this a project-scoped cluster of this Argo CD project (Secret data `project`): the name of an AppProject."),
            Attribute::new("namespaces", Type::list(Type::String))
                .optional()
                .description("Restrict Argo CD to these namespaces of the cluster (Secret data `namespaces`, comma-separated)."),
            Attribute::bool("cluster_resources").optional().description("Only with `namespaces`: whether Argo CD may manage cluster-scoped resources (Secret data `clusterResources`, written only when `true`)."),
            Attribute::number("controller_shard")
                .optional()
                .validate(validators::int_between(0, 10_000))
                .description("Pin the cluster to this Argo CD application-controller shard (Secret data `shard`)."),
            Attribute::bool("wait_for_removal")
                .default(true)
                .description("On destroy, first take the cluster out of its ApplicationSets' generators (this resource's labels removed with a server-side apply) and wait, while the cluster is still registered, until no Application targets it (their resources finalizers delete the workload on the cluster); only then delete the Secret, up to the delete timeout. Applications Argo CD would keep (a create-only or create-update policy, a generator that still selects the cluster, one made by hand) fail the destroy at once, changing nothing. `false` deletes the Secret at once and leaves the workload to the user (Argo CD then drops the Applications' resources finalizer). Default: `true`."),
            Attribute::bool("force_conflicts")
                .default(false)
                .description("Take over fields another field manager holds (e.g. a Secret the Argo CD CLI wrote). Without it such a conflict fails, naming the manager. Default: `false`."),
            Attribute::nested(
                "applications",
                Nesting::List,
                vec![
                    s("name").computed().description("Application name."),
                    s("sync_status").computed().description("`status.sync.status`: Synced, OutOfSync, Unknown."),
                    s("health_status").computed().description("`status.health.status`: Healthy, Progressing, Degraded, …"),
                ],
            )
            .computed()
            .description("Applications in the namespace that target this cluster (by `server` or `name`), as the last wait or refresh saw them."),
        ],
    )
    .with_block(NestedBlock::single(
        "aws_auth",
        "Argo CD authenticates with IAM (`awsAuthConfig`, argocd-k8s-auth): its own credentials, or this role. Set exactly one of `aws_auth`, `exec` and `bearer_token`.",
        vec![
            s("role_arn").optional().validate(validators::string(aws_rules::iam_role_arn)).description("Role Argo CD assumes to reach the cluster (`roleARN`), an IAM role ARN such as `arn:aws:iam::111122223333:role/argocd`."),
            s("cluster_name").optional().validate(validators::string(aws_rules::eks_cluster_name)).description("EKS cluster name (`clusterName`); this or `eks_cluster_name` is required. Default: `eks_cluster_name`."),
            s("profile").optional().description("AWS profile Argo CD uses (`profile`)."),
        ],
    ))
    .with_block(NestedBlock::single(
        "exec",
        "Argo CD runs a credential plugin (`execProviderConfig`). Set exactly one of `aws_auth`, `exec` and `bearer_token`.",
        vec![
            s("command").required().validate(validators::non_empty()).description("The plugin, e.g. `argocd-k8s-auth`."),
            Attribute::new("args", Type::list(Type::String)).optional().description("Its arguments."),
            Attribute::new("env", Type::map(Type::String))
                .optional()
                .sensitive()
                .description("Extra environment variables (sensitive: they often carry credentials)."),
            s("api_version").optional().validate(validators::one_of(names::EXEC_API_VERSIONS)).description("ExecCredential API version, e.g. `client.authentication.k8s.io/v1beta1`."),
            s("install_hint").optional().description("Shown when the plugin is missing."),
        ],
    ))
    .with_block(NestedBlock::single(
        "wait_for_sync",
        "After writing, wait until at least `min_applications` Applications target this cluster (one at least from each of `application_sets`) and every one is Synced and Healthy, judged as `argocd app wait` judges it: no sync operation under way and a status computed for the cluster's current `server`. A watch: returns as soon as that holds; an Application with an error condition (`ComparisonError`: Argo CD cannot reach or authenticate to the cluster) fails the wait at once with Argo CD's message.",
        vec![
            Attribute::number("min_applications")
                .default(1)
                .validate(validators::int_between(0, 100_000))
                .description("How many Applications must target the cluster; `0` waits only for the ones that exist. Default: `1`."),
            Attribute::new("application_sets", Type::list(Type::String))
                .optional()
                .description("ApplicationSets (names, in Argo CD's namespace) each of which must have generated at least one Application for this cluster: the wait does not end before every one of them has caught up (after a label change, say)."),
            s("application_selector")
                .optional()
                .validate(validators::string(|t| argocd::parse_label_selector(t).map(|_| ())))
                .description("A label selector over the Applications' labels, as `argocd app wait -l` takes it (`k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated): only the Applications targeting this cluster that it selects are waited for and counted by `min_applications`. Checked at plan."),
            Attribute::bool("accept_suspended")
                .default(false)
                .description("Accept `Suspended` as well as `Healthy` (as `argocd app wait --suspended`): Argo CD reports an Application whose Rollout is paused (a canary waiting at a step) as Suspended, so without this a registration update during a canary waits until its timeout. Default: `false`."),
            s("timeout")
                .default(DEFAULT_WAIT)
                .validate(validators::positive_duration())
                .description(&format!("How long to wait; also bounded by the create/update timeout. Default: `{DEFAULT_WAIT}`.")),
        ],
    ))
    .with_block(timeouts_block_with_defaults(&[Op::Create, Op::Update, Op::Delete], default_timeout))
}

/// Plan-time checks of values that may be unknown (known ones are checked here, the rest at apply).
pub(super) fn validate_config(c: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let set_ = |n: &str| !c.get(n).is_null();
    if !set_("server") && !set_("eks_cluster_name") {
        d.push_attr_error(
            AttrPath::attr("server"),
            "No server",
            "set server (the cluster's API URL) or eks_cluster_name (to read endpoint and CA from EKS)",
        );
    }
    let kinds: Vec<&str> = ["aws_auth", "exec", "bearer_token"].into_iter().filter(|k| set_(k)).collect();
    match kinds.len() {
        0 => d.push_attr_error(
            AttrPath::root(),
            "No credentials for Argo CD",
            "set exactly one of aws_auth, exec or bearer_token: how Argo CD authenticates to the cluster",
        ),
        1 => {}
        _ => {
            for k in &kinds[1..] {
                d.push_attr_error(
                    AttrPath::attr(*k),
                    "Several credentials for Argo CD",
                    format!("set exactly one of aws_auth, exec or bearer_token; found {}", kinds.join(", ")),
                );
            }
        }
    }
    if set_("bearer_token") && !set_("bearer_token_version") {
        d.push_attr_error(
            AttrPath::attr("bearer_token_version"),
            "bearer_token_version is required with bearer_token",
            "the token is write-only (never stored), so Terraform cannot see it change: give it a version and \
             raise the version to write a new token",
        );
    }
    if set_("bearer_token_version") && !set_("bearer_token") {
        d.push_attr_error(AttrPath::attr("bearer_token_version"), "bearer_token_version without bearer_token", "");
    }
    let aws = c.get("aws_auth");
    if !aws.is_null() && !aws.is_unknown() && aws.get("cluster_name").is_null() && !set_("eks_cluster_name") {
        d.push_attr_error(
            AttrPath::attr("aws_auth").then("cluster_name"),
            "No EKS cluster name for awsAuthConfig",
            "set aws_auth.cluster_name, or eks_cluster_name (which it defaults to)",
        );
    }
    for (attr, is_label) in [("labels", true), ("annotations", false)] {
        if let Value::Map(m) = c.get(attr) {
            for (k, v) in m {
                let path = AttrPath::attr(attr).key(k);
                if let Err(e) = names::qualified_key(k) {
                    d.push_attr_error(path.clone(), format!("Invalid {} key", &attr[..attr.len() - 1]), e);
                }
                if is_label && k == SECRET_TYPE_LABEL {
                    d.push_attr_error(
                        path.clone(),
                        "Reserved label",
                        format!("{SECRET_TYPE_LABEL} is set by this resource (to \"cluster\")"),
                    );
                }
                if !is_label && argocd::SYSTEM_ANNOTATIONS.contains(&k.as_str()) {
                    d.push_attr_error(path.clone(), "Reserved annotation", format!("Argo CD drops {k} when reading"));
                }
                if is_label
                    && let Some(v) = v.as_str()
                    && let Err(e) = names::label_value(v)
                {
                    d.push_attr_error(path, "Invalid label value", e);
                }
            }
        }
    }
    if let Value::Map(m) = c.get("annotations")
        && m.values().all(|v| !v.is_unknown())
        && let Err(e) = names::annotations_size(m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))))
    {
        d.push_attr_error(AttrPath::attr("annotations"), "Annotations too large", e);
    }
    if let Value::Map(env) = c.get("exec").get("env") {
        for k in env.keys() {
            if let Err(e) = names::env_var_name(k) {
                d.push_attr_error(AttrPath::attr("exec").then("env").key(k), "Invalid environment variable name", e);
            }
        }
    }
    secret_size(c, &mut d);
    if let Value::List(items) = c.get("namespaces") {
        for (i, v) in items.iter().enumerate() {
            if let Some(s) = v.as_str()
                && let Err(e) = names::dns_label(s)
            {
                d.push_attr_error(AttrPath::attr("namespaces").index(i), "Invalid namespace", e);
            }
        }
    }
    // client-go refuses a root CA with the insecure flag ("specifying a root certificates file
    // with the insecure flag is not allowed"; argo-cd server/cluster/cluster_test.go asserts it).
    if c.get("insecure").as_bool() == Some(true) && set_("ca_data") {
        d.push_attr_error(
            AttrPath::attr("insecure"),
            "insecure excludes ca_data",
            "Argo CD (client-go) refuses a CA together with insecure = true: drop one of them",
        );
    }
    // Insecure transport is allowed, and loud.
    if c.get("insecure").as_bool() == Some(true) {
        d.push_attr_warning(
            AttrPath::attr("insecure"),
            "Argo CD will not verify the cluster's certificate",
            "insecure = true writes tlsClientConfig.insecure: anyone on the path between Argo CD and the cluster can \
             impersonate the API server and read the credentials Argo CD sends. Use ca_data (or eks_cluster_name) \
             outside tests.",
        );
    }
    if let Some(server) = c.get("server").as_str()
        && validators::is_remote_plaintext(server)
    {
        d.push_attr_warning(
            AttrPath::attr("server"),
            "Credentials over plain HTTP",
            format!("{server} is http://: Argo CD sends the cluster's credentials to it unencrypted. Use https://."),
        );
    }
    // `clusterResources` only means something for a cluster restricted to namespaces.
    if set_("cluster_resources") && !set_("namespaces") {
        d.push_attr_error(
            AttrPath::attr("cluster_resources"),
            "cluster_resources needs namespaces",
            "cluster_resources says whether Argo CD may manage cluster-scoped resources of a cluster restricted to `namespaces`; set namespaces too, or drop it",
        );
    }
    d
}

/// The Secret's data a configuration would write, counted from what is known at plan time: a lower
/// bound of the real size (the `config` JSON adds its own keys; `caData` is written as base64, 4/3
/// of the PEM). Past Kubernetes' limit ([`names::MAX_SECRET_SIZE`]) the write would be refused, so
/// it is refused here, on the attribute that holds the most.
fn secret_size(c: &Value, d: &mut Diagnostics) {
    fn strings(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::List(items) | Value::Set(items) => items.iter().map(strings).sum(),
            Value::Map(m) | Value::Object(m) => m.iter().map(|(k, v)| k.len() + strings(v)).sum(),
            _ => 0,
        }
    }
    let parts: Vec<(&str, usize)> =
        ["name", "server", "project", "namespaces", "ca_data", "bearer_token", "aws_auth", "exec"]
            .into_iter()
            .map(|a| (a, if a == "ca_data" { strings(c.get(a)).div_ceil(3) * 4 } else { strings(c.get(a)) }))
            .collect();
    let total: usize = parts.iter().map(|(_, n)| n).sum();
    if total > names::MAX_SECRET_SIZE {
        let (largest, _) = parts.iter().max_by_key(|(_, n)| *n).copied().unwrap_or(("name", 0));
        d.push_attr_error(
            AttrPath::attr(largest),
            "Cluster Secret too large",
            format!(
                "the cluster Secret's data would hold at least {total} bytes, {largest} the most; Kubernetes accepts at most {} (1 MiB) per Secret",
                names::MAX_SECRET_SIZE
            ),
        );
    }
}

fn pem(s: &str) -> Result<(), String> {
    normalise_ca(s).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_found_at_plan_with_paths() {
        let obj =
            |pairs: &[(&str, Value)]| Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let d = validate_config(&obj(&[("name", "x".into())]));
        let text = d.to_string();
        assert!(text.contains("No server") && text.contains("No credentials"), "{text}");
        let d = validate_config(&obj(&[
            ("server", "https://h".into()),
            ("exec", obj(&[("command", "x".into())])),
            ("bearer_token", "t".into()),
            (
                "labels",
                Value::Map(
                    [("-bad".to_string(), Value::str("ok")), (SECRET_TYPE_LABEL.to_string(), Value::str("x"))].into(),
                ),
            ),
        ]));
        let text = d.to_string();
        for needle in ["Several credentials", "bearer_token_version is required", "Invalid label key", "Reserved label"]
        {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        // What Argo CD would refuse later.
        let d = validate_config(&obj(&[
            ("server", "https://h".into()),
            ("exec", obj(&[("command", "x".into())])),
            ("insecure", Value::Bool(true)),
            ("ca_data", "pem".into()),
            ("cluster_resources", Value::Bool(true)),
        ]));
        let text = d.to_string();
        for needle in ["insecure excludes ca_data", "cluster_resources needs namespaces"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
