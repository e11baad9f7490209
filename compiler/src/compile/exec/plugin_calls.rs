//! Calling native plugins: binding and type-checking arguments, and the host interface a
//! plugin sees (reading attributes, waiting, printing, module files, settings).

use super::*;

impl<'a> Executor<'a> {
    pub(super) fn call_plugin(&mut self, plugin: crate::compile::ir::PluginRef, positional: Vec<Value>, named: Vec<(Symbol, Value)>, span: Span) -> Eval<Value> {
        let plugins = self.plugins;
        let def = plugins.get(plugin);
        let mut bound: Vec<Option<Value>> = vec![None; def.params.len()];
        let mut extra = Vec::new();
        for (i, value) in positional.into_iter().enumerate() {
            if i < bound.len() {
                bound[i] = Some(value);
            } else if def.variadic {
                extra.push(value);
            } else {
                return fail(
                    ErrorKind::PluginError { plugin: def.name.clone(), problem: PluginProblem::TooManyArguments(def.params.len()) },
                    span,
                );
            }
        }
        for (name, value) in named {
            let name_text = self.interner.resolve(name);
            match def.params.iter().position(|p| p.name == name_text) {
                Some(position) => bound[position] = Some(value),
                None => {
                    return fail(
                        ErrorKind::PluginError { plugin: def.name.clone(), problem: PluginProblem::NoParameter(name_text.to_string()) },
                        span,
                    )
                }
            }
        }
        let mut args = Vec::with_capacity(bound.len() + extra.len());
        for (param, value) in def.params.iter().zip(bound) {
            let value = match value.or_else(|| param.default.clone()) {
                Some(value) => value,
                None => {
                    return fail(
                        ErrorKind::PluginError { plugin: def.name.clone(), problem: PluginProblem::MissingArgument(param.name.to_string()) },
                        span,
                    )
                }
            };
            if !param.ty.accepts(&value) {
                return fail(
                    ErrorKind::TypeMismatch {
                        expected: Expected::Type(param.ty.name()),
                        found: self.show_type(&value),
                        context: Context::PluginArgument { param: param.name.to_string(), plugin: def.name.clone() },
                    },
                    span,
                );
            }
            args.push(value);
        }
        args.extend(extra);
        if def.unknown_passthrough && args.iter().any(Value::is_unknown) {
            return Ok(Value::Unknown);
        }
        let func = def.func;
        let name = def.name.clone();
        let this = match self.current_self {
            CurrentSelf::None => None,
            CurrentSelf::Instance(instance) => Some(instance),
            CurrentSelf::Scope(scope) => self.instance_of_scope(scope),
        };
        let mut ctx = PluginCtx { host: self, span, this };
        let result = func(&mut ctx, &args);
        match result {
            Ok(value) => Ok(value),
            Err(PluginFailure::Wait(_)) => match self.plugin_wait.take() {
                Some(wait) => Err(Halt::Wait(wait)),
                None => fail(ErrorKind::PluginError { plugin: name, problem: PluginProblem::WaitedWithoutReason }, span),
            },
            Err(PluginFailure::Error(message)) => fail(ErrorKind::PluginError { plugin: name, problem: PluginProblem::Failed(message) }, span),
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
