//! How a module declares its resource types: the entity, where the agent name comes from,
//! which attribute identifies the resource, and which fields are exported. The fields every
//! resource inherits (`send_event`, `receive_events`, `purged`, `purge_on_delete`) are merged
//! in when the entity has them.

use crate::compile::value::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum AgentSource {
    /// An attribute path, e.g. `host.name`.
    Path(String),
    /// A fixed agent, e.g. `internal`.
    Constant(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FieldSource {
    /// An attribute path of the instance.
    Attribute(String),
    Constant(Value),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub source: FieldSource,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDecl {
    /// The resource type, the full name of the entity, e.g. `fs::File`.
    pub name: String,
    pub agent: AgentSource,
    pub id_attribute: String,
    pub fields: Vec<Field>,
}

/// Fields taken from `std::Resource` and `std::PurgeableResource` when the entity has them.
pub const INHERITED_FIELDS: &[&str] = &["send_event", "receive_events", "purged", "purge_on_delete"];

impl ResourceDecl {
    /// A resource type whose agent is the attribute path `agent` and whose fields are
    /// attributes of the same names (the id attribute is always exported).
    pub fn new(name: &str, agent: &str, id_attribute: &str, fields: &[&str]) -> Self {
        let mut all: Vec<Field> = Vec::new();
        let mut add = |name: &str| {
            if !all.iter().any(|f| f.name == name) {
                all.push(Field { name: name.to_string(), source: FieldSource::Attribute(name.to_string()) });
            }
        };
        add(id_attribute);
        fields.iter().for_each(|f| add(f));
        ResourceDecl { name: name.to_string(), agent: AgentSource::Path(agent.to_string()), id_attribute: id_attribute.to_string(), fields: all }
    }

    pub fn with_constant_agent(mut self, agent: &str) -> Self {
        self.agent = AgentSource::Constant(agent.to_string());
        self
    }
}

/// All resource types known to a compile, by entity full name.
#[derive(Clone, Debug, Default)]
pub struct ResourceRegistry {
    decls: BTreeMap<String, ResourceDecl>,
    /// Which inherited fields each declared entity actually has is decided at export time;
    /// the registry keeps them listed so every resource carries them when present.
    with_inherited: bool,
}

impl ResourceRegistry {
    pub fn new() -> Self {
        ResourceRegistry { decls: BTreeMap::new(), with_inherited: true }
    }

    pub fn register(&mut self, mut decl: ResourceDecl) {
        if self.with_inherited {
            for name in INHERITED_FIELDS {
                if !decl.fields.iter().any(|f| f.name == *name) {
                    decl.fields.push(Field { name: (*name).to_string(), source: FieldSource::Attribute((*name).to_string()) });
                }
            }
        }
        self.decls.insert(decl.name.clone(), decl);
    }

    pub fn get(&self, entity: &str) -> Option<&ResourceDecl> {
        self.decls.get(entity)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResourceDecl> {
        self.decls.values()
    }
}
