//! What works on which Terraform release: the lifecycle of each resource and every feature that
//! depends on the client, run against whichever CLI `support::terraform_cli()` picks
//! (`SHARD_TF_CLI`, else the bench's v1.15.5). `make compat` (scripts/compat.sh) runs this file
//! once per release of its matrix; `make test` runs it with the bench's CLI and with the oldest.
//!
//! Where a release lacks a feature, the test asserts what that release does instead: a clear
//! refusal before anything is written, and nothing sensitive in state (docs/compatibility.md).
//! Feature versions, from Terraform's changelog: import blocks 1.5, `removed` blocks 1.7,
//! ephemeral resources 1.10, write-only attributes 1.11, resource identity 1.12, list resources
//! (`terraform query`) and actions 1.14.
//!
//! Every workspace installs the provider as users do, from its release zip through a filesystem
//! mirror (`Workspace::with_mirror`): under `dev_overrides`, `terraform init` before 1.15 still
//! asks registry.terraform.io for the overridden provider and fails offline.

mod support;

use serde_json::{Value as Json, json};
use std::future::Future;
use std::time::Duration;
use support::argocd::{Argo, b64};
use support::kube::KubeBench;
use support::rollouts::{self, RolloutController};
use support::shards::{NO_GATE, ingress, shard, weights};
use support::{Moto, ProviderHcl, Workspace, terraform_at_least, terraform_version};

/// The release under test, for failure messages.
fn release() -> String {
    let (a, b, c) = terraform_version();
    format!("Terraform {a}.{b}.{c}")
}

/// `shard_weight`: create, drift repaired, an import block (1.5+), import by identity (1.12+,
/// refused by the configuration parser before), a `removed` block (1.7+), destroy.
#[test]
fn weight_lifecycle_import_and_removed_blocks() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70,20"]);
    let (tg0, tg1, tg2) = (ing.tgs[0].clone(), ing.tgs[1].clone(), ing.tgs[2].clone());

    // Create, then an empty plan.
    let ws = Workspace::new(&moto).with_mirror();
    ws.write(&moto, &shard(&ing.listener, &tg0, 40, NO_GATE));
    ws.init();
    ws.apply();
    assert_eq!(weights(&moto, &ing.listener), vec![(tg0.clone(), 40), (tg1.clone(), 70), (tg2.clone(), 20)]);

    // Drift out of band: a diff on weight, repaired by apply.
    moto.fixture(&["set-weights", &ing.listener, &format!("{tg0}=7"), &format!("{tg1}=70"), &format!("{tg2}=20")]);
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}: drift must show as a change:\n{}", release(), plan.text());
    assert!(plan.stdout.contains("7 -> 40"), "{}", plan.stdout);
    ws.apply();
    assert_eq!(weights(&moto, &ing.listener)[0], (tg0.clone(), 40));

    // Resource identity: kept beside the state by 1.12+; older clients ignore it.
    let state: Json = serde_json::from_str(&support::read(&ws.path("terraform.tfstate"))).unwrap();
    let identity = &state["resources"][0]["instances"][0]["identity"];
    if terraform_at_least(1, 12) {
        assert_eq!(identity["target_group_arn"], tg0.as_str(), "{state:#}");
    } else {
        assert!(identity.is_null(), "{}: an identity in state: {state:#}", release());
    }

    // An import block (Terraform 1.5+; every release this project supports has it).
    let id = format!("{},{tg1}", ing.listener);
    let imported = Workspace::new(&moto).with_mirror();
    let import_block = format!("import {{\n  to = shard_weight.this\n  id = \"{id}\"\n}}\n");
    imported.write(&moto, &format!("{import_block}{}", shard(&ing.listener, &tg1, 70, NO_GATE)));
    imported.init();
    let r = imported.apply();
    assert!(r.stdout.contains("1 imported"), "{}", r.stdout);
    assert_eq!(imported.state_of("shard_weight.this")["id"], id.as_str());

    // Import by identity: 1.12+. Before, Terraform's own parser refuses the block (the provider
    // is never asked), and nothing is imported.
    let by_identity = Workspace::new(&moto).with_mirror();
    by_identity.write(
        &moto,
        &format!(
            "import {{\n  to = shard_weight.this\n  identity = {{\n    listener_arn = \"{}\"\n    target_group_arn = \"{tg2}\"\n  }}\n}}\n{}",
            ing.listener,
            shard(&ing.listener, &tg2, 20, NO_GATE)
        ),
    );
    if terraform_at_least(1, 12) {
        by_identity.init();
        let r = by_identity.apply();
        assert!(r.stdout.contains("1 imported"), "{}", r.stdout);
        by_identity.destroy();
        assert_eq!(weights(&moto, &ing.listener).len(), 2, "the identity-imported entry was destroyed");
    } else {
        by_identity
            .fails(&["init", "-no-color", "-input=false"], &["An argument named \"identity\" is not expected here"]);
        assert!(!by_identity.path("terraform.tfstate").exists(), "{}: state written", release());
    }

    // A `removed` block forgets the entry without touching the listener (1.7+); before, the
    // parser refuses it and the state keeps the resource.
    imported.write(&moto, "removed {\n  from = shard_weight.this\n  lifecycle {\n    destroy = false\n  }\n}\n");
    if terraform_at_least(1, 7) {
        imported.apply();
        let left = imported.show();
        assert!(left["values"]["root_module"]["resources"].as_array().is_none_or(|r| r.is_empty()), "{left:#}");
        assert!(weights(&moto, &ing.listener).contains(&(tg1.clone(), 70)), "removed must not destroy");
    } else {
        imported.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Blocks of type \"removed\" are not expected here"],
        );
        // (`show` parses the configuration too, so the state file itself.)
        let state: Json = serde_json::from_str(&support::read(&imported.path("terraform.tfstate"))).unwrap();
        assert_eq!(state["resources"][0]["instances"][0]["attributes"]["id"], id.as_str(), "{state:#}");
    }

    // Destroy: the entry is gone, the others stay.
    ws.destroy();
    let left = weights(&moto, &ing.listener);
    assert!(!left.iter().any(|(tg, _)| *tg == tg0), "{left:?}");
    assert!(left.contains(&(tg1.clone(), 70)), "{left:?}");
}

/// A namespace of the bench's API server, a runtime to talk to it, and Argo CD's view of it.
struct Hub {
    rt: tokio::runtime::Runtime,
    bench: KubeBench,
    client: kube::Client,
    ns: String,
    argo: Argo,
}

impl Hub {
    fn new(prefix: &str) -> Hub {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let bench = KubeBench::shared();
        let _guard = rt.enter();
        let client = bench.admin_client();
        let ns = rt.block_on(bench.namespace(prefix));
        let argo = Argo::new(client.clone(), &ns);
        Hub { rt, bench, client, ns, argo }
    }

    fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The provider block: AWS nowhere (a closed port), the hub at the bench as admin.
    fn provider(&self) -> ProviderHcl {
        ProviderHcl::new("http://127.0.0.1:9").hub(&format!(
            "    host = \"{}\"\n    cluster_ca_certificate = file(\"{}\")\n    token = \"{}\"\n    argocd_namespace = \"{}\"",
            self.bench.host(),
            self.bench.connection().ca_file.display(),
            self.bench.connection().admin_token,
            self.ns
        ))
    }

    fn workspace(&self, body: &str) -> Workspace {
        let ws = Workspace::with_aws_endpoint("http://127.0.0.1:9").with_mirror();
        ws.write_with(&self.provider(), body);
        ws.init();
        ws
    }
}

const ROLE: &str = "arn:aws:iam::111122223333:role/argocd-shard-access";

/// `shard_argocd_cluster_registration`: create, drift in the Secret repaired, destroy.
#[test]
fn registration_lifecycle_against_the_api_server() {
    let hub = Hub::new("compat-registration");
    let body = |env: &str| {
        format!(
            "resource \"shard_argocd_cluster_registration\" \"this\" {{\n  name = \"shard-7\"\n  server = \"https://shard-7.example.com\"\n  aws_auth {{\n    role_arn = \"{ROLE}\"\n    cluster_name = \"shard-7\"\n  }}\n  labels = {{ env = \"{env}\" }}\n}}\n"
        )
    };
    let ws = hub.workspace(&body("prod"));
    ws.apply();
    let c = hub.run(hub.argo.cluster("cluster-shard-7")).expect("a cluster Secret");
    assert_eq!((c.name.as_str(), c.server.as_str()), ("shard-7", "https://shard-7.example.com"));
    assert_eq!(c.config["awsAuthConfig"], json!({ "clusterName": "shard-7", "roleARN": ROLE }));

    // Someone edits the role: a diff, and apply writes it back.
    let mut tampered = c.config.clone();
    tampered["awsAuthConfig"]["roleARN"] = json!("arn:aws:iam::111122223333:role/someone-else");
    hub.run(hub.argo.edit_config("cluster-shard-7", "kubectl-edit", &tampered));
    let plan = ws.plan();
    assert_eq!(plan.code, 2, "{}: drift must show as a change:\n{}", release(), plan.text());
    ws.apply();
    assert_eq!(hub.run(hub.argo.cluster("cluster-shard-7")).unwrap().config["awsAuthConfig"]["roleARN"], ROLE);

    // An update in place, then destroy (no Applications target it, so nothing to wait for).
    ws.write_with(&hub.provider(), &body("staging"));
    ws.apply();
    assert_eq!(hub.run(hub.argo.cluster("cluster-shard-7")).unwrap().labels["env"], "staging");
    ws.destroy();
    assert!(hub.run(hub.argo.secret("cluster-shard-7")).is_none(), "the Secret outlived destroy");
}

/// `shard_rollout_gate`: a canary paused at step 1 is promoted to step 2 and no further; destroy
/// leaves the Rollout alone.
#[test]
fn rollout_gate_promotes_to_its_step() {
    let hub = Hub::new("compat-gate");
    let _guard = hub.rt.enter();
    let controller = RolloutController::start(hub.client.clone(), &hub.ns);
    let steps = json!([{ "setWeight": 0 }, { "pause": {} }, { "setWeight": 20 }, { "pause": {} },
                       { "setWeight": 50 }, { "pause": {} }]);
    hub.run(rollouts::create(&hub.client, &hub.ns, &rollouts::canary("api", steps, true)));
    let wait = |what: &str, pred: &dyn Fn(&Json) -> bool| {
        hub.run(rollouts::wait_for(&hub.client, &hub.ns, "api", Duration::from_secs(30), what, pred))
            .unwrap_or_else(|e| panic!("{e}\nthe controller's errors: {:?}", controller.errors()))
    };
    wait("the first revision Healthy", &rollouts::healthy);
    hub.run(rollouts::set_image(&hub.client, &hub.ns, "api", "registry.example/app:2"));
    wait("the pause at step 1", &rollouts::paused_at(1));

    let ws = hub.workspace(&format!(
        "resource \"shard_rollout_gate\" \"api\" {{\n  namespace = \"{}\"\n  name = \"api\"\n  promote_to_step = 2\n  cluster {{\n    config_path    = \"{}\"\n    config_context = \"bench\"\n  }}\n}}\n",
        hub.ns,
        hub.bench.kubeconfig_path().display()
    ));
    ws.apply();
    let st = ws.state_of("shard_rollout_gate.api");
    assert_eq!(st["promote_to_step"], 2, "{st:#}");
    assert!(st["current_step"].as_i64().unwrap() >= 2, "{st:#}");
    // The controller walks on to the next pause by itself; the gate never promotes past it.
    wait("the pause at step 3", &rollouts::paused_at(3));
    std::thread::sleep(Duration::from_millis(500));
    let live = hub.run(rollouts::get(&hub.client, &hub.ns, "api"));
    assert_eq!(live["status"]["currentStepIndex"], 3, "{}: promoted past the target", release());
    let before = live["metadata"]["resourceVersion"].clone();
    ws.destroy();
    assert_eq!(hub.run(rollouts::get(&hub.client, &hub.ns, "api"))["metadata"]["resourceVersion"], before);
}

/// A write-only attribute (`bearer_token`): written to the Secret and never stored by 1.11+;
/// refused by the provider, naming the release needed, on older clients, which would store it
/// as an ordinary attribute: nothing is written, nothing reaches state.
#[test]
fn write_only_bearer_token_is_never_stored() {
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.compat-token-never-stored";
    let hub = Hub::new("compat-token");
    let pem = rcgen::generate_simple_self_signed(vec!["shard-8.example.com".into()]).unwrap().cert.pem();
    // A sensitive variable, not an ephemeral one: ephemeral variables need 1.10 themselves.
    let body = format!(
        "variable \"shard_token\" {{\n  type      = string\n  sensitive = true\n}}\n\nresource \"shard_argocd_cluster_registration\" \"this\" {{\n  name = \"shard-8\"\n  server = \"https://shard-8.example.com\"\n  ca_data = \"{}\"\n  bearer_token = var.shard_token\n  bearer_token_version = 1\n}}\n",
        b64(&pem)
    );
    let ws = hub.workspace(&body);
    std::fs::write(ws.path("token.auto.tfvars"), format!("shard_token = \"{TOKEN}\"\n")).unwrap();
    if terraform_at_least(1, 11) {
        ws.apply();
        let c = hub.run(hub.argo.cluster("cluster-shard-8")).expect("a cluster Secret");
        assert_eq!(c.config["bearerToken"], TOKEN);
        assert_eq!(ws.state_of("shard_argocd_cluster_registration.this")["bearer_token"], Json::Null);
    } else {
        ws.fails(
            &["apply", "-auto-approve", "-no-color", "-input=false"],
            &["Write-only attribute not supported by this Terraform", "Terraform 1.11 or later", "bearer_token"],
        );
        ws.fails(&["plan", "-no-color", "-input=false"], &["Terraform 1.11 or later"]);
        assert!(hub.run(hub.argo.secret("cluster-shard-8")).is_none(), "{}: a Secret was written", release());
    }
    let state = support::read(&ws.path("terraform.tfstate"));
    assert!(!state.contains(TOKEN) && !state.contains(&b64(TOKEN)), "{}: the token is in state", release());
    if terraform_at_least(1, 11) {
        ws.destroy();
    }
}

/// An ephemeral resource (`shard_eks_token`, 1.10+) configuring a provider: the registration is
/// written as the IAM identity behind the token, and no token reaches state. Older releases'
/// parsers refuse the `ephemeral` block before any provider is started.
#[test]
fn ephemeral_eks_token_configures_a_provider() {
    let hub = Hub::new("compat-ephemeral");
    let cluster = hub.bench.connection().eks_cluster_id.clone();
    // EKS describes cluster `bench` as the bench's API server, which takes EKS tokens for it.
    let moto = Moto::start_eks(&[(cluster.as_str(), hub.bench.host(), hub.bench.connection().ca_file.as_path())]);
    let m = &moto.endpoint;
    let ns = &hub.ns;
    let body = format!(
        r#"
ephemeral "shard_eks_token" "hub" {{
  cluster_name = "{cluster}"
}}

provider "shard" {{
  alias  = "via_token"
  region = "us-east-1"
  endpoints {{
    elbv2 = "{m}"
    eks   = "{m}"
    sts   = "{m}"
  }}
  hub {{
    host                   = "{host}"
    cluster_ca_certificate = file("{ca}")
    token                  = ephemeral.shard_eks_token.hub.token
    argocd_namespace       = "{ns}"
  }}
}}

resource "shard_argocd_cluster_registration" "via_token" {{
  provider = shard.via_token
  name     = "shard-9"
  server   = "https://shard-9.example.com"
  aws_auth {{
    cluster_name = "shard-9"
  }}
}}
"#,
        host = hub.bench.host(),
        ca = hub.bench.connection().ca_file.display(),
    );
    let ws = Workspace::new(&moto).with_mirror();
    ws.write(&moto, &body);
    if terraform_at_least(1, 10) {
        ws.init();
        ws.apply();
        assert!(hub.run(hub.argo.cluster("cluster-shard-9")).is_some());
        let writers: Vec<String> = hub.bench.writes(ns, "secrets").into_iter().map(|e| e.user).collect();
        assert!(!writers.is_empty() && writers.iter().all(|u| u.starts_with("aws:arn:aws:")), "{writers:?}");
        let state = support::read(&ws.path("terraform.tfstate"));
        assert!(!state.contains("k8s-aws-v1."), "{}: an EKS token reached the state", release());
        ws.destroy();
    } else {
        ws.fails(&["init", "-no-color", "-input=false"], &["Blocks of type \"ephemeral\" are not expected here"]);
        assert!(hub.run(hub.argo.secret("cluster-shard-9")).is_none());
    }
}

/// List resources and actions: 1.14+. Before, Terraform's parser refuses `action` blocks and has
/// no `query` command; the provider's other types keep working (the tests above), since older
/// clients ignore what GetProviderSchema says about list resources and actions.
#[test]
fn list_resources_and_actions_from_1_14() {
    let moto = Moto::start();
    let ing = ingress(&moto, &["weights=30,70,20"]);
    let action = format!(
        "action \"shard_drain\" \"this\" {{\n  config {{\n    listener_arn = \"{}\"\n    target_group_arn = \"{}\"\n  }}\n}}\n",
        ing.listener, ing.tgs[1]
    );
    let ops = Workspace::new(&moto).with_mirror();
    ops.write(&moto, &action);
    if !terraform_at_least(1, 14) {
        // Before 1.13 the parser refuses `action` blocks; 1.13 parses and ignores them, and has
        // no `-invoke` flag. Either way nothing reaches the listener.
        let init = ops.run(&["init", "-no-color", "-input=false"]);
        if init.code == 0 {
            ops.fails(&["apply", "-auto-approve", "-no-color", "-invoke=action.shard_drain.this"], &["flag"]);
        } else {
            assert!(init.flat().contains("action"), "{}: {}", release(), init.text());
        }
        assert_eq!(weights(&moto, &ing.listener)[1].1, 70, "{}: something was written", release());
        return;
    }
    ops.init();
    let r = ops.ok(&["apply", "-auto-approve", "-no-color", "-invoke=action.shard_drain.this"]);
    assert!(r.stdout.contains("weight 70 -> 0"), "{}: {}", release(), r.stdout);
    assert_eq!(weights(&moto, &ing.listener)[1].1, 0);

    let adopt = Workspace::new(&moto).with_mirror();
    adopt.write(&moto, "");
    std::fs::write(
        adopt.path("q.tfquery.hcl"),
        format!(
            "list \"shard_weight\" \"all\" {{\n  provider = shard\n  config {{\n    listener_arn = \"{}\"\n  }}\n}}\n",
            ing.listener
        ),
    )
    .unwrap();
    adopt.init();
    adopt.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    std::fs::remove_file(adopt.path("q.tfquery.hcl")).unwrap();
    let plan = adopt.ok(&["plan", "-no-color", "-input=false"]);
    assert!(plan.stdout.contains("3 to import, 0 to add, 0 to change, 0 to destroy"), "{}: {}", release(), plan.stdout);
    adopt.apply();
}
