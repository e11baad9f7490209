//! Constructors: an index match returns the existing instance, otherwise a new instance gets
//! its slots, its arguments and defaults, and its implementations selected.

use super::*;

impl<'a> Executor<'a> {
    /// Constructs an instance; `args` are `(attribute, name span, argument span, value)`.
    pub(super) fn construct(&mut self, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, span: Span) -> Eval<Value> {
        let entity = self.model.entity(entity_id);
        for (i, (name, name_span, _, _)) in args.iter().enumerate() {
            if args[..i].iter().any(|(n, _, _, _)| n == name) {
                return fail(ErrorKind::DuplicateArgument(self.interner.resolve(*name).to_string()), *name_span);
            }
        }
        // Construction returns the existing instance when an index key matches (as in
        // Inmanta, the key is made of the given attributes and the defaults).
        let mut matched: Option<(InstanceId, IndexId, Vec<KeyPart>)> = None;
        for &index in &entity.indexes {
            let names = &self.model.indexes[index.index()].attrs;
            let mut key = Vec::with_capacity(names.len());
            let mut missing = Vec::new();
            for name in names {
                if let Some((_, _, _, value)) = args.iter().find(|(n, _, _, _)| n == name) {
                    key.push(KeyPart::of(value));
                    continue;
                }
                match entity.attr(*name) {
                    Some((_, AttrDef { kind: AttrKind::Value { default: Some(default), .. }, .. })) => key.push(KeyPart::of(default)),
                    Some((_, def)) => missing.push((self.interner.resolve(*name).to_string(), def.is_relation())),
                    None => missing.push((self.interner.resolve(*name).to_string(), false)),
                }
            }
            if !missing.is_empty() {
                return fail(ErrorKind::IndexAttributeMissing { entity: entity.full_name.clone(), attributes: missing }, span);
            }
            if let Some(&existing) = self.indexes[index.index()].get(&key) {
                let existing_entity = self.instances[existing.0 as usize].entity;
                if existing_entity != entity_id {
                    return Err(Halt::from(
                        CompileError::new(
                            ErrorKind::IndexTypeMismatch {
                                entity: entity.full_name.clone(),
                                key: self.show_key(index, &key),
                                existing: self.model.entity(existing_entity).full_name.clone(),
                            },
                            span,
                        )
                        .with_related(self.instances[existing.0 as usize].span, Related::ExistingInstanceCreatedHere),
                    ));
                }
                match &matched {
                    Some((other, other_index, other_key)) if *other != existing => {
                        return Err(Halt::from(
                            CompileError::new(
                                ErrorKind::IndexCollision { entity: entity.full_name.clone(), key: self.show_key(index, &key) },
                                span,
                            )
                            .with_related(self.instances[existing.0 as usize].span, Related::OneIndexFindsThis)
                            .with_related(
                                self.instances[other.0 as usize].span,
                                Related::OtherIndexFindsThis(self.show_key(*other_index, other_key)),
                            ),
                        ));
                    }
                    _ => matched = Some((existing, index, key)),
                }
            }
        }
        if let Some((existing, _, _)) = matched {
            // The arguments and the defaults are set on the existing instance: a different
            // value is "set twice".
            self.init_attributes(existing, entity_id, args, span, true)?;
            return Ok(Value::Instance(existing));
        }
        let instance = InstanceId(self.instances.len() as u32);
        let first_slot = self.slots.len() as u32;
        for (attr, _) in entity.attrs.iter().enumerate() {
            self.slots.push(Slot::attr(instance, attr as u32));
        }
        self.instances.push(Instance {
            entity: entity_id,
            first_slot,
            span,
            implementations: Vec::new(),
            registered_indexes: 0,
            failed: false,
        });
        if let Err(halt) = self.init_attributes(instance, entity_id, args, span, false) {
            // A constructor that failed leaves no instance to complete: its missing attributes
            // would only repeat the error.
            self.instances[instance.0 as usize].failed = true;
            return Err(halt);
        }
        self.select_implementations(instance, entity_id);
        Ok(Value::Instance(instance))
    }

    /// Sets the constructor arguments and then the defaults of the attributes not given.
    pub(super) fn init_attributes(&mut self, instance: InstanceId, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, span: Span, existing: bool) -> Eval<()> {
        // A handful of arguments: a list scan beats hashing.
        let mut given: Vec<u32> = Vec::with_capacity(args.len());
        for (name, name_span, arg_span, value) in args {
            let (attr, _) = self.attr_of(instance, name, name_span)?;
            given.push(attr);
            self.set_attr(instance, attr, value, arg_span, false).map_err(Halt::from)?;
        }
        let entity = self.model.entity(entity_id);
        for (attr, def) in entity.attrs.iter().enumerate() {
            if given.contains(&(attr as u32)) {
                continue;
            }
            if let AttrKind::Value { default: Some(default), .. } = &def.kind {
                let at = if existing { span } else { def.span };
                let def_span = def.span;
                self.set_attr(instance, attr as u32, default.clone(), at, false).map_err(|error| {
                    Halt::from(if existing {
                        error.with_related(def_span, Related::DefaultComesFromHere).with_cause(Cause::DefaultsOnExisting)
                    } else {
                        error
                    })
                })?;
            }
        }
        Ok(())
    }
}
