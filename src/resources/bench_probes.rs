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
    Attr, Attribute, CreateRequest, Ctx, DeleteRequest, Diagnostics, Outcome, ReadRequest, Resource, Schema,
    UpdateRequest,
};
use crate::resources::weight::{Model as WeightModel, WeightResource};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct NoopProbe;

#[derive(Deserialize, Serialize)]
pub struct NoopModel {
    name: String,
    value: Option<i64>,
}

#[async_trait]
impl Resource<ShardData> for NoopProbe {
    type Model = NoopModel;
    fn name(&self) -> &'static str {
        "bench_noop"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            "Benchmark only: does nothing (the Go no-op provider's noop_thing).",
            vec![Attribute::string("name").required(), Attribute::number("value").optional()],
        )
    }
    async fn create(
        &self,
        _: &Ctx<ShardData>,
        req: CreateRequest<NoopModel>,
    ) -> Result<Outcome<NoopModel>, Diagnostics> {
        Ok(Outcome::ok(req.planned))
    }
    async fn read(&self, _: &Ctx<ShardData>, req: ReadRequest<NoopModel>) -> Result<Outcome<NoopModel>, Diagnostics> {
        Ok(Outcome::ok(req.state))
    }
    async fn update(
        &self,
        _: &Ctx<ShardData>,
        req: UpdateRequest<NoopModel>,
    ) -> Result<Outcome<NoopModel>, Diagnostics> {
        Ok(Outcome::ok(req.planned))
    }
    async fn delete(&self, _: &Ctx<ShardData>, _: DeleteRequest<NoopModel>) -> Result<(), Diagnostics> {
        Ok(())
    }
}

pub struct WideProbe;

#[async_trait]
impl Resource<ShardData> for WideProbe {
    type Model = WeightModel;
    fn name(&self) -> &'static str {
        "bench_wide"
    }
    fn schema(&self) -> Schema {
        WeightResource::default().schema()
    }
    fn identity(&self) -> Option<IdentitySchema> {
        WeightResource::default().identity()
    }
    async fn create(
        &self,
        _: &Ctx<ShardData>,
        req: CreateRequest<WeightModel>,
    ) -> Result<Outcome<WeightModel>, Diagnostics> {
        let mut m = req.planned;
        m.id = Attr::Known(format!("{}/{}", m.listener_arn, m.target_group_arn));
        m.traffic_share = Attr::Known("20%".into());
        Ok(Outcome::ok(m))
    }
    async fn read(
        &self,
        _: &Ctx<ShardData>,
        req: ReadRequest<WeightModel>,
    ) -> Result<Outcome<WeightModel>, Diagnostics> {
        Ok(Outcome::ok(req.state))
    }
    async fn update(
        &self,
        _: &Ctx<ShardData>,
        req: UpdateRequest<WeightModel>,
    ) -> Result<Outcome<WeightModel>, Diagnostics> {
        Ok(Outcome::ok(req.planned))
    }
    async fn delete(&self, _: &Ctx<ShardData>, _: DeleteRequest<WeightModel>) -> Result<(), Diagnostics> {
        Ok(())
    }
}
