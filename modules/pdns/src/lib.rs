//! The `pdns` module: zones and records of a PowerDNS authoritative server, managed through
//! its HTTP API. Ships the model, declares `pdns::Zone` and `pdns::Record` with the fields
//! computed at export (names made absolute and checked, a record's TTL defaulting to its
//! zone's) and deploys them ([`handler`]) over the API ([`api`]).
//!
//! Resource ids: `pdns::Zone[ENDPOINT,name=example.org.]` and
//! `pdns::Record[ENDPOINT,id=example.org.:www.example.org.:A]` (zone, name, type), the agent
//! being the API endpoint (`http://127.0.0.1:8081`). The API key comes from the agent's
//! environment ([`api::KeySource`]), never from the model.

pub mod api;
pub mod handler;
pub mod names;

use api::{Api, KeySource};
use cairn_compiler::export::view::{FieldCtx, FieldError, Obj};
use cairn_compiler::export::{JsonValue, ResourceDecl};
use cairn_module::{ModelFile, Module, ResourceType};
use std::sync::Arc;

/// The module, its handlers taking the API key from the agent's environment.
pub fn module() -> Module {
    module_with_keys(KeySource::Environment)
}

/// The module, its handlers taking the API key from `keys`.
pub fn module_with_keys(keys: KeySource) -> Module {
    let api = Arc::new(Api::new(keys));
    let mut record = ResourceDecl::new("pdns::Record", "zone.api", "id", &["zone", "name", "type", "ttl", "records", "server"])
        .with_computed_agent(|ctx| zone_of(ctx.this()).and_then(agent_of))
        .computed("id", record_id)
        .computed("zone", |ctx| zone_of(ctx.this()).and_then(zone_name).map(JsonValue::Str))
        .computed("name", |ctx| record_name(ctx.this()).map(JsonValue::Str))
        .computed("type", |ctx| record_type(ctx.this()).map(JsonValue::Str))
        .computed("ttl", record_ttl)
        .computed("records", |ctx| string_list(ctx.this(), "records", |s| Ok(s.trim().to_string())))
        .computed("server", |ctx| zone_of(ctx.this()).and_then(|zone| string(zone, "server")).map(JsonValue::Str));
    // The id is made of the zone, the name and the type, which are fields of their own.
    record.id_field_hidden = true;
    Module {
        name: "pdns",
        model: vec![ModelFile { namespace: "pdns", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: cairn_module::no_plugins,
        resources: vec![
            ResourceType::new(
                ResourceDecl::new("pdns::Zone", "api", "name", &["kind", "nameservers", "masters", "soa_edit_api", "ttl", "server"])
                    .with_computed_agent(|ctx| agent_of(ctx.this()))
                    .computed("name", |ctx| zone_name(ctx.this()).map(JsonValue::Str))
                    .computed("nameservers", |ctx| string_list(ctx.this(), "nameservers", |s| names::absolute(s, "nameserver")))
                    .computed("masters", |ctx| string_list(ctx.this(), "masters", |s| Ok(s.trim().to_string()))),
                Arc::new(handler::ZoneHandler { api: api.clone() }),
            ),
            ResourceType::new(record, Arc::new(handler::RecordHandler { api })),
        ],
        dependency_managers: Vec::new(),
    }
}

fn string(this: Obj<'_>, name: &str) -> Result<String, FieldError> {
    let attr = this.get(name);
    if attr.is_unknown() {
        return Err(FieldError::Unknown);
    }
    attr.as_str().map(str::to_string).ok_or_else(|| FieldError::Failed(format!("{} has no string `{name}`", this.entity())))
}

fn zone_of(this: Obj<'_>) -> Result<Obj<'_>, FieldError> {
    if this.get("zone").is_unknown() {
        return Err(FieldError::Unknown);
    }
    this.relation("zone").ok_or_else(|| FieldError::Failed("the record has no zone".into()))
}

/// The agent of a zone: its API endpoint.
fn agent_of(zone: Obj<'_>) -> Result<JsonValue, FieldError> {
    let api = string(zone, "api")?;
    api::endpoint(&api).map(JsonValue::Str).map_err(FieldError::Failed)
}

fn zone_name(zone: Obj<'_>) -> Result<String, FieldError> {
    names::absolute(&string(zone, "name")?, "zone name").map_err(FieldError::Failed)
}

fn record_name(this: Obj<'_>) -> Result<String, FieldError> {
    let zone = zone_name(zone_of(this)?)?;
    names::in_zone(&string(this, "name")?, &zone).map_err(FieldError::Failed)
}

fn record_type(this: Obj<'_>) -> Result<String, FieldError> {
    names::record_type(&string(this, "type")?).map_err(FieldError::Failed)
}

fn record_id(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let zone = zone_name(zone_of(this)?)?;
    Ok(JsonValue::Str(format!("{zone}:{}:{}", record_name(this)?, record_type(this)?)))
}

/// The record's own TTL, else its zone's.
fn record_ttl(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let own = this.get("ttl");
    if own.is_unknown() {
        return Err(FieldError::Unknown);
    }
    if let Some(ttl) = own.as_int() {
        return Ok(JsonValue::Int(ttl));
    }
    let zone = zone_of(this)?;
    let inherited = zone.get("ttl");
    if inherited.is_unknown() {
        return Err(FieldError::Unknown);
    }
    Ok(JsonValue::Int(inherited.as_int().unwrap_or(handler::DEFAULT_TTL)))
}

/// A list of strings, each mapped by `each`, sorted and without duplicates (order does not
/// matter to DNS, and a sorted list hashes the same however the model wrote it).
fn string_list(this: Obj<'_>, name: &str, each: impl Fn(&str) -> Result<String, String>) -> Result<JsonValue, FieldError> {
    let attr = this.get(name);
    if attr.is_unknown() {
        return Err(FieldError::Unknown);
    }
    let mut items = Vec::new();
    match this.json_attr(attr) {
        JsonValue::List(values) => {
            for value in values {
                match value {
                    JsonValue::Str(text) => items.push(each(&text).map_err(FieldError::Failed)?),
                    _ => return Err(FieldError::Failed(format!("`{name}` of {} holds something that is not a string", this.entity()))),
                }
            }
        }
        JsonValue::Null => {}
        _ => return Err(FieldError::Failed(format!("`{name}` of {} is not a list", this.entity()))),
    }
    items.sort();
    items.dedup();
    Ok(JsonValue::List(items.into_iter().map(JsonValue::Str).collect()))
}
