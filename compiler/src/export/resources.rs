//! How a module declares its resource types, as Inmanta's `@resource` classes do: the entity
//! (the type name; subclasses of the entity export under it), where the agent name comes from,
//! which field identifies the resource, and the fields exported. A field is an attribute path
//! of the instance, or computed by a function of the module crate from the instance (`hash`
//! from `content`, `via` from the host, ...); a computed field may also leave the resource out
//! of the export (Inmanta's `IgnoreResourceException`). The fields every resource inherits
//! (`send_event`, `receive_events`, `purged`, `purge_on_delete`) are merged in when the
//! entity has them. A module may also register dependency managers: functions that add
//! `requires` edges once every resource of a version is known (Inmanta's
//! `@dependency_manager`).

use super::json::JsonValue;
use super::view::{Dependencies, DependencyError, FieldCtx, FieldError};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A computed field: a function of the instance (through [`FieldCtx`]) to the field's JSON
/// value.
pub type Compute = Arc<dyn Fn(&mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> + Send + Sync>;

/// A dependency manager: adds edges between the resources of a version, or refuses it.
pub type DependencyFn = Arc<dyn Fn(&mut Dependencies<'_, '_>) -> Result<(), DependencyError> + Send + Sync>;

#[derive(Clone)]
pub enum AgentSource {
    /// An attribute path, e.g. `host.name`.
    Path(String),
    /// A fixed agent, e.g. `internal`.
    Constant(String),
    /// Computed from the instance; the value must be a string.
    Computed(Compute),
}

/// Shown in messages about an agent that is not known (`Path("host.name")`).
impl fmt::Debug for AgentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentSource::Path(path) => f.debug_tuple("Path").field(path).finish(),
            AgentSource::Constant(name) => f.debug_tuple("Constant").field(name).finish(),
            AgentSource::Computed(_) => f.write_str("Computed"),
        }
    }
}

#[derive(Clone)]
pub enum FieldSource {
    /// An attribute path of the instance.
    Attribute(String),
    /// A function of the module crate.
    Computed(Compute),
}

impl fmt::Debug for FieldSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldSource::Attribute(path) => f.debug_tuple("Attribute").field(path).finish(),
            FieldSource::Computed(_) => f.write_str("Computed"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub source: FieldSource,
}

#[derive(Clone, Debug)]
pub struct ResourceDecl {
    /// The resource type, the full name of the entity, e.g. `fs::File`.
    pub name: String,
    pub agent: AgentSource,
    /// The field whose value identifies the resource on its agent (`path`, `uri`, ...).
    pub id_attribute: String,
    pub fields: Vec<Field>,
    /// The id attribute's field gives the resource its id but is not exported (a Python
    /// class that maps its id attribute without listing it among its `fields`).
    pub id_field_hidden: bool,
}

/// Fields taken from `std::Resource` and `std::PurgeableResource` when the entity has them.
pub const INHERITED_FIELDS: &[&str] = &["send_event", "receive_events", "purged", "purge_on_delete"];

impl ResourceDecl {
    /// A resource type whose agent is the attribute path `agent` and whose fields are
    /// attributes of the same names (the id attribute is always exported).
    pub fn new(name: &str, agent: &str, id_attribute: &str, fields: &[&str]) -> Self {
        let mut decl = ResourceDecl {
            name: name.to_string(),
            agent: AgentSource::Path(agent.to_string()),
            id_attribute: id_attribute.to_string(),
            fields: Vec::new(),
            id_field_hidden: false,
        };
        for field in std::iter::once(&id_attribute).chain(fields) {
            decl.set(field, FieldSource::Attribute((*field).to_string()));
        }
        decl
    }

    pub fn with_constant_agent(mut self, agent: &str) -> Self {
        self.agent = AgentSource::Constant(agent.to_string());
        self
    }

    /// The agent is computed from the instance (e.g. an attribute with a fallback).
    pub fn with_computed_agent<F>(mut self, compute: F) -> Self
    where
        F: Fn(&mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> + Send + Sync + 'static,
    {
        self.agent = AgentSource::Computed(Arc::new(compute));
        self
    }

    /// Adds the field `name`, computed by `compute` (replacing an attribute field of that
    /// name).
    pub fn computed<F>(mut self, name: &str, compute: F) -> Self
    where
        F: Fn(&mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> + Send + Sync + 'static,
    {
        self.set(name, FieldSource::Computed(Arc::new(compute)));
        self
    }

    /// Adds the field `name` with a computation shared between declarations.
    pub fn computed_with(mut self, name: &str, compute: &Compute) -> Self {
        self.set(name, FieldSource::Computed(compute.clone()));
        self
    }

    /// The `managed` field of `std::ManagedResource`: exported as it is, and a resource whose
    /// `managed` is false is left out of the export (and out of the `requires` of others).
    pub fn managed(self) -> Self {
        self.computed("managed", |ctx| match ctx.this().get("managed").value() {
            Some(crate::compile::value::Value::Bool(false)) => Err(FieldError::Ignore),
            Some(crate::compile::value::Value::Unknown) => Err(FieldError::Unknown),
            Some(value) => Ok(ctx.this().json(value)),
            None => Ok(JsonValue::Bool(true)),
        })
    }

    fn set(&mut self, name: &str, source: FieldSource) {
        match self.fields.iter_mut().find(|f| f.name == name) {
            Some(field) => field.source = source,
            None => self.fields.push(Field { name: name.to_string(), source }),
        }
    }
}

/// A dependency manager and the name it is reported under.
#[derive(Clone)]
pub struct DependencyManager {
    /// `fs::dir_before_file`: who refused a version.
    pub name: String,
    pub run: DependencyFn,
}

impl DependencyManager {
    pub fn new<F>(name: &str, run: F) -> Self
    where
        F: Fn(&mut Dependencies<'_, '_>) -> Result<(), DependencyError> + Send + Sync + 'static,
    {
        DependencyManager { name: name.to_string(), run: Arc::new(run) }
    }
}

impl fmt::Debug for DependencyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DependencyManager").field("name", &self.name).finish_non_exhaustive()
    }
}

/// All resource types known to a compile, by entity full name, and the dependency managers
/// of the modules that declare them.
#[derive(Clone, Debug, Default)]
pub struct ResourceRegistry {
    decls: BTreeMap<String, ResourceDecl>,
    managers: Vec<DependencyManager>,
}

impl ResourceRegistry {
    pub fn new() -> Self {
        ResourceRegistry::default()
    }

    /// Registers a resource type; the inherited fields are added where the declaration does
    /// not name them (they are exported when the entity has them).
    pub fn register(&mut self, mut decl: ResourceDecl) {
        for name in INHERITED_FIELDS {
            if !decl.fields.iter().any(|f| f.name == *name) {
                decl.fields.push(Field { name: (*name).to_string(), source: FieldSource::Attribute((*name).to_string()) });
            }
        }
        self.decls.insert(decl.name.clone(), decl);
    }

    /// Registers a resource type exactly as declared: no inherited fields are added (a Python
    /// `@resource` class lists every field of its bases itself).
    pub fn register_as_declared(&mut self, decl: ResourceDecl) {
        self.decls.insert(decl.name.clone(), decl);
    }

    /// Registers a dependency manager; they run in registration order.
    pub fn register_dependency_manager(&mut self, manager: DependencyManager) {
        self.managers.push(manager);
    }

    pub fn get(&self, entity: &str) -> Option<&ResourceDecl> {
        self.decls.get(entity)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResourceDecl> {
        self.decls.values()
    }

    pub fn dependency_managers(&self) -> &[DependencyManager] {
        &self.managers
    }
}
