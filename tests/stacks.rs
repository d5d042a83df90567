//! The example stacks (examples/stacks) need `hashicorp/aws` and `helm`, which cannot be installed
//! on this project's build machines, so they are neither validated nor applied here (the part that
//! uses this provider, modules/shard-delivery, is: tests/examples.rs and the sandbox). These tests
//! read the stacks' text instead and check the structural points a first deploy on a real account
//! and the runbook depend on, so that they do not regress. They check text, not semantics: each
//! names the upstream reason in its message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn stacks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stacks")
}

/// All `.tf` files of a directory, concatenated.
fn dir_text(dir: &str) -> String {
    let path = stacks().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).expect("read") + "\n").collect()
}

fn file(path: &str) -> String {
    std::fs::read_to_string(stacks().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The body of the first block whose header line starts with `header` (braces balanced; the
/// stacks are `terraform fmt`-ed, and no string in them holds an unbalanced brace).
fn block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .lines()
        .scan(0usize, |offset, line| {
            let here = *offset;
            *offset += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| line.trim_start().starts_with(header))
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("no block `{header}`"));
    let open = start + text[start..].find('{').expect("a block opens");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..=open + i];
                }
            }
            _ => {}
        }
    }
    panic!("block `{header}` does not close")
}

/// `text` without comment lines and trailing comments (for checks that must not match prose).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or(""))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_shard_joins_the_listener_at_weight_0_and_stickiness_is_decided() {
    let ingress = dir_text("ingress");
    let listener = block(&ingress, "resource \"aws_lb_listener\" \"shared\"");
    let forward = block(listener, "forward {");
    let target_group = block(forward, "content {");
    assert!(
        code(target_group).contains("weight = 0"),
        "the listener must list every shard at weight 0 (each joins through shard_weight's health gate):\n{target_group}"
    );
    assert!(
        !ingress.contains("initial_weight"),
        "no per-shard initial weight: a shard at a serving weight skips the health gate"
    );
    let stickiness = block(forward, "stickiness {");
    assert!(stickiness.contains("enabled"), "stickiness is set at creation (the stack ignores the action afterwards)");
    assert!(code(listener).contains("ignore_changes = [default_action]"), "the shard directories own the weights");
    assert!(code(listener).contains("protocol          = \"HTTPS\""), "HTTPS by default:\n{listener}");
    assert!(ingress.contains("resource \"aws_route53_record\" \"service\""), "the DNS record");
    for metric in ["UnHealthyHostCount", "HTTPCode_Target_5XX_Count"] {
        assert!(
            ingress.contains(&format!("metric_name         = \"{metric}\"")),
            "an alarm per target group on {metric}"
        );
    }
    assert!(
        ingress.contains("TargetGroup  = aws_lb_target_group.shard[each.key].arn_suffix"),
        "alarms per target group"
    );
}

#[test]
fn the_alb_reaches_the_pods_and_the_hub_reaches_the_shards_api() {
    let eks = dir_text("modules/eks-cluster");
    let from_alb = block(&eks, "resource \"aws_vpc_security_group_ingress_rule\" \"from_alb\"");
    assert!(from_alb.contains("referenced_security_group_id = var.pod_ingress.security_group_id"), "{from_alb}");
    assert!(from_alb.contains("from_port                    = var.pod_ingress.port"), "{from_alb}");
    assert!(
        from_alb.contains("cluster_security_group_id"),
        "on the cluster security group (the managed nodes'): {from_alb}"
    );
    let api = block(&eks, "resource \"aws_vpc_security_group_ingress_rule\" \"api\"");
    assert!(api.contains("from_port                    = 443"), "{api}");
    for shard in ["shard-1", "shard-2"] {
        let main = file(&format!("{shard}/main.tf"));
        let cluster = block(&main, "module \"cluster\"");
        assert!(cluster.contains("pod_ingress") && cluster.contains("alb_security_group_id"), "{shard}: ALB into pods");
        assert!(cluster.contains("serving_port"), "{shard}: on the serving port");
        assert!(
            cluster.contains("api_ingress_security_group_ids = { argocd-hub = local.argo.cluster_security_group_id }"),
            "{shard}: 443 from the hub's cluster security group"
        );
    }
    // What the registration, the gates and the weight wait on comes before them.
    let outputs = file("modules/eks-cluster/outputs.tf");
    let name = block(&outputs, "output \"name\"");
    for dep in ["aws_eks_addon.pod_identity_agent", "ingress_rule.from_alb", "ingress_rule.api"] {
        assert!(name.contains(dep), "module.cluster.name must depend on {dep}");
    }
}

#[test]
fn argo_cd_gets_credentials_and_its_applicationsets_plan_on_a_new_cluster() {
    let eks = dir_text("modules/eks-cluster");
    let agent = block(&eks, "resource \"aws_eks_addon\" \"pod_identity_agent\"");
    assert!(agent.contains("\"eks-pod-identity-agent\""), "{agent}");
    let argo = dir_text("argo-cluster");
    let argocd = block(&argo, "resource \"helm_release\" \"argocd\"");
    assert!(
        argocd.contains("aws_eks_pod_identity_association.argocd") && argocd.contains("module.hub"),
        "Argo CD installs after the associations and the agent (module.hub):\n{argocd}"
    );
    assert!(
        !code(&argo).contains("kubernetes_manifest"),
        "a kubernetes_manifest needs its CRD at plan time: the first apply fails"
    );
    let apps = block(&argo, "resource \"helm_release\" \"argocd_apps\"");
    assert!(apps.contains("chart      = \"argocd-apps\""), "{apps}");
    assert!(apps.contains("\"aws-load-balancer-controller\" = {"), "the controller on every shard");
    assert!(
        apps.contains(r#"targetGroupARN = "{{index .metadata.annotations \"shardkit.io/target-group-arn\"}}""#),
        "the workload learns its target group from the cluster Secret annotation"
    );
    let delivery = dir_text("modules/shard-delivery");
    assert!(
        delivery.contains("target_group_annotation = \"shardkit.io/target-group-arn\""),
        "the module writes that annotation"
    );
    let chart = file("workload/deploy/templates/service.yaml");
    assert!(chart.contains("kind: TargetGroupBinding") && chart.contains(".Values.targetGroupARN"), "{chart}");
    // The controller's identity per shard.
    let lbc = block(&eks, "resource \"aws_eks_pod_identity_association\" \"load_balancer_controller\"");
    assert!(lbc.contains("service_account = \"aws-load-balancer-controller\""), "{lbc}");
    for shard in ["shard-1", "shard-2"] {
        assert!(
            file(&format!("{shard}/main.tf")).contains("load_balancer_controller       = { target_group_arns"),
            "{shard}"
        );
    }
}

#[test]
fn the_runbooks_safety_rails_are_in_the_stacks() {
    // 10: a version or node change only on a drained shard.
    let eks = dir_text("modules/eks-cluster");
    let nodes = block(&eks, "resource \"aws_eks_node_group\" \"this\"");
    assert!(nodes.contains("condition     = !local.disruptive || !var.serving"), "{nodes}");
    for shard in ["shard-1", "shard-2"] {
        let main = file(&format!("{shard}/main.tf"));
        assert!(main.contains("serving = !(var.maintenance && local.live_weight == 0)"), "{shard}: drain first");
        assert!(
            main.contains("resource \"terraform_data\" \"capacity_before_drain\""),
            "{shard}: capacity before a drain"
        );
        // 7: promote_full is not the steady state.
        let tfvars = file(&format!("{shard}/terraform.tfvars"));
        assert!(
            !code(&tfvars).contains("promote_full"),
            "{shard}: promote_full left in place promotes the next canary fully"
        );
        assert!(
            code(&tfvars).contains("promote_to_step = 1"),
            "{shard}: the steady state holds new revisions at step 1"
        );
    }
    // 13: what the runbook tells operators to set exists in the module.
    let vars = file("modules/shard-delivery/variables.tf");
    for knob in [
        "abort_on_failure",
        "retry_aborted",
        "promote_inconclusive",
        "lift_manual_pause",
        "timeout",
        "accept_suspended",
        "weight_timeout",
    ] {
        assert!(vars.contains(knob), "modules/shard-delivery has no {knob}");
    }
    // Version constraints users need.
    for dir in ["vpc", "ingress", "argo-cluster", "shard-1", "shard-2", "modules/eks-cluster"] {
        assert!(file(&format!("{dir}/versions.tf")).contains(">= 5.40, < 7.0"), "{dir}: hashicorp/aws v5 and v6");
    }
    for dir in ["argo-cluster", "shard-1", "shard-2", "modules/shard-delivery"] {
        let v = file(&format!("{dir}/versions.tf"));
        assert!(v.contains("shardkit/shard") && v.contains(">= 0.1.0, < 1.0.0"), "{dir}: a shardkit/shard constraint");
    }
}

#[test]
fn the_workload_canary_gets_pods_and_pod_churn_is_zero_downtime() {
    let rollout = file("workload/deploy/templates/rollout.yaml");
    assert!(!code(&rollout).contains("trafficRouting"), "the design has no traffic router");
    assert!(!code(&rollout).contains("setWeight: 0"), "without a traffic router setWeight: 0 runs no canary pod");
    assert!(
        rollout.contains("- setWeight: 10\n        - pause: {}"),
        "step 0 starts canary pods, step 1 waits for the gate"
    );
    assert!(rollout.contains("preStop"), "preStop keeps a pod serving through the deregistration delay");
    let values = file("workload/deploy/values.yaml");
    let sleep: u32 = values
        .lines()
        .find_map(|l| l.strip_prefix("preStopSleepSeconds: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("preStopSleepSeconds");
    let ingress = file("ingress/variables.tf");
    let delay: u32 = block(&ingress, "variable \"deregistration_delay\"")
        .lines()
        .find_map(|l| l.trim().strip_prefix("default     = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("deregistration_delay default");
    assert!(sleep > delay, "preStop ({sleep} s) must outlast the deregistration delay ({delay} s)");
    let argo = dir_text("argo-cluster");
    assert!(argo.contains("\"elbv2.k8s.aws/pod-readiness-gate-inject\" = \"enabled\""), "pod readiness gates");
    let runbook = std::fs::read_to_string(stacks().join("../RUNBOOK.md")).expect("RUNBOOK.md");
    assert!(!runbook.contains("setWeight: 0"), "the runbook's Rollout matches the chart");
    for needle in ["force-unlock", "terraform untaint", "-refresh=false -target=module.delivery.shard_weight.this"] {
        assert!(runbook.contains(needle), "the runbook covers {needle}");
    }
}

#[test]
fn new_shard_copies_configuration_only_with_its_own_state_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("shard-2/.terraform/providers")).expect("mkdir");
    for f in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "terraform.tfvars"] {
        std::fs::copy(stacks().join("shard-2").join(f), root.join("shard-2").join(f)).expect("copy");
    }
    std::fs::write(root.join("shard-2/terraform.tfstate"), "{}").expect("state");
    std::fs::copy(stacks().join("new-shard.sh"), root.join("new-shard.sh")).expect("copy script");
    let run = |args: &[&str]| Command::new("bash").arg(root.join("new-shard.sh")).args(args).output().expect("bash");
    let out = run(&["shard-3", "--from", "shard-2", "--weight", "10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new = root.join("shard-3");
    assert!(!new.join(".terraform").exists(), ".terraform/ holds the source's backend");
    assert!(!new.join("terraform.tfstate").exists(), "no state is copied");
    let versions = std::fs::read_to_string(new.join("versions.tf")).expect("versions.tf");
    assert!(versions.contains("key          = \"shards/shard-3.tfstate\""), "{versions}");
    assert!(!versions.contains("shard-2"), "{versions}");
    let tfvars = std::fs::read_to_string(new.join("terraform.tfvars")).expect("tfvars");
    assert!(tfvars.contains("name                    = \"shard-3\""), "{tfvars}");
    assert!(tfvars.contains("weight                  = 10"), "{tfvars}");
    let again = run(&["shard-3"]);
    assert!(!again.status.success(), "an existing directory is refused");
}

/// The points a review against upstream found after the first rewrite (each would fail a first
/// deploy or a runbook story on a real account).
#[test]
fn a_first_deploy_and_a_later_shard_work_on_a_real_account() {
    // Every target group is in an action from its creation, so it is health-checked and the
    // controller's readiness gate can pass before the shard's shard_weight joins the listener.
    let ingress = dir_text("ingress");
    let anchor = block(&ingress, "resource \"aws_lb_listener_rule\" \"health_check_anchor\"");
    assert!(code(anchor).contains("for_each = var.shards"), "one anchor rule per shard:\n{anchor}");
    assert!(code(anchor).contains("target_group_arn = aws_lb_target_group.shard[each.key].arn"), "{anchor}");
    assert!(code(anchor).contains(".invalid"), "a host no client resolves (RFC 2606):\n{anchor}");
    // The cluster creator gets no implicit access entry (the explicit one would collide).
    let cluster = dir_text("modules/eks-cluster");
    assert!(
        code(&cluster).contains("bootstrap_cluster_creator_admin_permissions = false"),
        "EKS defaults the creator's entry to true and aws_eks_access_entry for it then fails"
    );
    assert!(code(&cluster).contains("resource \"aws_eks_access_entry\" \"viewer\""), "read-only plan role");
    // The controller's regenerated webhook certificate is not a diff, and the controller stays
    // while a leaving shard's TargetGroupBinding is finalized.
    let argo = dir_text("argo-cluster");
    let controller = block(&argo, "\"aws-load-balancer-controller\" = {");
    for needle in ["aws-load-balancer-tls", "RespectIgnoreDifferences=true", "preserveResourcesOnDeletion = true"] {
        assert!(code(controller).contains(needle), "{needle} in the controller's ApplicationSet:\n{controller}");
    }
    assert!(!code(&argo).contains("\"2.0.2\""), "argocd-apps 2.0.3 or later: goTemplateOptions");
    // The HPA owns the replicas: none in the Rollout, or selfHeal undoes every scale-up.
    let rollout = file("workload/deploy/templates/rollout.yaml");
    assert!(!code(&rollout).contains("replicas:"), "no replicas in the Rollout:\n{rollout}");
    assert!(file("workload/deploy/templates/plan-readers.yaml").contains("name: view"), "plan readers get view");
    // What the runbook tells operators to set, the module takes.
    let delivery = dir_text("modules/shard-delivery");
    assert!(code(&delivery).contains("wait_for_removal = var.argocd.wait_for_removal"), "{delivery}");
}
