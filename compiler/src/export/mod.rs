//! Export: turns a compiled model into a version of the resource graph. Modules declare which
//! entities are resources ([`ResourceRegistry`]); every instance of such an entity (or of an
//! entity inheriting from it) becomes a resource with an id `type[agent,attr=value]`, its
//! exported fields as JSON, its `requires` (flattened through entities that are not
//! resources) and a hash of its desired state. Duplicate ids and dependency cycles are errors
//! pointing at the instances involved.

mod errors;
mod hash;
mod json;
mod resources;

pub use errors::{ExportError, MissingPart};
pub use hash::desired_state_hash;
pub use json::{write_version_json, JsonValue};
pub use resources::{AgentSource, FieldSource, ResourceDecl, ResourceRegistry};

use crate::compile::exec::{Execution, SlotValue};
use crate::compile::model::{EntityId, Model};
use crate::compile::value::{InstanceId, Value};
use crate::diagnostic::Diagnostic;
use crate::intern::{Interner, Symbol};
use crate::source::SourceMap;
use crate::span::Span;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One exported resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `type[agent,attr=value]`, without version.
    pub id: String,
    pub resource_type: String,
    pub agent: String,
    /// Exported fields, sorted by name, each name once (`requires` is kept apart). The names
    /// are shared by all the resources of a type.
    pub attributes: Vec<(Arc<str>, JsonValue)>,
    /// Ids (without version) of the resources this one requires, sorted.
    pub requires: Vec<String>,
    /// An attribute was not known at compile time: the resource cannot be deployed yet.
    pub undefined: bool,
    pub send_event: bool,
    pub receive_events: bool,
    pub hash: String,
    /// Where the instance was created.
    pub span: Span,
}

impl Resource {
    /// The value of an exported field.
    pub fn attribute(&self, name: &str) -> Option<&JsonValue> {
        let index = self.attributes.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        Some(&self.attributes[index].1)
    }
}

/// The result of an export: the resources in a deterministic order (by id).
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub resources: Vec<Resource>,
}

impl Export {
    pub fn agents(&self) -> BTreeSet<&str> {
        self.resources.iter().map(|r| r.agent.as_str()).collect()
    }
}

pub struct ExportInput<'a> {
    pub model: &'a Model,
    pub execution: &'a Execution,
    pub interner: &'a Interner,
    pub sources: &'a SourceMap,
    pub resources: &'a ResourceRegistry,
}

/// Exports every resource; returns the export and the diagnostics (duplicate ids, cycles,
/// unreadable agent or id attributes).
pub fn export(input: &ExportInput<'_>) -> (Export, Vec<Diagnostic>) {
    Exporter::new(input).run()
}

/// An attribute path (`host.name`) resolved for one entity: the first step is a slot index of
/// that entity, the next ones are looked up on the entity of the instance reached.
struct PathPlan {
    /// `None` when the entity has no such attribute (the path has no value).
    first: Option<u32>,
    rest: Vec<Option<Symbol>>,
}

enum FieldPlan<'a> {
    Path(PathPlan),
    Constant(&'a Value),
}

enum AgentPlan<'a> {
    Path(PathPlan),
    Constant(&'a str),
}

/// What the export reads from the instances of one entity that is a resource: names resolved
/// once per entity instead of once per instance.
struct Plan<'a> {
    decl: &'a ResourceDecl,
    agent: AgentPlan<'a>,
    key: PathPlan,
    /// The fields sorted by name. A name given twice is read every time (for `undefined`),
    /// but only its last occurrence is exported (`shadowed` marks the others).
    fields: Vec<(Arc<str>, FieldPlan<'a>, bool)>,
    exported: usize,
}

/// Slot indexes of the attributes the export reads on every instance, per entity.
#[derive(Clone, Copy, Default)]
struct Common {
    managed: Option<u32>,
    send_event: Option<u32>,
    receive_events: Option<u32>,
    requires: Option<u32>,
}

/// A value read from a slot, borrowed: a list slot stays the slice it is.
#[derive(Clone, Copy)]
enum Val<'a> {
    One(&'a Value),
    Many(&'a [Value]),
    /// A path through an unknown instance.
    Unknown,
}

struct Exporter<'a> {
    model: &'a Model,
    execution: &'a Execution,
    interner: &'a Interner,
    errors: Vec<ExportError>,
    common: Vec<Common>,
    /// For each entity that is a resource (its own declaration or the nearest ancestor's),
    /// its plan.
    plans: Vec<Option<Plan<'a>>>,
}

impl<'a> Exporter<'a> {
    fn new(input: &ExportInput<'a>) -> Self {
        let model = input.model;
        let interner = input.interner;
        let symbol = |name: &str| interner.get(name);
        let [managed, send_event, receive_events, requires] = ["managed", "send_event", "receive_events", "requires"].map(symbol);
        let common = model
            .entities
            .iter()
            .map(|entity| {
                let index = |symbol: Option<Symbol>| symbol.and_then(|s| entity.attr(s)).map(|(index, _)| index);
                Common {
                    managed: index(managed),
                    send_event: index(send_event),
                    receive_events: index(receive_events),
                    requires: index(requires),
                }
            })
            .collect();
        let mut exporter = Exporter { model, execution: input.execution, interner, errors: Vec::new(), common, plans: Vec::new() };
        // One set of shared field names per declaration.
        let mut names: BTreeMap<&str, Vec<Arc<str>>> = BTreeMap::new();
        exporter.plans = (0..model.entities.len())
            .map(|e| {
                let entity = &model.entities[e];
                let decl = std::iter::once(EntityId(e as u32))
                    .chain(entity.ancestors.iter().copied())
                    .find_map(|id| input.resources.get(&model.entity(id).full_name))?;
                let shared =
                    names.entry(decl.name.as_str()).or_insert_with(|| decl.fields.iter().map(|f| Arc::from(f.name.as_str())).collect());
                Some(exporter.plan(EntityId(e as u32), decl, shared))
            })
            .collect();
        exporter
    }

    fn plan(&self, entity: EntityId, decl: &'a ResourceDecl, names: &[Arc<str>]) -> Plan<'a> {
        let agent = match &decl.agent {
            AgentSource::Path(path) => AgentPlan::Path(self.path_plan(entity, path)),
            AgentSource::Constant(name) => AgentPlan::Constant(name),
        };
        let mut fields: Vec<(Arc<str>, FieldPlan<'a>, bool)> = decl
            .fields
            .iter()
            .zip(names)
            .map(|(field, name)| {
                let plan = match &field.source {
                    FieldSource::Attribute(path) => FieldPlan::Path(self.path_plan(entity, path)),
                    FieldSource::Constant(value) => FieldPlan::Constant(value),
                };
                (name.clone(), plan, false)
            })
            .collect();
        // Stable: among equal names the last declared stays last, and is the one exported.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        for i in 1..fields.len() {
            if fields[i - 1].0 == fields[i].0 {
                fields[i - 1].2 = true;
            }
        }
        let exported = fields.iter().filter(|f| !f.2).count();
        Plan { decl, agent, key: self.path_plan(entity, &decl.id_attribute), fields, exported }
    }

    fn path_plan(&self, entity: EntityId, path: &str) -> PathPlan {
        let mut parts = path.split('.').map(|part| self.interner.get(part));
        let first = parts.next().flatten().and_then(|s| self.model.entity(entity).attr(s)).map(|(index, _)| index);
        PathPlan { first, rest: parts.collect() }
    }

    fn run(mut self) -> (Export, Vec<Diagnostic>) {
        let instances = &self.execution.instances;
        // Pass 1: which instances are resources, and their ids. Errors are kept by instance,
        // to report them in instance order.
        let mut errors: Vec<(u32, ExportError)> = Vec::new();
        let mut found: Vec<(String, u32)> = Vec::new();
        for (index, instance) in instances.iter().enumerate() {
            let Some(plan) = &self.plans[instance.entity.index()] else { continue };
            let id = InstanceId(index as u32);
            let common = self.common[instance.entity.index()];
            if matches!(self.read(id, common.managed), Some(Val::One(Value::Bool(false)))) {
                continue;
            }
            match self.identity(id, plan) {
                Ok(resource_id) => found.push((resource_id, index as u32)),
                Err(error) => errors.push((index as u32, *error)),
            }
        }
        // Sorted by id (the order of the export), then by creation: the first instance with an
        // id is the resource, the others are duplicates.
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut kept: Vec<(String, u32)> = Vec::with_capacity(found.len());
        for (resource_id, index) in found {
            match kept.last() {
                Some((previous_id, previous)) if *previous_id == resource_id => {
                    let error = ExportError::DuplicateId {
                        id: resource_id,
                        span: instances[index as usize].span,
                        first: instances[*previous as usize].span,
                    };
                    errors.push((index, error));
                }
                _ => kept.push((resource_id, index)),
            }
        }
        errors.sort_by_key(|(index, _)| *index);
        self.errors.extend(errors.into_iter().map(|(_, error)| error));
        // The position of each resource instance in `kept`.
        let mut position = vec![u32::MAX; instances.len()];
        for (at, (_, index)) in kept.iter().enumerate() {
            position[*index as usize] = at as u32;
        }
        // Pass 2: fields, requires and hash of each resource, in instance order (the slots of
        // consecutive instances are next to each other in memory).
        let mut built: Vec<Option<Resource>> = (0..kept.len()).map(|_| None).collect();
        let mut edges: Vec<Vec<u32>> = vec![Vec::new(); kept.len()];
        let mut visited = vec![u32::MAX; instances.len()];
        let mut stack: Vec<InstanceId> = Vec::new();
        let mut values: Vec<Option<Val<'a>>> = Vec::new();
        for (index, instance) in instances.iter().enumerate() {
            let at = position[index];
            if at == u32::MAX {
                continue;
            }
            // Every instance in `kept` has a plan.
            let Some(plan) = &self.plans[instance.entity.index()] else { continue };
            let id = InstanceId(index as u32);
            // All the reads first, then the work on them: the loads do not wait on each other.
            values.clear();
            values.extend(plan.fields.iter().map(|(_, field, _)| match field {
                FieldPlan::Path(path) => self.path(id, path),
                FieldPlan::Constant(value) => Some(Val::One(value)),
            }));
            let common = self.common[instance.entity.index()];
            let send_event = matches!(self.read(id, common.send_event), Some(Val::One(Value::Bool(true))));
            let receive_events = !matches!(self.read(id, common.receive_events), Some(Val::One(Value::Bool(false))));
            let mut attributes = Vec::with_capacity(plan.exported);
            let mut undefined = false;
            for ((name, _, shadowed), value) in plan.fields.iter().zip(&values) {
                if value.is_some_and(contains_unknown) {
                    undefined = true;
                }
                if !shadowed {
                    attributes.push((name.clone(), value.map_or(JsonValue::Null, |v| self.to_json(v))));
                }
            }
            let required = self.requires_of(id, at, &position, &mut visited, &mut stack);
            let requires: Vec<String> = required.iter().map(|p| kept[*p as usize].0.clone()).collect();
            let resource_id = &kept[at as usize].0;
            let hash = desired_state_hash(resource_id, attributes.iter().map(|(k, v)| (&**k, v)), &requires);
            let name = &plan.decl.name;
            let agent = resource_id.get(name.len() + 1..).and_then(|rest| rest.split(',').next()).unwrap_or_default().to_string();
            edges[at as usize] = required;
            built[at as usize] = Some(Resource {
                // Moved in below: the ids in `kept` are the requires of the resources to come.
                id: String::new(),
                resource_type: name.clone(),
                agent,
                attributes,
                requires,
                undefined,
                send_event,
                receive_events,
                hash,
                span: instance.span,
            });
        }
        let resources: Vec<Resource> =
            built.into_iter().zip(kept).filter_map(|(resource, (id, _))| resource.map(|resource| Resource { id, ..resource })).collect();
        self.check_cycles(&resources, &edges);
        let diagnostics = self.errors.iter().map(Diagnostic::from).collect();
        (Export { resources }, diagnostics)
    }

    /// The id of a resource instance, `type[agent,attr=value]`.
    fn identity(&self, id: InstanceId, plan: &Plan<'a>) -> Result<String, Box<ExportError>> {
        let decl = plan.decl;
        let agent = match &plan.agent {
            AgentPlan::Path(path) => self.path(id, path),
            AgentPlan::Constant(_) => None,
        };
        let key = self.path(id, &plan.key);
        let agent_known = match &plan.agent {
            AgentPlan::Constant(_) => true,
            AgentPlan::Path(_) => agent.is_some_and(|a| !is_unknown(a)),
        };
        match key {
            Some(key) if agent_known && !is_unknown(key) => {
                let agent = match (&plan.agent, agent) {
                    (AgentPlan::Constant(name), _) => Cow::Borrowed(*name),
                    (_, Some(agent)) => plain(agent),
                    (_, None) => Cow::Borrowed(""),
                };
                let key = plain(key);
                let mut out = String::with_capacity(decl.name.len() + agent.len() + decl.id_attribute.len() + key.len() + 4);
                for part in [decl.name.as_str(), "[", &agent, ",", &decl.id_attribute, "=", &key, "]"] {
                    out.push_str(part);
                }
                Ok(out)
            }
            _ => {
                let missing =
                    if !agent_known { MissingPart::Agent(decl.agent.clone()) } else { MissingPart::IdAttribute(decl.id_attribute.clone()) };
                let span = self.execution.instances[id.0 as usize].span;
                Err(Box::new(ExportError::UnknownId { resource_type: decl.name.clone(), missing, span }))
            }
        }
    }

    /// The value of a slot, `None` when it is unset (or the entity has no such attribute).
    fn read(&self, id: InstanceId, index: Option<u32>) -> Option<Val<'a>> {
        match self.execution.slot_value(id, index?) {
            SlotValue::Single(value) => Some(Val::One(value)),
            SlotValue::List(items) => Some(Val::Many(&items[..])),
            SlotValue::Unset => None,
        }
    }

    /// Follows a dotted attribute path (`host.name`).
    fn path(&self, id: InstanceId, path: &PathPlan) -> Option<Val<'a>> {
        let mut value = self.read(id, path.first)?;
        for symbol in &path.rest {
            let next = match value {
                Val::One(Value::Instance(next)) => *next,
                Val::One(Value::Unknown) | Val::Unknown => return Some(Val::Unknown),
                _ => return None,
            };
            let entity = self.model.entity(self.execution.instances[next.0 as usize].entity);
            let index = symbol.and_then(|s| entity.attr(s)).map(|(index, _)| index);
            value = self.read(next, index)?;
        }
        Some(value)
    }

    fn to_json(&self, value: Val<'_>) -> JsonValue {
        match value {
            Val::One(value) => self.value_json(value),
            Val::Many(items) => JsonValue::List(items.iter().map(|i| self.value_json(i)).collect()),
            Val::Unknown => JsonValue::Null,
        }
    }

    fn value_json(&self, value: &Value) -> JsonValue {
        match value {
            Value::Null | Value::Unknown => JsonValue::Null,
            Value::Bool(b) => JsonValue::Bool(*b),
            Value::Int(i) => JsonValue::Int(*i),
            Value::Float(f) => JsonValue::Float(*f),
            Value::Str(s) => JsonValue::Str(String::from(&**s)),
            Value::List(items) => JsonValue::List(items.iter().map(|i| self.value_json(i)).collect()),
            Value::Dict(dict) => JsonValue::Object(dict.iter().map(|(k, v)| (String::from(&**k), self.value_json(v))).collect()),
            Value::Instance(instance) => {
                let entity = self.model.entity(self.execution.instances[instance.0 as usize].entity);
                JsonValue::Str(entity.full_name.clone())
            }
        }
    }

    /// The resources an instance requires, as sorted positions: its `requires` relation,
    /// where an entity that is not a resource stands for the resources it requires in turn
    /// (transitively). `visited` marks the instances seen with the position `at` of the
    /// resource being looked at; `stack` is scratch space.
    fn requires_of(&self, id: InstanceId, at: u32, position: &[u32], visited: &mut [u32], stack: &mut Vec<InstanceId>) -> Vec<u32> {
        let mut out = Vec::new();
        stack.clear();
        self.push_required(id, stack);
        while let Some(next) = stack.pop() {
            let seen = &mut visited[next.0 as usize];
            if *seen == at {
                continue;
            }
            *seen = at;
            match position[next.0 as usize] {
                u32::MAX => self.push_required(next, stack),
                resource => out.push(resource),
            }
        }
        out.sort_unstable();
        out
    }

    fn push_required(&self, id: InstanceId, stack: &mut Vec<InstanceId>) {
        let entity = self.execution.instances[id.0 as usize].entity;
        let items: &[Value] = match self.read(id, self.common[entity.index()].requires) {
            Some(Val::Many(items)) => items,
            Some(Val::One(Value::List(items))) => items,
            Some(Val::One(Value::Instance(i))) => {
                stack.push(*i);
                return;
            }
            _ => return,
        };
        stack.extend(items.iter().filter_map(|v| match v {
            Value::Instance(i) => Some(*i),
            _ => None,
        }));
    }

    /// Reports each dependency cycle once, with the resources on it.
    /// `edges` holds the positions each resource requires, sorted (the order of its
    /// `requires`).
    fn check_cycles(&mut self, resources: &[Resource], edges: &[Vec<u32>]) {
        // Iterative DFS with colours; a back edge closes a cycle.
        let mut colour = vec![0u8; resources.len()];
        for start in 0..resources.len() {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            let mut path: Vec<usize> = vec![start];
            colour[start] = 1;
            while let Some((node, edge)) = stack.last().copied() {
                if edge < edges[node].len() {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    let next = edges[node][edge] as usize;
                    match colour[next] {
                        0 => {
                            colour[next] = 1;
                            stack.push((next, 0));
                            path.push(next);
                        }
                        1 => {
                            let from = path.iter().position(|n| *n == next).unwrap_or(0);
                            let cycle: Vec<usize> = path[from..].to_vec();
                            let members = cycle.iter().map(|i| (resources[*i].id.clone(), resources[*i].span)).collect();
                            self.errors.push(ExportError::Cycle { members });
                        }
                        _ => {}
                    }
                } else {
                    colour[node] = 2;
                    stack.pop();
                    path.pop();
                }
            }
        }
    }
}

fn contains_unknown(value: Val<'_>) -> bool {
    match value {
        Val::One(value) => value_contains_unknown(value),
        Val::Many(items) => items.iter().any(value_contains_unknown),
        Val::Unknown => true,
    }
}

fn value_contains_unknown(value: &Value) -> bool {
    match value {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(value_contains_unknown),
        Value::Dict(dict) => dict.values().any(value_contains_unknown),
        _ => false,
    }
}

fn is_unknown(value: Val<'_>) -> bool {
    matches!(value, Val::One(Value::Unknown) | Val::Unknown)
}

/// An agent name or id value as text: strings as they are, other values as rendered in
/// strings (a list slot as the list it is).
fn plain(value: Val<'_>) -> Cow<'_, str> {
    match value {
        Val::One(Value::Str(s)) => Cow::Borrowed(s),
        Val::One(other) => Cow::Owned(other.to_string()),
        Val::Many(items) => Cow::Owned(Value::list(items.to_vec()).to_string()),
        Val::Unknown => Cow::Owned(Value::Unknown.to_string()),
    }
}
