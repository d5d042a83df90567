//! The framework driven through its gRPC face in-process, with a small test provider:
//! StopProvider cancelling a long operation, plan automation over msgpack, invariants, and
//! every registered schema of the real provider passing Terraform's rules.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shard_provider::framework::server::Server;
use shard_provider::framework::timeouts::{Op, timeouts_block};
use shard_provider::framework::{
    AnyDataSource, AnyEphemeralResource, AnyResource, Attr, AttrPath, Attribute, CreateRequest, Ctx, DeleteRequest,
    Diagnostics, EphemeralResource, Opened, Outcome, Private, Provider, ReadRequest, Renewed, Resource, Schema,
    UpdateRequest, ValidateRequest,
};
use shard_provider::protocol::msgpack;
use shard_provider::protocol::tfplugin6::{self as pb, provider_server::Provider as _};
use shard_provider::protocol::value::{Type, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tonic::Request;

struct TestProvider;

/// Sleeps `seconds` on create (cancellable, bounded by its deadline); `lie` makes it return a
/// weight it did not plan. A typed resource: it never decodes or encodes a value itself.
struct Sleeper;

#[derive(Deserialize, Serialize)]
struct SleeperModel {
    id: Attr<String>,
    name: String,
    seconds: i64,
    lie: Option<bool>,
    secret: Option<String>,
    timeouts: Option<shard_provider::framework::timeouts::Timeouts>,
}

#[async_trait]
impl Resource<()> for Sleeper {
    type Model = SleeperModel;

    fn name(&self) -> &'static str {
        "sleeper"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            "test",
            vec![
                Attribute::string("id").computed().use_state_for_unknown(),
                Attribute::string("name").required().requires_replace(),
                Attribute::number("seconds").required(),
                Attribute::bool("lie").optional(),
                Attribute::string("secret").optional().write_only().sensitive(),
            ],
        )
        .with_block(timeouts_block(&[Op::Create, Op::Update]))
    }
    fn default_timeout(&self, _op: Op) -> Duration {
        Duration::from_secs(3600)
    }
    async fn create(
        &self,
        ctx: &Ctx<()>,
        req: CreateRequest<SleeperModel>,
    ) -> Result<Outcome<SleeperModel>, Diagnostics> {
        let mut m = req.planned;
        assert_eq!(req.config.get("secret").as_str(), Some("hunter2"), "write-only value reaches apply via config");
        if let Err(e) = ctx.sleep(Duration::from_secs(m.seconds as u64)).await {
            return Err(Diagnostics::error("Create interrupted", e.to_string()));
        }
        m.id = Attr::Known(format!("id-{}", m.name));
        if m.lie == Some(true) {
            m.seconds += 1;
        }
        m.secret = Some("hunter2".into()); // the framework must strip it
        ctx.warn("Slept", format!("{} seconds", m.seconds));
        let mut private = req.private;
        private.set("created_by", &"sleeper");
        Ok(Outcome::ok(m).with_private(private))
    }
    async fn read(&self, _: &Ctx<()>, req: ReadRequest<SleeperModel>) -> Result<Outcome<SleeperModel>, Diagnostics> {
        // Private state written at create comes back on every later call.
        if req.private.get::<String>("created_by").as_deref() != Some("sleeper") {
            return Err(Diagnostics::error("Private state lost", format!("{:?}", req.private)));
        }
        Ok(Outcome::ok(req.state))
    }
    async fn update(
        &self,
        ctx: &Ctx<()>,
        req: UpdateRequest<SleeperModel>,
    ) -> Result<Outcome<SleeperModel>, Diagnostics> {
        self.create(ctx, CreateRequest { planned: req.planned, config: req.config, private: req.private }).await
    }
    async fn delete(&self, _: &Ctx<()>, _: DeleteRequest<SleeperModel>) -> Result<(), Diagnostics> {
        Ok(())
    }
}

/// A lease as an ephemeral resource: open hands out a value and private data, renew counts its
/// renewals in the private data, close records what it closed.
struct Lease {
    closed: Arc<Mutex<Vec<String>>>,
}

#[derive(Deserialize, Serialize)]
struct LeaseModel {
    name: String,
    ttl_seconds: Option<i64>,
    value: Attr<String>,
}

#[async_trait]
impl EphemeralResource<()> for Lease {
    type Model = LeaseModel;
    fn name(&self) -> &'static str {
        "lease"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            "test",
            vec![
                Attribute::string("name").required(),
                Attribute::number("ttl_seconds").optional(),
                Attribute::string("value").computed().sensitive(),
            ],
        )
    }
    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        if req.config.get("name").as_str() == Some("bad") {
            return Diagnostics::attr_error(AttrPath::attr("name"), "Bad name", "not this one");
        }
        Diagnostics::new()
    }
    async fn open(&self, ctx: &Ctx<()>, config: LeaseModel) -> Result<Opened<LeaseModel>, Diagnostics> {
        let mut private = Private::default();
        private.set("lease", &config.name);
        private.set("renewals", &0);
        ctx.warn("Leased", config.name.clone());
        let ttl = Duration::from_secs(config.ttl_seconds.unwrap_or(60) as u64);
        let value = Attr::Known(format!("lease-{}", config.name));
        Ok(Opened::new(LeaseModel { value, ..config }).with_private(private).renew_at(SystemTime::now() + ttl))
    }
    async fn renew(&self, _: &Ctx<()>, mut private: Private) -> Result<Renewed, Diagnostics> {
        let n: i64 = private.get("renewals").unwrap_or(-100);
        private.set("renewals", &(n + 1));
        Ok(Renewed { private: Some(private), renew_at: Some(SystemTime::now() + Duration::from_secs(60)) })
    }
    async fn close(&self, _: &Ctx<()>, private: Private) -> Result<(), Diagnostics> {
        let lease: String = private.get("lease").ok_or_else(|| Diagnostics::error("No lease", "private data lost"))?;
        self.closed.lock().unwrap().push(lease);
        Ok(())
    }
}

static CLOSED: Mutex<Option<Arc<Mutex<Vec<String>>>>> = Mutex::new(None);

fn closed_leases() -> Arc<Mutex<Vec<String>>> {
    CLOSED.lock().unwrap().get_or_insert_with(Default::default).clone()
}

#[async_trait]
impl Provider for TestProvider {
    type Data = ();
    fn type_name(&self) -> &'static str {
        "test"
    }
    fn schema(&self) -> Schema {
        Schema::new("test", vec![])
    }
    async fn configure(&self, _: Value, _: &str) -> Result<(), Diagnostics> {
        Ok(())
    }
    fn resources(&self) -> Vec<Arc<dyn AnyResource<()>>> {
        vec![Arc::new(Sleeper)]
    }
    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<()>>> {
        vec![]
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn AnyEphemeralResource<()>>> {
        vec![Arc::new(Lease { closed: closed_leases() })]
    }
}

fn ty() -> Type {
    Resource::schema(&Sleeper).value_type()
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue { msgpack: msgpack::encode(&ty(), v), json: vec![] })
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).conform(&ty())
}

async fn configured() -> Arc<Server<TestProvider>> {
    let server = Arc::new(Server::new(TestProvider));
    let resp = server
        .configure_provider(Request::new(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: Some(pb::DynamicValue {
                msgpack: msgpack::encode(&Type::object::<_, &str>([]), &Value::Object(Default::default())),
                json: vec![],
            }),
            client_capabilities: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(resp.diagnostics.is_empty());
    server
}

/// PlanResourceChange as Terraform (1.11+) calls it: `proposed` is config merged with prior
/// computed values, and the client honours write-only attributes.
async fn plan_change(
    server: &Server<TestProvider>,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> pb::plan_resource_change::Response {
    plan_as(
        server,
        prior,
        proposed,
        config,
        Some(pb::ClientCapabilities { deferral_allowed: true, write_only_attributes_allowed: true }),
    )
    .await
}

/// PlanResourceChange from a client with these capabilities (None: a client older than them).
async fn plan_as(
    server: &Server<TestProvider>,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    client_capabilities: Option<pb::ClientCapabilities>,
) -> pb::plan_resource_change::Response {
    server
        .plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: "test_sleeper".into(),
            prior_state: dv(prior),
            proposed_new_state: dv(proposed),
            config: dv(config),
            client_capabilities,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
}

async fn plan(server: &Server<TestProvider>, prior: &Value, config: &Value) -> pb::plan_resource_change::Response {
    plan_change(server, prior, config, config).await
}

async fn apply(
    server: &Server<TestProvider>,
    prior: &Value,
    planned: &pb::DynamicValue,
    config: &Value,
) -> pb::apply_resource_change::Response {
    server
        .apply_resource_change(Request::new(pb::apply_resource_change::Request {
            type_name: "test_sleeper".into(),
            prior_state: dv(prior),
            planned_state: Some(planned.clone()),
            config: dv(config),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn stop_provider_cancels_a_long_apply_and_the_server_keeps_serving() {
    let server = configured().await;
    let config = obj(&[("name", "a".into()), ("seconds", Value::int(3600)), ("secret", "hunter2".into())]);
    let planned = plan(&server, &Value::Null, &config).await.planned_state.unwrap();
    let s = server.clone();
    let c = config.clone();
    let running = tokio::spawn(async move { apply(&s, &Value::Null, &planned, &c).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running.is_finished());
    server.stop_provider(Request::new(pb::stop_provider::Request {})).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), running).await.expect("apply returns promptly").unwrap();
    let text = format!("{:?}", resp.diagnostics);
    assert!(text.contains("Create interrupted") && text.contains("cancelled"), "{text}");
    // The server still answers.
    let schema = server.get_provider_schema(Request::new(pb::get_provider_schema::Request {})).await.unwrap();
    assert!(schema.into_inner().resource_schemas.contains_key("test_sleeper"));
}

#[tokio::test]
async fn plan_automation_and_write_only_over_the_wire() {
    let server = configured().await;
    let config = obj(&[("name", "a".into()), ("seconds", Value::int(0)), ("secret", "hunter2".into())]);
    let p = plan(&server, &Value::Null, &config).await;
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let planned = msgpack::decode(&ty(), &p.planned_state.clone().unwrap().msgpack).unwrap();
    assert_eq!(planned.get("id"), &Value::Unknown, "computed id is unknown on create");
    assert_eq!(planned.get("secret"), &Value::Null, "write-only never in the plan");

    let a = apply(&server, &Value::Null, p.planned_state.as_ref().unwrap(), &config).await;
    assert!(
        a.diagnostics.iter().all(|d| d.severity == pb::diagnostic::Severity::Warning as i32),
        "{:?}",
        a.diagnostics
    );
    let state = msgpack::decode(&ty(), &a.new_state.unwrap().msgpack).unwrap();
    assert_eq!(state.get("id"), &Value::str("id-a"));
    assert_eq!(state.get("secret"), &Value::Null, "write-only never in state");

    // Same config again: the plan must equal the state (no diff), with no replacement.
    let mut proposed = config.clone();
    *proposed.get_mut("id").unwrap() = Value::str("id-a");
    *proposed.get_mut("secret").unwrap() = Value::Null;
    let again = plan_change(&server, &state, &proposed, &config).await;
    assert_eq!(msgpack::decode(&ty(), &again.planned_state.unwrap().msgpack).unwrap(), state);
    assert!(again.requires_replace.is_empty());

    // Renaming requires replacement.
    *proposed.get_mut("name").unwrap() = "b".into();
    let mut renamed = config.clone();
    *renamed.get_mut("name").unwrap() = "b".into();
    let replace = plan_change(&server, &state, &proposed, &renamed).await;
    assert_eq!(replace.requires_replace.len(), 1);
}

#[tokio::test]
async fn an_inconsistent_result_is_reported_on_its_attribute() {
    let server = configured().await;
    let config =
        obj(&[("name", "a".into()), ("seconds", Value::int(0)), ("lie", true.into()), ("secret", "hunter2".into())]);
    let p = plan(&server, &Value::Null, &config).await;
    let a = apply(&server, &Value::Null, p.planned_state.as_ref().unwrap(), &config).await;
    let errors: Vec<_> =
        a.diagnostics.iter().filter(|d| d.severity == pb::diagnostic::Severity::Error as i32).collect();
    assert_eq!(errors.len(), 1, "{:?}", a.diagnostics);
    assert!(errors[0].summary.contains("inconsistent result"));
    let path = format!("{:?}", errors[0].attribute);
    assert!(path.contains("seconds"), "{path}");
}

#[tokio::test]
async fn the_timeouts_block_sets_the_deadline_and_a_stop_does_not_cancel_later_operations() {
    let server = configured().await;
    let mut config = obj(&[("name", "a".into()), ("seconds", Value::int(3600)), ("secret", "hunter2".into())]);
    *config.get_mut("timeouts").unwrap() =
        Value::Object([("create".to_string(), Value::str("1s")), ("update".to_string(), Value::Null)].into());
    let planned = plan(&server, &Value::Null, &config).await.planned_state.unwrap();
    let started = std::time::Instant::now();
    let resp = apply(&server, &Value::Null, &planned, &config).await;
    let text = format!("{:?}", resp.diagnostics);
    assert!(text.contains("timed out after 1s"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "the 1s deadline was not applied");

    // After a StopProvider, operations that start later run normally (terraform-plugin-go's
    // behaviour): only what was in flight is cancelled.
    server.stop_provider(Request::new(pb::stop_provider::Request {})).await.unwrap();
    let quick = obj(&[("name", "b".into()), ("seconds", Value::int(0)), ("secret", "hunter2".into())]);
    let planned = plan(&server, &Value::Null, &quick).await.planned_state.unwrap();
    let resp = apply(&server, &Value::Null, &planned, &quick).await;
    assert!(!format!("{:?}", resp.diagnostics).contains("interrupted"), "{:?}", resp.diagnostics);
}

#[tokio::test]
async fn private_state_and_warnings_travel_with_the_response() {
    let server = configured().await;
    let config = obj(&[("name", "a".into()), ("seconds", Value::int(0)), ("secret", "hunter2".into())]);
    let planned = plan(&server, &Value::Null, &config).await.planned_state.unwrap();
    let a = apply(&server, &Value::Null, &planned, &config).await;
    assert_eq!(a.diagnostics.len(), 1, "{:?}", a.diagnostics);
    assert_eq!(a.diagnostics[0].severity, pb::diagnostic::Severity::Warning as i32);
    assert!(!a.private.is_empty(), "private state written at create");
    let read = |private: Vec<u8>| {
        let server = server.clone();
        let state = a.new_state.clone();
        async move {
            server
                .read_resource(Request::new(pb::read_resource::Request {
                    type_name: "test_sleeper".into(),
                    current_state: state,
                    private,
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let r = read(a.private.clone()).await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.private, a.private, "private state passes through a read unchanged");
    let lost = read(Vec::new()).await;
    assert!(format!("{:?}", lost.diagnostics).contains("Private state lost"));
    assert_eq!(lost.new_state, a.new_state, "a failed read keeps the state");
}

#[tokio::test]
async fn a_client_without_write_only_support_is_told_so_on_the_attribute() {
    let server = configured().await;
    let config = obj(&[("name", "a".into()), ("seconds", Value::int(0)), ("secret", "hunter2".into())]);
    let validate = |allowed: Option<bool>| {
        let server = server.clone();
        let config = config.clone();
        async move {
            server
                .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                    type_name: "test_sleeper".into(),
                    config: dv(&config),
                    client_capabilities: allowed
                        .map(|w| pb::ClientCapabilities { deferral_allowed: false, write_only_attributes_allowed: w }),
                }))
                .await
                .unwrap()
                .into_inner()
                .diagnostics
        }
    };
    assert!(validate(Some(true)).await.is_empty());
    for old in [None, Some(false)] {
        let d = validate(old).await;
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].summary.contains("Write-only attribute not supported"), "{d:?}");
        assert!(format!("{:?}", d[0].attribute).contains("secret"));
        assert!(d[0].detail.contains("Terraform 1.11 or later"), "{d:?}");
    }
    // At plan too (after ConfigureProvider, so naming the client): nothing planned to store.
    for old in [None, Some(pb::ClientCapabilities { deferral_allowed: true, write_only_attributes_allowed: false })] {
        let p = plan_as(&server, &Value::Null, &config, &config, old).await;
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        assert!(
            p.diagnostics[0].detail.contains("This Terraform (1.15.5) does not support write-only"),
            "{:?}",
            p.diagnostics
        );
    }
    let p = plan_as(
        &server,
        &Value::Null,
        &config,
        &config,
        Some(pb::ClientCapabilities { deferral_allowed: false, write_only_attributes_allowed: true }),
    )
    .await;
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
}

#[test]
fn every_shard_schema_is_one_terraform_accepts() {
    let server = Server::new(shard_provider::provider::ShardProvider);
    let shard_provider::framework::server::Schemas {
        provider,
        resources,
        data_sources,
        ephemeral_resources,
        list_resources,
        actions,
    } = server.schemas();
    provider.check().expect("provider schema");
    for (name, s) in
        resources.iter().chain(&data_sources).chain(&ephemeral_resources).chain(&list_resources).chain(&actions)
    {
        s.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        // Never both `type` and `nested_type` on one attribute.
        fn walk(b: &pb::schema::Block, name: &str) {
            for a in &b.attributes {
                assert!(
                    a.r#type.is_empty() != a.nested_type.is_none(),
                    "{name}.{}: exactly one of type/nested_type",
                    a.name
                );
            }
            for nb in &b.block_types {
                walk(nb.block.as_ref().unwrap(), name);
            }
        }
        walk(s.to_proto().block.as_ref().unwrap(), name);
    }
    assert!(data_sources.iter().any(|(n, _)| n == "shard_listener"));
    assert!(data_sources.iter().any(|(n, _)| n == "shard_eks_cluster"));
    assert!(resources.iter().any(|(n, _)| n == "shard_argocd_cluster_registration"));
    assert!(ephemeral_resources.iter().any(|(n, _)| n == "shard_eks_token"));
    assert!(actions.iter().any(|(n, _)| n == "shard_drain"));
    // Terraform lists only types it also knows as managed resources with an identity
    // (hashicorp/terraform v1.15.5 internal/plugin6/grpc_provider.go ListResource).
    for (name, _) in &list_resources {
        let managed =
            shard_provider::provider::resources().into_iter().find(|r| format!("shard_{}", r.name()) == *name);
        assert!(managed.is_some_and(|r| r.identity().is_some()), "{name}: no managed resource with an identity");
    }
    for r in shard_provider::provider::resources() {
        if let Some(identity) = r.identity() {
            identity.check(&r.schema()).unwrap_or_else(|e| panic!("{}: {e}", r.name()));
        }
    }
}

#[test]
fn the_registry_docs_cover_every_attribute() {
    let server = Server::new(shard_provider::provider::ShardProvider);
    let shard_provider::framework::server::Schemas {
        provider,
        resources,
        data_sources,
        ephemeral_resources,
        list_resources,
        actions,
    } = server.schemas();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages = vec![("index.md".to_string(), provider)];
    pages.extend(resources.into_iter().map(|(n, s)| (format!("resources/{}.md", n.trim_start_matches("shard_")), s)));
    pages.extend(
        data_sources.into_iter().map(|(n, s)| (format!("data-sources/{}.md", n.trim_start_matches("shard_")), s)),
    );
    pages.extend(
        ephemeral_resources
            .into_iter()
            .map(|(n, s)| (format!("ephemeral-resources/{}.md", n.trim_start_matches("shard_")), s)),
    );
    pages.extend(
        list_resources.into_iter().map(|(n, s)| (format!("list-resources/{}.md", n.trim_start_matches("shard_")), s)),
    );
    pages.extend(actions.into_iter().map(|(n, s)| (format!("actions/{}.md", n.trim_start_matches("shard_")), s)));
    for (page, schema) in pages {
        let text = std::fs::read_to_string(root.join(&page)).unwrap_or_else(|_| panic!("docs/{page} is missing"));
        fn names(b: &shard_provider::framework::Block, out: &mut Vec<String>) {
            for a in &b.attributes {
                out.push(a.name.clone());
                if let shard_provider::framework::schema::AttrKind::Nested(_, inner) = &a.kind {
                    out.extend(inner.iter().map(|i| i.name.clone()));
                }
            }
            for nb in &b.blocks {
                out.push(nb.name.clone());
                names(&nb.block, out);
            }
        }
        let mut all = Vec::new();
        names(&schema.block, &mut all);
        for name in all {
            assert!(text.contains(&format!("`{name}`")), "docs/{page} does not document `{name}`");
        }
    }
}

fn lease_type() -> Type {
    EphemeralResource::schema(&Lease { closed: Default::default() }).value_type()
}

fn lease(name: Value, ttl: Option<i64>) -> Option<pb::DynamicValue> {
    let v = Value::Object(
        [
            ("name".to_string(), name),
            ("ttl_seconds".to_string(), ttl.map(Value::int).unwrap_or(Value::Null)),
            ("value".to_string(), Value::Null),
        ]
        .into(),
    );
    Some(pb::DynamicValue { msgpack: msgpack::encode(&lease_type(), &v), json: vec![] })
}

#[tokio::test]
async fn ephemeral_resources_are_advertised_opened_renewed_and_closed() {
    let server = configured().await;
    // Advertised in GetMetadata and GetProviderSchema.
    let meta = server.get_metadata(Request::new(pb::get_metadata::Request {})).await.unwrap().into_inner();
    assert_eq!(meta.ephemeral_resources.iter().map(|e| e.type_name.as_str()).collect::<Vec<_>>(), vec!["test_lease"]);
    let schema = server.get_provider_schema(Request::new(pb::get_provider_schema::Request {})).await.unwrap();
    let lease_schema = schema.into_inner().ephemeral_resource_schemas.remove("test_lease").expect("schema");
    let block = lease_schema.block.unwrap();
    assert!(block.attributes.iter().any(|a| a.name == "value" && a.computed && a.sensitive));

    // Validation: attribute validators and the type's own, with paths.
    let v = server
        .validate_ephemeral_resource_config(Request::new(pb::validate_ephemeral_resource_config::Request {
            type_name: "test_lease".into(),
            config: lease(Value::str("bad"), None),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.diagnostics.len(), 1, "{:?}", v.diagnostics);
    assert!(format!("{:?}", v.diagnostics[0].attribute).contains("name"));

    // Open: the result, private data and the renewal time.
    let before = SystemTime::now();
    let opened = server
        .open_ephemeral_resource(Request::new(pb::open_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            config: lease(Value::str("a"), Some(30)),
            client_capabilities: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(opened.diagnostics.iter().all(|d| d.severity == pb::diagnostic::Severity::Warning as i32));
    assert_eq!(opened.diagnostics.len(), 1, "ctx warnings travel with the response");
    let result = msgpack::decode(&lease_type(), &opened.result.unwrap().msgpack).unwrap();
    assert_eq!(result.get("value"), &Value::str("lease-a"));
    assert_eq!(result.get("ttl_seconds"), &Value::int(30));
    let renew_at = opened.renew_at.expect("renew_at");
    let expected = before.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64 + 30;
    assert!((renew_at.seconds - expected).abs() <= 2, "{renew_at:?}");
    let private = opened.private.expect("private data");

    // Renew gets the private data back and may replace it; close gets the latest.
    let renewed = server
        .renew_ephemeral_resource(Request::new(pb::renew_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: Some(private),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(renewed.diagnostics.is_empty(), "{:?}", renewed.diagnostics);
    assert!(renewed.renew_at.is_some());
    let private = renewed.private.expect("renewed private data");
    assert_eq!(Private::from_bytes(&private).get::<i64>("renewals"), Some(1));
    let closed = server
        .close_ephemeral_resource(Request::new(pb::close_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: Some(private),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(closed.diagnostics.is_empty(), "{:?}", closed.diagnostics);
    assert!(closed_leases().lock().unwrap().contains(&"a".to_string()));

    // A configuration not known yet opens nothing: computed values unknown, no private data.
    let pending = server
        .open_ephemeral_resource(Request::new(pb::open_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            config: lease(Value::Unknown, None),
            client_capabilities: None,
        }))
        .await
        .unwrap()
        .into_inner();
    let result = msgpack::decode(&lease_type(), &pending.result.unwrap().msgpack).unwrap();
    assert_eq!(result.get("value"), &Value::Unknown);
    assert!(pending.private.is_none() && pending.renew_at.is_none());

    // Unknown types are a gRPC NotFound, as for resources.
    let err = server
        .open_ephemeral_resource(Request::new(pb::open_ephemeral_resource::Request {
            type_name: "test_nope".into(),
            config: None,
            client_capabilities: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}
