//! `shard_dns_records`: a name's weighted record sets in Route 53, each with its weight and its
//! share of the answers, as `shard_dns_weight` sees them.

use crate::clients::ShardData;
use crate::clients::forward::share_text;
use crate::clients::route53;
use crate::clients::route53_records::{self as records, validate_name, validate_zone_id};
use crate::framework::schema::{Attribute, Nesting, validators};
use crate::framework::{AttrPath, Ctx, DataSource, Diagnostics, Schema};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct DnsRecordsDataSource;

#[derive(Debug, Deserialize)]
pub struct Config {
    zone_id: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub zone_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub records: Vec<RecordState>,
    pub total_weight: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordState {
    pub set_identifier: String,
    pub weight: i64,
    pub traffic_share: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub alias_dns_name: Option<String>,
    pub health_check_id: Option<String>,
}

/// The state for a name's record sets (already checked to be one weighted group).
pub fn state_of(
    zone_id: String,
    name: String,
    rtype: String,
    found: &[records::RecordSet],
    group: &[records::Member],
) -> State {
    let shares = records::shares(group);
    let records = group
        .iter()
        .zip(shares)
        .map(|(m, s)| {
            let r = found.iter().find(|r| r.set_identifier.as_deref() == Some(m.set_identifier.as_str()));
            RecordState {
                set_identifier: m.set_identifier.clone(),
                weight: m.weight,
                traffic_share: share_text(s),
                ttl: r.and_then(|r| r.ttl),
                values: r.map(|r| r.values.clone()).unwrap_or_default(),
                alias_dns_name: r.and_then(|r| r.alias.as_ref()).map(|a| a.dns_name.trim_end_matches('.').to_string()),
                health_check_id: m.health_check_id.clone(),
            }
        })
        .collect();
    State { zone_id, name, rtype, records, total_weight: group.iter().map(|m| m.weight.max(0)).sum() }
}

#[async_trait]
impl DataSource<ShardData> for DnsRecordsDataSource {
    type Config = Config;
    type State = State;

    fn name(&self) -> &'static str {
        "dns_records"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            "Reads a name's weighted record sets in a Route 53 hosted zone: each shard's set identifier with its \
             weight and share of the answers. A name whose records are simple or use another routing policy is an error.",
            vec![
                Attribute::string("zone_id")
                    .required()
                    .validate(validators::string(validate_zone_id))
                    .description("The hosted zone's id (without `/hostedzone/`)."),
                Attribute::string("name")
                    .required()
                    .validate(validators::string(validate_name))
                    .description("The record name, e.g. `api.example.com`."),
                Attribute::string("type")
                    .required()
                    .validate(validators::non_empty())
                    .description("The record type, e.g. `A`."),
                Attribute::nested(
                    "records",
                    Nesting::List,
                    vec![
                        Attribute::string("set_identifier").computed().description("The shard's set identifier."),
                        Attribute::number("weight").computed().description("Its weight, 0..255."),
                        Attribute::string("traffic_share").computed().description("Its share of the answers (weight over the total; equal shares when every weight is 0), e.g. `33.3%`, as `shard_dns_weight.traffic_share` shows it."),
                        Attribute::number("ttl").computed().description("The TTL of plain records; null for an alias."),
                        Attribute::new("values", crate::protocol::value::Type::list(crate::protocol::value::Type::String)).computed().description("The values of plain records; empty for an alias."),
                        Attribute::string("alias_dns_name").computed().description("The alias target's DNS name; null for plain records."),
                        Attribute::string("health_check_id").computed().description("The record's health check; null without one."),
                    ],
                )
                .computed()
                .description("The weighted record sets of the name and type, in Route 53's order."),
                Attribute::number("total_weight").computed().description("Sum of all weights; 0 means Route 53 answers with every record equally."),
            ],
        )
    }

    async fn read(&self, ctx: &Ctx<ShardData>, config: Config) -> Result<State, Diagnostics> {
        let deadline = ctx.deadline().into_std();
        let found = route53::list_name(&ctx.data.aws, &config.zone_id, &config.name, &config.rtype, deadline)
            .await
            .map_err(|e| Diagnostics::error("Route 53 records could not be read", e.to_string()))?;
        let group = records::weighted_group(&found, &config.name, &config.rtype)
            .map_err(|e| Diagnostics::attr_error(AttrPath::attr("name"), "Not a weighted record", e.to_string()))?;
        Ok(state_of(config.zone_id, config.name, config.rtype, &found, &group))
    }
}
