//! A stand-in for the compiler in unit tests: instances with attributes, scope variables,
//! settings, environment variables, module files and printed output, and `call` helpers that
//! run a registered std plugin.

use cairn_compiler::compile::plugins::{PluginCtx, PluginFailure, PluginHost, PluginRegistry};
use cairn_compiler::compile::value::{InstanceId, Value};
use cairn_compiler::span::Span;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Default)]
pub struct FakeHost {
    /// Entity name and attributes of each instance, by index.
    pub instances: Vec<(String, Vec<String>, BTreeMap<String, Value>)>,
    pub settings: BTreeMap<String, String>,
    /// The environment variables the host passes in (`std::get_env`).
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    pub output: Vec<String>,
    /// The variables of the calling scope (`PluginHost::variable`).
    pub vars: BTreeMap<String, Value>,
    /// The module of the calling code (`./` paths).
    pub module: Option<String>,
}

impl FakeHost {
    /// Adds an instance of `entity` declaring `names`, with the attributes in `set`.
    pub fn instance(&mut self, entity: &str, names: &[&str], set: &[(&str, Value)]) -> Value {
        let id = InstanceId(u32::try_from(self.instances.len()).unwrap_or(u32::MAX));
        self.instances.push((
            entity.to_string(),
            names.iter().map(|n| n.to_string()).collect(),
            set.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        ));
        Value::Instance(id)
    }

    /// Runs plugin `name` with `args` (defaults filled in), `this` being the calling instance.
    pub fn call(&mut self, name: &str, args: &[Value], this: Option<Value>) -> Result<Value, PluginFailure> {
        self.call_with(name, args, &[], this)
    }

    /// Like [`call`](Self::call), with keyword arguments that name no parameter (`**kwargs`).
    pub fn call_with(&mut self, name: &str, args: &[Value], kwargs: &[(&str, Value)], this: Option<Value>) -> Result<Value, PluginFailure> {
        let mut registry = PluginRegistry::new();
        crate::register(&mut registry);
        let plugin = registry.get(registry.lookup(name).unwrap_or_else(|| panic!("no plugin {name}")));
        let mut full: Vec<Value> = args.to_vec();
        for param in plugin.params.iter().skip(args.len()) {
            full.push(param.default.clone().unwrap_or_else(|| panic!("{name}: missing {}", param.name)));
        }
        let kwargs: Vec<(Rc<str>, Value)> = kwargs.iter().map(|(k, v)| (Rc::from(*k), v.clone())).collect();
        if plugin.unknown_passthrough && (full.iter().any(Value::is_unknown) || kwargs.iter().any(|(_, v)| v.is_unknown())) {
            return Ok(Value::Unknown);
        }
        let this = this.and_then(|v| if let Value::Instance(id) = v { Some(id) } else { None });
        let mut ctx = PluginCtx { host: self, span: Span::default(), this, kwargs: &kwargs };
        (plugin.func)(&mut ctx, &full)
    }
}

impl PluginHost for FakeHost {
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        let (_, names, values) = &self.instances[instance.0 as usize];
        match values.get(name) {
            Some(value) => Ok(value.clone()),
            None if names.iter().any(|n| n == name) => Err(PluginFailure::Wait(cairn_compiler::compile::plugins::WaitToken(0))),
            None => Err(PluginFailure::Error(format!("no attribute `{name}`"))),
        }
    }

    fn entity_name(&self, instance: InstanceId) -> String {
        self.instances[instance.0 as usize].0.clone()
    }

    fn is_instance_of(&self, instance: InstanceId, entity: &str) -> bool {
        // The ancestors of the std entities the tests use.
        const PARENTS: &[(&str, &[&str])] = &[
            ("std::testing::NullResource", &["std::ManagedResource", "std::PurgeableResource", "std::Resource", "std::Entity"]),
            ("std::AgentConfig", &["std::PurgeableResource", "std::Resource", "std::Entity"]),
            ("std::Host", &["std::ManagedDevice", "std::Entity"]),
        ];
        let own = &self.instances[instance.0 as usize].0;
        own == entity || PARENTS.iter().any(|(child, parents)| child == own && parents.contains(&entity))
    }

    fn attribute_names(&self, instance: InstanceId) -> Vec<String> {
        self.instances[instance.0 as usize].1.clone()
    }

    fn render(&self, value: &Value) -> String {
        let mut out = String::new();
        value.render(&mut out, &|id| format!("{} {}", self.instances[id.0 as usize].0, id.0));
        out
    }

    fn print(&mut self, line: String) {
        self.output.push(line);
    }

    fn module_file(&self, path: &str) -> Result<String, String> {
        self.files.get(path).cloned().ok_or_else(|| format!("cannot read {path}"))
    }

    fn file_reference(&mut self, path: &str) -> Result<String, String> {
        self.files.get(path).map(|_| format!("{}{path}", cairn_compiler::compile::plugins::FILE_REFERENCE_PREFIX)).ok_or_else(|| format!("cannot read {path}"))
    }

    fn module_files(&self, path: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{path}/");
        let names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect();
        if names.is_empty() && !self.files.keys().any(|k| k.starts_with(&prefix)) {
            return Err(format!("cannot list {path}"));
        }
        Ok(names)
    }

    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn variable(&mut self, name: &str) -> Result<Option<Value>, PluginFailure> {
        Ok(self.vars.get(name).cloned())
    }

    fn calling_module(&self) -> Option<String> {
        self.module.clone()
    }

    fn call_plugin(&mut self, name: &str, args: Vec<Value>) -> Result<Value, PluginFailure> {
        self.call(name, &args, None)
    }
}
