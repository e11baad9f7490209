//! The native plugin API. A module crate registers its plugins (full name, typed parameters,
//! a Rust function) in a [`PluginRegistry`]; the compiler calls them once their arguments are
//! complete. A plugin reads attributes of instances through [`PluginCtx`]; reading one that is
//! not set yet makes the call wait and run again later, so plugins need not care about order.
//!
//! Arguments bind as Python binds them: positionals first, then keywords by parameter name; a
//! parameter given both ways, or a keyword named `self` (the plugin machinery's own parameter
//! in Inmanta), is an error. A plugin declared with `kwargs` (Python's `**kwargs`) receives the
//! keywords that name no parameter in [`PluginCtx::kwargs`], in call order; one declared
//! `variadic` (`*args`) receives extra positionals after its declared parameters.

use super::errors::HostError;
use super::ir::PluginRef;
use super::value::{InstanceId, Value};
use crate::span::Span;
use rustc_hash::FxHashMap;
use std::rc::Rc;

/// How the text of a file reference starts (see [`PluginHost::file_reference`]).
pub const FILE_REFERENCE_PREFIX: &str = "imp-module-source:file://";

/// The namespace of the type casts `int(x)`, `float(x)`, `number(x)`, `string(x)` and
/// `bool(x)`: an unqualified call of a primitive type's name is a cast (as in Inmanta, the
/// type wins over any plugin of that name), implemented as the plugin `<cast>::int` and so
/// on (a name no model can write).
pub const CAST_NAMESPACE: &str = "<cast>";

/// The primitive types that can be called as casts.
pub const CASTS: [&str; 5] = ["int", "float", "number", "string", "bool"];

/// The type of a plugin parameter; arguments are checked before the call.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamType {
    Any,
    String,
    Int,
    Float,
    Number,
    Bool,
    List,
    Dict,
    Instance,
    Nullable(Box<ParamType>),
}

impl ParamType {
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (_, Value::Unknown) => true,
            (ParamType::Any, _) => true,
            (ParamType::Nullable(_), Value::Null) => true,
            (ParamType::Nullable(inner), other) => inner.accepts(other),
            (ParamType::String, Value::Str(_)) => true,
            (ParamType::Int, Value::Int(_)) => true,
            (ParamType::Float, Value::Float(_)) => true,
            (ParamType::Number, Value::Int(_) | Value::Float(_)) => true,
            (ParamType::Bool, Value::Bool(_)) => true,
            (ParamType::List, Value::List(_)) => true,
            (ParamType::Dict, Value::Dict(_)) => true,
            (ParamType::Instance, Value::Instance(_)) => true,
            _ => false,
        }
    }

    pub fn name(&self) -> String {
        match self {
            ParamType::Any => "any".into(),
            ParamType::String => "string".into(),
            ParamType::Int => "int".into(),
            ParamType::Float => "float".into(),
            ParamType::Number => "number".into(),
            ParamType::Bool => "bool".into(),
            ParamType::List => "list".into(),
            ParamType::Dict => "dict".into(),
            ParamType::Instance => "an entity instance".into(),
            ParamType::Nullable(inner) => format!("{}?", inner.name()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub default: Option<Value>,
}

impl Param {
    pub fn new(name: &'static str, ty: ParamType) -> Self {
        Param { name, ty, default: None }
    }

    pub fn optional(name: &'static str, ty: ParamType, default: Value) -> Self {
        Param { name, ty, default: Some(default) }
    }
}

/// Why a plugin call did not return a value.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginFailure {
    /// An attribute it read is not set yet: the executor runs the call again once it is.
    Wait(WaitToken),
    Error(String),
    /// An error with a hint shown under it (for instance the wording of the library the
    /// plugin reproduces, such as Jinja2's `'x' is undefined`).
    Explained { message: String, hint: String },
}

/// How a plugin that runs outside the compiler (Python, through a plugin host) failed.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignFailure {
    /// What happened, one line (`ValueError: bad address`).
    pub message: String,
    /// Lines shown under the message: the traceback's last frames, or the host's last words.
    pub note: Option<String>,
}

/// Plugins that run outside the compiler: a module's Python plugins, run by a plugin host
/// process. The compiler does no IO, so the embedder supplies this; the executor calls it for
/// a call into a module with foreign code that no native plugin covers. During a call the
/// implementation reads instances through `host` (a read that is not known yet makes it
/// return [`ForeignOutcome::Wait`], and the executor runs the call again later).
pub trait ForeignPlugins {
    /// The modules the compile loaded, before anything runs: the ones with foreign code are
    /// where calls go.
    fn modules_loaded(&self, modules: &[&super::loader::ModuleInfo]);
    /// Calls the first plugin of `names` (full names in lookup order: `ip::sub::f`, `ip::f`)
    /// that exists, with these arguments.
    fn call(&self, names: &[Rc<str>], args: &[Value], kwargs: &[(Rc<str>, Value)], host: &mut dyn PluginHost) -> ForeignOutcome;
}

/// The outcome of a call of a [`ForeignPlugins`] plugin.
#[derive(Clone, Debug, PartialEq)]
pub enum ForeignOutcome {
    Value(Value),
    /// It read a value that is not known yet (the host's `attribute` said so).
    Wait,
    Failed(ForeignFailure),
}

/// Opaque handle the executor uses to resume a waiting plugin call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitToken(pub u32);

/// What a plugin may ask of the compiler.
pub trait PluginHost {
    /// Reads an attribute or relation of an instance; lists are returned once complete.
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure>;
    /// The full name of the instance's entity, e.g. `std::Host`.
    fn entity_name(&self, instance: InstanceId) -> String;
    /// True when the instance's entity is `entity` (a full name) or inherits from it.
    fn is_instance_of(&self, instance: InstanceId, entity: &str) -> bool;
    /// Names of all attributes and relations of the instance's entity.
    fn attribute_names(&self, instance: InstanceId) -> Vec<String>;
    /// Renders a value as string interpolation does.
    fn render(&self, value: &Value) -> String;
    /// Output of `std::print` and friends.
    fn print(&mut self, line: String);
    /// Reads a file of a module (`templates/`, `files/`): `path` is `module/rest`.
    fn module_file(&self, path: &str) -> Result<String, String>;
    /// Names of the regular files directly in a folder of a module (`module/rest`, e.g.
    /// `mymod/files/conf.d`), sorted; for `std::list_files`. Hosts that cannot list folders
    /// keep this default.
    fn module_files(&self, path: &str) -> Result<Vec<String>, String> {
        Err(HostError::ListingUnsupported(path.to_string()).to_string())
    }
    /// A reference to the module file `module/folder/rest` whose bytes (binary or not) an
    /// exported field uses (`fs::File.hash` of `std::file`/`fs::file` content): the file is
    /// read now, under the same checks as [`PluginHost::module_file`], kept with the
    /// compile's result, and the returned text names it (Inmanta's in-band marker,
    /// [`FILE_REFERENCE_PREFIX`] then the path). Hosts that keep no files keep this default.
    fn file_reference(&mut self, path: &str) -> Result<String, String> {
        Err(HostError::ReferencesUnsupported(path.to_string()).to_string())
    }
    /// A value of the compile environment (environment id, server address, ...).
    fn setting(&self, key: &str) -> Option<String>;
    /// A process environment variable (`std::get_env`), as the embedder passed them in: the
    /// compiler never reads its own environment. Hosts without any keep this default.
    fn env_var(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
    /// True when the instance's entity has an attribute or relation `name`.
    fn has_attribute(&self, instance: InstanceId, name: &str) -> bool {
        self.attribute_names(instance).iter().any(|n| n == name)
    }
    /// The value of `name` as a bare name in the calling statement would read it (Inmanta's
    /// resolver, which `std::template` uses without keyword arguments): the variables of the
    /// enclosing blocks, then in an implementation the instance's attributes and relations,
    /// then the top-level variables of the statement's namespace. `Ok(None)` when no such
    /// name is in scope; a variable not assigned yet makes the call wait.
    fn variable(&mut self, name: &str) -> Result<Option<Value>, PluginFailure> {
        let _ = name;
        Ok(None)
    }
    /// The module whose code makes the call (the first part of its namespace): what a `./`
    /// path of `std::template` and friends names.
    fn calling_module(&self) -> Option<String> {
        None
    }
    /// Whether `value` conforms to the typedef `name` (a full name, `ip::cidr_v10`, maybe
    /// with `?` or `[]` after it), its constraint evaluated as the model's would be; `Ok(None)`
    /// when the model has no such typedef. For plugins whose parameters name typedefs (a
    /// foreign plugin's annotations).
    fn conforms_to_typedef(&mut self, name: &str, value: &Value) -> Result<Option<bool>, PluginFailure> {
        let _ = (name, value);
        Ok(None)
    }
    /// Calls the plugin `name` (full name, `std::upper`) with positional arguments, bound and
    /// checked as a call in the model would be (so templates can use plugins as filters).
    fn call_plugin(&mut self, name: &str, args: Vec<Value>) -> Result<Value, PluginFailure> {
        let _ = args;
        Err(PluginFailure::Error(format!("cannot call plugin `{name}` from here")))
    }
}

pub struct PluginCtx<'a> {
    pub host: &'a mut dyn PluginHost,
    /// Where the call is written.
    pub span: Span,
    /// The instance whose implementation makes the call (`self`), if any.
    pub this: Option<InstanceId>,
    /// The keyword arguments that name no parameter, in call order (only for plugins
    /// declared with [`Plugin::kwargs`]; empty otherwise).
    pub kwargs: &'a [(Rc<str>, Value)],
}

pub type PluginFn = fn(&mut PluginCtx<'_>, &[Value]) -> Result<Value, PluginFailure>;

impl Plugin {
    /// The name messages show: as a model writes it (`int` for the cast `<cast>::int`).
    pub fn shown_name(&self) -> &str {
        self.name.strip_prefix(CAST_NAMESPACE).and_then(|rest| rest.strip_prefix("::")).unwrap_or(&self.name)
    }
}

pub struct Plugin {
    /// Full name, e.g. `std::replace`.
    pub name: String,
    pub params: Vec<Param>,
    /// Extra positional arguments are accepted (and passed after the declared ones).
    pub variadic: bool,
    /// Keyword arguments that name no parameter are accepted (Python's `**kwargs`) and
    /// handed over in [`PluginCtx::kwargs`].
    pub kwargs: bool,
    /// The plugin needs its list arguments complete and fails on unknowns only if this is
    /// false; when true, unknown arguments short-circuit to an unknown result.
    pub unknown_passthrough: bool,
    pub func: PluginFn,
}

#[derive(Default)]
pub struct PluginRegistry {
    plugins: Vec<Plugin>,
    by_name: FxHashMap<String, PluginRef>,
}

impl PluginRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, name: &str, params: Vec<Param>, func: PluginFn) -> &mut Plugin {
        self.register_plugin(Plugin { name: name.to_string(), params, variadic: false, kwargs: false, unknown_passthrough: true, func })
    }

    pub fn register_plugin(&mut self, plugin: Plugin) -> &mut Plugin {
        let id = PluginRef(u32::try_from(self.plugins.len()).unwrap_or(u32::MAX));
        let index = match self.by_name.get(&plugin.name) {
            Some(existing) => {
                let index = existing.0 as usize;
                self.plugins[index] = plugin;
                index
            }
            None => {
                self.by_name.insert(plugin.name.clone(), id);
                self.plugins.push(plugin);
                self.plugins.len() - 1
            }
        };
        &mut self.plugins[index]
    }

    /// The short names of the plugins of namespace `namespace` (`std` gives `upper`, ...).
    pub fn names_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.by_name.keys().filter_map(move |full| full.strip_prefix(namespace).and_then(|rest| rest.strip_prefix("::"))).filter(|rest| !rest.contains("::"))
    }

    pub fn lookup(&self, name: &str) -> Option<PluginRef> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: PluginRef) -> &Plugin {
        &self.plugins[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}
