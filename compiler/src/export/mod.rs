//! Export: turns a compiled model into a version of the resource graph, the way Inmanta's
//! exporter does. Modules declare which entities are resources ([`ResourceRegistry`]); every
//! instance of such an entity (or of an entity inheriting from it) becomes a resource of the
//! declared type, with an id `type[agent,attr=value]` and its exported fields, attribute
//! paths or computed by the module's functions ([`view`] is what those see). A field may leave
//! the resource out (`managed = false`). `requires` are the model's `requires` that are
//! exported resources themselves (a requirement on anything else is dropped, as Inmanta
//! drops it), plus the edges the modules' dependency managers add. Bodies the fields name
//! (`fs::File.hash`) are kept in [`Export::files`]. Duplicate ids, resource entities no module
//! declares, fields that cannot be computed, refused versions and dependency cycles are
//! errors pointing at the instances involved. Each resource also gets a hash of its desired
//! state.

mod errors;
mod hash;
mod json;
mod resources;
pub mod view;

pub use errors::{ExportError, MissingPart};
pub use hash::desired_state_hash;
pub use json::{write_version_json, JsonValue};
pub use resources::{
    AgentSource, Compute, DependencyFn, DependencyManager, Field, FieldSource, ResourceDecl, ResourceRegistry, INHERITED_FIELDS,
};
pub use view::{Attr, Dependencies, DependencyError, FieldCtx, FieldError, Member, Obj};

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
use view::World;

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

/// The result of an export: the resources in a deterministic order (by id), and the file
/// bodies their fields name.
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub resources: Vec<Resource>,
    /// The file store of the version: lower-case hex SHA-1 to the bytes it is the hash of, for
    /// every body a field (`fs::File.hash`) names.
    pub files: BTreeMap<String, Vec<u8>>,
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

/// Exports every resource; returns the export and the diagnostics.
pub fn export(input: &ExportInput<'_>) -> (Export, Vec<Diagnostic>) {
    let world = World { model: input.model, execution: input.execution, interner: input.interner };
    Exporter::new(&world, input.resources).run()
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
    Computed(&'a Compute),
}

enum AgentPlan<'a> {
    Path(PathPlan),
    Constant(&'a str),
    Computed(&'a Compute),
}

/// How the id attribute's value is found.
enum KeyPlan {
    Path(PathPlan),
    /// The computed field at this position of the plan's fields.
    Field(usize),
}

/// What the export reads from the instances of one entity that is a resource: names resolved
/// once per entity instead of once per instance.
struct Plan<'a> {
    decl: &'a ResourceDecl,
    agent: AgentPlan<'a>,
    key: KeyPlan,
    /// The fields sorted by name, each name once (the last declaration of a name wins).
    fields: Vec<(Arc<str>, FieldPlan<'a>)>,
}

/// Slot indexes of the attributes the export reads on every instance, per entity.
#[derive(Clone, Copy, Default)]
struct Common {
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

/// A resource as pass 1 builds it (everything but its requires and hash), and its instance.
struct Found {
    instance: u32,
    resource: Resource,
}

/// Why pass 1 built no resource for an instance.
enum Skip {
    /// A field left it out (`managed = false`).
    Ignored,
    Error(Box<ExportError>),
}

struct Exporter<'a> {
    world: &'a World<'a>,
    registry: &'a ResourceRegistry,
    errors: Vec<ExportError>,
    common: Vec<Common>,
    /// For each entity that is a resource (its own declaration or the nearest ancestor's),
    /// its plan.
    plans: Vec<Option<Plan<'a>>>,
    files: BTreeMap<String, Vec<u8>>,
}

impl<'a> Exporter<'a> {
    fn new(world: &'a World<'a>, registry: &'a ResourceRegistry) -> Self {
        let model = world.model;
        let interner = world.interner;
        let symbol = |name: &str| interner.get(name);
        let [send_event, receive_events, requires] = ["send_event", "receive_events", "requires"].map(symbol);
        let common = model
            .entities
            .iter()
            .map(|entity| {
                let index = |symbol: Option<Symbol>| symbol.and_then(|s| entity.attr(s)).map(|(index, _)| index);
                Common { send_event: index(send_event), receive_events: index(receive_events), requires: index(requires) }
            })
            .collect();
        let mut exporter = Exporter {
            world,
            registry,
            errors: Vec::new(),
            common,
            plans: Vec::new(),
            files: BTreeMap::new(),
        };
        // One set of shared field names per declaration.
        let mut names: BTreeMap<&str, BTreeMap<&str, Arc<str>>> = BTreeMap::new();
        exporter.plans = (0..model.entities.len())
            .map(|e| {
                let entity = &model.entities[e];
                let decl = std::iter::once(EntityId(e as u32))
                    .chain(entity.ancestors.iter().copied())
                    .find_map(|id| registry.get(&model.entity(id).full_name))?;
                let shared = names
                    .entry(decl.name.as_str())
                    .or_insert_with(|| decl.fields.iter().map(|f| (f.name.as_str(), Arc::from(f.name.as_str()))).collect());
                Some(exporter.plan(EntityId(e as u32), decl, shared))
            })
            .collect();
        exporter
    }

    fn plan(&self, entity: EntityId, decl: &'a ResourceDecl, names: &BTreeMap<&str, Arc<str>>) -> Plan<'a> {
        let agent = match &decl.agent {
            AgentSource::Path(path) => AgentPlan::Path(self.path_plan(entity, path)),
            AgentSource::Constant(name) => AgentPlan::Constant(name),
            AgentSource::Computed(compute) => AgentPlan::Computed(compute),
        };
        // The last declaration of a name wins.
        let mut by_name: BTreeMap<&str, &'a Field> = BTreeMap::new();
        for field in &decl.fields {
            by_name.insert(field.name.as_str(), field);
        }
        let mut fields: Vec<(Arc<str>, FieldPlan<'a>)> = Vec::with_capacity(by_name.len());
        for (name, field) in by_name {
            let plan = match &field.source {
                FieldSource::Attribute(path) => {
                    let plan = self.path_plan(entity, path);
                    // The fields of `std::Resource` and `std::PurgeableResource` only where the
                    // entity has them.
                    if plan.first.is_none() && INHERITED_FIELDS.contains(&name) && path == name {
                        continue;
                    }
                    FieldPlan::Path(plan)
                }
                FieldSource::Computed(compute) => FieldPlan::Computed(compute),
            };
            let shared = names.get(name).cloned().unwrap_or_else(|| Arc::from(name));
            fields.push((shared, plan));
        }
        let key = match fields.iter().position(|(name, plan)| **name == *decl.id_attribute && matches!(plan, FieldPlan::Computed(_))) {
            Some(index) => KeyPlan::Field(index),
            None => KeyPlan::Path(self.path_plan(entity, &decl.id_attribute)),
        };
        Plan { decl, agent, key, fields }
    }

    fn path_plan(&self, entity: EntityId, path: &str) -> PathPlan {
        let mut parts = path.split('.').map(|part| self.world.interner.get(part));
        let first = parts.next().flatten().and_then(|s| self.world.model.entity(entity).attr(s)).map(|(index, _)| index);
        PathPlan { first, rest: parts.collect() }
    }

    fn run(mut self) -> (Export, Vec<Diagnostic>) {
        let world = self.world;
        let instances = &world.execution.instances;
        // Pass 1: the resources and their fields, in instance order (the slots of consecutive
        // instances are next to each other in memory). Errors are kept by instance, to report
        // them in instance order.
        let mut errors: Vec<(u32, ExportError)> = Vec::new();
        let mut found: Vec<Found> = Vec::new();
        let plans = std::mem::take(&mut self.plans);
        for (index, instance) in instances.iter().enumerate() {
            // A resource entity that no module declares is not exported, as in Inmanta.
            let Some(plan) = &plans[instance.entity.index()] else { continue };
            match self.build(InstanceId(index as u32), plan) {
                Ok(resource) => found.push(Found { instance: index as u32, resource }),
                Err(Skip::Ignored) => {}
                Err(Skip::Error(error)) => errors.push((index as u32, *error)),
            }
        }
        drop(plans);
        // Sorted by id (the order of the export), then by creation: the first instance with an
        // id is the resource, the others are duplicates. (Positions are sorted, not the
        // resources themselves, which are large.)
        let mut order: Vec<u32> = (0..found.len() as u32).collect();
        order.sort_unstable_by(|a, b| {
            let (a, b) = (&found[*a as usize], &found[*b as usize]);
            a.resource.id.cmp(&b.resource.id).then(a.instance.cmp(&b.instance))
        });
        let mut found: Vec<Option<Found>> = found.into_iter().map(Some).collect();
        let mut kept: Vec<Found> = Vec::with_capacity(found.len());
        for next in order.into_iter().filter_map(|at| found[at as usize].take()) {
            match kept.last() {
                Some(previous) if previous.resource.id == next.resource.id => {
                    let error = ExportError::DuplicateId {
                        id: next.resource.id,
                        span: instances[next.instance as usize].span,
                        first: instances[previous.instance as usize].span,
                    };
                    errors.push((next.instance, error));
                }
                _ => kept.push(next),
            }
        }
        errors.sort_by_key(|(index, _)| *index);
        self.errors.extend(errors.into_iter().map(|(_, error)| error));
        // The position of each resource instance in `kept`.
        let mut position = vec![u32::MAX; instances.len()];
        for (at, resource) in kept.iter().enumerate() {
            position[resource.instance as usize] = at as u32;
        }
        // Pass 2: the model's requires that are exported resources, then the dependency
        // managers' edges.
        let mut edges: Vec<Vec<u32>> = kept.iter().map(|resource| self.requires_of(InstanceId(resource.instance), &position)).collect();
        let (mut resources, ids): (Vec<Resource>, Vec<InstanceId>) =
            kept.into_iter().map(|found| (found.resource, InstanceId(found.instance))).unzip();
        for manager in self.registry.dependency_managers() {
            let mut dependencies = Dependencies::new(world, &resources, &ids, &mut edges);
            if let Err(refusal) = (manager.run)(&mut dependencies) {
                let span = |at: usize| resources.get(at).map(|r| r.span).unwrap_or_default();
                self.errors.push(ExportError::Dependency {
                    manager: manager.name.clone(),
                    message: refusal.message,
                    span: span(refusal.at),
                    related: refusal.related.into_iter().map(|(at, label)| (span(at), label)).collect(),
                });
            }
        }
        for list in &mut edges {
            list.sort_unstable();
            list.dedup();
        }
        self.check_cycles(&resources, &edges);
        let requires: Vec<Vec<String>> =
            edges.iter().map(|required| required.iter().map(|at| resources[*at as usize].id.clone()).collect()).collect();
        for (resource, requires) in resources.iter_mut().zip(requires) {
            resource.requires = requires;
            resource.hash = desired_state_hash(&resource.id, resource.attributes.iter().map(|(k, v)| (&**k, v)), &resource.requires);
        }
        let diagnostics = self.errors.iter().map(Diagnostic::from).collect();
        (Export { resources, files: self.files }, diagnostics)
    }

    /// The resource of one instance: its fields, agent and id (requires and hash come later).
    fn build(&mut self, id: InstanceId, plan: &Plan<'a>) -> Result<Resource, Skip> {
        let world = self.world;
        let instance = &world.execution.instances[id.0 as usize];
        let decl = plan.decl;
        let mut attributes = Vec::with_capacity(plan.fields.len());
        let mut undefined = false;
        for (name, field) in &plan.fields {
            let value = match field {
                FieldPlan::Path(path) => match self.path(id, path) {
                    Some(value) => {
                        undefined |= contains_unknown(value);
                        to_json(world, value)
                    }
                    None => JsonValue::Null,
                },
                FieldPlan::Computed(compute) => match self.compute(id, compute) {
                    Ok(value) => value,
                    Err(FieldError::Ignore) => return Err(Skip::Ignored),
                    Err(FieldError::Unknown) => {
                        undefined = true;
                        JsonValue::Null
                    }
                    Err(FieldError::Failed(cause)) => {
                        return Err(Skip::Error(Box::new(ExportError::Field {
                            resource_type: decl.name.clone(),
                            field: name.to_string(),
                            cause,
                            span: instance.span,
                        })))
                    }
                },
            };
            attributes.push((name.clone(), value));
        }
        let unknown_id = |missing: MissingPart| Skip::Error(Box::new(ExportError::UnknownId { resource_type: decl.name.clone(), missing, span: instance.span }));
        let agent: Cow<'_, str> = match &plan.agent {
            AgentPlan::Constant(name) => Cow::Borrowed(*name),
            AgentPlan::Path(path) => match self.path(id, path) {
                Some(agent) if !is_unknown(agent) => Cow::Owned(plain(agent).into_owned()),
                _ => return Err(unknown_id(MissingPart::Agent(format!("{:?}", decl.agent)))),
            },
            AgentPlan::Computed(compute) => match self.compute(id, compute) {
                Ok(JsonValue::Str(agent)) => Cow::Owned(agent),
                Ok(other) => Cow::Owned(json_text(&other)),
                Err(FieldError::Failed(cause)) => {
                    return Err(Skip::Error(Box::new(ExportError::Field {
                        resource_type: decl.name.clone(),
                        field: "agent".to_string(),
                        cause,
                        span: instance.span,
                    })))
                }
                Err(FieldError::Ignore) => return Err(Skip::Ignored),
                Err(FieldError::Unknown) => return Err(unknown_id(MissingPart::Agent(format!("{:?}", decl.agent)))),
            },
        };
        let key: Cow<'_, str> = match &plan.key {
            KeyPlan::Path(path) => match self.path(id, path) {
                Some(key) if !is_unknown(key) => plain(key),
                _ => return Err(unknown_id(MissingPart::IdAttribute(decl.id_attribute.clone()))),
            },
            KeyPlan::Field(index) => match &attributes[*index].1 {
                JsonValue::Null if undefined => return Err(unknown_id(MissingPart::IdAttribute(decl.id_attribute.clone()))),
                JsonValue::Str(text) => Cow::Owned(text.clone()),
                other => Cow::Owned(json_text(other)),
            },
        };
        let mut resource_id = String::with_capacity(decl.name.len() + agent.len() + decl.id_attribute.len() + key.len() + 4);
        for part in [decl.name.as_str(), "[", &agent, ",", &decl.id_attribute, "=", &key, "]"] {
            resource_id.push_str(part);
        }
        if decl.id_field_hidden {
            attributes.retain(|(name, _)| **name != *decl.id_attribute);
        }
        let common = self.common[instance.entity.index()];
        let send_event = matches!(self.read(id, common.send_event), Some(Val::One(Value::Bool(true))));
        let receive_events = !matches!(self.read(id, common.receive_events), Some(Val::One(Value::Bool(false))));
        Ok(Resource {
            id: resource_id,
            resource_type: decl.name.clone(),
            agent: agent.into_owned(),
            attributes,
            requires: Vec::new(),
            undefined,
            send_event,
            receive_events,
            hash: String::new(),
            span: instance.span,
        })
    }

    fn compute(&mut self, id: InstanceId, compute: &Compute) -> Result<JsonValue, FieldError> {
        let mut ctx = FieldCtx::new(self.world.obj(id), &mut self.files);
        compute(&mut ctx)
    }

    /// The value of a slot, `None` when it is unset (or the entity has no such attribute).
    fn read(&self, id: InstanceId, index: Option<u32>) -> Option<Val<'a>> {
        match self.world.execution.slot_value(id, index?) {
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
            let entity = self.world.model.entity(self.world.execution.instances[next.0 as usize].entity);
            let index = symbol.and_then(|s| entity.attr(s)).map(|(index, _)| index);
            value = self.read(next, index)?;
        }
        Some(value)
    }

    /// The resources an instance requires directly, as positions (unsorted): the instances of
    /// its `requires` relation that are exported resources. Anything else is dropped, as
    /// Inmanta drops it (a module wires such requirements itself, e.g. with `provides`).
    fn requires_of(&self, id: InstanceId, position: &[u32]) -> Vec<u32> {
        let entity = self.world.execution.instances[id.0 as usize].entity;
        let items: &[Value] = match self.read(id, self.common[entity.index()].requires) {
            Some(Val::Many(items)) => items,
            Some(Val::One(Value::List(items))) => items,
            Some(Val::One(value @ Value::Instance(_))) => std::slice::from_ref(value),
            _ => return Vec::new(),
        };
        items
            .iter()
            .filter_map(|v| match v {
                Value::Instance(i) => Some(position[i.0 as usize]),
                _ => None,
            })
            .filter(|at| *at != u32::MAX)
            .collect()
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

fn to_json(world: &World<'_>, value: Val<'_>) -> JsonValue {
    match value {
        Val::One(value) => world.value_json(value),
        Val::Many(items) => JsonValue::List(items.iter().map(|i| world.value_json(i)).collect()),
        Val::Unknown => JsonValue::Null,
    }
}

fn contains_unknown(value: Val<'_>) -> bool {
    match value {
        Val::One(value) => view::contains_unknown(value),
        Val::Many(items) => items.iter().any(view::contains_unknown),
        Val::Unknown => true,
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

/// A computed id or agent that is not a string, as text.
fn json_text(value: &JsonValue) -> String {
    let mut out = String::new();
    value.write(&mut out);
    out
}
