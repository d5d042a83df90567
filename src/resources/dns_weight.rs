//! `shard_dns_weight`: one shard's weighted record set in Route 53 (`set_identifier` = the shard),
//! for teams that give each cell its own load balancer, or spread cells across regions, and shift
//! traffic with weighted DNS. Each shard directory owns only its own record set; every write goes
//! through the name's DNS lock (clients::dns_lock) with the fleet rules checked under it
//! (clients::route53). The steps of a change (health gate, ramp, drain) are shard_weight's
//! (`weight::plan_steps`), judged by Route 53's health checks and waited for until `INSYNC`.

use crate::clients::ShardData;
use crate::clients::fleet::{self, FleetGuard};
use crate::clients::forward::share_text;
use crate::clients::route53::{self, DnsEdit, Route53Error};
use crate::clients::route53_records::{
    self as records, Alias, Desired, DnsChange, RecordSet, Target, share, validate_health_check_id, validate_name,
    validate_set_identifier, validate_value, validate_zone_id,
};
use crate::framework::claims::Claims;
use crate::framework::schema::{Attribute, IdentityAttribute, IdentitySchema, NestedBlock, validators};
use crate::framework::timeouts::{Op, Timeouts, parse_duration, timeouts_block_with_defaults};
use crate::framework::{
    Attr, AttrPath, Check, CreateRequest, Ctx, DeleteRequest, Diagnostics, ImportRequest, Outcome, PlanRequest,
    ReadRequest, Resource, Schema, UpdateRequest, ValidateRequest,
};
use crate::protocol::value::{Type, Value};
use crate::resources::weight::{Course, Recovery, Step, plan_steps, recovery, roll_back_report};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How often a health gate polls GetHealthCheckStatus (Route 53's checkers report every 10 or 30 s).
const HEALTH_POLL: Duration = Duration::from_secs(5);
/// The TTL resolvers cache an alias to a load balancer for: Route 53 answers alias records with
/// the target's TTL, 60 s for Elastic Load Balancing
/// (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-alias.html#rrsets-values-alias-ttl>).
const ALIAS_TTL: Duration = Duration::from_secs(60);
/// A roll-back gets at least this long, even when the operation's deadline has passed.
const ROLLBACK_BUDGET: Duration = Duration::from_secs(60);
/// Private state: the other weighted records' total weight and count, as the refresh read them.
const OTHERS: &str = "others";

/// Record types a weighted record set may have here (alias records: A, AAAA, CNAME).
const TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "PTR", "NAPTR", "SPF", "DS"];

#[derive(Default)]
pub struct DnsWeightResource {
    /// Record sets planned in this process, to catch two resources of one configuration managing
    /// the same record set.
    claims: Claims,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Model {
    id: Attr<String>,
    zone_id: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    set_identifier: String,
    weight: i64,
    ttl: Option<i64>,
    records: Option<Vec<String>>,
    alias: Option<AliasModel>,
    health_check_id: Option<String>,
    allow_all_zero: bool,
    drain_delay: String,
    on_destroy: OnDestroy,
    ramp: Option<Ramp>,
    fleet_guard: Option<FleetGuardModel>,
    traffic_share: Attr<String>,
    timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct AliasModel {
    dns_name: String,
    zone_id: String,
    evaluate_target_health: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct Ramp {
    step: i64,
    interval: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct FleetGuardModel {
    min_serving: i64,
    override_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum OnDestroy {
    Remove,
    Zero,
    Retain,
}

/// `<zone_id>/<name>/<type>/<set_identifier>`.
pub fn resource_id(zone_id: &str, name: &str, rtype: &str, set_identifier: &str) -> String {
    format!("{zone_id}/{name}/{rtype}/{set_identifier}")
}

/// An import id split into (zone_id, name, type, set_identifier), each checked.
pub fn parse_import_id(id: &str) -> Result<(String, String, String, String), String> {
    let usage =
        "expected `<zone_id>/<name>/<type>/<set_identifier>`, e.g. `Z0123456789ABCDEFGHIJ/api.example.com/A/shard-1`";
    let parts: Vec<&str> = id.splitn(4, '/').map(str::trim).collect();
    let [zone, name, rtype, set_id] = parts.as_slice() else { return Err(format!("{id:?}: {usage}")) };
    validate_zone_id(zone).map_err(|e| format!("zone id {e}; {usage}"))?;
    validate_name(name).map_err(|e| format!("name {e}; {usage}"))?;
    if !TYPES.contains(rtype) {
        return Err(format!("type {rtype:?} is not one of {}; {usage}", TYPES.join(", ")));
    }
    validate_set_identifier(set_id).map_err(|e| format!("set identifier {e}; {usage}"))?;
    Ok((zone.to_string(), name.to_string(), rtype.to_string(), set_id.to_string()))
}

impl Model {
    fn id(&self) -> String {
        resource_id(&self.zone_id, &self.name, &self.rtype, &self.set_identifier)
    }

    fn target(&self) -> Target {
        match &self.alias {
            Some(a) => Target::Alias(Alias {
                dns_name: a.dns_name.clone(),
                zone_id: a.zone_id.clone(),
                evaluate_target_health: a.evaluate_target_health,
            }),
            None => Target::Values { ttl: self.ttl.unwrap_or(60), values: self.records.clone().unwrap_or_default() },
        }
    }

    fn desired(&self, weight: i64) -> Desired {
        Desired {
            name: self.name.clone(),
            rtype: self.rtype.clone(),
            set_identifier: self.set_identifier.clone(),
            weight,
            target: self.target(),
            health_check_id: self.health_check_id.clone(),
        }
    }

    fn edit(&self, change: DnsChange) -> DnsEdit {
        DnsEdit {
            zone_id: self.zone_id.clone(),
            desired: self.desired(match change {
                DnsChange::Set(w) => w,
                DnsChange::Remove => 0,
            }),
            change,
            allow_all_zero: self.allow_all_zero,
            guard: self.fleet_guard.as_ref().map(|g| FleetGuard {
                min_serving: g.min_serving,
                max_drained: None,
                contact: None,
                override_reason: g.override_reason.clone(),
            }),
        }
    }

    /// How long resolvers may still hand out this record after it went to 0: its TTL (an
    /// alias's target's), plus `drain_delay`.
    fn drain_wait(&self) -> Duration {
        let ttl = match &self.alias {
            Some(_) => ALIAS_TTL,
            None => Duration::from_secs(u64::try_from(self.ttl.unwrap_or(0)).unwrap_or(0)),
        };
        ttl + parse_duration(&self.drain_delay).unwrap_or(Duration::ZERO)
    }

    /// This model as state at `weight`, the share as planned (unknown becomes null).
    fn at_weight(&self, weight: i64) -> Model {
        let traffic_share = match &self.traffic_share {
            Attr::Unknown => Attr::Null,
            known => known.clone(),
        };
        Model { id: Attr::Known(self.id()), weight, traffic_share, ..self.clone() }
    }

    /// This model as read from Route 53: the record's weight, target and health check (a console
    /// edit shows as drift), and its share of the name's answers. Names Route 53 returns in
    /// another form (case, trailing dot) keep the configured spelling.
    fn read_from(&self, found: &RecordSet, weight: i64, others: (i64, usize)) -> Model {
        let mut m = self.at_weight(weight);
        m.health_check_id = found.health_check_id.clone();
        match &found.alias {
            Some(a) => {
                let same_name = self.alias.as_ref().is_some_and(|mine| {
                    records::normalize_name(&mine.dns_name) == records::normalize_name(&a.dns_name)
                });
                m.alias = Some(AliasModel {
                    dns_name: match (&self.alias, same_name) {
                        (Some(mine), true) => mine.dns_name.clone(),
                        _ => a.dns_name.trim_end_matches('.').to_string(),
                    },
                    zone_id: a.zone_id.clone(),
                    evaluate_target_health: a.evaluate_target_health,
                });
                m.ttl = None;
                m.records = None;
            }
            None => {
                m.alias = None;
                m.ttl = found.ttl;
                // Keep the configured order when the values are the same set.
                let mut mine = self.records.clone().unwrap_or_default();
                let mut theirs = found.values.clone();
                mine.sort();
                theirs.sort();
                m.records =
                    Some(if mine == theirs { self.records.clone().unwrap_or_default() } else { found.values.clone() });
            }
        }
        m.traffic_share = Attr::Known(share_text(share(weight, others.0, others.1)));
        m
    }
}

/// The other weighted records of the group: (total weight, count).
fn others_of(group: &[records::Member], this: &str) -> (i64, usize) {
    let others: Vec<&records::Member> = group.iter().filter(|m| m.set_identifier != this).collect();
    (others.iter().map(|m| m.weight.max(0)).sum(), others.len())
}

/// Maps a Route 53 failure to a diagnostic on the attribute it concerns.
fn dns_diag(e: Route53Error) -> Diagnostics {
    match &e {
        Route53Error::Routing(_) => {
            Diagnostics::attr_error(AttrPath::attr("name"), "Not a weighted record", e.to_string())
        }
        Route53Error::Group(records::GroupRefusal::AllZero { .. }) => {
            Diagnostics::attr_error(AttrPath::attr("weight"), "Change refused: every record at weight 0", e.to_string())
        }
        Route53Error::Group(_) => {
            Diagnostics::attr_error(AttrPath::attr("weight"), "Weight out of range", e.to_string())
        }
        Route53Error::Fleet(r) => Diagnostics::attr_error(
            AttrPath::attr("fleet_guard").then(r.attribute()),
            "Drain refused by the fleet guard",
            e.to_string(),
        ),
        Route53Error::Refused { .. } => Diagnostics::error("Route 53 refused the change", e.to_string()),
        Route53Error::Lock(_) => Diagnostics::error("DNS lock", e.to_string()),
        Route53Error::NotInSync { .. } => Diagnostics::error("Change not yet INSYNC", e.to_string()),
        Route53Error::Aws(a) => a.clone().into(),
        _ => Diagnostics::error("Route 53 call failed", e.to_string()),
    }
}

fn deadline(ctx: &Ctx<ShardData>) -> Instant {
    ctx.deadline().into_std()
}

/// Waits until the health check is healthy (`once`: checks a single time).
async fn gate(ctx: &Ctx<ShardData>, id: &str, once: bool) -> Result<(), Diagnostics> {
    let aws = &ctx.data.aws;
    let probe = || async {
        let (ok, seen) = route53::health_check_status(aws, id).await.map_err(dns_diag)?;
        Ok::<_, Diagnostics>(if ok { Check::Ready(()) } else { Check::NotYet(seen) })
    };
    let not_healthy = |seen: &str, waited: &str| {
        Diagnostics::attr_error(
            AttrPath::attr("health_check_id"),
            "Health check not healthy",
            format!(
                "Route 53 health check {id}: {seen} (healthy needs more than 18%); the record is not raised from 0 \
                 until it is{waited}. Fix the endpoint, raise the timeout, or remove health_check_id"
            ),
        )
    };
    ctx.gate(HEALTH_POLL, once, probe, not_healthy, "the health check", "the weight was not changed").await
}

/// One locked write, then the wait until Route 53's DNS servers answer with it (`INSYNC`).
async fn write(ctx: &Ctx<ShardData>, m: &Model, change: DnsChange, until: Instant) -> Result<Option<i64>, Diagnostics> {
    let aws = &ctx.data.aws;
    let edit = m.edit(change);
    let done = route53::edit_locked(aws, &ctx.cancel, &edit, until).await.map_err(dns_diag)?;
    if let Some(id) = &done.change_id {
        route53::wait_in_sync(aws, &ctx.cancel, id, &edit.describe(), until).await.map_err(dns_diag)?;
    }
    Ok(done.before)
}

/// Drives the record from its current weight to the model's along shard_weight's steps.
async fn converge(ctx: &Ctx<ShardData>, m: &Model, prior: Option<&Model>) -> Result<Outcome<Model>, Diagnostics> {
    let aws = &ctx.data.aws;
    // A ramp starts from the live weight; a single step from the refreshed prior state.
    let start = if m.ramp.is_some() {
        let found = route53::list_name(aws, &m.zone_id, &m.name, &m.rtype, deadline(ctx)).await.map_err(dns_diag)?;
        found
            .iter()
            .find(|r| r.set_identifier.as_deref() == Some(m.set_identifier.as_str()))
            .and_then(RecordSet::weight)
    } else {
        prior.map(|p| p.weight)
    };
    let clamp = |w: i64| i32::try_from(w).unwrap_or(i32::MAX);
    let course = Course {
        start: start.map(clamp),
        target: clamp(m.weight),
        ramp: m.ramp.as_ref().map(|r| (r.step, parse_duration(&r.interval).unwrap_or(Duration::ZERO))),
        min_healthy: i64::from(m.health_check_id.is_some()),
        drain_delay: m.drain_wait(),
        guard: None,
    };
    let mut steps = plan_steps(&course);
    // Only the target, the settings (records, alias, health check) changed: one write.
    if steps.is_empty() {
        steps.push(Step::Set(course.target));
    }
    let mut origin = start;
    let mut reached = start;
    let mut wrote = false;
    for step in &steps {
        let result: Result<(), Diagnostics> = match step {
            // Route 53 health checks do not depend on the record: nothing to join.
            Step::Join | Step::Guard | Step::Bake { .. } => Ok(()),
            Step::WaitHealthy { .. } | Step::CheckHealthy { .. } => match &m.health_check_id {
                Some(id) => gate(ctx, id, matches!(step, Step::CheckHealthy { .. })).await,
                None => Ok(()),
            },
            Step::Set(w) => match write(ctx, m, DnsChange::Set(i64::from(*w)), deadline(ctx)).await {
                Ok(before) => {
                    if !wrote {
                        origin = before;
                    }
                    wrote = true;
                    reached = Some(i64::from(*w));
                    Ok(())
                }
                Err(d) => Err(d),
            },
            Step::Pause(d) => ctx.sleep(*d).await.map_err(|i| {
                Diagnostics::error(
                    format!("Ramp {i}"),
                    format!(
                        "the weight stays at {}, the last completed step (target was {}); apply again to continue",
                        reached.unwrap_or(0),
                        m.weight
                    ),
                )
            }),
            // Only a record that was serving has resolvers to wait for.
            Step::Drain(d) if origin.unwrap_or(0) > 0 => {
                tracing::info!(wait = ?d, "waiting for resolvers to drop the record (TTL + drain_delay)");
                ctx.sleep(*d).await.map_err(|i| {
                    Diagnostics::error(
                        format!("Drain wait {i}"),
                        "the weight is 0; resolvers may still hand out the record until its TTL has passed",
                    )
                })
            }
            Step::Drain(_) => Ok(()),
        };
        let Err(why) = result else { continue };
        let origin32 = origin.map(clamp);
        return Ok(match recovery(step, origin32, wrote) {
            Recovery::NothingChanged => return Err(why),
            Recovery::KeepReached => Outcome::failed(reached.map(|w| m.at_weight(w)), why),
            Recovery::RollBackTo(to) => roll_back(ctx, m, to.map(i64::from), reached, why).await,
        });
    }
    // The share after the change: as planned, or (a create, or no refresh) read now.
    if m.traffic_share.is_unknown()
        && let Ok(found) = route53::list_name(aws, &m.zone_id, &m.name, &m.rtype, deadline(ctx)).await
        && let Ok(group) = records::weighted_group(&found, &m.name, &m.rtype)
    {
        let mut state = m.at_weight(m.weight);
        state.traffic_share = Attr::Known(share_text(share(
            m.weight,
            others_of(&group, &m.set_identifier).0,
            others_of(&group, &m.set_identifier).1,
        )));
        return Ok(Outcome::ok(state));
    }
    Ok(Outcome::ok(m.at_weight(m.weight)))
}

async fn roll_back(
    ctx: &Ctx<ShardData>,
    m: &Model,
    to: Option<i64>,
    reached: Option<i64>,
    why: Diagnostics,
) -> Outcome<Model> {
    let change = match to {
        Some(w) => DnsChange::Set(w),
        None => DnsChange::Remove,
    };
    let until = deadline(ctx).max(Instant::now() + ROLLBACK_BUDGET);
    let rolled = write(ctx, m, change, until).await;
    let report = roll_back_report(reached, to, rolled.is_ok());
    match rolled {
        Ok(_) => Outcome::failed(to.map(|w| m.at_weight(w)), report.and(why)),
        Err(e) => Outcome::failed(Some(m.at_weight(reached.unwrap_or(m.weight))), report.and(why).and(e)),
    }
}

/// The plan's share (after the change, from the other records as the refresh read them).
fn plan_share(req: &mut PlanRequest<Model>, m: &Model) {
    let Some((others_weight, others)) = req.private.get::<(i64, usize)>(OTHERS) else { return };
    if let Some(slot) = req.planned.get_mut("traffic_share") {
        *slot = Value::String(share_text(share(m.weight, others_weight, others)));
    }
}

/// Checks what needs several attributes: alias xor records, a TTL with records, values of the type.
fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let alias = config.get("alias");
    let recs = config.get("records");
    let rtype = config.get("type").as_str();
    let ttl = config.get("ttl");
    if alias.is_unknown() || recs.is_unknown() {
        return d;
    }
    match (alias.is_null(), recs.is_null()) {
        (true, true) => d.push_attr_error(
            AttrPath::attr("records"),
            "No target",
            "give either `records` (with `ttl`) or an `alias` block: what this shard's record answers with",
        ),
        (false, false) => d.push_attr_error(
            AttrPath::attr("alias"),
            "Alias and records together",
            "a record set is either an alias (to the shard's load balancer) or holds `records`, not both",
        ),
        (false, true) => {
            if !ttl.is_null() {
                d.push_attr_error(
                    AttrPath::attr("ttl"),
                    "TTL on an alias",
                    "Route 53 answers an alias with its target's TTL (60 s for a load balancer); remove `ttl`",
                );
            }
            if let Some(t) = rtype
                && !["A", "AAAA", "CNAME"].contains(&t)
            {
                d.push_attr_error(
                    AttrPath::attr("type"),
                    "Alias of this type",
                    format!("an alias to a load balancer is of type A, AAAA or CNAME, not {t}"),
                );
            }
        }
        (true, false) => {
            if ttl.is_null() {
                d.push_attr_error(
                    AttrPath::attr("ttl"),
                    "No TTL",
                    "records need a `ttl` (seconds resolvers may cache them; it is also how long a drain waits)",
                );
            }
            if let Value::List(items) | Value::Set(items) = recs {
                if items.is_empty() {
                    d.push_attr_error(AttrPath::attr("records"), "No records", "give at least one value");
                }
                if rtype == Some("CNAME") && items.len() > 1 {
                    d.push_attr_error(
                        AttrPath::attr("records"),
                        "CNAME with several values",
                        "a CNAME record holds exactly one value",
                    );
                }
                if let Some(t) = rtype {
                    for (i, v) in items.iter().enumerate() {
                        if let Some(s) = v.as_str()
                            && let Err(e) = validate_value(t, s)
                        {
                            d.push_attr_error(
                                AttrPath::attr("records").index(i),
                                "Invalid record value",
                                format!("{e} (a {t} record)"),
                            );
                        }
                    }
                }
            }
        }
    }
    d
}

#[async_trait]
impl Resource<ShardData> for DnsWeightResource {
    type Model = Model;

    fn name(&self) -> &'static str {
        "dns_weight"
    }

    fn default_timeout(&self, _op: Op) -> Duration {
        DEFAULT_TIMEOUT
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "This shard's weighted record set in Route 53 (`set_identifier` = the shard) for a name shared by every \
             shard: an alias to the shard's own load balancer, or plain records. Each shard's Terraform directory owns \
             only its own record set; writes are serialised across processes and machines by a lock record beside the \
             name (`_shard-lock.<name>`, TXT) and checked against the other shards' records under it.",
            vec![
                Attribute::string("id").computed().use_state_for_unknown().description("`<zone_id>/<name>/<type>/<set_identifier>`; also the import id."),
                Attribute::string("zone_id")
                    .required()
                    .requires_replace()
                    .validate(validators::string(validate_zone_id))
                    .description("The hosted zone's id (e.g. `Z0123456789ABCDEFGHIJ`, without `/hostedzone/`). Changing it forces replacement."),
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .validate(validators::string(validate_name))
                    .description("The record name every shard shares, e.g. `api.example.com`. Changing it forces replacement."),
                Attribute::string("type")
                    .required()
                    .requires_replace()
                    .validate(validators::one_of(TYPES))
                    .description("The record type: `A`, `AAAA` or `CNAME` for an alias; any of `A`, `AAAA`, `CNAME`, `TXT`, `MX`, `SRV`, `CAA`, `PTR`, `NAPTR`, `SPF`, `DS` with records. Changing it forces replacement."),
                Attribute::string("set_identifier")
                    .required()
                    .requires_replace()
                    .validate(validators::string(validate_set_identifier))
                    .description("This shard's name in the weighted group (1..128 characters, no `/`), e.g. `shard-2`. Changing it forces replacement."),
                Attribute::number("weight")
                    .required()
                    .validate(validators::int_between(0, records::MAX_WEIGHT))
                    .description("Weight in the group, 0..255. 0 takes the shard out of the answers (unless every record is 0: Route 53 then answers with all of them equally, see `allow_all_zero`)."),
                Attribute::number("ttl")
                    .optional()
                    .validate(validators::int_between(0, 2_147_483_647))
                    .description("Seconds resolvers may cache `records` (required with them; not with an `alias`, which has its target's TTL). A drain waits this long plus `drain_delay`."),
                Attribute::new("records", Type::list(Type::String))
                    .optional()
                    .description("The values this shard answers with (e.g. the shard's IP addresses; one value for a CNAME). Either this or `alias`."),
                Attribute::string("health_check_id")
                    .optional()
                    .validate(validators::string(validate_health_check_id))
                    .description("A Route 53 health check of this shard: Route 53 leaves the record out of answers while it fails; before raising the weight from 0 the apply waits until it is healthy, and during a `ramp` every later step up checks it once."),
                Attribute::bool("allow_all_zero")
                    .default(false)
                    .description("Allow a change after which every weighted record of the name has weight 0 (Route 53 then answers with all of them equally, drained shards included); otherwise it is refused, at plan time when it can be seen then, and always under the lock before writing. Default: `false`."),
                Attribute::string("drain_delay")
                    .default("5s")
                    .validate(validators::duration())
                    .description("After lowering the weight to 0 (or removing the record on destroy) from a serving weight and the change being `INSYNC`, wait the record's TTL (60 s for an alias to a load balancer) plus this long before the apply completes, so resolvers have moved on. Default: `5s`."),
                Attribute::string("on_destroy")
                    .default("remove")
                    .validate(validators::one_of(&["remove", "zero", "retain"]))
                    .description("On destroy: delete the record set (`remove`), set its weight to 0 (`zero`), or touch nothing (`retain`). Default: `remove`."),
                Attribute::string("traffic_share")
                    .computed()
                    .description("This record's share of the name's answers (its weight over the group's total; an equal share when all are 0), e.g. `33.3%`. A plan that changes `weight` shows the share after the change, from the other records as the refresh read them; a create's is known after apply. Route 53 also leaves out records whose health check fails, which this share does not."),
            ],
        )
        .with_block(NestedBlock::single(
            "alias",
            "Answer with an alias to the shard's load balancer (or another AWS resource) instead of `records`.",
            vec![
                Attribute::string("dns_name").required().validate(validators::string(validate_name)).description("The target's DNS name, e.g. the ALB's `dns_name`."),
                Attribute::string("zone_id").required().validate(validators::string(validate_zone_id)).description("The target's hosted zone id, e.g. the ALB's `zone_id` (not this record's zone)."),
                Attribute::bool("evaluate_target_health").default(true).description("Leave this record out of answers while the target is unhealthy (for an ALB: while no target group of it has a healthy target). Default: `true`."),
            ],
        ))
        .with_block(NestedBlock::single(
            "ramp",
            "Move from the current weight to `weight` in steps, each one `INSYNC` before the next, re-checking the health check (if any) before each step up.",
            vec![
                Attribute::number("step").required().validate(validators::int_between(1, records::MAX_WEIGHT)).description("Weight change per step, 1..255."),
                Attribute::string("interval").required().validate(validators::duration()).description("Wait between steps, e.g. \"60s\" (give resolvers a TTL to follow each step)."),
            ],
        ))
        .with_block(NestedBlock::single(
            "fleet_guard",
            "Guard the fleet when this shard is taken out of the answers (weight to 0, or removed on destroy) from a serving weight: checked at plan and again under the DNS lock before the write, on the records as they are then, so two directories draining at the same time cannot both pass. A record counts as serving when its weight is above 0 and its health check (if it has one) is healthy. Needs `route53:GetHealthCheckStatus`.",
            vec![
                Attribute::number("min_serving")
                    .default(1)
                    .validate(validators::int_between(0, 100))
                    .description("Refuse a drain that would leave fewer than this many other records of the name serving. Default: `1`."),
                Attribute::string("override_reason")
                    .optional()
                    .validate(validators::string(fleet::validate_note))
                    .description("Break glass: the drain goes through although the guard refuses it (the plan warns, with the refusal). Remove it once the incident is over."),
            ],
        ))
        .with_block(timeouts_block_with_defaults(&[Op::Create, Op::Update, Op::Delete], |op| self.default_timeout(op)))
    }

    fn identity(&self) -> Option<IdentitySchema> {
        Some(IdentitySchema {
            version: 0,
            attributes: vec![
                IdentityAttribute::string("zone_id", true, "The hosted zone."),
                IdentityAttribute::string("name", true, "The record name."),
                IdentityAttribute::string("type", true, "The record type."),
                IdentityAttribute::string("set_identifier", true, "This shard's set identifier."),
            ],
        })
    }

    fn import_id(&self, identity: &Value) -> Result<String, Diagnostics> {
        let get = |name: &str| identity.get(name).as_str().map(str::to_string);
        let (Some(z), Some(n), Some(t), Some(s)) = (get("zone_id"), get("name"), get("type"), get("set_identifier"))
        else {
            return Err(Diagnostics::error(
                "Incomplete identity",
                "zone_id, name, type and set_identifier are required",
            ));
        };
        Ok(resource_id(&z, &n, &t, &s))
    }

    async fn validate(&self, req: &ValidateRequest) -> Diagnostics {
        validate_config(&req.config)
    }

    async fn modify_plan(&self, ctx: &Ctx<ShardData>, req: &mut PlanRequest<Model>) {
        let Some(m) = req.planned_model() else { return };
        let prior_id = req.prior.as_ref().map(Model::id);
        if self.claims.duplicate(&m.id(), prior_id.as_deref()) {
            req.diags.push_attr_error(
                AttrPath::attr("set_identifier"),
                "Duplicate shard_dns_weight",
                format!(
                    "another shard_dns_weight in this configuration also manages the record set {}; exactly one \
                     resource may own a shard's weighted record",
                    m.id()
                ),
            );
            return;
        }
        if !ctx.data.aws.settings().unknown.is_empty() {
            return;
        }
        let prior = req.prior.clone();
        let creating = prior.is_none();
        let lowering_to_zero = m.weight == 0 && prior.as_ref().is_none_or(|p| p.weight != 0);
        if !creating && !lowering_to_zero {
            if prior.as_ref().is_some_and(|p| p.weight != m.weight) {
                plan_share(req, &m);
            }
            return;
        }
        // Creating, or a drain: check the group as it is now (again under the lock at apply).
        let aws = &ctx.data.aws;
        let found = match route53::list_name(aws, &m.zone_id, &m.name, &m.rtype, deadline(ctx)).await {
            Ok(f) => f,
            Err(e) => return req.diags.extend(dns_diag(e)),
        };
        let group = match records::weighted_group(&found, &m.name, &m.rtype) {
            Ok(g) => g,
            Err(e) => return req.diags.extend(dns_diag(e.into())),
        };
        // The fleet guard first (it names the serving shards), then the all-zero rule.
        let edit = |allow_all_zero: bool| {
            records::edit_group(&group, &m.set_identifier, DnsChange::Set(m.weight), allow_all_zero, &m.name, &m.rtype)
        };
        let next = match edit(true) {
            Ok(n) => n,
            Err(e) => return req.diags.extend(dns_diag(e.into())),
        };
        let before = group.iter().find(|g| g.set_identifier == m.set_identifier).map(|g| g.weight);
        if let Some(g) = &m.fleet_guard
            && fleet::is_drain(before.map(|w| w as i32), Some(0))
        {
            let view = match route53::observe(aws, &next, &m.set_identifier).await {
                Ok(v) => v,
                Err(e) => return req.diags.extend(dns_diag(e)),
            };
            let guard = FleetGuard {
                min_serving: g.min_serving,
                max_drained: None,
                contact: None,
                override_reason: g.override_reason.clone(),
            };
            let owner = format!("{} {}", m.name, m.rtype);
            let now = i64::try_from(aws.clock().now_unix()).unwrap_or(i64::MAX);
            if let Err(refusal) = fleet::check(&guard, &owner, &m.set_identifier, &records::as_fleet(&next), &view, now)
            {
                match &g.override_reason {
                    None => return req.diags.extend(dns_diag(refusal.into())),
                    Some(why) => req.diags.push_attr_warning(
                        AttrPath::attr("fleet_guard").then("override_reason"),
                        "Fleet guard overridden",
                        format!("this drain goes through although the fleet guard refuses it (override_reason: {why}): {refusal}"),
                    ),
                }
            }
        }
        if let Err(e) = edit(m.allow_all_zero) {
            return req.diags.extend(dns_diag(e.into()));
        }
        if !creating {
            plan_share(req, &m);
        }
    }

    async fn create(&self, ctx: &Ctx<ShardData>, req: CreateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, None).await
    }

    async fn read(&self, ctx: &Ctx<ShardData>, req: ReadRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        let m = req.state;
        let found =
            route53::list_name(&ctx.data.aws, &m.zone_id, &m.name, &m.rtype, deadline(ctx)).await.map_err(dns_diag)?;
        let Some(ours) = found.iter().find(|r| r.set_identifier.as_deref() == Some(m.set_identifier.as_str())) else {
            return Ok(Outcome::gone());
        };
        let group = records::weighted_group(&found, &m.name, &m.rtype).map_err(|e| dns_diag(e.into()))?;
        let Some(weight) = ours.weight() else {
            return Err(dns_diag(Route53Error::Routing(records::RoutingError::OtherPolicy {
                name: m.name.clone(),
                rtype: m.rtype.clone(),
                policy: "another",
                set_identifier: m.set_identifier.clone(),
            })));
        };
        let others = others_of(&group, &m.set_identifier);
        let mut private = req.private;
        private.set(OTHERS, &others);
        Ok(Outcome::ok(m.read_from(ours, weight, others)).with_private(private))
    }

    async fn update(&self, ctx: &Ctx<ShardData>, req: UpdateRequest<Model>) -> Result<Outcome<Model>, Diagnostics> {
        converge(ctx, &req.planned, Some(&req.prior)).await
    }

    async fn delete(&self, ctx: &Ctx<ShardData>, req: DeleteRequest<Model>) -> Result<(), Diagnostics> {
        let m = req.state;
        let change = match m.on_destroy {
            OnDestroy::Retain => return Ok(()),
            OnDestroy::Zero => DnsChange::Set(0),
            OnDestroy::Remove => DnsChange::Remove,
        };
        let before = write(ctx, &m, change, deadline(ctx)).await?;
        if before.unwrap_or(0) > 0
            && let Err(i) = ctx.sleep(m.drain_wait()).await
        {
            ctx.warn(
                format!("Drain wait {i}"),
                "the record is out of the answers; resolvers may still hand it out until its TTL has passed",
            );
        }
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<ShardData>, req: ImportRequest) -> Result<Outcome<Model>, Diagnostics> {
        let (zone_id, name, rtype, set_identifier) =
            parse_import_id(&req.id).map_err(|e| Diagnostics::error("Invalid import id", e))?;
        let found =
            route53::list_name(&ctx.data.aws, &zone_id, &name, &rtype, deadline(ctx)).await.map_err(dns_diag)?;
        // A simple record or another routing policy is named first: that is why ours is not there.
        let group = records::weighted_group(&found, &name, &rtype).map_err(|e| dns_diag(e.into()))?;
        let Some(ours) = found.iter().find(|r| r.set_identifier.as_deref() == Some(set_identifier.as_str())) else {
            let present: Vec<&str> = found.iter().filter_map(|r| r.set_identifier.as_deref()).collect();
            return Err(Diagnostics::error(
                "Cannot import: no such record set",
                format!(
                    "{name} {rtype} in hosted zone {zone_id} has no record set {set_identifier:?}; it has {}",
                    if present.is_empty() { "none with a set identifier".to_string() } else { present.join(", ") }
                ),
            ));
        };
        let weight = ours.weight().unwrap_or(0);
        let m = Model {
            id: Attr::Known(resource_id(&zone_id, &name, &rtype, &set_identifier)),
            zone_id,
            name,
            rtype,
            set_identifier: set_identifier.clone(),
            weight,
            ttl: None,
            records: None,
            alias: None,
            health_check_id: None,
            allow_all_zero: false,
            drain_delay: "5s".into(),
            on_destroy: OnDestroy::Remove,
            ramp: None,
            fleet_guard: None,
            traffic_share: Attr::Null,
            timeouts: None,
        };
        Ok(Outcome::ok(m.read_from(ours, weight, others_of(&group, &set_identifier))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_split_into_four_checked_parts() {
        assert_eq!(
            parse_import_id("Z0123/api.example.com/A/shard-1").unwrap(),
            ("Z0123".into(), "api.example.com".into(), "A".into(), "shard-1".into())
        );
        for (bad, says) in [
            ("Z0123/api.example.com/A", "expected `<zone_id>/<name>/<type>/<set_identifier>`"),
            ("z0123/api.example.com/A/s", "zone id"),
            ("Z0123/a..b/A/s", "name"),
            ("Z0123/api.example.com/NS/s", "type \"NS\""),
            ("Z0123/api.example.com/A/", "set identifier must not be empty"),
            ("Z0123/api.example.com/A/a/b", "must not contain '/'"),
        ] {
            let e = parse_import_id(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(resource_id("Z1", "a.example.com", "A", "s"), "Z1/a.example.com/A/s");
    }

    fn config(pairs: &[(&str, Value)]) -> Value {
        let mut m: std::collections::BTreeMap<String, Value> =
            ["alias", "records", "ttl", "type"].iter().map(|k| (k.to_string(), Value::Null)).collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.clone());
        }
        Value::Object(m)
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter().map(|x| format!("{:?}", x.path)).collect()
    }

    #[test]
    fn a_record_is_an_alias_or_values_with_a_ttl_never_both_or_neither() {
        let alias = Value::Object([("dns_name".to_string(), Value::str("lb.example.com"))].into());
        let set = |vals: &[&str]| Value::Set(vals.iter().map(|v| Value::str(*v)).collect());
        let t = |s: &str| Value::str(s);
        let cases: Vec<(Value, usize, &str)> = vec![
            (config(&[("type", t("A")), ("records", set(&["10.0.0.1"])), ("ttl", Value::int(60))]), 0, ""),
            (config(&[("type", t("A")), ("alias", alias.clone())]), 0, ""),
            (config(&[("type", t("A"))]), 1, "records"),
            (config(&[("type", t("A")), ("alias", alias.clone()), ("records", set(&["10.0.0.1"]))]), 1, "alias"),
            (config(&[("type", t("A")), ("alias", alias.clone()), ("ttl", Value::int(60))]), 1, "ttl"),
            (config(&[("type", t("TXT")), ("alias", alias.clone())]), 1, "type"),
            (config(&[("type", t("A")), ("records", set(&["10.0.0.1"]))]), 1, "ttl"),
            (config(&[("type", t("A")), ("records", set(&["nope"])), ("ttl", Value::int(1))]), 1, "records"),
            (
                config(&[
                    ("type", t("CNAME")),
                    ("records", set(&["a.example.com", "b.example.com"])),
                    ("ttl", Value::int(1)),
                ]),
                1,
                "records",
            ),
            (config(&[("type", t("A")), ("records", set(&[])), ("ttl", Value::int(1))]), 1, "records"),
            (config(&[("type", t("A")), ("records", Value::Unknown)]), 0, "unknown passes"),
        ];
        for (c, n, at) in cases {
            let d = validate_config(&c);
            assert_eq!(d.0.len(), n, "{c:?}: {:?}", paths(&d));
            if n > 0 {
                assert!(paths(&d)[0].contains(at), "{c:?}: {:?}", paths(&d));
            }
        }
    }
}
