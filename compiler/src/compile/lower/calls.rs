//! Names that are not variables: globals (entities, typedefs, variables of other
//! namespaces, constraint variables) and plugin calls, resolved through the enclosing
//! namespaces as Inmanta resolves them, with their arguments lowered.

use super::*;

impl Lowerer<'_> {
    pub(super) fn lower_global(&mut self, name: &ast::QualName) -> IrKind {
        if self.in_constraint {
            return IrKind::ConstraintVariable(Rc::from(join(&name.parts, self.interner)));
        }
        match self.model.resolve_namespace(self.ns, name.namespace(), self.interner) {
            Ok(ns) => match self.model.namespaces[ns.index()].globals.get(&name.last().name) {
                Some(&index) => IrKind::Global { ns, index },
                None => {
                    let namespace = &self.model.namespaces[ns.index()];
                    let mut globals: Vec<&str> = namespace.globals.keys().map(|s| self.name(*s)).collect();
                    globals.sort_unstable();
                    let prefix = join(name.namespace(), self.interner);
                    let near = crate::suggest::closest(self.name(name.last().name), globals)
                        .map(|n| crate::compile::errors::Help::DidYouMean(format!("{prefix}::{n}")));
                    self.error(CompileError::new(ErrorKind::VariableNotFound(join(&name.parts, self.interner)), name.span()).with_help(near));
                    IrKind::Const(Value::Unknown)
                }
            },
            Err(error) => {
                self.error(error);
                IrKind::Const(Value::Unknown)
            }
        }
    }

    pub(super) fn lower_call(&mut self, function: &ast::QualName, args: &[Arg], span: Span) -> IrKind {
        let last = self.name(function.last().name).to_string();
        let candidates: Vec<String> = if function.parts.len() == 1 && crate::compile::plugins::CASTS.contains(&last.as_str()) {
            vec![format!("{}::{last}", crate::compile::plugins::CAST_NAMESPACE)]
        } else if function.parts.len() == 1 {
            // The namespace of the call and each enclosing one, as Inmanta looks plugins up:
            // not std (`upper(x)` is an error outside std; `std::upper(x)` is meant).
            let here = self.model.namespaces[self.ns.index()].name.as_str();
            std::iter::successors(Some(here), |n| n.rsplit_once("::").map(|(parent, _)| parent))
                .map(|prefix| format!("{prefix}::{last}"))
                .collect()
        } else {
            match self.model.resolve_namespace(self.ns, function.namespace(), self.interner) {
                Ok(ns) => vec![format!("{}::{last}", self.model.namespaces[ns.index()].name)],
                Err(error) => {
                    self.error(error);
                    return IrKind::Const(Value::Unknown);
                }
            }
        };
        let Some(plugin) = candidates.iter().find_map(|c| self.plugins.lookup(c)) else {
            let full = candidates[0].clone();
            let module = full.split("::").next().unwrap_or_default().to_string();
            let python = self.modules.get(&module).is_some_and(|m| m.python_plugins && matches!(m.origin, ModuleOrigin::Folder(_)));
            let kind = if python {
                ErrorKind::PythonPlugin { plugin: full, module }
            } else {
                ErrorKind::PluginNotFound(join(&function.parts, self.interner))
            };
            // Near plugins of the namespaces the call could mean, written as it was.
            let written = join(&function.parts, self.interner);
            let prefix_of = |c: &String| c.rsplit_once("::").map(|(p, _)| p.to_string()).unwrap_or_default();
            let std_name = format!("std::{last}");
            let in_std = function.parts.len() == 1 && self.plugins.lookup(&std_name).is_some();
            let near = if in_std { Some(std_name) } else { None };
            let near = near.or_else(|| candidates.iter().find_map(|candidate| {
                let prefix = prefix_of(candidate);
                let names: Vec<&str> = self.plugins.names_in(&prefix).collect();
                let found = crate::suggest::closest(&last, names)?;
                Some(match written.rsplit_once("::") {
                    Some((written_prefix, _)) => format!("{written_prefix}::{found}"),
                    None => found,
                })
            }));
            let error = CompileError::new(kind, span).with_help(near.map(crate::compile::errors::Help::DidYouMean));
            if python {
                // A plugin of the module's Python code: the embedder runs it, or, without a
                // plugin host, the call is an error when it runs (as in Inmanta, where it
                // exists): not in an implementation no instance selects.
                let (args, kwargs, wrapped) = self.lower_call_args(args);
                let names = candidates.iter().map(|c| Rc::from(c.as_str())).collect();
                return IrKind::Foreign { names, args, kwargs, wrapped, missing: Box::new(error) };
            }
            self.error(error);
            return IrKind::Const(Value::Unknown);
        };
        let (positional, kwargs, wrapped) = self.lower_call_args(args);
        IrKind::Call { plugin, args: positional, kwargs, wrapped }
    }

    /// A call's arguments: positionals, keywords (each name once), and `**dict` expansions.
    fn lower_call_args(&mut self, args: &[Arg]) -> (Vec<IrExpr>, Vec<(Symbol, IrExpr)>, Vec<IrExpr>) {
        let mut positional = Vec::new();
        let mut kwargs: Vec<(Symbol, IrExpr)> = Vec::new();
        let mut wrapped = Vec::new();
        for arg in args {
            match arg {
                Arg::Positional(value) => positional.push(self.lower_expr(value)),
                Arg::Named { name, value } => {
                    if kwargs.iter().any(|(given, _)| *given == name.name) {
                        let error = CompileError::new(ErrorKind::DuplicateKeyword(self.name(name.name).to_string()), name.span);
                        self.error(error);
                    }
                    kwargs.push((name.name, self.lower_expr(value)));
                }
                Arg::Kwargs(value) => wrapped.push(self.lower_expr(value)),
            }
        }
        (positional, kwargs, wrapped)
    }
}
