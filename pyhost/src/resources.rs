//! Resource types declared in Python (`@resource("ns::Entity", agent=..., id_attribute=...)`
//! classes) as export declarations: a field the class maps (`get_FIELD`, `map`) is computed by
//! the host for each instance, any other is the instance's attribute of that name, read by
//! Cairn itself. Native declarations win: a type Cairn declares itself is never asked of Python.

use crate::bridge::{Answer, Answers, Final, PythonHost, ResourceInfo};
use crate::codec::encode;
use cairn_compiler::compile::value::{InstanceId, Value};
use cairn_compiler::export::{Attr, FieldCtx, FieldError, FieldSource, JsonValue, ResourceDecl, ResourceRegistry};
use serde_json::json;

/// The export's view of the model, for the host's questions while it maps a field.
struct ExportAnswers<'c, 'a, 'f> {
    ctx: &'c FieldCtx<'a, 'f>,
}

impl Answers for ExportAnswers<'_, '_, '_> {
    fn attribute(&mut self, instance: u32, name: &str) -> Answer {
        let Some(obj) = self.ctx.instance(InstanceId(instance)) else { return Answer::NotFound(format!("there is no instance {instance}")) };
        match obj.get(name) {
            Attr::Missing => Answer::NotFound(format!("`{}` has no attribute or relation `{name}`", obj.entity())),
            // An empty relation with an upper bound above one is an empty list, not null.
            Attr::Unset if obj.is_list(name) == Some(true) => Answer::Value(Value::list(Vec::new())),
            Attr::Unset => Answer::Value(Value::Null),
            Attr::One(value) => Answer::Value(value.clone()),
            Attr::Many(items) => Answer::Value(Value::list(items.to_vec())),
        }
    }

    fn is_a(&self, instance: u32, entity: &str) -> bool {
        self.ctx.instance(InstanceId(instance)).is_some_and(|obj| obj.is_a(entity))
    }

    fn attribute_names(&self, instance: u32) -> Vec<String> {
        self.ctx.instance(InstanceId(instance)).map(|obj| obj.attributes().map(|(name, _)| name.to_string()).collect()).unwrap_or_default()
    }

    fn entity(&self, instance: u32) -> Option<String> {
        self.ctx.instance(InstanceId(instance)).map(|obj| obj.entity().to_string())
    }

    fn print(&mut self, _text: String) {}
}

/// Adds to `registry` the Python-declared resource types it does not declare itself.
pub fn register_python_resources(host: &PythonHost, resources: impl IntoIterator<Item = ResourceInfo>, registry: &mut ResourceRegistry) {
    for info in resources {
        if registry.get(&info.entity).is_some() {
            continue;
        }
        registry.register_as_declared(declaration(host, &info));
    }
}

fn declaration(host: &PythonHost, info: &ResourceInfo) -> ResourceDecl {
    let plain: Vec<&str> = info.fields.iter().filter(|(name, mapped)| !mapped && *name != info.id_attribute).map(|(name, _)| name.as_str()).collect();
    let mut decl = ResourceDecl::new(&info.entity, &info.agent, &info.id_attribute, &plain);
    // The id attribute is always mapped (Inmanta maps it to make the id), but it is an
    // exported field only where the class lists it.
    let mut fields = info.fields.clone();
    if !fields.iter().any(|(name, _)| *name == info.id_attribute) {
        decl.id_field_hidden = true;
        fields.push((info.id_attribute.clone(), info.id_mapped));
    }
    for (name, mapped) in &fields {
        if !mapped {
            continue;
        }
        if info.kind == "managed" && name == "managed" {
            decl = decl.managed();
            continue;
        }
        let host = host.clone();
        let entity = info.entity.clone();
        let field = name.clone();
        decl = decl.computed(name, move |ctx| map_field(&host, &entity, &field, ctx));
    }
    // A mapped id attribute keeps its computation (the export finds the key among the fields).
    debug_assert!(decl.fields.iter().all(|f| matches!(f.source, FieldSource::Attribute(_) | FieldSource::Computed(_))));
    decl
}

fn map_field(host: &PythonHost, entity: &str, field: &str, ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let reference = encode(&Value::Instance(this.id()), &|_| this.entity().to_string());
    let message = json!({"op": "map", "resource": entity, "field": field, "instance": reference});
    let mut answers = ExportAnswers { ctx };
    match host.request(message, &format!("the field `{field}` of `{entity}`"), &mut answers) {
        Final::Return(Value::Unknown) => Err(FieldError::Unknown),
        Final::Return(value) => Ok(this.json(&value)),
        Final::Ignore => Err(FieldError::Ignore),
        Final::Wait => Err(FieldError::Failed(format!("computing the field `{field}` read a value that is not known"))),
        Final::Failed(failure) => Err(FieldError::Failed(match failure.note {
            Some(note) => format!("{}\n{note}", failure.message),
            None => failure.message,
        })),
    }
}
