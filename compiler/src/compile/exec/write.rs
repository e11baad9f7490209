//! Writing slots: variables, attributes and relations (both ends kept in sync), with the
//! "set twice", multiplicity and freeze checks, and index registration once a key is complete.

use super::*;

impl<'a> Executor<'a> {
    pub(super) fn assign(&mut self, target: &Target, value: Value, scope: ScopeId, span: Span, extend: bool) -> Eval<()> {
        match target {
            Target::Var(index) => {
                let slot = SlotId(self.scopes[scope.0 as usize].first_var + index);
                self.set_var(slot, value, span)
            }
            Target::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.set_var(slot, value, span)
            }
            Target::Attr { base, name, name_span } => {
                let base_value = self.eval(base, scope)?;
                let instance = match base_value {
                    Value::Instance(instance) => instance,
                    Value::Unknown => return Ok(()),
                    other => {
                        return fail(
                            ErrorKind::NotAnInstance { found: self.show_type(&other), context: Context::SettingAttribute },
                            base.span,
                        )
                    }
                };
                let (index, _) = self.attr_of(instance, *name, *name_span)?;
                self.set_attr(instance, index, value, span, extend).map_err(|error| {
                    // The attribute stays unset because of this error: do not report it again.
                    self.failed_slots.insert(self.instances[instance.0 as usize].slot(index));
                    Halt::from(error)
                })
            }
        }
    }

    pub(super) fn set_var(&mut self, slot: SlotId, value: Value, span: Span) -> Eval<()> {
        let entry = &mut self.slots[slot.0 as usize];
        match &entry.value {
            SlotValue::Unset => {
                entry.value = SlotValue::Single(value);
                entry.mark_set_at(span);
                self.wake(slot);
                Ok(())
            }
            SlotValue::Single(old) if *old == value => Ok(()),
            _ => {
                let old = match &entry.value {
                    SlotValue::Single(old) => old.clone(),
                    _ => Value::Null,
                };
                let first = entry.set_at();
                let mut error = CompileError::new(
                    ErrorKind::SetTwice { target: self.describe_slot(slot), old: self.show_short(&old), new: self.show_short(&value) },
                    span,
                );
                if let Some(first) = first {
                    error = error.with_related(first, Related::FirstSetHere);
                }
                Err(Halt::from(error))
            }
        }
    }

    /// Sets (or, for lists, extends) attribute `attr` of `instance`, with type checks,
    /// bidirectional relations, multiplicity and freeze checks, and index registration.
    pub(super) fn set_attr(&mut self, instance: InstanceId, attr: u32, value: Value, span: Span, extend: bool) -> Result<(), CompileError> {
        let entity = self.instances[instance.0 as usize].entity;
        // The model outlives the executor's borrow: the definition is read in place.
        let model: &'a Model = self.model;
        let def = &model.entity(entity).attrs[attr as usize];
        match &def.kind {
            AttrKind::Relation { target, upper, lower, inverse } => {
                if extend && !def.is_multi() {
                    return Err(CompileError::new(
                        ErrorKind::InvalidOperation(Operation::ExtendSingleRelation(self.interner.resolve(def.name).to_string())),
                        span,
                    ));
                }
                let items = match value {
                    Value::List(items) => items.as_ref().clone(),
                    // `null` says "no (more) values": the relation is complete as it is.
                    Value::Null if *lower == 0 || def.is_multi() => return self.set_relation_null(instance, attr, span),
                    other => vec![other],
                };
                for item in items {
                    let other = match item {
                        Value::Instance(other) if self.model.is_subtype(self.instances[other.0 as usize].entity, *target) => other,
                        Value::Unknown => {
                            // An unknown instance (a lookup with an unknown key): kept as a
                            // value, without an inverse to update.
                            self.add_unknown(instance, attr, *upper, span)?;
                            continue;
                        }
                        other_value => {
                            return Err(CompileError::new(
                                ErrorKind::TypeMismatch {
                                    expected: Expected::Type(self.model.entity(*target).full_name.clone()),
                                    found: self.show_type(&other_value),
                                    context: Context::Relation(self.interner.resolve(def.name).to_string()),
                                },
                                span,
                            ))
                        }
                    };
                    self.add_relation(instance, attr, other, *upper, span)?;
                    if let Some(inverse) = inverse {
                        let other_entity = self.model.entity(self.instances[other.0 as usize].entity);
                        match other_entity.attr(*inverse) {
                            Some((inverse_index, AttrDef { kind: AttrKind::Relation { upper, .. }, .. })) => {
                                let inverse_upper = *upper;
                                self.add_relation(other, inverse_index, instance, inverse_upper, span)?;
                            }
                            // A plain attribute that took the inverse's name (`string requires`):
                            // the instance is set into it, as Inmanta does (and fails there).
                            Some((inverse_index, _)) => self.set_attr(other, inverse_index, Value::Instance(instance), span, false)?,
                            None => {}
                        }
                    }
                }
                Ok(())
            }
            AttrKind::Value { ty, .. } => {
                let slot_id = self.instances[instance.0 as usize].slot(attr);
                if def.is_multi() && extend {
                    // `+=` on a list attribute: the list fills gradually.
                    let element_type = match ty {
                        Type::List(inner) => (**inner).clone(),
                        Type::Nullable(inner) => match &**inner {
                            Type::List(element) => (**element).clone(),
                            _ => Type::Any,
                        },
                        _ => Type::Any,
                    };
                    let items = match value {
                        Value::List(items) => items.as_ref().clone(),
                        Value::Unknown => return Ok(()),
                        other => vec![other],
                    };
                    for item in &items {
                        self.check_type(&element_type, item, span, def.name)?;
                    }
                    let slot = &mut self.slots[slot_id.0 as usize];
                    if slot.frozen {
                        return Err(self.frozen_error(slot_id, span));
                    }
                    match &mut slot.value {
                        SlotValue::List(existing) => Rc::make_mut(existing).extend(items),
                        other => *other = SlotValue::List(Rc::new(items)),
                    }
                    slot.mark_first_set_at(span);
                    self.wake(slot_id);
                    return Ok(());
                }
                if extend {
                    return Err(CompileError::new(
                        ErrorKind::InvalidOperation(Operation::ExtendNonList(self.interner.resolve(def.name).to_string())),
                        span,
                    ));
                }
                self.check_type(ty, &value, span, def.name)?;
                let slot = &mut self.slots[slot_id.0 as usize];
                match &slot.value {
                    SlotValue::Unset if slot.frozen => Err(self.frozen_error(slot_id, span)),
                    SlotValue::Unset => {
                        slot.value = SlotValue::Single(value);
                        slot.mark_set_at(span);
                        if def.is_multi() {
                            // A list assigned with `=` is complete.
                            self.complete_slot(slot_id);
                        } else {
                            self.wake(slot_id);
                        }
                        self.on_attr_set(instance, attr, span)
                    }
                    SlotValue::Single(old) if *old == value => Ok(()),
                    SlotValue::List(items) if Value::List(items.clone()) == value => {
                        self.complete_slot(slot_id);
                        Ok(())
                    }
                    SlotValue::Single(_) | SlotValue::List(_) => {
                        let old = match &slot.value {
                            SlotValue::Single(old) => old.clone(),
                            SlotValue::List(items) => Value::List(items.clone()),
                            SlotValue::Unset => Value::Null,
                        };
                        let first = slot.set_at();
                        let mut error = CompileError::new(
                            ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show_short(&old), new: self.show_short(&value) },
                            span,
                        );
                        if let Some(first) = first {
                            let label = if first == def.span { Related::FirstSetByDefault } else { Related::FirstSetHere };
                            error = error.with_related(first, label);
                        }
                        Err(error)
                    }
                }
            }
        }
    }

    pub(super) fn add_unknown(&mut self, instance: InstanceId, attr: u32, upper: Option<u32>, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let slot = &mut self.slots[slot_id.0 as usize];
        if slot.frozen {
            return Ok(());
        }
        slot.mark_first_set_at(span);
        if upper == Some(1) {
            if matches!(slot.value, SlotValue::Unset) {
                slot.value = SlotValue::Single(Value::Unknown);
                self.complete_slot(slot_id);
            }
            return Ok(());
        }
        match &mut slot.value {
            SlotValue::List(items) => Rc::make_mut(items).push(Value::Unknown),
            other => *other = SlotValue::List(Rc::new(vec![Value::Unknown])),
        }
        self.wake(slot_id);
        Ok(())
    }

    /// `rel = null`: an optional relation gets "no value", a list relation is complete.
    pub(super) fn set_relation_null(&mut self, instance: InstanceId, attr: u32, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let slot = &mut self.slots[slot_id.0 as usize];
        match &slot.value {
            SlotValue::Unset => {
                slot.mark_first_set_at(span);
                self.complete_slot(slot_id);
                Ok(())
            }
            SlotValue::List(items) if items.is_empty() => {
                self.complete_slot(slot_id);
                Ok(())
            }
            SlotValue::Single(Value::Null) => Ok(()),
            _ => {
                let first = slot.set_at();
                let old = old_value(&slot.value);
                let mut error = CompileError::new(
                    ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show_short(&old), new: "null".to_string() },
                    span,
                );
                if let Some(first) = first {
                    error = error.with_related(first, Related::FirstSetHere);
                }
                Err(error)
            }
        }
    }

    /// Marks a slot complete because its value is final (not because a read needed it).
    pub(super) fn complete_slot(&mut self, slot: SlotId) {
        let entry = &mut self.slots[slot.0 as usize];
        if entry.frozen {
            self.wake(slot);
            return;
        }
        entry.frozen = true;
        // (A stale entry in `freeze_candidates` is dropped by the next `freeze_something`.)
        if !entry.watched {
            return;
        }
        if let Some(list) = self.freeze_waiters.remove(&slot) {
            self.queue.extend(list);
        }
        self.wake(slot);
    }

    /// A write to a frozen slot. When the compiler froze it itself (a guess made because the
    /// run was stuck), the error says so (and the run stops, see [`CompileError::ends_run`]);
    /// such a guess is most often proven wrong by a `when` condition that reads what its own
    /// implementation sets (`when not (other is defined)` with `self.other = ...`).
    pub(super) fn frozen_error(&self, slot: SlotId, span: Span) -> CompileError {
        let mut error = CompileError::new(ErrorKind::ModifiedAfterFreeze { target: self.describe_slot(slot) }, span);
        if let Some(&reader) = self.frozen_by.get(&slot) {
            error = error.with_related(reader, Related::FrozenByRead);
            if self.forced_freezes.contains(&slot) {
                error = error.with_cause(self.self_defeating_when(slot, reader).unwrap_or(Cause::ForcedFreeze));
            }
        } else if let Some(first) = self.slots[slot.0 as usize].set_at() {
            error = error.with_related(first, Related::CompleteAfterThis);
        }
        error
    }

    /// The `when` condition that froze `slot` with the read at `reader`, when the
    /// implementation it selects is the one writing the slot now (of the same instance).
    fn self_defeating_when(&self, slot: SlotId, reader: Span) -> Option<Cause> {
        let SlotOwner::Attr { instance, attr } = self.slots[slot.0 as usize].owner() else { return None };
        let CurrentSelf::Scope(scope) = self.current_self else { return None };
        let (writer, implementation) = self.implementation_of_scope(scope)?;
        if writer != instance {
            return None;
        }
        let inside = |outer: Span| outer.file == reader.file && outer.start <= reader.start && reader.end <= outer.end;
        let selects = self.model.implements.iter().any(|implement| {
            implement.implementations.contains(&implementation) && implement.when.as_ref().is_some_and(|when| inside(when.span))
        });
        let entity = self.instances[instance.0 as usize].entity;
        selects.then(|| Cause::WhenReadsWhatItSets {
            implementation: self.model.implementations[implementation.index()].name.clone(),
            attribute: self.interner.resolve(self.model.entity(entity).attrs[attr as usize].name).to_string(),
        })
    }

    pub(super) fn add_relation(&mut self, instance: InstanceId, attr: u32, other: InstanceId, upper: Option<u32>, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let value = Value::Instance(other);
        if upper == Some(1) {
            let slot = &mut self.slots[slot_id.0 as usize];
            match &slot.value {
                SlotValue::Unset => {
                    if slot.frozen {
                        return Err(self.frozen_error(slot_id, span));
                    }
                    slot.value = SlotValue::Single(value);
                    slot.mark_set_at(span);
                    self.complete_slot(slot_id);
                    return self.on_attr_set(instance, attr, span);
                }
                SlotValue::Single(old) if *old == value => return Ok(()),
                _ => {
                    let old = old_value(&slot.value);
                    let first = slot.set_at();
                    let mut error = CompileError::new(
                        ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show_short(&old), new: self.show_short(&value) },
                        span,
                    );
                    if let Some(first) = first {
                        error = error.with_related(first, Related::FirstSetHere);
                    }
                    return Err(error);
                }
            }
        }
        // Relations are sets. Short lists are scanned; from SCAN_LIMIT members on, a hash of
        // (slot, member) keeps the test O(1) on the large lists (a datacenter's nodes) where a
        // scan would be quadratic.
        let current_len = match &self.slots[slot_id.0 as usize].value {
            SlotValue::List(items) => items.len(),
            _ => 0,
        };
        let already = match &value {
            Value::Instance(member) if current_len >= SCAN_LIMIT => self.relation_members.contains(&(slot_id, *member)),
            other => matches!(&self.slots[slot_id.0 as usize].value, SlotValue::List(items) if items.contains(other)),
        };
        if already {
            return Ok(());
        }
        let slot = &mut self.slots[slot_id.0 as usize];
        let count = match &slot.value {
            SlotValue::List(items) => items.len(),
            _ => 0,
        };
        if let Some(upper) = upper {
            if count as u32 >= upper {
                let first = slot.set_at();
                let mut error = CompileError::new(ErrorKind::UpperBoundExceeded { target: self.describe_slot(slot_id), upper }, span);
                if let Some(first) = first {
                    error = error.with_related(first, Related::FirstValueSetHere);
                }
                return Err(error);
            }
        }
        if slot.frozen {
            return Err(self.frozen_error(slot_id, span));
        }
        if let Value::Instance(member) = &value {
            if count + 1 == SCAN_LIMIT {
                // The list leaves the scanned range: index the members it has.
                if let SlotValue::List(items) = &self.slots[slot_id.0 as usize].value {
                    for item in items.iter() {
                        if let Value::Instance(existing) = item {
                            self.relation_members.insert((slot_id, *existing));
                        }
                    }
                }
            }
            if count + 1 >= SCAN_LIMIT {
                self.relation_members.insert((slot_id, *member));
            }
        }
        let slot = &mut self.slots[slot_id.0 as usize];
        match &mut slot.value {
            SlotValue::List(items) => Rc::make_mut(items).push(value),
            other => *other = SlotValue::List(Rc::new(vec![value])),
        }
        slot.mark_first_set_at(span);
        if upper.is_some_and(|upper| count as u32 + 1 == upper) {
            self.complete_slot(slot_id);
        } else {
            self.wake(slot_id);
        }
        Ok(())
    }

    /// After a single-valued attribute got its value: register the instance in the indexes
    /// that are now complete.
    pub(super) fn on_attr_set(&mut self, instance: InstanceId, attr: u32, span: Span) -> Result<(), CompileError> {
        let entity = self.instances[instance.0 as usize].entity;
        // Only the indexes over this attribute, and not yet registered, are candidates.
        let candidates = self.index_masks[entity.index()].get(attr as usize).copied().unwrap_or(0)
            & !self.instances[instance.0 as usize].registered_indexes;
        let model: &'a Model = self.model;
        let indexes = &model.entity(entity).indexes;
        if candidates == 0 && indexes.len() <= 32 {
            return Ok(());
        }
        let name = model.entity(entity).attrs[attr as usize].name;
        for (position, &index) in indexes.iter().enumerate() {
            // Past 32 indexes (never seen in practice) the bits run out: checked by name, and
            // registering again is harmless.
            let relevant = if position < 32 { candidates & (1 << position) != 0 } else { model.indexes[index.index()].attrs.contains(&name) };
            if !relevant {
                continue;
            }
            let Some(key) = self.index_key(instance, index) else { continue };
            if position < 32 {
                self.instances[instance.0 as usize].registered_indexes |= 1 << position;
            }
            if !self.index_waiters[index.index()].is_empty() {
                if let Some(list) = self.index_waiters[index.index()].remove(&key) {
                    self.queue.extend(list);
                }
            }
            let existing = match self.indexes[index.index()].entry(key) {
                std::collections::hash_map::Entry::Occupied(entry) => *entry.get(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(instance);
                    instance
                }
            };
            if existing != instance {
                let key = self.index_key(instance, index).unwrap_or_default();
                let entity_name = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                return Err(CompileError::new(
                    ErrorKind::IndexCollision { entity: entity_name, key: self.show_key(index, &key) },
                    span,
                )
                .with_related(self.instances[existing.0 as usize].span, Related::FirstInstanceCreatedHere));
            }
        }
        Ok(())
    }

    pub(super) fn index_key(&self, instance: InstanceId, index: IndexId) -> Option<Vec<KeyPart>> {
        let inst = &self.instances[instance.0 as usize];
        let entity = self.model.entity(inst.entity);
        let mut key = Vec::with_capacity(self.model.indexes[index.index()].attrs.len());
        for name in &self.model.indexes[index.index()].attrs {
            let (attr, _) = entity.attr(*name)?;
            match &self.slots[inst.slot(attr).0 as usize].value {
                SlotValue::Single(value) => key.push(KeyPart::of(value)),
                _ => return None,
            }
        }
        Some(key)
    }

    pub(super) fn show_key(&self, index: IndexId, key: &[KeyPart]) -> String {
        let names = &self.model.indexes[index.index()].attrs;
        let parts: Vec<String> = names
            .iter()
            .zip(key)
            .map(|(n, k)| {
                let shown = match k {
                    KeyPart::Str(s) => format!("\"{s}\""),
                    KeyPart::Int(i) => i.to_string(),
                    KeyPart::Float(bits) => format!("{:?}", f64::from_bits(*bits)),
                    KeyPart::Bool(b) => if *b { "true" } else { "false" }.to_string(),
                    KeyPart::Null => "null".to_string(),
                    KeyPart::Instance(i) => self.describe_instance(*i).to_string(),
                    other => format!("{other:?}"),
                };
                format!("{}={}", self.interner.resolve(*n), shown)
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}
