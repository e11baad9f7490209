//! What the functions of a module crate see of the compiled model at export time: an
//! instance ([`Obj`]) with its attributes and relations ([`Attr`]), the context of a computed
//! field ([`FieldCtx`]: the instance, and the file store the field may add bodies to), and the
//! resources of a version for a dependency manager ([`Dependencies`]). Everything is read-only
//! but the file store and the edges; no name is resolved more than once per read.

use super::json::JsonValue;
use super::Resource;
use crate::compile::exec::{Execution, SlotValue};
use crate::compile::model::{EntityId, Model};
use crate::compile::value::{InstanceId, Value};
use crate::intern::Interner;
use crate::span::Span;
use std::collections::BTreeMap;

/// The compiled model the views read.
pub(crate) struct World<'a> {
    pub model: &'a Model,
    pub execution: &'a Execution,
    pub interner: &'a Interner,
}

impl<'a> World<'a> {
    pub fn obj(&'a self, id: InstanceId) -> Obj<'a> {
        Obj { world: self, id }
    }

    fn entity_of(&self, id: InstanceId) -> EntityId {
        self.execution.instances[id.0 as usize].entity
    }

    /// A model value as JSON: dicts keep their order, an instance is its entity's name.
    pub fn value_json(&self, value: &Value) -> JsonValue {
        match value {
            Value::Null | Value::Unknown => JsonValue::Null,
            Value::Bool(b) => JsonValue::Bool(*b),
            Value::Int(i) => JsonValue::Int(*i),
            Value::Float(f) => JsonValue::Float(*f),
            Value::Str(s) => JsonValue::Str(String::from(&**s)),
            Value::List(items) => JsonValue::List(items.iter().map(|i| self.value_json(i)).collect()),
            Value::Dict(dict) => JsonValue::Object(dict.iter().map(|(k, v)| (String::from(&**k), self.value_json(v))).collect()),
            Value::Instance(instance) => JsonValue::Str(self.model.entity(self.entity_of(*instance)).full_name.clone()),
        }
    }
}

/// The value of an attribute or relation of an instance.
#[derive(Clone, Copy, Debug)]
pub enum Attr<'a> {
    /// The instance's entity has no attribute or relation of that name.
    Missing,
    /// Declared, but nothing was set (an optional relation left empty).
    Unset,
    One(&'a Value),
    /// A list attribute or a relation with an upper bound above one.
    Many(&'a [Value]),
}

impl<'a> Attr<'a> {
    /// The single value (not a list slot).
    pub fn value(self) -> Option<&'a Value> {
        match self {
            Attr::One(value) => Some(value),
            _ => None,
        }
    }

    /// Missing, unset or null.
    pub fn is_null(self) -> bool {
        matches!(self, Attr::Missing | Attr::Unset | Attr::One(Value::Null))
    }

    /// The value is not known at compile time (or holds such a value).
    pub fn is_unknown(self) -> bool {
        match self {
            Attr::One(value) => contains_unknown(value),
            Attr::Many(items) => items.iter().any(contains_unknown),
            Attr::Missing | Attr::Unset => false,
        }
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Attr::One(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Attr::One(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(self) -> Option<i64> {
        match self {
            Attr::One(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The elements of a list slot or list value; empty for anything else.
    pub fn items(self) -> &'a [Value] {
        match self {
            Attr::Many(items) => items,
            Attr::One(Value::List(items)) => items,
            _ => &[],
        }
    }
}

pub(crate) fn contains_unknown(value: &Value) -> bool {
    match value {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(contains_unknown),
        Value::Dict(dict) => dict.values().any(contains_unknown),
        _ => false,
    }
}

/// An instance of the compiled model.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    world: &'a World<'a>,
    id: InstanceId,
}

impl<'a> Obj<'a> {
    pub fn id(self) -> InstanceId {
        self.id
    }

    /// The full name of its entity (`fs::ConfigFile`).
    pub fn entity(self) -> &'a str {
        &self.world.model.entity(self.world.entity_of(self.id)).full_name
    }

    /// Whether its entity is `entity` (a full name) or inherits from it.
    pub fn is_a(self, entity: &str) -> bool {
        let own = self.world.entity_of(self.id);
        let model = self.world.model;
        std::iter::once(own).chain(model.entity(own).ancestors.iter().copied()).any(|e| model.entity(e).full_name == entity)
    }

    /// Where the instance was constructed.
    pub fn span(self) -> Span {
        self.world.execution.instances[self.id.0 as usize].span
    }

    /// The attribute or relation `name`.
    pub fn get(self, name: &str) -> Attr<'a> {
        let entity = self.world.model.entity(self.world.entity_of(self.id));
        match self.world.interner.get(name).and_then(|symbol| entity.attr(symbol)) {
            Some((index, _)) => self.slot(index),
            None => Attr::Missing,
        }
    }

    fn slot(self, index: u32) -> Attr<'a> {
        match self.world.execution.slot_value(self.id, index) {
            SlotValue::Single(value) => Attr::One(value),
            SlotValue::List(items) => Attr::Many(&items[..]),
            SlotValue::Unset => Attr::Unset,
        }
    }

    /// Whether `name` is a list slot (a relation with an upper bound above one, or a list
    /// attribute); `None` when the entity has no such attribute.
    pub fn is_list(self, name: &str) -> Option<bool> {
        let entity = self.world.model.entity(self.world.entity_of(self.id));
        self.world.interner.get(name).and_then(|symbol| entity.attr(symbol)).map(|(_, attr)| attr.is_multi())
    }

    /// The instance a single-valued relation points at, if it is set.
    pub fn relation(self, name: &str) -> Option<Obj<'a>> {
        self.instance(self.get(name))
    }

    /// The instance an attribute read from this model holds, if it holds one.
    pub fn instance(self, attr: Attr<'a>) -> Option<Obj<'a>> {
        match attr {
            Attr::One(Value::Instance(id)) => Some(self.world.obj(*id)),
            _ => None,
        }
    }

    /// The instances of a relation, in the model's order.
    pub fn related(self, name: &str) -> impl Iterator<Item = Obj<'a>> + 'a {
        let world = self.world;
        self.get(name).items().iter().filter_map(move |value| match value {
            Value::Instance(id) => Some(world.obj(*id)),
            _ => None,
        })
    }

    /// The attributes that are not relations, in the entity's order, with their values.
    pub fn attributes(self) -> impl Iterator<Item = (&'a str, Attr<'a>)> + 'a {
        let entity = self.world.model.entity(self.world.entity_of(self.id));
        entity
            .attrs
            .iter()
            .enumerate()
            .filter(|(_, attr)| !attr.is_relation())
            .map(move |(index, attr)| (self.world.interner.resolve(attr.name), self.slot(index as u32)))
    }

    /// A value as JSON (as an exported field holds it).
    pub fn json(self, value: &Value) -> JsonValue {
        self.world.value_json(value)
    }

    /// An attribute as JSON: null when unset, a list for a list slot.
    pub fn json_attr(self, attr: Attr<'_>) -> JsonValue {
        match attr {
            Attr::Missing | Attr::Unset => JsonValue::Null,
            Attr::One(value) => self.world.value_json(value),
            Attr::Many(items) => JsonValue::List(items.iter().map(|v| self.world.value_json(v)).collect()),
        }
    }
}

/// Why a computed field has no value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldError {
    /// The resource is left out of the export, and out of the `requires` of others
    /// (`managed = false`, an agent config that is not started).
    Ignore,
    /// A value it depends on is not known at compile time: the resource is exported as
    /// undefined, the field as null.
    Unknown,
    /// The field cannot be computed: the export fails, with this cause.
    Failed(String),
}

/// What a computed field is given: the instance, and the version's file store.
pub struct FieldCtx<'a, 'f> {
    this: Obj<'a>,
    files: &'f mut BTreeMap<String, Vec<u8>>,
}

impl<'a, 'f> FieldCtx<'a, 'f> {
    pub(crate) fn new(this: Obj<'a>, files: &'f mut BTreeMap<String, Vec<u8>>) -> Self {
        FieldCtx { this, files }
    }

    /// The resource's instance.
    pub fn this(&self) -> Obj<'a> {
        self.this
    }

    /// Any instance of the model, by number (what a plugin host names in its questions);
    /// `None` for a number no instance has.
    pub fn instance(&self, id: InstanceId) -> Option<Obj<'a>> {
        let world = self.this.world;
        (id.0 as usize).lt(&world.execution.instances.len()).then(|| world.obj(id))
    }

    /// Adds a body to the file store of the version, under its hash (a field such as
    /// `fs::File.hash` names it).
    pub fn add_file(&mut self, hash: String, body: Vec<u8>) {
        self.files.entry(hash).or_insert(body);
    }

    /// The bytes of the module file a file reference names (the value `std::file` or
    /// `fs::file` returned), if `text` is one.
    pub fn file_reference(&self, text: &str) -> Option<&'a [u8]> {
        self.this.world.execution.file_references.get(text).map(|bytes| &bytes[..])
    }
}

/// One resource of the version, as a dependency manager sees it.
#[derive(Clone, Copy)]
pub struct Member<'a> {
    pub index: usize,
    resource: &'a Resource,
    instance: Obj<'a>,
}

impl<'a> Member<'a> {
    /// The id, without version.
    pub fn id(&self) -> &'a str {
        &self.resource.id
    }

    /// The type it is registered under (`fs::File` for an `fs::ConfigFile`).
    pub fn resource_type(&self) -> &'a str {
        &self.resource.resource_type
    }

    /// An exported field.
    pub fn field(&self, name: &str) -> Option<&'a JsonValue> {
        self.resource.attribute(name)
    }

    /// A string field.
    pub fn str_field(&self, name: &str) -> Option<&'a str> {
        match self.field(name) {
            Some(JsonValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `purged` field.
    pub fn purged(&self) -> bool {
        matches!(self.field("purged"), Some(JsonValue::Bool(true)))
    }

    /// The instance of the model it was exported from.
    pub fn instance(&self) -> Obj<'a> {
        self.instance
    }
}

/// The resources of a version, for a dependency manager: it reads them and adds edges.
pub struct Dependencies<'a, 'e> {
    world: &'a World<'a>,
    resources: &'a [Resource],
    instances: &'a [InstanceId],
    edges: &'e mut [Vec<u32>],
}

impl<'a, 'e> Dependencies<'a, 'e> {
    pub(crate) fn new(world: &'a World<'a>, resources: &'a [Resource], instances: &'a [InstanceId], edges: &'e mut [Vec<u32>]) -> Self {
        Dependencies { world, resources, instances, edges }
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn get(&self, index: usize) -> Member<'a> {
        Member { index, resource: &self.resources[index], instance: self.world.obj(self.instances[index]) }
    }

    /// Every resource, in the order of the export (by id).
    pub fn iter(&self) -> impl Iterator<Item = Member<'a>> + '_ {
        (0..self.resources.len()).map(|index| self.get(index))
    }

    /// Makes the resource `from` require the resource `to` (an edge given twice, or one the
    /// model already has, is kept once).
    pub fn require(&mut self, from: usize, to: usize) {
        self.edges[from].push(to as u32);
    }
}

/// A version a dependency manager refuses: the message, the resource it is shown at, and
/// other resources with a label each.
#[derive(Clone, Debug, PartialEq)]
pub struct DependencyError {
    pub message: String,
    pub at: usize,
    pub related: Vec<(usize, String)>,
}
