//! Two resource types that do no work, compiled only with the `bench-probes` feature (never in a
//! release): the plan benchmark (`PLAN_PROBES=1 make benchmark`, docs/benchmarks.md) times them
//! next to `shard_weight` and the Go no-op provider to split a plan's time into this provider's
//! floor (process, TLS, gRPC, framework), Terraform's work on `shard_weight`'s schema, and
//! `shard_weight`'s own work (its refresh read, its planning).
//! - `shard_bench_noop`: the Go no-op's `noop_thing` schema (`name`, `value`), values passed through.
//! - `shard_bench_wide`: `shard_weight`'s schema and identity, values passed through, no I/O.

use crate::clients::ShardData;
use crate::framework::schema::IdentitySchema;
use crate::framework::{
    Attribute, CreateRequest, Ctx, DeleteRequest, Diagnostics, Outcome, ReadRequest, Resource, Schema, UpdateRequest,
};
use crate::resources::weight::{Model as WeightModel, WeightResource};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A type that hands back what Terraform planned or stored; `created` fills in the computed
/// attributes a create would.
pub struct PassThrough<M> {
    name: &'static str,
    schema: fn() -> Schema,
    identity: fn() -> Option<IdentitySchema>,
    created: fn(M) -> M,
}

#[derive(Deserialize, Serialize)]
pub struct NoopModel {
    name: String,
    value: Option<i64>,
}

/// `shard_bench_noop`.
pub fn noop() -> PassThrough<NoopModel> {
    PassThrough {
        name: "bench_noop",
        schema: || {
            Schema::new(
                "Benchmark only: does nothing (the Go no-op provider's noop_thing).",
                vec![Attribute::string("name").required(), Attribute::number("value").optional()],
            )
        },
        identity: || None,
        created: |m| m,
    }
}

/// `shard_bench_wide`.
pub fn wide() -> PassThrough<WeightModel> {
    PassThrough {
        name: "bench_wide",
        schema: || WeightResource::default().schema(),
        identity: || WeightResource::default().identity(),
        created: WeightModel::with_computed_for_bench,
    }
}

#[async_trait]
impl<M: Serialize + DeserializeOwned + Send + Sync + 'static> Resource<ShardData> for PassThrough<M> {
    type Model = M;
    fn name(&self) -> &'static str {
        self.name
    }
    fn schema(&self) -> Schema {
        (self.schema)()
    }
    fn identity(&self) -> Option<IdentitySchema> {
        (self.identity)()
    }
    async fn create(&self, _: &Ctx<ShardData>, req: CreateRequest<M>) -> Result<Outcome<M>, Diagnostics> {
        Ok(Outcome::ok((self.created)(req.planned)))
    }
    async fn read(&self, _: &Ctx<ShardData>, req: ReadRequest<M>) -> Result<Outcome<M>, Diagnostics> {
        Ok(Outcome::ok(req.state))
    }
    async fn update(&self, _: &Ctx<ShardData>, req: UpdateRequest<M>) -> Result<Outcome<M>, Diagnostics> {
        Ok(Outcome::ok(req.planned))
    }
    async fn delete(&self, _: &Ctx<ShardData>, _: DeleteRequest<M>) -> Result<(), Diagnostics> {
        Ok(())
    }
}
