//! Plan-time validation of every type, with the real Terraform CLI: each bad input of
//! docs/validation.md in one configuration, one `terraform validate -json` that must report each
//! on its own attribute (the line Terraform points at), and one `terraform plan` that must fail
//! without a single call reaching AWS or the Kubernetes API server. Inputs unknown at plan time
//! pass. The table in docs/validation.md and the cases here must agree row for row.

mod support;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::time::Instant;
use support::kube::KubeBench;
use support::{Moto, ProviderHcl, Workspace};

const L: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
const OTHER_L: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/api/60dc6c495c0c9188/a2f7dc8efc522ab2";
const RULE_OF_OTHER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/api/60dc6c495c0c9188/a2f7dc8efc522ab2/9683b2d02a6cabee";
const ROLE: &str = "arn:aws:iam::111122223333:role/argocd";

/// One bad input: the type and attribute (as docs/validation.md names them), the diagnostic's
/// summary, and the HCL whose line marked `#@` is where Terraform must point.
struct Case {
    ty: &'static str,
    path: &'static str,
    summary: &'static str,
    warning: bool,
    hcl: String,
}

fn tg(i: usize) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shard-{i}/73e2d6bc24d8a{i:03}")
}

/// `lines` with the `key = ...` lines of `base` that `lines` does not set itself.
fn merge(base: &[(&str, String)], lines: &str) -> String {
    let mut out: Vec<String> = base
        .iter()
        .filter(|(k, _)| !lines.lines().any(|l| l.trim_start().starts_with(&format!("{k} ="))))
        .map(|(k, v)| format!("  {k} = {v}"))
        .collect();
    out.push(lines.to_string());
    out.join("\n")
}

struct Cases {
    list: Vec<Case>,
    ns: String,
    insecure_kubeconfig: String,
}

impl Cases {
    fn add(&mut self, ty: &'static str, path: &'static str, summary: &'static str, lines: &str) {
        self.push(ty, path, summary, false, lines);
    }

    fn warn(&mut self, ty: &'static str, path: &'static str, summary: &'static str, lines: &str) {
        self.push(ty, path, summary, true, lines);
    }

    fn push(&mut self, ty: &'static str, path: &'static str, summary: &'static str, warning: bool, lines: &str) {
        let n = self.list.len();
        let name = format!("c{n}");
        let lines = lines.replace("#@", &format!("#@{n}"));
        let hcl = match ty {
            "provider" => format!(
                "provider \"shard\" {{\n  alias = \"{name}\"\n{}\n}}\n\ndata \"shard_eks_cluster\" \"{name}\" {{\n  provider = shard.{name}\n  name = \"x\"\n}}\n",
                merge(&[("region", "\"us-east-1\"".into())], &lines)
            ),
            "shard_weight" => format!(
                "resource \"shard_weight\" \"{name}\" {{\n{}\n}}\n",
                merge(
                    &[
                        ("listener_arn", format!("\"{L}\"")),
                        ("target_group_arn", format!("\"{}\"", tg(n))),
                        ("weight", "1".into())
                    ],
                    &lines
                )
            ),
            "shard_argocd_cluster_registration" => format!(
                "resource \"shard_argocd_cluster_registration\" \"{name}\" {{\n{}\n}}\n",
                merge(
                    &[
                        ("name", format!("\"{name}\"")),
                        ("namespace", format!("\"{}\"", self.ns)),
                        ("server", "\"https://s.example.com\"".into())
                    ],
                    &if lines.contains("aws_auth {") || lines.contains("exec {") || lines.contains("bearer_token ") {
                        lines.clone()
                    } else {
                        format!("{lines}\n  exec {{\n    command = \"argocd-k8s-auth\"\n  }}")
                    }
                )
            ),
            "shard_rollout_gate" => format!(
                "resource \"shard_rollout_gate\" \"{name}\" {{\n{}\n}}\n",
                merge(&[("namespace", format!("\"{}\"", self.ns)), ("name", "\"web\"".into())], &lines)
            ),
            "data.shard_listener" => {
                format!(
                    "data \"shard_listener\" \"{name}\" {{\n{}\n}}\n",
                    merge(&[("listener_arn", format!("\"{L}\""))], &lines)
                )
            }
            "shard_dns_weight" => format!(
                "resource \"shard_dns_weight\" \"{name}\" {{\n{}\n}}\n",
                merge(
                    &[
                        ("zone_id", "\"Z0123456789ABCDEFGHIJ\"".into()),
                        ("name", "\"api.example.com\"".into()),
                        ("type", "\"A\"".into()),
                        ("set_identifier", format!("\"{name}\"")),
                        ("weight", "1".into()),
                        ("records", "[\"10.0.0.1\"]".into()),
                        ("ttl", "60".into())
                    ],
                    &lines
                )
            ),
            "data.shard_dns_records" => format!(
                "data \"shard_dns_records\" \"{name}\" {{\n{}\n}}\n",
                merge(
                    &[
                        ("zone_id", "\"Z0123456789ABCDEFGHIJ\"".into()),
                        ("name", "\"api.example.com\"".into()),
                        ("type", "\"A\"".into())
                    ],
                    &lines
                )
            ),
            "data.shard_eks_cluster" => format!("data \"shard_eks_cluster\" \"{name}\" {{\n{lines}\n}}\n"),
            "ephemeral.shard_eks_token" => format!("ephemeral \"shard_eks_token\" \"{name}\" {{\n{lines}\n}}\n"),
            other => panic!("unknown type {other}"),
        };
        self.list.push(Case { ty, path, summary, warning, hcl });
    }
}

fn cases(ns: &str, insecure_kubeconfig: &str, ca_file: &str) -> Vec<Case> {
    let mut c = Cases { list: Vec::new(), ns: ns.to_string(), insecure_kubeconfig: insecure_kubeconfig.to_string() };
    let ik = c.insecure_kubeconfig.clone();
    let long = |n: usize| "a".repeat(n);

    // The provider block (each case its own alias, used by a data source so Terraform checks it).
    let p = "provider";
    c.add(p, "region", "Invalid value for region", "  region = \"us_east_1\" #@");
    c.add(p, "region", "Invalid value for region", "  region = \"useast1\" #@");
    c.add(p, "lock_priority", "Invalid value for lock_priority", "  lock_priority = 0 #@");
    c.add(p, "lock_priority", "Invalid value for lock_priority", "  lock_priority = 50001 #@");
    c.add(p, "assume_role.role_arn", "Invalid value for role_arn", "  assume_role {\n    role_arn = \"admin\" #@\n  }");
    c.add(
        p,
        "assume_role.role_arn",
        "Invalid value for role_arn",
        "  assume_role {\n    role_arn = \"arn:aws:iam::1234:role/x\" #@\n  }",
    );
    for bad in ["has space", "x", &long(65), "a/b"] {
        c.add(
            p,
            "assume_role.session_name",
            "Invalid value for session_name",
            &format!("  assume_role {{\n    role_arn = \"{ROLE}\"\n    session_name = \"{bad}\" #@\n  }}"),
        );
    }
    for bad in ["e", &long(1225), "has space"] {
        c.add(
            p,
            "assume_role.external_id",
            "Invalid value for external_id",
            &format!("  assume_role {{\n    role_arn = \"{ROLE}\"\n    external_id = \"{bad}\" #@\n  }}"),
        );
    }
    c.add(p, "endpoints.sts", "Invalid value for sts", "  endpoints {\n    sts = \"sts.example.com\" #@\n  }");
    c.add(p, "endpoints.eks", "Invalid value for eks", "  endpoints {\n    eks = \"ftp://eks.example.com\" #@\n  }");
    c.add(p, "endpoints.elbv2", "Invalid value for elbv2", "  endpoints {\n    elbv2 = \"https://\" #@\n  }");
    c.add(p, "hub.host", "Invalid host", "  hub {\n    host = \"10.0.0.1\" #@\n  }");
    c.add(
        p,
        "hub.eks_cluster_name",
        "Invalid value for eks_cluster_name",
        "  hub {\n    eks_cluster_name = \"-hub\" #@\n  }",
    );
    c.add(
        p,
        "hub.eks_cluster_name",
        "Invalid value for eks_cluster_name",
        &format!("  hub {{\n    eks_cluster_name = \"{}\" #@\n  }}", long(101)),
    );
    c.add(
        p,
        "hub.config_path",
        "Kubeconfig not found",
        "  hub {\n    config_path = \"/nonexistent/kubeconfig\" #@\n  }",
    );
    c.add(
        p,
        "hub.argocd_namespace",
        "Invalid value for argocd_namespace",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    argocd_namespace = \"Argo CD\" #@\n  }",
    );
    c.add(
        p,
        "hub.exec.api_version",
        "Invalid value for api_version",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    exec {\n      command = \"aws\"\n      api_version = \"client.authentication.k8s.io/v1alpha1\" #@\n    }\n  }",
    );
    c.add(
        p,
        "hub.exec.env[*]",
        "Invalid environment variable name",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    exec {\n      command = \"aws\"\n      env = {\n        \"A=B\" = \"x\" #@\n      }\n    }\n  }",
    );
    c.add(
        p,
        "hub.cluster_ca_certificate",
        "Invalid CA certificate",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    cluster_ca_certificate = \"not a certificate\" #@\n  }",
    );
    c.add(
        p,
        "hub.config_context",
        "config_context needs config_path",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    config_context = \"hub\" #@\n  }",
    );
    c.warn(
        p,
        "hub.insecure",
        "TLS verification is off",
        "  hub {\n    host = \"https://10.0.0.1:6443\"\n    insecure = true #@\n  }",
    );
    c.warn(p, "hub.config_path", "TLS verification is off", &format!("  hub {{\n    config_path = \"{ik}\" #@\n  }}"));
    c.warn(
        p,
        "hub.host",
        "Credentials over plain HTTP",
        "  hub {\n    host = \"http://10.0.0.1:8080\" #@\n    token = \"t\"\n  }",
    );
    c.warn(
        p,
        "endpoints.sts",
        "AWS endpoint over plain HTTP",
        "  endpoints {\n    sts = \"http://sts.internal.example\" #@\n  }",
    );
    c.warn(
        p,
        "endpoints.eks",
        "AWS endpoint over plain HTTP",
        "  endpoints {\n    eks = \"http://10.1.2.3:8080\" #@\n  }",
    );
    c.warn(
        p,
        "endpoints.elbv2",
        "AWS endpoint over plain HTTP",
        "  endpoints {\n    elbv2 = \"http://elb.internal.example\" #@\n  }",
    );

    // shard_weight
    let w = "shard_weight";
    c.add(w, "weight", "Invalid value for weight", "  weight = 1000 #@");
    c.add(w, "weight", "Invalid value for weight", "  weight = -1 #@");
    c.add(
        w,
        "listener_arn",
        "Invalid value for listener_arn",
        "  listener_arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188\" #@",
    );
    c.add(
        w,
        "listener_arn",
        "Invalid value for listener_arn",
        &format!("  listener_arn = \"{}\" #@", L.replace("/app/", "/net/")),
    );
    c.add(w, "target_group_arn", "Invalid value for target_group_arn", "  target_group_arn = \"tg-1\" #@");
    c.add(w, "rule_arn", "Invalid value for rule_arn", "  rule_arn = \"rule-1\" #@");
    c.add(w, "rule_arn", "Rule of another listener", &format!("  rule_arn = \"{RULE_OF_OTHER}\" #@"));
    c.add(w, "min_healthy_targets", "Invalid value for min_healthy_targets", "  min_healthy_targets = -1 #@");
    c.add(w, "drain_delay", "Invalid value for drain_delay", "  drain_delay = \"soon\" #@");
    c.add(w, "on_destroy", "Invalid value for on_destroy", "  on_destroy = \"delete\" #@");
    c.add(w, "ramp.step", "Invalid value for step", "  ramp {\n    step = 0 #@\n    interval = \"1s\"\n  }");
    c.add(
        w,
        "ramp.interval",
        "Invalid value for interval",
        "  ramp {\n    step = 5\n    interval = \"1 minute\" #@\n  }",
    );
    c.add(
        w,
        "fleet_guard.min_serving",
        "Invalid value for min_serving",
        "  fleet_guard {\n    min_serving = 5 #@\n  }",
    );
    c.add(
        w,
        "fleet_guard.max_drained",
        "Invalid value for max_drained",
        "  fleet_guard {\n    max_drained = 0 #@\n  }",
    );
    c.add(w, "fleet_guard.contact", "Invalid value for contact", "  fleet_guard {\n    contact = \"team <a>\" #@\n  }");
    c.add(
        w,
        "fleet_guard.override_reason",
        "Invalid value for override_reason",
        "  fleet_guard {\n    override_reason = \" \" #@\n  }",
    );
    c.add(
        w,
        "metric_guard.max_5xx_percent",
        "Invalid value for max_5xx_percent",
        "  metric_guard {\n    max_5xx_percent = 101 #@\n  }",
    );
    c.add(
        w,
        "metric_guard.max_response_time",
        "Invalid value for max_response_time",
        "  metric_guard {\n    max_response_time = \"0s\" #@\n  }",
    );
    c.add(
        w,
        "metric_guard.response_time_percentile",
        "Invalid value for response_time_percentile",
        "  metric_guard {\n    response_time_percentile = \"99\" #@\n  }",
    );
    c.add(w, "metric_guard.window", "Invalid value for window", "  metric_guard {\n    window = \"a minute\" #@\n  }");
    c.add(
        w,
        "metric_guard.on_breach",
        "Invalid value for on_breach",
        "  metric_guard {\n    on_breach = \"abort\" #@\n  }",
    );
    c.add(w, "timeouts.create", "Invalid value for create", "  timeouts {\n    create = \"0s\" #@\n  }");
    c.add(w, "timeouts.update", "Invalid value for update", "  timeouts {\n    update = \"0\" #@\n  }");
    c.add(w, "timeouts.delete", "Invalid value for delete", "  timeouts {\n    delete = \"-5m\" #@\n  }");

    // shard_argocd_cluster_registration
    let r = "shard_argocd_cluster_registration";
    c.add(r, "name", "Invalid value for name", "  name = \" \" #@");
    c.add(r, "namespace", "Invalid value for namespace", "  namespace = \"Argo CD\" #@");
    c.add(r, "secret_name", "Invalid value for secret_name", "  secret_name = \"Cluster_S\" #@");
    c.add(r, "server", "Invalid value for server", "  server = \"s.example.com\" #@");
    c.add(r, "eks_cluster_name", "Invalid value for eks_cluster_name", "  eks_cluster_name = \"shard.2\" #@");
    c.add(r, "ca_data", "Invalid value for ca_data", "  ca_data = \"not a certificate\" #@");
    c.add(r, "project", "Invalid value for project", "  project = \"Team A\" #@");
    c.add(r, "controller_shard", "Invalid value for controller_shard", "  controller_shard = -1 #@");
    c.add(
        r,
        "aws_auth.role_arn",
        "Invalid value for role_arn",
        "  aws_auth {\n    cluster_name = \"s\"\n    role_arn = \"argocd\" #@\n  }",
    );
    c.add(
        r,
        "aws_auth.cluster_name",
        "Invalid value for cluster_name",
        "  aws_auth {\n    cluster_name = \"-s\" #@\n  }",
    );
    c.add(r, "exec.command", "Invalid value for command", "  exec {\n    command = \"\" #@\n  }");
    c.add(
        r,
        "exec.api_version",
        "Invalid value for api_version",
        "  exec {\n    command = \"argocd-k8s-auth\"\n    api_version = \"v1\" #@\n  }",
    );
    c.add(
        r,
        "exec.env[*]",
        "Invalid environment variable name",
        "  exec {\n    command = \"argocd-k8s-auth\"\n    env = {\n      \"=X\" = \"y\" #@\n    }\n  }",
    );
    c.add(r, "labels[*]", "Invalid label key", "  labels = {\n    \"-bad\" = \"x\" #@\n  }");
    c.add(r, "labels[*]", "Invalid label value", "  labels = {\n    env = \"has space\" #@\n  }");
    c.add(r, "labels[*]", "Reserved label", "  labels = {\n    \"argocd.argoproj.io/secret-type\" = \"x\" #@\n  }");
    c.add(r, "annotations[*]", "Invalid annotation key", "  annotations = {\n    \"a/b/c\" = \"x\" #@\n  }");
    c.add(r, "annotations[*]", "Reserved annotation", "  annotations = {\n    \"managed-by\" = \"x\" #@\n  }");
    c.add(
        r,
        "annotations",
        "Annotations too large",
        "  annotations = { #@\n    big = format(\"%270000s\", \"x\")\n  }",
    );
    c.add(r, "namespaces[*]", "Invalid namespace", "  namespaces = [\n    \"web\",\n    \"Bad_NS\", #@\n  ]");
    c.add(
        r,
        "bearer_token",
        "Cluster Secret too large",
        "  bearer_token = format(\"%1100000s\", \"t\") #@\n  bearer_token_version = 1",
    );
    c.add(r, "bearer_token_version", "bearer_token_version without bearer_token", "  bearer_token_version = 1 #@");
    c.add(r, "cluster_resources", "cluster_resources needs namespaces", "  cluster_resources = true #@");
    c.add(
        r,
        "insecure",
        "insecure excludes ca_data",
        &format!("  insecure = true #@\n  ca_data = file(\"{ca_file}\")"),
    );
    c.add(
        r,
        "wait_for_sync.min_applications",
        "Invalid value for min_applications",
        "  wait_for_sync {\n    min_applications = -1 #@\n  }",
    );
    c.add(r, "wait_for_sync.timeout", "Invalid value for timeout", "  wait_for_sync {\n    timeout = \"0s\" #@\n  }");
    c.add(
        r,
        "wait_for_sync.application_selector",
        "Invalid value for application_selector",
        "  wait_for_sync {\n    application_selector = \"tier in (web\" #@\n  }",
    );
    c.add(r, "timeouts.create", "Invalid value for create", "  timeouts {\n    create = \"0s\" #@\n  }");
    c.warn(r, "insecure", "Argo CD will not verify the cluster's certificate", "  insecure = true #@");
    c.warn(r, "server", "Credentials over plain HTTP", "  server = \"http://s.example.com\" #@");

    // shard_rollout_gate
    let g = "shard_rollout_gate";
    c.add(g, "namespace", "Invalid value for namespace", "  namespace = \"web,metadata.namespace=x\" #@");
    c.add(g, "namespace", "Invalid value for namespace", "  namespace = \"Web\" #@");
    c.add(g, "name", "Invalid value for name", "  name = \"web,metadata.name=x\" #@");
    c.add(g, "name", "Invalid value for name", "  name = \"\" #@");
    c.add(g, "name", "Invalid value for name", &format!("  name = \"{}\" #@", long(254)));
    c.add(g, "promote_to_step", "Invalid value for promote_to_step", "  promote_to_step = -1 #@");
    c.add(g, "promote_full", "Conflicting targets", "  promote_to_step = 1\n  promote_full = true #@");
    c.add(g, "promote_to_weight", "Invalid value for promote_to_weight", "  promote_to_weight = 0 #@");
    c.add(g, "promote_to_weight", "Conflicting targets", "  promote_to_step = 1\n  promote_to_weight = 30 #@");
    c.add(
        g,
        "cluster.eks_cluster_name",
        "Invalid value for eks_cluster_name",
        "  cluster {\n    eks_cluster_name = \"bad name\" #@\n  }",
    );
    c.add(g, "cluster.config_path", "Kubeconfig not found", "  cluster {\n    config_path = \"/nonexistent\" #@\n  }");
    c.add(g, "cluster.host", "Invalid host", "  cluster {\n    host = \"not a url\" #@\n  }");
    c.add(
        g,
        "cluster.exec.api_version",
        "Invalid value for api_version",
        "  cluster {\n    host = \"https://10.0.0.1:6443\"\n    exec {\n      command = \"aws\"\n      api_version = \"client.authentication.k8s.io/v2\" #@\n    }\n  }",
    );
    c.add(
        g,
        "cluster.exec.env[*]",
        "Invalid environment variable name",
        "  cluster {\n    host = \"https://10.0.0.1:6443\"\n    exec {\n      command = \"aws\"\n      env = {\n        \"X=Y\" = \"z\" #@\n      }\n    }\n  }",
    );
    c.add(
        g,
        "cluster.config_context",
        "config_context needs config_path",
        "  cluster {\n    eks_cluster_name = \"shard-2\"\n    config_context = \"x\" #@\n  }",
    );
    c.add(g, "timeouts.create", "Invalid value for create", "  timeouts {\n    create = \"0s\" #@\n  }");
    c.add(g, "timeouts.update", "Invalid value for update", "  timeouts {\n    update = \"0ms\" #@\n  }");
    c.warn(
        g,
        "cluster.insecure",
        "TLS verification is off",
        "  cluster {\n    host = \"https://10.0.0.1:6443\"\n    insecure = true #@\n  }",
    );
    c.warn(
        g,
        "cluster.config_path",
        "TLS verification is off",
        &format!("  cluster {{\n    config_path = \"{ik}\" #@\n  }}"),
    );
    c.warn(
        g,
        "cluster.host",
        "Credentials over plain HTTP",
        "  cluster {\n    host = \"http://10.0.0.1:8080\" #@\n    exec {\n      command = \"aws\"\n    }\n  }",
    );

    // Data sources and the ephemeral resource.
    let dl = "data.shard_listener";
    c.add(
        dl,
        "listener_arn",
        "Invalid value for listener_arn",
        "  listener_arn = \"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/y\" #@",
    );
    c.add(dl, "listener_arn", "Invalid value for listener_arn", "  listener_arn = \"listener-1\" #@");
    c.add(dl, "rule_arn", "Invalid value for rule_arn", "  rule_arn = \"rule-1\" #@");
    c.add(dl, "rule_arn", "Rule of another listener", &format!("  rule_arn = \"{RULE_OF_OTHER}\" #@"));
    let de = "data.shard_eks_cluster";
    for bad in ["", "-x", "my.cluster", &long(101)] {
        c.add(de, "name", "Invalid value for name", &format!("  name = \"{bad}\" #@"));
    }
    let et = "ephemeral.shard_eks_token";
    for bad in ["", "has space", "_x"] {
        c.add(et, "cluster_name", "Invalid value for cluster_name", &format!("  cluster_name = \"{bad}\" #@"));
    }
    // shard_dns_weight and data.shard_dns_records (Route 53).
    let d = "shard_dns_weight";
    // (`zone_id  =`, two spaces: `merge` keeps the resource's own zone_id beside the alias's.)
    let alias = "  alias {\n    dns_name = \"lb.example.com\"\n    zone_id  = \"Z2\"\n  }";
    for bad in ["z0123", "/hostedzone/Z0123", "Z-1"] {
        c.add(d, "zone_id", "Invalid value for zone_id", &format!("  zone_id = \"{bad}\" #@"));
    }
    for bad in ["", "a..example.com", &format!("{}.example.com", long(64))] {
        c.add(d, "name", "Invalid value for name", &format!("  name = \"{bad}\" #@"));
    }
    c.add(d, "type", "Invalid value for type", "  type = \"NS\" #@");
    for bad in ["", "a/b", &long(129)] {
        c.add(d, "set_identifier", "Invalid value for set_identifier", &format!("  set_identifier = \"{bad}\" #@"));
    }
    c.add(d, "weight", "Invalid value for weight", "  weight = 256 #@");
    c.add(d, "weight", "Invalid value for weight", "  weight = -1 #@");
    c.add(d, "ttl", "Invalid value for ttl", "  ttl = -1 #@");
    c.add(d, "health_check_id", "Invalid value for health_check_id", "  health_check_id = \"hc-1\" #@");
    c.add(d, "drain_delay", "Invalid value for drain_delay", "  drain_delay = \"a TTL\" #@");
    c.add(d, "on_destroy", "Invalid value for on_destroy", "  on_destroy = \"delete\" #@");
    c.add(
        d,
        "alias.dns_name",
        "Invalid value for dns_name",
        "  records = null\n  ttl = null\n  alias {\n    dns_name = \"a..b\" #@\n    zone_id  = \"Z2\"\n  }",
    );
    c.add(
        d,
        "alias.zone_id",
        "Invalid value for zone_id",
        "  records = null\n  ttl = null\n  alias {\n    dns_name = \"lb.example.com\"\n    zone_id  = \"z2\" #@\n  }",
    );
    c.add(d, "ramp.step", "Invalid value for step", "  ramp {\n    step = 256 #@\n    interval = \"1s\"\n  }");
    c.add(d, "ramp.interval", "Invalid value for interval", "  ramp {\n    step = 1\n    interval = \"1 min\" #@\n  }");
    c.add(
        d,
        "fleet_guard.min_serving",
        "Invalid value for min_serving",
        "  fleet_guard {\n    min_serving = -1 #@\n  }",
    );
    c.add(
        d,
        "fleet_guard.override_reason",
        "Invalid value for override_reason",
        "  fleet_guard {\n    override_reason = \" \" #@\n  }",
    );
    c.add(d, "timeouts.create", "Invalid value for create", "  timeouts {\n    create = \"0s\" #@\n  }");
    c.add(d, "ttl", "TTL on an alias", &format!("  records = null\n  ttl = 60 #@\n{alias}"));
    c.add(d, "type", "Alias of this type", &format!("  records = null\n  ttl = null\n  type = \"TXT\" #@\n{alias}"));
    c.add(d, "records", "No records", "  records = [] #@");
    c.add(
        d,
        "records",
        "CNAME with several values",
        "  type = \"CNAME\"\n  records = [\"a.example.com\", \"b.example.com\"] #@",
    );
    c.add(d, "records[*]", "Invalid record value", "  records = [\"10.0.0.300\"] #@");
    c.add(d, "records[*]", "Invalid record value", "  type = \"AAAA\"\n  records = [\"10.0.0.1\"] #@");
    let dd = "data.shard_dns_records";
    c.add(dd, "zone_id", "Invalid value for zone_id", "  zone_id = \"hostedzone\" #@");
    c.add(dd, "name", "Invalid value for name", "  name = \"a..b\" #@");
    c.add(dd, "type", "Invalid value for type", "  type = \"\" #@");
    c.add(
        p,
        "endpoints.route53",
        "Invalid value for route53",
        "  endpoints {\n    route53 = \"route53.example.com\" #@\n  }",
    );
    c.warn(
        p,
        "endpoints.route53",
        "AWS endpoint over plain HTTP",
        "  endpoints {\n    route53 = \"http://route53.example.com\" #@\n  }",
    );
    let _ = OTHER_L;
    c.list
}

/// Inputs unknown at plan time (and good ones) draw no diagnostic.
fn unknown_and_good(kubeconfig: &str, ns: &str) -> String {
    format!(
        r#"
resource "terraform_data" "later" {{
  input = "later"
}}

resource "shard_rollout_gate" "unknown" {{
  namespace = terraform_data.later.output
  name = terraform_data.later.output
  cluster {{
    eks_cluster_name = terraform_data.later.output
  }}
}}

resource "shard_rollout_gate" "good_kubeconfig" {{
  namespace = "{ns}"
  name = "web.v2"
  cluster {{
    config_path = "{kubeconfig}"
    config_context = "bench"
  }}
  timeouts {{
    create = "1m"
  }}
}}

resource "shard_argocd_cluster_registration" "unknown" {{
  name = terraform_data.later.output
  namespace = "{ns}"
  eks_cluster_name = terraform_data.later.output
  annotations = {{ note = terraform_data.later.output }}
  aws_auth {{
    role_arn = terraform_data.later.output
  }}
}}

resource "shard_weight" "unknown" {{
  listener_arn = terraform_data.later.output
  target_group_arn = terraform_data.later.output
  weight = 1
}}

resource "shard_dns_weight" "unknown" {{
  zone_id = terraform_data.later.output
  name = terraform_data.later.output
  type = "A"
  set_identifier = terraform_data.later.output
  weight = 1
  records = [terraform_data.later.output]
  ttl = 60
}}

data "shard_eks_cluster" "unknown" {{
  name = terraform_data.later.output
}}

ephemeral "shard_eks_token" "unknown" {{
  cluster_name = terraform_data.later.output
}}

ephemeral "shard_eks_token" "good" {{
  cluster_name = "shard-2_a"
}}
"#
    )
}

/// docs/validation.md's table: (type, attribute, summary, severity) per row.
fn documented() -> BTreeSet<(String, String, String, String)> {
    let text = support::read(&support::project_root().join("docs/validation.md"));
    let cell = |s: &str| s.trim().trim_matches('`').to_string();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.trim_matches('|').split('|').collect();
            assert!(cols.len() >= 5, "a row of docs/validation.md has fewer than 5 columns: {l}");
            (cell(cols[0]), cell(cols[1]), cell(cols[2]), cell(cols[3]).to_lowercase())
        })
        .collect()
}

/// Every call any AWS service received through the realism proxy.
fn aws_calls(moto: &Moto) -> Json {
    use std::io::{Read, Write};
    let addr = moto.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the realism proxy");
    write!(stream, "GET /__faults HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or("{}")).expect("proxy JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_fails_at_plan_on_its_attribute_and_nothing_is_called() {
    let started = Instant::now();
    let kube = KubeBench::shared();
    let ns = kube.namespace("validate").await;
    let moto = Moto::start();
    let ws = Workspace::new(&moto);
    let insecure_kubeconfig = ws.path("insecure-kubeconfig");
    std::fs::write(
        &insecure_kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let conn = kube.connection();
    let cases = cases(&ns, &insecure_kubeconfig.display().to_string(), &conn.ca_file.display().to_string());
    let hub = format!(
        "    host = \"{}\"\n    cluster_ca_certificate = file(\"{}\")\n    token = \"{}\"\n    argocd_namespace = \"{ns}\"",
        kube.host(),
        conn.ca_file.display(),
        conn.admin_token
    );
    let body: String = cases.iter().map(|c| c.hcl.as_str()).collect::<Vec<_>>().join("\n")
        + &unknown_and_good(&kube.kubeconfig_path().display().to_string(), &ns);
    ws.write_with(&ProviderHcl::new(&moto.endpoint).hub(&hub), &body);

    // Every case's marked line.
    let main_tf = support::read(&ws.path("main.tf"));
    let mut line_of = vec![0usize; cases.len()];
    for (i, l) in main_tf.lines().enumerate() {
        if let Some(n) = l.split("#@").nth(1) {
            line_of[n.trim().parse::<usize>().expect("marker number")] = i + 1;
        }
    }
    assert!(line_of.iter().all(|l| *l > 0), "every case has a marked line");

    let (ws, validate, plan) = tokio::task::spawn_blocking(move || {
        ws.init();
        let validate = ws.run(&["validate", "-json", "-no-color"]);
        let plan = ws.run(&["plan", "-no-color", "-input=false"]);
        (ws, validate, plan)
    })
    .await
    .unwrap();

    let out: Json = serde_json::from_str(&validate.stdout).unwrap_or_else(|e| panic!("{e}: {}", validate.text()));
    // All but the CLI's own note on dev_overrides (no source range).
    let diags: Vec<&Json> = out["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["summary"] != "Provider development overrides are in effect")
        .collect();
    let mut matched = vec![false; diags.len()];
    let mut missing = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let severity = if c.warning { "warning" } else { "error" };
        let hit = diags.iter().position(|d| {
            d["severity"] == severity
                && d["summary"].as_str().is_some_and(|s| s == c.summary)
                && d["range"]["filename"] == "main.tf"
                && d["range"]["start"]["line"].as_u64() == Some(line_of[n] as u64)
        });
        match hit {
            Some(i) => matched[i] = true,
            None => {
                missing.push(format!("c{n} {} {} ({severity} {:?}) at line {}", c.ty, c.path, c.summary, line_of[n]))
            }
        }
    }
    // A line may rightly draw more than its case's diagnostic when another documented check of
    // the same attribute applies too (insecure = true beside ca_data is an error and a warning).
    for (i, d) in diags.iter().enumerate() {
        let line = d["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
        if let Some(n) = line_of.iter().position(|l| *l == line)
            && cases.iter().any(|o| o.ty == cases[n].ty && o.path == cases[n].path && d["summary"] == o.summary)
        {
            matched[i] = true;
        }
    }
    let unexpected: Vec<String> = diags
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(d, _)| {
            format!(
                "{} {:?} at line {} ({}): {}",
                d["severity"], d["summary"], d["range"]["start"]["line"], d["snippet"]["context"], d["detail"]
            )
        })
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing:\n{}\n\nunexpected (unknown and good inputs must pass; each bad input gives only its own):\n{}\n\nin {}",
        missing.join("\n"),
        unexpected.join("\n"),
        ws.dir.display()
    );
    let errors = cases.iter().filter(|c| !c.warning).count();
    assert!(errors >= 60, "at least 60 bad inputs, got {errors}");

    // plan fails on the same checks, and nothing reached AWS or the API server.
    assert_eq!(plan.code, 1, "{}", plan.text());
    assert!(plan.flat().contains("Invalid value for weight"), "{}", plan.text());
    let calls = aws_calls(&moto);
    assert_eq!(calls, serde_json::json!({}), "no AWS call at all: {calls}");
    assert!(kube.audit(&ns).is_empty(), "nothing reached the API server: {:#?}", kube.audit(&ns));

    // docs/validation.md lists exactly the checks tried here.
    let tried: BTreeSet<(String, String, String, String)> = cases
        .iter()
        .map(|c| {
            (
                c.ty.to_string(),
                c.path.to_string(),
                c.summary.to_string(),
                if c.warning { "warning" } else { "error" }.into(),
            )
        })
        .collect();
    let table = documented();
    let untested: Vec<_> = table.difference(&tried).collect();
    let undocumented: Vec<_> = tried.difference(&table).collect();
    if std::env::var_os("SHARD_PRINT_VALIDATION_ROWS").is_some() {
        for (ty, path, summary, severity) in &tried {
            println!("| `{ty}` | `{path}` | {summary} | {severity} |");
        }
    }
    assert!(
        untested.is_empty() && undocumented.is_empty(),
        "docs/validation.md and the cases differ.\nrows without a case: {untested:#?}\ncases without a row: {undocumented:#?}"
    );
    eprintln!("{} bad inputs ({} warnings) checked in {:?}", cases.len(), cases.len() - errors, started.elapsed());
    drop(ws);
}
