//! Expression evaluation: every expression kind, comprehensions, lookups in indexes and
//! relations and operators with Python semantics (f-string format specs are in `fspec`).

use super::*;
use super::fspec::{fill_nested, format_spec};

/// An expression that neither constructs, calls a plugin nor looks up: evaluating it again
/// replays nothing.
pub(super) fn is_pure(expr: &IrExpr) -> bool {
    match &expr.kind {
        IrKind::Const(_) | IrKind::Var { .. } | IrKind::Global { .. } | IrKind::CompVar(_) => true,
        IrKind::Attr { base, .. } | IrKind::Not(base) | IrKind::IsDefined(base) => is_pure(base),
        IrKind::Subscript { base, key } => is_pure(base) && is_pure(key),
        IrKind::And(lhs, rhs) | IrKind::Or(lhs, rhs) | IrKind::Binary { lhs, rhs, .. } => is_pure(lhs) && is_pure(rhs),
        IrKind::Conditional { cond, then, otherwise } => is_pure(cond) && is_pure(then) && is_pure(otherwise),
        IrKind::List(items) => items.iter().all(is_pure),
        IrKind::Dict(pairs) => pairs.iter().all(|(_, value)| is_pure(value)),
        IrKind::Concat(parts) => parts.iter().all(|part| match part {
            IrPart::Lit(_) => true,
            IrPart::Value(value) | IrPart::Format { value, .. } => is_pure(value),
        }),
        _ => false,
    }
}

impl<'a> Executor<'a> {
    /// Whether a constructor argument of `entity` whose value is not known yet may be set after
    /// the instance is constructed (see [`LateArg`]).
    fn may_set_late(&self, entity: EntityId, name: Symbol, value: &IrExpr) -> bool {
        let def = self.model.entity(entity);
        let Some((_, attr)) = def.attr(name) else { return false };
        matches!(attr.kind, AttrKind::Value { .. })
            && !attr.is_multi()
            && !def.indexes.iter().any(|index| self.model.indexes[index.index()].attrs.contains(&name))
            && is_pure(value)
    }

    /// Starts a task for each argument set after construction.
    fn spawn_late_args<'e>(&mut self, instance: InstanceId, args: impl Iterator<Item = &'e (Symbol, Span, IrExpr)>, scope: ScopeId) {
        let may_write = self.task_may_write(&self.tasks[self.current_task.0 as usize].kind);
        for (name, name_span, value) in args {
            let Some((attr, _)) = self.model.entity(self.instances[instance.0 as usize].entity).attr(*name) else { continue };
            let late = LateArg { instance, attr: attr as u32, value: value.clone(), span: name_span.to(value.span), scope, may_write: may_write.clone() };
            self.new_task(TaskKind::LateArg(Rc::new(late)));
        }
    }

    /// The arguments of a plugin call: positionals, keywords, and the entries of its `**dict`
    /// arguments, which keep their keys as text (a plugin taking `**kwargs` sees every key,
    /// whether or not the model names it anywhere else).
    #[allow(clippy::type_complexity)]
    fn eval_call_args(
        &mut self,
        args: &[IrExpr],
        kwargs: &[(Symbol, IrExpr)],
        wrapped: &[IrExpr],
        scope: ScopeId,
        span: Span,
    ) -> Eval<(Vec<Value>, Vec<(Symbol, Value)>, Vec<(Rc<str>, Value)>)> {
        let mut positional = Vec::with_capacity(args.len());
        for arg in args {
            positional.push(self.eval(arg, scope)?);
        }
        let mut named = Vec::with_capacity(kwargs.len());
        for (name, arg) in kwargs {
            named.push((*name, self.eval(arg, scope)?));
        }
        let mut expanded = Vec::new();
        for extra in wrapped {
            match self.eval(extra, scope)? {
                Value::Dict(dict) => expanded.extend(dict.iter().map(|(key, value)| (key.clone(), value.clone()))),
                other => {
                    return fail(
                        ErrorKind::TypeMismatch { expected: Expected::Type("dict".into()), found: self.show_type(&other), context: Context::DoubleStar },
                        span,
                    )
                }
            }
        }
        Ok((positional, named, expanded))
    }

    pub(super) fn memoized(&mut self) -> Option<Value> {
        let value = self.memo.get(self.memo_pos).cloned();
        if value.is_some() {
            self.memo_pos += 1;
        }
        value
    }

    pub(super) fn remember(&mut self, value: &Value) {
        if self.memo.capacity() == 0 {
            self.memo.reserve(4);
        }
        self.memo.push(value.clone());
        self.memo_pos += 1;
    }

    pub(super) fn eval(&mut self, expr: &IrExpr, scope: ScopeId) -> Eval<Value> {
        let span = expr.span;
        match &expr.kind {
            IrKind::Const(value) => Ok(value.clone()),
            IrKind::Var { depth, index } => {
                let slot = self.var_slot(scope, *depth, *index);
                self.read_var(slot)
            }
            IrKind::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.read_var(slot)
            }
            IrKind::CompVar(index) => Ok(self.comp.get(*index as usize).cloned().unwrap_or(Value::Unknown)),
            IrKind::ConstraintVariable(name) => fail(ErrorKind::ConstraintVariable(name.to_string()), span),
            IrKind::Missing(error) => Err(Halt::from((**error).clone())),
            IrKind::Attr { base, name } => {
                let base_value = self.eval(base, scope)?;
                match base_value {
                    Value::Instance(instance) => self.read_attr(instance, *name, span),
                    Value::Unknown => Ok(Value::Unknown),
                    other => fail(
                        ErrorKind::NotAnInstance {
                            found: self.show_type(&other),
                            context: Context::Reading(self.interner.resolve(*name).to_string()),
                        },
                        base.span,
                    ),
                }
            }
            IrKind::Subscript { base, key } => {
                let base_value = self.eval(base, scope)?;
                let key_value = self.eval(key, scope)?;
                match (&base_value, &key_value) {
                    (Value::Unknown, _) | (_, Value::Unknown) => Ok(Value::Unknown),
                    (Value::Dict(dict), Value::Str(k)) => match dict.get(k) {
                        Some(value) => Ok(value.clone()),
                        None => fail(ErrorKind::KeyNotFound(format!("\"{k}\"")), key.span),
                    },
                    // No list indexing: Inmanta's `[...]` is a dict lookup only ("dict lookup
                    // is only possible on dicts"); `std::at` reads a list's element.
                    _ => fail(
                        ErrorKind::InvalidOperation(Operation::Index { base: base_value.type_name(), key: key_value.type_name() }),
                        span,
                    ),
                }
            }
            IrKind::IndexLookup { entity, args, wrapped } => {
                let args = self.eval_named(args, wrapped, scope, span)?;
                self.index_lookup(*entity, args, span)
            }
            IrKind::RelationLookup { base, args, wrapped } => {
                let args = self.eval_named(args, wrapped, scope, span)?;
                self.relation_lookup(base, args, scope, span)
            }
            IrKind::Call { plugin, args, kwargs, wrapped } => {
                // The arguments first, even on a re-run: the memo holds the calls and
                // constructors of the arguments before this call's own result.
                let (positional, named, expanded) = self.eval_call_args(args, kwargs, wrapped, scope, span)?;
                if let Some(value) = self.memoized() {
                    return Ok(value);
                }
                let value = self.call_plugin(*plugin, positional, named, expanded, span)?;
                self.remember(&value);
                Ok(value)
            }
            IrKind::Construct { entity, args, wrapped, deferred, lhs_inverse } => {
                // The arguments first, even on a re-run (see `Call`).
                let (now, later) = args.split_at((*deferred as usize).min(args.len()));
                let mut values = Vec::with_capacity(args.len());
                let mut late: Vec<usize> = Vec::new();
                for (position, (name, name_span, arg)) in now.iter().enumerate() {
                    match self.eval(arg, scope) {
                        Ok(value) => values.push((*name, *name_span, name_span.to(arg.span), value)),
                        Err(Halt::Wait(_)) if wrapped.is_empty() && self.may_set_late(*entity, *name, arg) => late.push(position),
                        Err(halt) => return Err(halt),
                    }
                }
                for extra in wrapped {
                    match self.eval(extra, scope)? {
                        Value::Dict(dict) => {
                            for (key, value) in dict.iter() {
                                match self.interner.get(key) {
                                    Some(symbol) => values.push((symbol, extra.span, extra.span, value.clone())),
                                    None => {
                                        return Err(self.model.entity(*entity).attribute_not_found(key, extra.span, self.interner).into())
                                    }
                                }
                            }
                        }
                        other => {
                            return fail(
                                ErrorKind::TypeMismatch { expected: Expected::Type("dict".into()), found: self.show_type(&other), context: Context::DoubleStar },
                                extra.span,
                            )
                        }
                    }
                }
                // The instance whose relation this constructor is the value of.
                if let (Some(inverse), Some(&(owner, expected))) = (lhs_inverse, self.lhs_owners.last()) {
                    if expected.is_none_or(|e| e == *inverse) && !values.iter().any(|(name, _, _, _)| name == inverse) {
                        values.push((*inverse, span, span, Value::Instance(owner)));
                    }
                }
                let value = match self.memoized() {
                    Some(value) => value,
                    None => {
                        let late_names: Vec<Symbol> = late.iter().map(|&position| now[position].0).collect();
                        let value = self.construct(*entity, values, &late_names, span, scope)?;
                        self.remember(&value);
                        if let Value::Instance(instance) = value {
                            self.spawn_late_args(instance, late.iter().map(|&position| &now[position]), scope);
                        }
                        value
                    }
                };
                if let (false, Value::Instance(instance)) = (later.is_empty(), &value) {
                    let instance = *instance;
                    for (name, name_span, arg) in later {
                        self.lhs_owners.push((instance, None));
                        let item = self.eval(arg, scope);
                        self.lhs_owners.pop();
                        let item = item?;
                        let (index, _) = self.attr_of(instance, *name, *name_span)?;
                        self.set_attr(instance, index, item, name_span.to(arg.span), false)?;
                    }
                }
                Ok(value)
            }
            IrKind::Foreign { names, args, kwargs, wrapped, missing } => {
                let (positional, named, expanded) = self.eval_call_args(args, kwargs, wrapped, scope, span)?;
                let mut named: Vec<(Rc<str>, Value)> = named.into_iter().map(|(name, value)| (Rc::from(self.interner.resolve(name)), value)).collect();
                for (key, value) in expanded {
                    if named.iter().any(|(given, _)| *given == key) {
                        let problem = PluginProblem::MultipleValues(key.to_string());
                        return fail(ErrorKind::PluginError { plugin: names[0].to_string(), problem }, span);
                    }
                    named.push((key, value));
                }
                if positional.iter().chain(named.iter().map(|(_, v)| v)).any(Value::is_unknown) {
                    return Ok(Value::Unknown);
                }
                if let Some(value) = self.memoized() {
                    return Ok(value);
                }
                let Some(foreign) = self.foreign else { return Err(Halt::from((**missing).clone())) };
                let value = self.call_foreign(foreign, names, &positional, &named, span)?;
                self.remember(&value);
                Ok(value)
            }
            IrKind::Not(inner) => {
                let value = self.eval(inner, scope)?;
                if value.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(!self.condition(&value, Context::NotOperand, inner.span)?))
            }
            IrKind::And(lhs, rhs) => {
                let left = self.eval(lhs, scope)?;
                if left.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if !self.condition(&left, Context::AndLeft, lhs.span)? {
                    return Ok(Value::Bool(false));
                }
                let right = self.eval(rhs, scope)?;
                if right.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(self.condition(&right, Context::AndRight, rhs.span)?))
            }
            IrKind::Or(lhs, rhs) => {
                let left = self.eval(lhs, scope)?;
                if left.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if self.condition(&left, Context::OrLeft, lhs.span)? {
                    return Ok(Value::Bool(true));
                }
                let right = self.eval(rhs, scope)?;
                if right.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(self.condition(&right, Context::OrRight, rhs.span)?))
            }
            IrKind::Binary { op, lhs, rhs } => {
                let left = self.eval(lhs, scope)?;
                let right = self.eval(rhs, scope)?;
                self.binary(*op, left, right, span)
            }
            IrKind::Conditional { cond, then, otherwise } => {
                let value = self.eval(cond, scope)?;
                if value.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if self.condition(&value, Context::ConditionalExpression, cond.span)? {
                    self.eval(then, scope)
                } else {
                    self.eval(otherwise, scope)
                }
            }
            IrKind::IsDefined(inner) => self.is_defined(inner, scope),
            IrKind::List(items) => {
                // Inmanta splices a list element of a list literal into it (one level):
                // `[[1, 2], [3]]` is `[1, 2, 3]`, and so is `[a, [3]]` when `a` is `[1, 2]`.
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match self.eval(item, scope)? {
                        Value::List(inner) => values.extend(inner.iter().cloned()),
                        value => values.push(value),
                    }
                }
                Ok(Value::list(values))
            }
            IrKind::Dict(pairs) => {
                let mut dict = Dict::default();
                for (key, value) in pairs {
                    dict.insert(key.clone(), self.eval(value, scope)?);
                }
                Ok(Value::Dict(Rc::new(dict)))
            }
            IrKind::Concat(parts) => {
                let mut out = String::with_capacity(64);
                for part in parts {
                    match part {
                        IrPart::Lit(text) => out.push_str(text),
                        IrPart::Value(value) => {
                            let value = self.eval(value, scope)?;
                            if value.is_unknown() {
                                return Ok(Value::Unknown);
                            }
                            self.render_into(&value, &mut out);
                        }
                        IrPart::Format { value, spec, conversion, nested } => {
                            let value = self.eval(value, scope)?;
                            if value.is_unknown() {
                                return Ok(Value::Unknown);
                            }
                            // Nested fields are replaced by their values' text first (Python).
                            let mut built = None;
                            if !nested.is_empty() {
                                let mut texts = Vec::with_capacity(nested.len());
                                for field in nested {
                                    let field_value = self.eval(field, scope)?;
                                    if field_value.is_unknown() {
                                        return Ok(Value::Unknown);
                                    }
                                    texts.push(self.render_value(&field_value));
                                }
                                built = Some(fill_nested(spec, &texts));
                            }
                            let spec: &str = built.as_deref().unwrap_or(&**spec);
                            let rendered = match conversion {
                                Some('r') => self.show(&value).replace('"', "'"),
                                _ => String::new(),
                            };
                            match format_spec(&value, spec, &self.render_value(&value), (!rendered.is_empty()).then_some(rendered)) {
                                Ok(text) => out.push_str(&text),
                                Err(operation) => return fail(ErrorKind::InvalidOperation(operation), span),
                            }
                        }
                    }
                }
                Ok(Value::Str(Rc::from(out)))
            }
            IrKind::Comprehension { value, clauses, first_var } => {
                let mut out = Vec::new();
                self.comp.truncate(*first_var as usize);
                self.comprehend(value, clauses, scope, &mut out)?;
                self.comp.truncate(*first_var as usize);
                Ok(Value::list(out))
            }
        }
    }

    /// A condition must be a boolean (Inmanta does not use truthiness); unknown is false.
    pub(super) fn condition(&self, value: &Value, context: Context, span: Span) -> Eval<bool> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Unknown => Ok(false),
            other => fail(ErrorKind::NotBoolean { context, found: self.show_type(other) }, span),
        }
    }

    pub(super) fn comprehend(&mut self, value: &IrExpr, clauses: &[IrClause], scope: ScopeId, out: &mut Vec<Value>) -> Eval<()> {
        let Some((first, rest)) = clauses.split_first() else {
            let item = self.eval(value, scope)?;
            out.push(item);
            return Ok(());
        };
        match first {
            IrClause::If(cond) => {
                let keep = self.eval(cond, scope)?;
                if !keep.is_unknown() && self.condition(&keep, Context::ComprehensionIf, cond.span)? {
                    self.comprehend(value, rest, scope, out)?;
                }
                Ok(())
            }
            IrClause::For { var, iterable } => {
                let items = match self.eval(iterable, scope)? {
                    Value::List(items) => items,
                    Value::Unknown => return Ok(()),
                    other => {
                        return fail(
                            ErrorKind::InvalidOperation(Operation::Iterate(other.type_name())),
                            iterable.span,
                        )
                    }
                };
                for item in items.iter() {
                    if item.is_unknown() {
                        continue;
                    }
                    self.comp.truncate(*var as usize);
                    self.comp.push(item.clone());
                    self.comprehend(value, rest, scope, out)?;
                }
                self.comp.truncate(*var as usize);
                Ok(())
            }
        }
    }

    pub(super) fn eval_named(&mut self, args: &[(Symbol, IrExpr)], wrapped: &[IrExpr], scope: ScopeId, span: Span) -> Eval<Vec<(Symbol, Value)>> {
        let mut values = Vec::with_capacity(args.len());
        for (name, arg) in args {
            values.push((*name, self.eval(arg, scope)?));
        }
        for extra in wrapped {
            match self.eval(extra, scope)? {
                Value::Dict(dict) => {
                    for (key, value) in dict.iter() {
                        let symbol = self.interner.get(key).unwrap_or(Symbol::default_symbol());
                        values.push((symbol, value.clone()));
                    }
                }
                other => {
                    return fail(
                        ErrorKind::TypeMismatch { expected: Expected::Type("dict".into()), found: self.show_type(&other), context: Context::DoubleStar },
                        span,
                    )
                }
            }
        }
        Ok(values)
    }

    pub(super) fn is_defined(&mut self, inner: &IrExpr, scope: ScopeId) -> Eval<Value> {
        match &inner.kind {
            IrKind::Attr { base, name } => {
                let base_value = self.eval(base, scope)?;
                let Value::Instance(instance) = base_value else { return Ok(Value::Bool(false)) };
                let (index, multi) = self.attr_of(instance, *name, inner.span)?;
                let slot_id = self.instances[instance.0 as usize].slot(index);
                let slot = &self.slots[slot_id.0 as usize];
                match &slot.value {
                    SlotValue::Single(value) => Ok(defined(value)),
                    SlotValue::List(items) if !items.is_empty() => Ok(Value::Bool(true)),
                    _ if slot.frozen => Ok(Value::Bool(false)),
                    _ => {
                        let _ = multi;
                        Err(Halt::Wait(Wait::Freeze(slot_id, inner.span)))
                    }
                }
            }
            IrKind::Var { depth, index } => {
                let slot = self.var_slot(scope, *depth, *index);
                self.var_defined(slot, inner.span)
            }
            IrKind::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.var_defined(slot, inner.span)
            }
            IrKind::Subscript { base, key } => {
                let base_value = self.eval(base, scope)?;
                let key_value = self.eval(key, scope)?;
                Ok(Value::Bool(match (&base_value, &key_value) {
                    // As Inmanta's sugar: the key is there, and its value is neither null nor an empty list.
                    (Value::Dict(dict), Value::Str(k)) => dict.get(k).is_some_and(|v| match v {
                        Value::Null => false,
                        Value::List(items) => !items.is_empty(),
                        _ => true,
                    }),
                    _ => false,
                }))
            }
            _ => {
                let value = self.eval(inner, scope)?;
                Ok(Value::Bool(!matches!(value, Value::Null)))
            }
        }
    }

    pub(super) fn var_defined(&mut self, slot: SlotId, span: Span) -> Eval<Value> {
        let entry = &self.slots[slot.0 as usize];
        match &entry.value {
            SlotValue::Single(value) => Ok(defined(value)),
            SlotValue::List(_) => Ok(Value::Bool(true)),
            SlotValue::Unset if entry.frozen => Ok(Value::Bool(false)),
            SlotValue::Unset => Err(Halt::Wait(Wait::Freeze(slot, span))),
        }
    }

    pub(super) fn index_lookup(&mut self, entity: EntityId, args: Vec<(Symbol, Value)>, span: Span) -> Eval<Value> {
        let def = self.model.entity(entity);
        let mut names: Vec<Symbol> = args.iter().map(|(n, _)| *n).collect();
        names.sort();
        let index = def.indexes.iter().copied().find(|index| self.sorted_index_attrs[index.index()] == names);
        let Some(index) = index else {
            let attributes = args.iter().map(|(n, _)| self.interner.resolve(*n).to_string()).collect();
            return fail(ErrorKind::NoIndexForLookup { entity: def.full_name.clone(), attributes }, span);
        };
        if args.iter().any(|(_, v)| v.is_unknown()) {
            return Ok(Value::Unknown);
        }
        let mut key = Vec::with_capacity(self.model.indexes[index.index()].attrs.len());
        for name in &self.model.indexes[index.index()].attrs {
            let mut value = args.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
            // As in Inmanta, a lookup casts an int to a `float` attribute's type (not to `number`).
            if let (Value::Int(i), Some((_, AttrDef { kind: AttrKind::Value { ty, .. }, .. }))) = (&value, def.attr(*name)) {
                if is_float(ty) {
                    value = Value::Float(*i as f64);
                }
            }
            key.push(KeyPart::of(&value));
        }
        match self.indexes[index.index()].get(&key) {
            Some(&found) if self.model.is_subtype(self.instances[found.0 as usize].entity, entity) => Ok(Value::Instance(found)),
            Some(_) => fail(ErrorKind::NoIndexMatch { entity: def.full_name.clone(), key: self.show_key(index, &key) }, span),
            None => Err(Halt::Wait(Wait::Index(index, Box::new(key)))),
        }
    }

    /// `owner.rel[a=1]`: as in Inmanta, an index lookup on the relation's target entity with
    /// the inverse end set to `owner` (`Target[inverse=owner, a=1]`), so it needs such an index.
    pub(super) fn relation_lookup(&mut self, base: &IrExpr, mut args: Vec<(Symbol, Value)>, scope: ScopeId, span: Span) -> Eval<Value> {
        let IrKind::Attr { base: owner, name } = &base.kind else {
            return fail(ErrorKind::InvalidOperation(Operation::LookupWithoutRelation), span);
        };
        let owner_value = self.eval(owner, scope)?;
        let instance = match owner_value {
            Value::Instance(instance) => instance,
            Value::Unknown => return Ok(Value::Unknown),
            other => {
                return fail(
                    ErrorKind::NotAnInstance {
                        found: self.show_type(&other),
                        context: Context::LookingUpIn(self.interner.resolve(*name).to_string()),
                    },
                    owner.span,
                )
            }
        };
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        let Some((_, def)) = entity.attr(*name) else {
            return Err(entity.attribute_not_found(self.interner.resolve(*name), base.span, self.interner).into());
        };
        let (target, inverse) = match &def.kind {
            AttrKind::Relation { target, inverse: Some(inverse), .. } => (*target, *inverse),
            AttrKind::Relation { .. } => {
                return fail(
                    ErrorKind::InvalidOperation(Operation::LookupOneEnded(self.interner.resolve(*name).to_string())),
                    span,
                )
            }
            AttrKind::Value { .. } => {
                return fail(
                    ErrorKind::InvalidOperation(Operation::LookupOnAttribute(self.interner.resolve(*name).to_string())),
                    span,
                )
            }
        };
        args.insert(0, (inverse, Value::Instance(instance)));
        self.index_lookup(target, args, span)
    }


    pub(super) fn binary(&mut self, op: BinOp, left: Value, right: Value, span: Span) -> Eval<Value> {
        if left.is_unknown() || right.is_unknown() {
            return Ok(Value::Unknown);
        }
        // A boolean is a number in arithmetic and ordering, as Python's `bool` is an `int`
        // in Inmanta (`true + 1` is 2, `1 + (2 in l)` adds 0 or 1).
        let numeric = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_) | Value::Bool(_));
        let (left, right) = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
            | BinOp::Cmp(CmpOp::Lt | CmpOp::Gt | CmpOp::Le | CmpOp::Ge)
                if numeric(&left) && numeric(&right) =>
            {
                let as_int = |v: Value| match v {
                    Value::Bool(b) => Value::Int(b as i64),
                    other => other,
                };
                (as_int(left), as_int(right))
            }
            _ => (left, right),
        };
        let invalid = |this: &Self| {
            fail(
                ErrorKind::InvalidOperation(Operation::Unsupported {
                    left: this.show_type(&left),
                    op: op.as_str(),
                    right: this.show_type(&right),
                }),
                span,
            )
        };
        Ok(match op {
            BinOp::Cmp(CmpOp::Eq) => Value::Bool(left == right),
            BinOp::Cmp(CmpOp::Ne) => Value::Bool(left != right),
            BinOp::Cmp(cmp) => {
                // Inmanta orders numbers only ("Can only compare numbers").
                let ordering = match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => match a.partial_cmp(&b) {
                        Some(ordering) => ordering,
                        None => return invalid(self),
                    },
                    _ => {
                        return fail(
                            ErrorKind::InvalidOperation(Operation::CompareNumbersOnly {
                                op: op.as_str(),
                                left: self.show_type(&left),
                                right: self.show_type(&right),
                            }),
                            span,
                        )
                    }
                };
                Value::Bool(match cmp {
                    CmpOp::Lt => ordering.is_lt(),
                    CmpOp::Gt => ordering.is_gt(),
                    CmpOp::Le => ordering.is_le(),
                    CmpOp::Ge => ordering.is_ge(),
                    CmpOp::Eq | CmpOp::Ne => false,
                })
            }
            BinOp::In | BinOp::NotIn => {
                let found = match (&left, &right) {
                    (item, Value::List(items)) => items.contains(item),
                    (Value::Str(key), Value::Dict(dict)) => dict.contains_key(key),
                    (_, Value::Dict(_)) => false,
                    _ => {
                        return fail(
                            ErrorKind::InvalidOperation(Operation::MembershipTarget { op: op.as_str(), right: self.show_type(&right) }),
                            span,
                        )
                    }
                };
                Value::Bool(found == (op == BinOp::In))
            }
            BinOp::Add => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_add(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation(Operation::IntegerOverflow), span),
                },
                (Value::Str(a), Value::Str(b)) => Value::Str(Rc::from(format!("{a}{b}"))),
                // Inmanta adds numbers and concatenates strings, nothing else (no lists).
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a + b),
                    _ => return invalid(self),
                },
            },
            BinOp::Sub => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_sub(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation(Operation::IntegerOverflow), span),
                },
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a - b),
                    _ => return invalid(self),
                },
            },
            BinOp::Mul => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_mul(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation(Operation::IntegerOverflow), span),
                },
                // Numbers only, as in Inmanta (no string repetition).
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a * b),
                    _ => return invalid(self),
                },
            },
            BinOp::Div => match (left.as_f64(), right.as_f64()) {
                (Some(_), Some(b)) if b == 0.0 => return fail(ErrorKind::InvalidOperation(Operation::DivisionByZero), span),
                (Some(a), Some(b)) => Value::Float(a / b),
                _ => return invalid(self),
            },
            BinOp::Mod => match (&left, &right) {
                (Value::Int(_), Value::Int(0)) => return fail(ErrorKind::InvalidOperation(Operation::ModuloByZero), span),
                (Value::Int(a), Value::Int(b)) => Value::Int(a.rem_euclid(*b) + if *b < 0 && a.rem_euclid(*b) != 0 { *b } else { 0 }),
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(_), Some(b)) if b == 0.0 => return fail(ErrorKind::InvalidOperation(Operation::ModuloByZero), span),
                    (Some(a), Some(b)) => Value::Float(a - b * (a / b).floor()),
                    _ => return invalid(self),
                },
            },
            BinOp::Pow => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) if *b >= 0 => match u32::try_from(*b).ok().and_then(|b| a.checked_pow(b)) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation(Operation::IntegerOverflow), span),
                },
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a.powf(b)),
                    _ => return invalid(self),
                },
            },
            BinOp::And | BinOp::Or => Value::Bool(left.truthy() && right.truthy()),
        })
    }
}

/// `is defined` of a value: null and empty lists are not defined, unknowns stay unknown.
pub(super) fn defined(value: &Value) -> Value {
    match value {
        Value::Null => Value::Bool(false),
        Value::Unknown => Value::Unknown,
        Value::List(items) if items.is_empty() => Value::Bool(false),
        Value::List(items) if items.iter().all(Value::is_unknown) => Value::Unknown,
        _ => Value::Bool(true),
    }
}

/// Whether a lookup casts an int key for an attribute of type `ty`: `float` or `float?` (as
/// in Inmanta; not a typedef over `float`, not `number`).
fn is_float(ty: &Type) -> bool {
    match ty {
        Type::Float => true,
        Type::Nullable(inner) => is_float(inner),
        _ => false,
    }
}
