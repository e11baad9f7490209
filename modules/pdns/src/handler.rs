//! The handlers of `pdns::Zone` and `pdns::Record`, over the PowerDNS API ([`crate::api`]).
//!
//! A zone is read with `GET /api/v1/servers/SERVER/zones/ZONE` (404: absent) and compared on
//! `kind`, `nameservers` (the apex NS record set) and its `ttl`, `masters` and
//! `soa_edit_api`; it is
//! created with `POST .../zones` (201), changed with `PUT .../zones/ZONE` (kind, masters,
//! soa_edit_api) and a `PATCH` of its apex NS record set, and purged with `DELETE` (204). Its
//! serial is its fact `serial`.
//!
//! A record is one record set (name and type), read from its zone (asking for that set only,
//! which PowerDNS 4.8 and later honour; the set is picked out either way) and compared on
//! `ttl` and `records` (as a set: order does not matter). It is written with a `PATCH` of the
//! zone (`changetype` REPLACE, 204) and purged with a `PATCH` DELETE. After a write the set is
//! read back: PowerDNS keeps some contents in a canonical form of its own, and a model that
//! writes another form would otherwise be "changed" at every deploy, so that is reported.
//! An answer PowerDNS refuses (422: an unknown type, content it cannot parse) fails the
//! record with PowerDNS's message; the other records deploy as usual.

use crate::api::{endpoint, server_id, Api};
use crate::names;
use cairn_agent::{Context, Fields, Handler, HandlerError};
use cairn_wire::{Change, ResourceDoc};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// TTL of record sets that give none (and of the apex NS set).
pub const DEFAULT_TTL: i64 = 3600;

fn fail(message: String) -> HandlerError {
    HandlerError::new(message)
}

/// The sorted strings of a list attribute.
fn string_list(value: Option<&Value>) -> Vec<String> {
    let mut items: Vec<String> = value.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect()).unwrap_or_default();
    items.sort();
    items.dedup();
    items
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Compares `want` with `have` field by field (purging and creation as the default diff).
fn compare(purged: bool, want: &Fields, current: Option<&Fields>) -> Vec<Change> {
    match (purged, current) {
        (true, None) => Vec::new(),
        (true, Some(_)) => vec![Change { field: "purged".into(), current: Value::Bool(false), desired: Value::Bool(true) }],
        (false, None) => std::iter::once(Change { field: "purged".into(), current: Value::Bool(true), desired: Value::Bool(false) })
            .chain(want.iter().map(|(field, value)| Change { field: field.clone(), current: Value::Null, desired: value.clone() }))
            .collect(),
        (false, Some(have)) => want
            .iter()
            .filter_map(|(field, value)| {
                let current = have.get(field).cloned().unwrap_or(Value::Null);
                (current != *value).then(|| Change { field: field.clone(), current, desired: value.clone() })
            })
            .collect(),
    }
}

/// Where a zone lives and what it is called, checked.
struct ZoneRef {
    endpoint: String,
    server: String,
    name: String,
}

impl ZoneRef {
    fn of(desired: &ResourceDoc, attribute: &str) -> Result<ZoneRef, HandlerError> {
        let endpoint = endpoint(&desired.agent).map_err(fail)?;
        let server = server_id(desired.str_attr("server").unwrap_or("localhost")).map_err(fail)?.to_string();
        let name = names::absolute(desired.str_attr(attribute).unwrap_or_default(), "zone name").map_err(fail)?;
        Ok(ZoneRef { endpoint, server, name })
    }

    fn zones(&self) -> String {
        format!("/api/v1/servers/{}/zones", self.server)
    }

    fn path(&self) -> String {
        format!("/api/v1/servers/{}/zones/{}", self.server, self.name)
    }

    /// The zone as PowerDNS has it (with the record sets `query` asks for), `None` if absent.
    fn get(&self, api: &Api, query: &str) -> Result<Option<Value>, HandlerError> {
        let reply = api.call(&self.endpoint, Method::GET, &format!("{}{query}", self.path()), None)?;
        match reply.status {
            200 => reply.json().map(Some),
            404 => Ok(None),
            // Older versions answer 422 "Could not find domain" for a zone that is not there.
            422 if reply.error_text().contains("Could not find domain") => Ok(None),
            _ => Err(api.unexpected(&format!("reading the zone {}", self.name), &self.endpoint, &reply)),
        }
    }

    /// Sends a PATCH of record sets to the zone (204 expected).
    fn patch(&self, api: &Api, rrsets: Value, what: &str) -> Result<(), HandlerError> {
        let body = json!({ "rrsets": rrsets });
        let reply = api.call(&self.endpoint, Method::PATCH, &self.path(), Some(&body))?;
        match reply.status {
            200 | 204 => Ok(()),
            _ => Err(api.unexpected(what, &self.endpoint, &reply)),
        }
    }
}

/// The contents of the enabled records of the set `name`/`kind` of a zone as GET returns it.
fn rrset<'z>(zone: &'z Value, name: &str, kind: &str) -> Option<&'z Value> {
    zone.get("rrsets")?.as_array()?.iter().find(|set| {
        set.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))
            && set.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

fn contents(set: &Value) -> Vec<String> {
    let mut items: Vec<String> = set
        .get("records")
        .and_then(Value::as_array)
        .map(|records| {
            records
                .iter()
                .filter(|r| !r.get("disabled").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|r| r.get("content").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    items
}

/// `pdns::Zone`.
pub struct ZoneHandler {
    pub api: Arc<Api>,
}

impl ZoneHandler {
    fn want(desired: &ResourceDoc) -> Result<Fields, HandlerError> {
        let mut fields = Fields::new();
        fields.insert("kind".into(), Value::from(desired.str_attr("kind").unwrap_or("Native")));
        let mut nameservers = Vec::new();
        for ns in string_list(desired.attr("nameservers")) {
            nameservers.push(names::absolute(&ns, "nameserver").map_err(fail)?);
        }
        nameservers.sort();
        nameservers.dedup();
        // The TTL of the apex NS set, when the zone has one.
        if !nameservers.is_empty() {
            fields.insert("ttl".into(), Value::from(Self::ttl(desired)));
        }
        fields.insert("nameservers".into(), strings(nameservers));
        fields.insert("masters".into(), strings(string_list(desired.attr("masters"))));
        fields.insert("soa_edit_api".into(), Value::from(desired.str_attr("soa_edit_api").unwrap_or("DEFAULT")));
        Ok(fields)
    }

    fn ttl(desired: &ResourceDoc) -> i64 {
        desired.attr("ttl").and_then(Value::as_i64).unwrap_or(DEFAULT_TTL)
    }
}

impl Handler for ZoneHandler {
    fn fields(&self) -> &[&str] {
        &["kind", "nameservers", "ttl", "masters", "soa_edit_api"]
    }

    fn check(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        ZoneRef::of(desired, "name")?;
        Self::want(desired)?;
        Ok(())
    }

    fn read(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let zone = ZoneRef::of(desired, "name")?;
        // Only the apex NS set is needed (PowerDNS 4.8+ sends only it; older send all).
        let query = format!("?rrset_name={}&rrset_type=NS", zone.name);
        let Some(found) = zone.get(&self.api, &query)? else { return Ok(None) };
        let mut fields = Fields::new();
        fields.insert("kind".into(), found.get("kind").cloned().unwrap_or(Value::Null));
        let ns = rrset(&found, &zone.name, "NS");
        let nameservers = ns.map(contents).unwrap_or_default();
        if !nameservers.is_empty() {
            fields.insert("ttl".into(), ns.and_then(|set| set.get("ttl")).cloned().unwrap_or(Value::Null));
        }
        fields.insert("nameservers".into(), strings(nameservers.iter().map(|n| n.to_ascii_lowercase()).collect()));
        fields.insert("masters".into(), strings(string_list(found.get("masters"))));
        fields.insert("soa_edit_api".into(), found.get("soa_edit_api").cloned().unwrap_or(Value::from("")));
        Ok(Some(fields))
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        match Self::want(desired) {
            Ok(want) => compare(desired.purged(), &want, current),
            // check() refuses such a document before anything is read.
            Err(_) => Vec::new(),
        }
    }

    fn apply(&self, _cx: &Context<'_>, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let zone = ZoneRef::of(desired, "name")?;
        let api = &self.api;
        if desired.purged() {
            let reply = api.call(&zone.endpoint, Method::DELETE, &zone.path(), None)?;
            return match reply.status {
                200 | 204 | 404 => Ok(()),
                _ => Err(api.unexpected(&format!("deleting the zone {}", zone.name), &zone.endpoint, &reply)),
            };
        }
        let want = Self::want(desired)?;
        let field = |name: &str| want.get(name).cloned().unwrap_or(Value::Null);
        if current.is_none() {
            // The apex NS set is given as a record set (not as `nameservers`) to have the
            // zone's TTL rather than the server's default.
            let nameservers = string_list(want.get("nameservers"));
            let rrsets: Vec<Value> = if nameservers.is_empty() {
                Vec::new()
            } else {
                let records: Vec<Value> = nameservers.iter().map(|ns| json!({ "content": ns, "disabled": false })).collect();
                vec![json!({ "name": zone.name, "type": "NS", "ttl": Self::ttl(desired), "records": records })]
            };
            let body = json!({
                "name": zone.name,
                "kind": field("kind"),
                "nameservers": [],
                "rrsets": rrsets,
                "masters": field("masters"),
                "soa_edit_api": field("soa_edit_api"),
            });
            let reply = api.call(&zone.endpoint, Method::POST, &zone.zones(), Some(&body))?;
            return match reply.status {
                200 | 201 => Ok(()),
                _ => Err(api.unexpected(&format!("creating the zone {}", zone.name), &zone.endpoint, &reply)),
            };
        }
        let changed = |name: &str| changes.iter().any(|c| c.field == name);
        if changed("kind") || changed("masters") || changed("soa_edit_api") {
            let body = json!({ "kind": field("kind"), "masters": field("masters"), "soa_edit_api": field("soa_edit_api") });
            let reply = api.call(&zone.endpoint, Method::PUT, &zone.path(), Some(&body))?;
            if !matches!(reply.status, 200 | 204) {
                return Err(api.unexpected(&format!("changing the zone {}", zone.name), &zone.endpoint, &reply));
            }
        }
        if changed("nameservers") || changed("ttl") {
            let nameservers = string_list(want.get("nameservers"));
            let rrset = if nameservers.is_empty() {
                json!({ "name": zone.name, "type": "NS", "changetype": "DELETE" })
            } else {
                let records: Vec<Value> = nameservers.iter().map(|ns| json!({ "content": ns, "disabled": false })).collect();
                json!({ "name": zone.name, "type": "NS", "ttl": Self::ttl(desired), "changetype": "REPLACE", "records": records })
            };
            zone.patch(api, json!([rrset]), &format!("setting the nameservers of the zone {}", zone.name))?;
        }
        Ok(())
    }

    /// `serial`: the zone's SOA serial (nothing when the zone does not exist).
    fn facts(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<Fields, HandlerError> {
        let zone = ZoneRef::of(desired, "name")?;
        let mut facts = Fields::new();
        let query = format!("?rrset_name={}&rrset_type=SOA", zone.name);
        if let Some(found) = zone.get(&self.api, &query)? {
            if let Some(serial) = found.get("serial").filter(|s| s.is_u64()) {
                facts.insert("serial".into(), serial.clone());
            }
        }
        Ok(facts)
    }
}

/// `pdns::Record`.
pub struct RecordHandler {
    pub api: Arc<Api>,
}

/// A record set's identity, checked.
struct SetRef {
    zone: ZoneRef,
    name: String,
    kind: String,
}

impl SetRef {
    fn of(desired: &ResourceDoc) -> Result<SetRef, HandlerError> {
        let zone = ZoneRef::of(desired, "zone")?;
        let name = names::in_zone(desired.str_attr("name").unwrap_or_default(), &zone.name).map_err(fail)?;
        let kind = names::record_type(desired.str_attr("type").unwrap_or_default()).map_err(fail)?;
        Ok(SetRef { zone, name, kind })
    }

    fn label(&self) -> String {
        format!("{}/{}", self.name, self.kind)
    }

    /// The set as PowerDNS has it: `(ttl, contents)`, `None` if absent (or its zone is).
    fn read(&self, api: &Api) -> Result<Option<(i64, Vec<String>)>, HandlerError> {
        let query = format!("?rrset_name={}&rrset_type={}", self.name, self.kind);
        let Some(found) = self.zone.get(api, &query)? else { return Ok(None) };
        Ok(rrset(&found, &self.name, &self.kind).and_then(|set| {
            let records = contents(set);
            (!records.is_empty()).then(|| (set.get("ttl").and_then(Value::as_i64).unwrap_or(0), records))
        }))
    }
}

impl RecordHandler {
    fn want(desired: &ResourceDoc) -> Fields {
        let mut fields = Fields::new();
        fields.insert("ttl".into(), Value::from(desired.attr("ttl").and_then(Value::as_i64).unwrap_or(DEFAULT_TTL)));
        fields.insert("records".into(), strings(string_list(desired.attr("records"))));
        fields
    }
}

impl Handler for RecordHandler {
    fn fields(&self) -> &[&str] {
        &["ttl", "records"]
    }

    fn check(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        let set = SetRef::of(desired)?;
        if !desired.purged() {
            if string_list(desired.attr("records")).is_empty() {
                return Err(fail(format!("the record set {} has no records: give at least one, or set purged = true", set.label())));
            }
            let ttl = desired.attr("ttl").and_then(Value::as_i64).unwrap_or(DEFAULT_TTL);
            if !(0..=i64::from(i32::MAX)).contains(&ttl) {
                return Err(fail(format!("the TTL {ttl} of {} is not between 0 and {}", set.label(), i32::MAX)));
            }
        }
        Ok(())
    }

    fn read(&self, _cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let set = SetRef::of(desired)?;
        Ok(set.read(&self.api)?.map(|(ttl, records)| {
            let mut fields = Fields::new();
            fields.insert("ttl".into(), Value::from(ttl));
            fields.insert("records".into(), strings(records));
            fields
        }))
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        compare(desired.purged(), &Self::want(desired), current)
    }

    fn apply(&self, _cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        let set = SetRef::of(desired)?;
        let api = &self.api;
        if desired.purged() {
            let rrset = json!({ "name": set.name, "type": set.kind, "changetype": "DELETE" });
            return set.zone.patch(api, json!([rrset]), &format!("deleting {}", set.label()));
        }
        let want = Self::want(desired);
        let records = string_list(want.get("records"));
        let body: Vec<Value> = records.iter().map(|content| json!({ "content": content, "disabled": false })).collect();
        let ttl = want.get("ttl").cloned().unwrap_or(Value::from(DEFAULT_TTL));
        let rrset = json!({ "name": set.name, "type": set.kind, "ttl": ttl, "changetype": "REPLACE", "records": body });
        set.zone.patch(api, json!([rrset]), &format!("writing {}", set.label()))?;
        // Read back: PowerDNS may keep a content in another form than the model wrote it.
        match set.read(api)? {
            Some((_, stored)) if stored != records => Err(fail(format!(
                "{} was written, but PowerDNS keeps its records as {:?}, not {:?}: write them that way in the model, or every deploy changes them",
                set.label(),
                stored,
                records
            ))),
            Some(_) => Ok(()),
            None => Err(fail(format!("{} was written, but PowerDNS does not show it", set.label()))),
        }
    }
}
