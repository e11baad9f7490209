//! Export: turns a compiled model into a version of the resource graph. Modules declare which
//! entities are resources ([`ResourceRegistry`]); every instance of such an entity (or of an
//! entity inheriting from it) becomes a resource with an id `type[agent,attr=value]`, its
//! exported fields as JSON, its `requires` (flattened through entities that are not
//! resources) and a hash of its desired state. Duplicate ids and dependency cycles are errors
//! pointing at the instances involved.

mod hash;
mod json;
mod resources;

pub use hash::desired_state_hash;
pub use json::{write_version_json, JsonValue};
pub use resources::{AgentSource, FieldSource, ResourceDecl, ResourceRegistry};

use crate::compile::errors::{CompileError, ErrorKind};
use crate::compile::exec::{Execution, SlotValue};
use crate::compile::model::{EntityId, Model};
use crate::compile::value::{InstanceId, Value};
use crate::diagnostic::Diagnostic;
use crate::intern::Interner;
use crate::source::SourceMap;
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// One exported resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `type[agent,attr=value]`, without version.
    pub id: String,
    pub resource_type: String,
    pub agent: String,
    /// Exported fields, sorted by name (`requires` is kept apart).
    pub attributes: BTreeMap<String, JsonValue>,
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
    let mut exporter = Exporter { input, errors: Vec::new(), decl_of: Vec::new() };
    exporter.run()
}

struct Exporter<'a, 'b> {
    input: &'b ExportInput<'a>,
    errors: Vec<CompileError>,
    /// For each entity, the resource declaration that applies to it (its own or the nearest
    /// ancestor's).
    decl_of: Vec<Option<&'b ResourceDecl>>,
}

impl<'a, 'b> Exporter<'a, 'b> {
    fn run(&mut self) -> (Export, Vec<Diagnostic>) {
        let model = self.input.model;
        self.decl_of = (0..model.entities.len())
            .map(|e| {
                let entity = &model.entities[e];
                std::iter::once(EntityId(e as u32))
                    .chain(entity.ancestors.iter().copied())
                    .find_map(|id| self.input.resources.get(&model.entity(id).full_name))
            })
            .collect();
        // Pass 1: which instances are resources, and their ids.
        let instances = &self.input.execution.instances;
        let mut ids: Vec<Option<String>> = vec![None; instances.len()];
        let mut first_of_id: BTreeMap<String, InstanceId> = BTreeMap::new();
        for (index, instance) in instances.iter().enumerate() {
            let id = InstanceId(index as u32);
            let Some(decl) = self.decl_of[instance.entity.index()] else { continue };
            if self.attr(id, "managed").is_some_and(|v| matches!(v, Value::Bool(false))) {
                continue;
            }
            let Some((agent, key)) = self.identity(id, decl) else { continue };
            let resource_id = format!("{}[{},{}={}]", decl.name, agent, decl.id_attribute, key);
            if let Some(previous) = first_of_id.get(&resource_id) {
                self.errors.push(
                    CompileError::new(ErrorKind::Duplicate { what: "resource", name: resource_id.clone() }, instance.span)
                        .with_related(instances[previous.0 as usize].span, "first resource with this id created here"),
                );
                continue;
            }
            first_of_id.insert(resource_id.clone(), id);
            ids[index] = Some(resource_id);
        }
        // Pass 2: fields and requires.
        let mut resources = Vec::new();
        for (index, resource_id) in ids.iter().enumerate() {
            let Some(resource_id) = resource_id else { continue };
            let id = InstanceId(index as u32);
            let instance = &instances[index];
            let Some(decl) = self.decl_of[instance.entity.index()] else { continue };
            let mut attributes = BTreeMap::new();
            let mut undefined = false;
            for field in &decl.fields {
                let value = match &field.source {
                    FieldSource::Attribute(path) => self.path(id, path),
                    FieldSource::Constant(value) => Some(value.clone()),
                };
                let json = match value {
                    Some(value) => {
                        if contains_unknown(&value) {
                            undefined = true;
                        }
                        self.to_json(&value)
                    }
                    None => JsonValue::Null,
                };
                attributes.insert(field.name.clone(), json);
            }
            let requires: Vec<String> = self.requires_of(id, &ids).into_iter().collect();
            let agent = resource_id[decl.name.len() + 1..].split(',').next().unwrap_or_default().to_string();
            let send_event = matches!(self.attr(id, "send_event"), Some(Value::Bool(true)));
            let receive_events = !matches!(self.attr(id, "receive_events"), Some(Value::Bool(false)));
            let hash = desired_state_hash(resource_id, &attributes, &requires);
            resources.push(Resource {
                id: resource_id.clone(),
                resource_type: decl.name.clone(),
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
        resources.sort_by(|a, b| a.id.cmp(&b.id));
        self.check_cycles(&resources);
        let diagnostics = self.errors.iter().map(|e| e.to_diagnostic()).collect();
        (Export { resources }, diagnostics)
    }

    /// The agent name and the id value of a resource instance.
    fn identity(&mut self, id: InstanceId, decl: &ResourceDecl) -> Option<(String, String)> {
        let instance = &self.input.execution.instances[id.0 as usize];
        let agent = match &decl.agent {
            AgentSource::Path(path) => self.path(id, path),
            AgentSource::Constant(name) => Some(Value::str(name)),
        };
        let key = self.path(id, &decl.id_attribute);
        match (agent, key) {
            (Some(agent), Some(key)) if !agent.is_unknown() && !key.is_unknown() => Some((self.plain(&agent), self.plain(&key))),
            (agent, key) => {
                let missing = if agent.is_none_or(|a| a.is_unknown()) { format!("{:?}", decl.agent) } else { decl.id_attribute.clone() };
                self.errors.push(CompileError::new(
                    ErrorKind::Unresolved { what: format!("the resource id of this `{}` ({missing})", decl.name) },
                    instance.span,
                ));
                let _ = key;
                None
            }
        }
    }

    fn attr(&self, id: InstanceId, name: &str) -> Option<Value> {
        let symbol = self.input.interner.get(name)?;
        let instance = &self.input.execution.instances[id.0 as usize];
        let (index, _) = self.input.model.entity(instance.entity).attr(symbol)?;
        match self.input.execution.slot_value(id, index) {
            SlotValue::Single(value) => Some(value.clone()),
            SlotValue::List(items) => Some(Value::List(items.clone())),
            SlotValue::Unset => None,
        }
    }

    /// Follows a dotted attribute path (`host.name`).
    fn path(&self, id: InstanceId, path: &str) -> Option<Value> {
        let mut current = id;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = self.attr(current, part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            match value {
                Value::Instance(next) => current = next,
                Value::Unknown => return Some(Value::Unknown),
                _ => return None,
            }
        }
        None
    }

    fn plain(&self, value: &Value) -> String {
        match value {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        }
    }

    fn to_json(&self, value: &Value) -> JsonValue {
        match value {
            Value::Null | Value::Unknown => JsonValue::Null,
            Value::Bool(b) => JsonValue::Bool(*b),
            Value::Int(i) => JsonValue::Int(*i),
            Value::Float(f) => JsonValue::Float(*f),
            Value::Str(s) => JsonValue::Str(s.to_string()),
            Value::List(items) => JsonValue::List(items.iter().map(|i| self.to_json(i)).collect()),
            Value::Dict(dict) => JsonValue::Object(dict.iter().map(|(k, v)| (k.to_string(), self.to_json(v))).collect()),
            Value::Instance(instance) => {
                let entity = self.input.model.entity(self.input.execution.instances[instance.0 as usize].entity);
                JsonValue::Str(entity.full_name.clone())
            }
        }
    }

    /// The resources an instance requires: its `requires` relation, where an entity that is
    /// not a resource stands for the resources it requires in turn (transitively).
    fn requires_of(&self, id: InstanceId, ids: &[Option<String>]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<InstanceId> = self.required(id);
        while let Some(next) = stack.pop() {
            if !seen.insert(next) {
                continue;
            }
            match &ids[next.0 as usize] {
                Some(resource_id) => {
                    out.insert(resource_id.clone());
                }
                None => stack.extend(self.required(next)),
            }
        }
        out
    }

    fn required(&self, id: InstanceId) -> Vec<InstanceId> {
        match self.attr(id, "requires") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Instance(i) => Some(*i),
                    _ => None,
                })
                .collect(),
            Some(Value::Instance(i)) => vec![i],
            _ => Vec::new(),
        }
    }

    /// Reports each dependency cycle once, with the resources on it.
    fn check_cycles(&mut self, resources: &[Resource]) {
        let position: BTreeMap<&str, usize> = resources.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
        let edges: Vec<Vec<usize>> =
            resources.iter().map(|r| r.requires.iter().filter_map(|q| position.get(q.as_str()).copied()).collect()).collect();
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
                    let next = edges[node][edge];
                    match colour[next] {
                        0 => {
                            colour[next] = 1;
                            stack.push((next, 0));
                            path.push(next);
                        }
                        1 => {
                            let from = path.iter().position(|n| *n == next).unwrap_or(0);
                            let cycle: Vec<usize> = path[from..].to_vec();
                            let names: Vec<&str> = cycle.iter().map(|i| resources[*i].id.as_str()).collect();
                            let mut error = CompileError::new(
                                ErrorKind::InvalidOperation(format!("dependency cycle between resources: {}", names.join(" -> "))),
                                resources[cycle[0]].span,
                            );
                            for member in &cycle[1..] {
                                error = error.with_related(resources[*member].span, format!("{} is on the cycle", resources[*member].id));
                            }
                            self.errors.push(error);
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

fn contains_unknown(value: &Value) -> bool {
    match value {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(contains_unknown),
        Value::Dict(dict) => dict.values().any(contains_unknown),
        _ => false,
    }
}
