//! Calling native plugins: binding and type-checking arguments (as Python binds them), and
//! the host interface a plugin sees (reading attributes and scope variables, waiting,
//! printing, module files, settings, calling other plugins).

use super::*;
use crate::compile::plugins::{ForeignOutcome, ForeignPlugins, Plugin};

/// The arguments of one call, bound to the plugin's parameters: the values of its declared
/// parameters (defaults filled in, checked against their types), then the extra positionals
/// of a variadic plugin; and the extra keywords of a plugin taking `**kwargs`.
struct Bound {
    args: Vec<Value>,
    kwargs: Vec<(Rc<str>, Value)>,
}

/// Why arguments did not bind: a plugin problem, or a value of the wrong type.
enum BindError {
    Problem(PluginProblem),
    Type { param: &'static str, expected: String, value: Value },
}

/// Binds `positional` and `named` (keyword, value) to `def`'s parameters.
fn bind<'n>(def: &Plugin, positional: Vec<Value>, named: impl Iterator<Item = (&'n str, Value)>) -> Result<Bound, BindError> {
    let mut bound: Vec<Option<Value>> = vec![None; def.params.len()];
    let mut extra = Vec::new();
    for (i, value) in positional.into_iter().enumerate() {
        if i < bound.len() {
            bound[i] = Some(value);
        } else if def.variadic {
            extra.push(value);
        } else {
            return Err(BindError::Problem(PluginProblem::TooManyArguments(def.params.len())));
        }
    }
    let mut kwargs = Vec::new();
    for (name, value) in named {
        // Inmanta calls every plugin through a method whose first parameter is `self`.
        if name == "self" {
            return Err(BindError::Problem(PluginProblem::MultipleValues(name.to_string())));
        }
        match def.params.iter().position(|p| p.name == name) {
            Some(position) if bound[position].is_some() => {
                return Err(BindError::Problem(PluginProblem::MultipleValues(name.to_string())))
            }
            Some(position) => bound[position] = Some(value),
            None if def.kwargs => {
                if kwargs.iter().any(|(given, _): &(Rc<str>, Value)| &**given == name) {
                    return Err(BindError::Problem(PluginProblem::MultipleValues(name.to_string())));
                }
                kwargs.push((Rc::from(name), value));
            }
            None => return Err(BindError::Problem(PluginProblem::NoParameter(name.to_string()))),
        }
    }
    let mut args = Vec::with_capacity(bound.len() + extra.len());
    for (param, value) in def.params.iter().zip(bound) {
        let value = match value.or_else(|| param.default.clone()) {
            Some(value) => value,
            None => return Err(BindError::Problem(PluginProblem::MissingArgument(param.name.to_string()))),
        };
        if !param.ty.accepts(&value) {
            return Err(BindError::Type { param: param.name, expected: param.ty.name(), value });
        }
        args.push(value);
    }
    args.extend(extra);
    Ok(Bound { args, kwargs })
}

impl<'a> Executor<'a> {
    /// A call written in the model: `named` are its keywords (`name=value`), `expanded` the
    /// entries of its `**dict` arguments.
    pub(super) fn call_plugin(
        &mut self,
        plugin: crate::compile::ir::PluginRef,
        positional: Vec<Value>,
        named: Vec<(Symbol, Value)>,
        expanded: Vec<(Rc<str>, Value)>,
        span: Span,
    ) -> Eval<Value> {
        let plugins = self.plugins;
        let interner = self.interner;
        let def = plugins.get(plugin);
        let keywords = named.into_iter().map(|(name, value)| (interner.resolve(name), value));
        let keywords = keywords.chain(expanded.iter().map(|(name, value)| (&**name, value.clone())));
        let bound = match bind(def, positional, keywords) {
            Ok(bound) => bound,
            Err(BindError::Problem(problem)) => return fail(ErrorKind::PluginError { plugin: def.shown_name().to_string(), problem }, span),
            Err(BindError::Type { param, expected, value }) => {
                return fail(
                    ErrorKind::TypeMismatch {
                        expected: Expected::Type(expected),
                        found: self.show_type(&value),
                        context: Context::PluginArgument { param: param.to_string(), plugin: def.shown_name().to_string() },
                    },
                    span,
                )
            }
        };
        if def.unknown_passthrough && (bound.args.iter().any(Value::is_unknown) || bound.kwargs.iter().any(|(_, v)| v.is_unknown())) {
            return Ok(Value::Unknown);
        }
        let this = match self.current_self {
            CurrentSelf::None => None,
            CurrentSelf::Instance(instance) => Some(instance),
            CurrentSelf::Scope(scope) => self.instance_of_scope(scope),
        };
        let mut ctx = PluginCtx { host: self, span, this, kwargs: &bound.kwargs };
        let result = (def.func)(&mut ctx, &bound.args);
        match result {
            Ok(value) => Ok(value),
            Err(PluginFailure::Wait(_)) => match self.plugin_wait.take() {
                Some(wait) => Err(Halt::Wait(wait)),
                None => fail(ErrorKind::PluginError { plugin: def.shown_name().to_string(), problem: PluginProblem::WaitedWithoutReason }, span),
            },
            Err(PluginFailure::Error(message)) => {
                fail(ErrorKind::PluginError { plugin: def.shown_name().to_string(), problem: PluginProblem::Failed(message) }, span)
            }
            Err(PluginFailure::Explained { message, hint }) => {
                fail(ErrorKind::PluginError { plugin: def.shown_name().to_string(), problem: PluginProblem::Explained { message, hint } }, span)
            }
        }
    }

    /// A call run by the embedder's foreign plugins (a module's Python code).
    pub(super) fn call_foreign(
        &mut self,
        foreign: &dyn ForeignPlugins,
        names: &[Rc<str>],
        positional: &[Value],
        named: &[(Rc<str>, Value)],
        span: Span,
    ) -> Eval<Value> {
        match foreign.call(names, positional, named, self) {
            ForeignOutcome::Value(value) => Ok(value),
            ForeignOutcome::Wait => match self.plugin_wait.take() {
                Some(wait) => Err(Halt::Wait(wait)),
                None => fail(ErrorKind::PluginError { plugin: names[0].to_string(), problem: PluginProblem::WaitedWithoutReason }, span),
            },
            ForeignOutcome::Failed(failure) => {
                // The plugin as the host found it, or as written when it found none.
                let plugin = names[0].to_string();
                let problem = match failure.note {
                    Some(hint) => PluginProblem::Explained { message: failure.message, hint },
                    None => PluginProblem::Failed(failure.message),
                };
                fail(ErrorKind::PluginError { plugin, problem }, span)
            }
        }
    }

    /// The scope of the running statement, when it has one.
    fn calling_scope(&self) -> Option<ScopeId> {
        match self.current_self {
            CurrentSelf::Scope(scope) => Some(scope),
            CurrentSelf::Instance(instance) => self.self_scopes.get(&instance).copied(),
            CurrentSelf::None => None,
        }
    }

    /// The namespace of the running statement: an implementation's, or the namespace whose
    /// top-level scope the statement's scopes lead to.
    fn calling_namespace(&self) -> Option<crate::compile::model::NsId> {
        if let CurrentSelf::Instance(instance) = self.current_self {
            return Some(self.model.entity(self.instances[instance.0 as usize].entity).ns);
        }
        let mut current = self.calling_scope()?;
        loop {
            if let Some((_, implementation)) = self.impl_scopes.get(&current) {
                return Some(self.model.implementations[implementation.index()].ns);
            }
            let scope = &self.scopes[current.0 as usize];
            if let ScopeVars::Namespace(index) = scope.vars {
                return Some(crate::compile::model::NsId(index));
            }
            current = scope.parent?;
        }
    }
}

impl PluginHost for Executor<'_> {
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        let Some(symbol) = self.interner.get(name) else {
            return Err(PluginFailure::Error(HostError::NoAttribute(name.to_string()).to_string()));
        };
        match self.read_attr(instance, symbol, Span::default()) {
            Ok(value) => Ok(value),
            Err(Halt::Wait(wait)) => {
                self.plugin_wait = Some(wait);
                Err(PluginFailure::Wait(WaitToken(0)))
            }
            Err(Halt::Error(error)) => Err(PluginFailure::Error(error.details().title)),
        }
    }

    fn entity_name(&self, instance: InstanceId) -> String {
        self.model.entity(self.instances[instance.0 as usize].entity).full_name.clone()
    }

    fn is_instance_of(&self, instance: InstanceId, entity: &str) -> bool {
        let own = self.instances[instance.0 as usize].entity;
        std::iter::once(own)
            .chain(self.model.entity(own).ancestors.iter().copied())
            .any(|e| self.model.entity(e).full_name == entity)
    }

    fn attribute_names(&self, instance: InstanceId) -> Vec<String> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        entity.attrs.iter().map(|a| self.interner.resolve(a.name).to_string()).collect()
    }

    fn has_attribute(&self, instance: InstanceId, name: &str) -> bool {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        self.interner.get(name).is_some_and(|symbol| entity.attr(symbol).is_some())
    }

    fn variable(&mut self, name: &str) -> Result<Option<Value>, PluginFailure> {
        let Some(symbol) = self.interner.get(name) else { return Ok(None) };
        let Some(start) = self.calling_scope() else { return Ok(None) };
        // The lowering's order (see `lower::resolve_name`): the enclosing blocks' variables,
        // innermost first; then the implemented instance's attributes; then the globals of
        // the statement's namespace.
        let mut slot = None;
        let mut this = None;
        let mut current = Some(start);
        while let Some(scope_id) = current {
            let scope = &self.scopes[scope_id.0 as usize];
            let found = match scope.vars {
                ScopeVars::Block(block) => self.blocks[block.index()].vars.iter().position(|(var, _)| *var == symbol),
                ScopeVars::Namespace(index) => self.model.namespaces[index as usize].globals.get(&symbol).map(|i| *i as usize),
                ScopeVars::SelfValue => None,
            };
            if let Some(index) = found {
                slot = Some(SlotId(scope.first_var + index as u32));
                break;
            }
            if let Some((instance, _)) = self.impl_scopes.get(&scope_id) {
                this = Some(*instance);
                break;
            }
            if let ScopeVars::SelfValue = scope.vars {
                if let SlotValue::Single(Value::Instance(instance)) = &self.slots[scope.first_var as usize].value {
                    this = Some(*instance);
                }
                break;
            }
            current = scope.parent;
        }
        if slot.is_none() {
            if let Some(instance) = this {
                if self.has_attribute(instance, name) {
                    return self.attribute(instance, name).map(Some);
                }
            }
            if this.is_some() || current.is_none() {
                // An implementation (or a `when` condition): the globals of its namespace.
                if let Some(ns) = self.calling_namespace() {
                    if let Some(index) = self.model.namespaces[ns.index()].globals.get(&symbol) {
                        slot = Some(self.global_slot(ns, *index));
                    }
                }
            }
        }
        let Some(slot) = slot else { return Ok(None) };
        match self.read_var(slot) {
            Ok(value) => Ok(Some(value)),
            Err(Halt::Wait(wait)) => {
                self.plugin_wait = Some(wait);
                Err(PluginFailure::Wait(WaitToken(0)))
            }
            Err(Halt::Error(error)) => Err(PluginFailure::Error(error.details().title)),
        }
    }

    fn calling_module(&self) -> Option<String> {
        let ns = self.calling_namespace()?;
        Some(self.model.namespaces[ns.index()].module.clone())
    }

    fn call_plugin(&mut self, name: &str, args: Vec<Value>) -> Result<Value, PluginFailure> {
        let plugins = self.plugins;
        let Some(plugin) = plugins.lookup(name) else {
            return Err(PluginFailure::Error(format!("there is no plugin `{name}`")));
        };
        let def = plugins.get(plugin);
        let bound = match bind(def, args, std::iter::empty()) {
            Ok(bound) => bound,
            Err(BindError::Problem(problem)) => return Err(PluginFailure::Error(format!("plugin `{name}`: {problem}"))),
            Err(BindError::Type { param, expected, value }) => {
                return Err(PluginFailure::Error(format!(
                    "plugin `{name}`: invalid value for parameter `{param}`: expected {expected}, got {}",
                    self.show_type(&value)
                )))
            }
        };
        if def.unknown_passthrough && bound.args.iter().any(Value::is_unknown) {
            return Ok(Value::Unknown);
        }
        let this = match self.current_self {
            CurrentSelf::None => None,
            CurrentSelf::Instance(instance) => Some(instance),
            CurrentSelf::Scope(scope) => self.instance_of_scope(scope),
        };
        let mut ctx = PluginCtx { host: self, span: Span::default(), this, kwargs: &bound.kwargs };
        (def.func)(&mut ctx, &bound.args)
    }

    fn conforms_to_typedef(&mut self, name: &str, value: &Value) -> Result<Option<bool>, PluginFailure> {
        if let Some(inner) = name.strip_suffix('?') {
            if matches!(value, Value::Null) {
                return Ok(Some(true));
            }
            return self.conforms_to_typedef(inner, value);
        }
        if let Some(inner) = name.strip_suffix("[]") {
            let Value::List(items) = value else { return Ok(Some(false)) };
            for item in items.iter() {
                match self.conforms_to_typedef(inner, item)? {
                    Some(true) => {}
                    other => return Ok(other),
                }
            }
            return Ok(Some(true));
        }
        let Some((namespace, short)) = name.rsplit_once("::") else { return Ok(None) };
        let Some(symbol) = self.interner.get(short) else { return Ok(None) };
        let model = self.model;
        let Some(typedef) = model.namespaces.iter().find(|ns| ns.name == namespace).and_then(|ns| ns.typedefs.get(&symbol)) else {
            return Ok(None);
        };
        match self.type_accepts(&Type::Typedef(*typedef), value, Span::default()) {
            Ok(verdict) => Ok(Some(verdict)),
            Err(error) => Err(PluginFailure::Error(error.details().title)),
        }
    }

    fn render(&self, value: &Value) -> String {
        self.render_value(value)
    }

    fn print(&mut self, line: String) {
        self.output.push(line);
    }

    fn module_file(&self, path: &str) -> Result<String, String> {
        (self.module_file)(path)
    }

    fn module_files(&self, path: &str) -> Result<Vec<String>, String> {
        (self.module_files)(path)
    }

    fn file_reference(&mut self, path: &str) -> Result<String, String> {
        let reference = format!("{FILE_REFERENCE_PREFIX}{path}");
        if !self.file_references.contains_key(&reference) {
            let bytes = (self.module_file_bytes)(path)?;
            self.file_references.insert(reference.clone(), bytes);
        }
        Ok(reference)
    }

    fn setting(&self, key: &str) -> Option<String> {
        (self.settings)(key)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        (self.env_vars)(name)
    }
}
