//! Type checks of values against attribute types and typedefs (constraints are evaluated once
//! per scalar value and remembered), with messages that name the element or constraint at fault.

use super::*;

/// How many characters of a value a message shows.
const SHOWN_LIMIT: usize = 120;

/// `dict` and `list` (the untyped list): their values, at any depth, are plain values, never
/// instances.
fn holds_plain_values(ty: &Type) -> bool {
    match ty {
        Type::Dict => true,
        Type::List(element) => **element == Type::Any,
        _ => false,
    }
}

impl<'a> Executor<'a> {
    pub(super) fn check_type(&mut self, ty: &Type, value: &Value, span: Span, attribute: Symbol) -> Result<(), CompileError> {
        if self.type_accepts(ty, value, span)? {
            return Ok(());
        }
        let context = Context::Attribute(self.interner.resolve(attribute).to_string());
        Err(self.mismatch(ty, value, span, context)?)
    }

    /// Explains why `ty` does not accept `value`: the list element, typedef constraint or
    /// base type at fault.
    pub(super) fn mismatch(&mut self, ty: &Type, value: &Value, span: Span, context: Context) -> Result<CompileError, CompileError> {
        let inner = match ty {
            Type::Nullable(inner) => &**inner,
            other => other,
        };
        match (inner, value) {
            (Type::Dict, Value::Dict(_)) | (Type::List(_), Value::List(_)) if holds_plain_values(inner) => {
                if let Some(instance) = value.instance_within() {
                    return Ok(CompileError::new(
                        ErrorKind::TypeMismatch { expected: Expected::PlainValue(self.model.type_name(inner)), found: self.show_type(&Value::Instance(instance)), context },
                        span,
                    ));
                }
            }
            (Type::List(element), Value::List(items)) => {
                for item in items.iter() {
                    if !self.type_accepts(element, item, span)? {
                        return self.mismatch(element, item, span, Context::ElementOf(Box::new(context)));
                    }
                }
            }
            (Type::Typedef(id), value) => {
                let typedef = &self.model.typedefs[id.index()];
                let (name, base) = (typedef.name.clone(), typedef.base.clone());
                if self.type_accepts(&base, value, span)? {
                    return Ok(CompileError::new(ErrorKind::ConstraintViolation { typedef: name, value: self.show_short(value) }, span)
                        .with_related(typedef.span, Related::TypedefDeclaredHere));
                }
                if matches!(base, Type::Typedef(_)) {
                    return self.mismatch(&base, value, span, context);
                }
                return Ok(CompileError::new(
                    ErrorKind::TypeMismatch {
                        expected: Expected::Typedef { name, base: self.model.type_name(&base) },
                        found: self.show_type(value),
                        context,
                    },
                    span,
                ));
            }
            _ => {}
        }
        Ok(CompileError::new(
            ErrorKind::TypeMismatch { expected: Expected::Type(self.model.type_name(ty)), found: self.show_type(value), context },
            span,
        ))
    }

    pub(super) fn type_accepts(&mut self, ty: &Type, value: &Value, span: Span) -> Result<bool, CompileError> {
        Ok(match (ty, value) {
            (_, Value::Unknown) => true,
            (Type::Any, _) => true,
            (Type::Nullable(_), Value::Null) => true,
            (Type::Nullable(inner), other) => self.type_accepts(inner, other, span)?,
            (Type::String, Value::Str(_)) => true,
            // Inmanta checks `numbers.Integral` / `numbers.Number`, which Python's `bool` is:
            // `int n = true` is accepted (not into `float`).
            (Type::Int, Value::Int(_) | Value::Bool(_)) => true,
            (Type::Float, Value::Float(_)) => true,
            (Type::Number, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => true,
            (Type::Bool, Value::Bool(_)) => true,
            (Type::Dict, Value::Dict(_)) => value.instance_within().is_none(),
            (Type::List(_), Value::List(_)) if holds_plain_values(ty) => value.instance_within().is_none(),
            (Type::List(inner), Value::List(items)) => {
                for item in items.iter() {
                    if !self.type_accepts(inner, item, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Type::Entity(entity), Value::Instance(instance)) => {
                self.model.is_subtype(self.instances[instance.0 as usize].entity, *entity)
            }
            (Type::Typedef(id), value) => {
                // The model outlives the executor's borrow: no clone of the constraint needed.
                let model: &'a Model = self.model;
                let typedef = &model.typedefs[id.index()];
                if !self.type_accepts(&typedef.base, value, span)? {
                    return Ok(false);
                }
                if matches!(typedef.constraint, TypedefConstraint::None | TypedefConstraint::Expr(None)) {
                    return Ok(true);
                }
                // Constraints are pure: the verdict for a scalar value is computed once (a
                // fleet repeats the same few roles, modes and names thousands of times).
                let cache_key = match value {
                    Value::Str(_) | Value::Int(_) | Value::Bool(_) | Value::Float(_) => Some((id.0, KeyPart::of(value))),
                    _ => None,
                };
                if let Some(&verdict) = cache_key.as_ref().and_then(|key| self.constraint_verdicts.get(key)) {
                    return Ok(verdict);
                }
                let verdict = match &typedef.constraint {
                    TypedefConstraint::None | TypedefConstraint::Expr(None) => true,
                    TypedefConstraint::Regex(regex) => match value {
                        Value::Str(text) => regex.matches_at_start(text),
                        other => {
                            let text = self.show(other);
                            regex.matches_at_start(&text)
                        }
                    },
                    TypedefConstraint::Expr(Some(expr)) => {
                        let scope = self.value_scope(value.clone());
                        let saved_memo = (std::mem::take(&mut self.memo), self.memo_pos);
                        self.memo_pos = 0;
                        let result = self.eval(expr, scope);
                        self.scratch_depth -= 1;
                        self.memo = saved_memo.0;
                        self.memo_pos = saved_memo.1;
                        match result {
                            Ok(result) => result.is_unknown() || result.truthy(),
                            Err(Halt::Error(error)) => return Err(error.with_related(span, Related::ConstraintCheckedHere)),
                            // Not a verdict: not remembered.
                            Err(Halt::Wait(_)) => return Ok(true),
                        }
                    }
                };
                if let Some(key) = cache_key {
                    self.constraint_verdicts.insert(key, verdict);
                }
                verdict
            }
            _ => false,
        })
    }

    /// A one-variable scope holding `value` as `self`, for typedef constraints. The scratch
    /// scopes are reused (one per nesting depth) instead of growing the arena per check.
    pub(super) fn value_scope(&mut self, value: Value) -> ScopeId {
        let depth = self.scratch_depth;
        self.scratch_depth += 1;
        if let Some(&scope) = self.scratch_scopes.get(depth) {
            let slot = self.scopes[scope.0 as usize].first_var as usize;
            self.slots[slot].value = SlotValue::Single(value);
            return scope;
        }
        let scope = self.new_value_scope(value);
        self.scratch_scopes.push(scope);
        scope
    }

    pub(super) fn new_value_scope(&mut self, value: Value) -> ScopeId {
        let first_var = self.slots.len() as u32;
        self.slots.push(Slot::var(SlotValue::Single(value), None));
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { first_var, parent: None, vars: ScopeVars::SelfValue });
        id
    }

    /// A value as a message shows it: [`Executor::show`], cut after [`SHOWN_LIMIT`]
    /// characters (a message about a 27 kB string need not repeat it).
    pub(super) fn show_short(&self, value: &Value) -> String {
        let mut text = self.show(value);
        if let Some((cut, _)) = text.char_indices().nth(SHOWN_LIMIT) {
            text.truncate(cut);
            text.push('…');
        }
        text
    }

    pub(super) fn show(&self, value: &Value) -> String {
        match value {
            Value::Str(s) => format!("\"{s}\""),
            Value::Instance(instance) => self.describe_instance(*instance).to_string(),
            other => self.render(other),
        }
    }

    /// What a value is, for a type error.
    pub(super) fn show_type(&self, value: &Value) -> Found {
        match value {
            Value::Null => Found::Null,
            Value::Instance(instance) => Found::Instance(self.model.entity(self.instances[instance.0 as usize].entity).full_name.clone()),
            other => Found::Value { type_name: other.type_name(), shown: self.show_short(other) },
        }
    }

    pub(super) fn render_value(&self, value: &Value) -> String {
        let mut out = String::new();
        self.render_into(value, &mut out);
        out
    }

    /// Renders as string interpolation does, appending to `out`.
    pub(super) fn render_into(&self, value: &Value, out: &mut String) {
        match value {
            Value::Str(text) => out.push_str(text),
            other => other.render(out, &|id| {
                let entity = self.model.entity(self.instances[id.0 as usize].entity);
                format!("{} {}", entity.full_name, id.0)
            }),
        }
    }
}
