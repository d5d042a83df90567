//! The framework driven through its gRPC face in-process, with a small test provider:
//! StopProvider cancelling a long operation, plan automation over msgpack, invariants, and
//! every registered schema of the real provider passing Terraform's rules.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shard_provider::framework::resource::{decode, encode};
use shard_provider::framework::server::Server;
use shard_provider::framework::{
    ApplyRequest, ApplyResponse, Attr, Attribute, Ctx, DataSource, Diagnostics, Provider, Resource, Schema,
};
use shard_provider::protocol::msgpack;
use shard_provider::protocol::tfplugin6::{self as pb, provider_server::Provider as _};
use shard_provider::protocol::value::{Type, Value};
use std::sync::Arc;
use std::time::Duration;
use tonic::Request;

struct TestProvider;

/// Sleeps `seconds` on create (cancellable); `lie` makes it return a weight it did not plan.
struct Sleeper;

#[derive(Deserialize, Serialize)]
struct SleeperModel {
    id: Attr<String>,
    name: String,
    seconds: i64,
    lie: Option<bool>,
    secret: Option<String>,
}

#[async_trait]
impl Resource<()> for Sleeper {
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
    }
    async fn create(&self, ctx: &Ctx<()>, req: ApplyRequest) -> ApplyResponse {
        let mut m: SleeperModel = match decode("plan", &req.planned) {
            Ok(m) => m,
            Err(d) => return d.into(),
        };
        let secret: SleeperModel = decode("config", &req.config).unwrap();
        assert_eq!(secret.secret.as_deref(), Some("hunter2"), "write-only value reaches apply via config");
        if let Err(e) = ctx.sleep(Duration::from_secs(m.seconds as u64)).await {
            let mut d = Diagnostics::new();
            d.error("Create interrupted", e.to_string());
            return ApplyResponse::failed(Value::Null, d);
        }
        m.id = Attr::Known(format!("id-{}", m.name));
        if m.lie == Some(true) {
            m.seconds += 1;
        }
        m.secret = Some("hunter2".into()); // the framework must strip it
        ApplyResponse::ok(encode(&m).unwrap())
    }
    async fn read(&self, _: &Ctx<()>, state: Value) -> Result<Value, Diagnostics> {
        Ok(state)
    }
    async fn update(&self, ctx: &Ctx<()>, req: ApplyRequest) -> ApplyResponse {
        self.create(ctx, req).await
    }
    async fn delete(&self, _: &Ctx<()>, _: Value) -> Diagnostics {
        Diagnostics::new()
    }
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
    fn resources(&self) -> Vec<Arc<dyn Resource<()>>> {
        vec![Arc::new(Sleeper)]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<()>>> {
        vec![]
    }
}

fn ty() -> Type {
    Sleeper.schema().value_type()
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

/// PlanResourceChange as Terraform calls it: `proposed` is config merged with prior computed values.
async fn plan_change(
    server: &Server<TestProvider>,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> pb::plan_resource_change::Response {
    server
        .plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: "test_sleeper".into(),
            prior_state: dv(prior),
            proposed_new_state: dv(proposed),
            config: dv(config),
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
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics);
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
    assert_eq!(a.diagnostics.len(), 1, "{:?}", a.diagnostics);
    assert!(a.diagnostics[0].summary.contains("inconsistent result"));
    let path = format!("{:?}", a.diagnostics[0].attribute);
    assert!(path.contains("seconds"), "{path}");
}

#[test]
fn every_shard_schema_is_one_terraform_accepts() {
    let server = Server::new(shard_provider::provider::ShardProvider);
    let shard_provider::framework::server::Schemas { provider, resources, data_sources } = server.schemas();
    provider.check().expect("provider schema");
    for (name, s) in resources.iter().chain(&data_sources) {
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
    for r in shard_provider::provider::resources() {
        if let Some(identity) = r.identity() {
            identity.check(&r.schema()).unwrap_or_else(|e| panic!("{}: {e}", r.name()));
        }
    }
}

#[test]
fn the_registry_docs_cover_every_attribute() {
    let server = Server::new(shard_provider::provider::ShardProvider);
    let shard_provider::framework::server::Schemas { provider, resources, data_sources } = server.schemas();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages = vec![("index.md".to_string(), provider)];
    pages.extend(resources.into_iter().map(|(n, s)| (format!("resources/{}.md", n.trim_start_matches("shard_")), s)));
    pages.extend(
        data_sources.into_iter().map(|(n, s)| (format!("data-sources/{}.md", n.trim_start_matches("shard_")), s)),
    );
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
