//! Constructors: an index match returns the existing instance, otherwise a new instance gets
//! its slots, its arguments and defaults, and its implementations selected. A new instance is
//! where the [`Limits`] of a compile are checked (a chain of instances creating instances too
//! deep, too many instances), and where a runaway is explained.

use super::*;

impl<'a> Executor<'a> {
    /// Constructs an instance in `scope`; `args` are `(attribute, name span, argument span,
    /// value)`; the attributes in `late` are given too, but set later (no default for them).
    pub(super) fn construct(&mut self, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, late: &[Symbol], span: Span, scope: ScopeId) -> Eval<Value> {
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
            self.init_attributes(existing, entity_id, args, late, span, true)?;
            return Ok(Value::Instance(existing));
        }
        let creator = self.creator_of_scope(scope);
        let depth = match creator {
            Some((parent, _)) => self.instances[parent.0 as usize].depth.saturating_add(1),
            None => 0,
        };
        if depth > self.limits.max_chain_depth {
            if let Some((parent, implementation)) = creator {
                return Err(self.runaway_chain(entity_id, parent, implementation, depth, span));
            }
        }
        if self.instances.len() >= self.limits.max_instances {
            self.halted = true;
            let mut error = CompileError::new(
                ErrorKind::TooManyInstances { entity: entity.full_name.clone(), limit: self.limits.max_instances },
                span,
            );
            if let Some((_, Origin::Implementation(implementation))) = creator {
                let implementation = &self.model.implementations[implementation.index()];
                error = error.with_related(implementation.span, Related::CreatedInImplementation(implementation.name.clone()));
            }
            return Err(Halt::from(error));
        }
        let (created_by, created_in) = creator.map_or((NO_CREATOR, NO_CREATOR), |(parent, origin)| (parent.0, origin.pack()));
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
            depth,
            created_by,
            created_in,
        });
        if let Err(halt) = self.init_attributes(instance, entity_id, args, late, span, false) {
            // A constructor that failed leaves no instance to complete: its missing attributes
            // would only repeat the error.
            self.instances[instance.0 as usize].failed = true;
            return Err(halt);
        }
        self.select_implementations(instance, entity_id);
        Ok(Value::Instance(instance))
    }

    /// The error of a constructor whose new instance would be `depth` generations deep in a
    /// chain of instances created by implementations of the one before (`parent` running
    /// `implementation`). Walks the chain back to its start (once, when the limit is hit) to
    /// name the cycle of steps it repeats and how often the step of this constructor came.
    fn runaway_chain(&mut self, entity: EntityId, parent: InstanceId, implementation: Origin, depth: u32, span: Span) -> Halt {
        // The parent's implementation cannot complete: its missing values follow from this.
        self.instances[parent.0 as usize].failed = true;
        let first = (self.instances[parent.0 as usize].entity, implementation, entity);
        let mut steps = vec![first];
        let mut closed = false;
        let mut repeats: u32 = 1;
        let mut current = parent;
        while let Some((creator, creator_implementation)) = self.instances[current.0 as usize].creator() {
            let step = (self.instances[creator.0 as usize].entity, creator_implementation, self.instances[current.0 as usize].entity);
            if step == first {
                repeats += 1;
                closed = true;
            } else if !closed {
                steps.push(step);
            }
            current = creator;
        }
        if !closed {
            // The chain does not repeat this constructor's step: name only that step.
            steps.truncate(1);
        }
        // Found backwards; in the order the chain runs, this step comes first.
        steps[1..].reverse();
        let name = |id: EntityId| self.model.entity(id).full_name.clone();
        let cycle = steps
            .iter()
            .map(|&(creator, origin, created)| ChainStep {
                creator: name(creator),
                implementation: match origin {
                    Origin::Implementation(implementation) => Some(self.model.implementations[implementation.index()].name.clone()),
                    Origin::Loop(_) => None,
                },
                created: name(created),
            })
            .collect();
        let (place, label) = match implementation {
            Origin::Implementation(implementation) => {
                let implementation = &self.model.implementations[implementation.index()];
                (implementation.span, Related::ChainImplementation(implementation.name.clone()))
            }
            Origin::Loop(block) => {
                let (variable, at) = self.blocks[block.index()].vars[0];
                (at, Related::ChainLoop(self.interner.resolve(variable).to_string()))
            }
        };
        let error = CompileError::new(
            ErrorKind::RunawayChain { cycle, repeats, depth, limit: self.limits.max_chain_depth },
            span,
        )
        .with_related(place, label)
        .with_related(self.instances[current.0 as usize].span, Related::ChainStartsHere);
        Halt::from(error)
    }

    /// Sets the constructor arguments and then the defaults of the attributes not given.
    pub(super) fn init_attributes(&mut self, instance: InstanceId, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, late: &[Symbol], span: Span, existing: bool) -> Eval<()> {
        // A handful of arguments: a list scan beats hashing.
        let mut given: Vec<u32> = Vec::with_capacity(args.len() + late.len());
        for name in late {
            let (attr, _) = self.attr_of(instance, *name, span)?;
            given.push(attr);
        }
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
