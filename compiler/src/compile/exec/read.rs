//! Reading slots: attributes (waiting for values, or for lists to freeze) and variables,
//! and the descriptions of slots and instances used in messages.

use super::*;

impl<'a> Executor<'a> {
    pub(super) fn attr_of(&self, instance: InstanceId, name: Symbol, span: Span) -> Eval<(u32, bool)> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        match entity.attr(name) {
            Some((index, attr)) => Ok((index, attr.is_multi())),
            None => Err(entity.attribute_not_found(self.interner.resolve(name), span, self.interner).into()),
        }
    }

    pub(super) fn read_attr(&mut self, instance: InstanceId, name: Symbol, span: Span) -> Eval<Value> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        let Some((index, attr)) = entity.attr(name) else {
            return Err(entity.attribute_not_found(self.interner.resolve(name), span, self.interner).into());
        };
        let multi = attr.is_multi();
        let optional = attr.is_optional_single();
        let slot_id = self.instances[instance.0 as usize].slot(index);
        let slot = &self.slots[slot_id.0 as usize];
        match &slot.value {
            SlotValue::Single(value) => Ok(value.clone()),
            SlotValue::List(items) if slot.frozen => Ok(Value::List(items.clone())),
            SlotValue::Unset if multi && slot.frozen => Ok(Value::list(Vec::new())),
            SlotValue::Unset if optional && slot.frozen => {
                let mut error = CompileError::new(ErrorKind::OptionalNotSet { target: self.describe_slot(slot_id) }, span);
                if let Some(null_at) = slot.set_at() {
                    error = error.with_related(null_at, Related::SetToNullHere);
                }
                Err(Halt::from(error))
            }
            _ if multi || optional => Err(Halt::Wait(Wait::Freeze(slot_id, span))),
            _ => Err(Halt::Wait(Wait::Change(slot_id))),
        }
    }

    pub(super) fn read_var(&self, slot: SlotId) -> Eval<Value> {
        match &self.slots[slot.0 as usize].value {
            SlotValue::Single(value) => Ok(value.clone()),
            SlotValue::List(items) => Ok(Value::List(items.clone())),
            SlotValue::Unset => Err(Halt::Wait(Wait::Change(slot))),
        }
    }

    pub(super) fn var_slot(&self, scope: ScopeId, depth: u32, index: u32) -> SlotId {
        let mut current = scope;
        for _ in 0..depth {
            match self.scopes[current.0 as usize].parent {
                Some(parent) => current = parent,
                None => break,
            }
        }
        SlotId(self.scopes[current.0 as usize].first_var + index)
    }

    pub(super) fn global_slot(&self, ns: crate::compile::model::NsId, index: u32) -> SlotId {
        SlotId(self.scopes[self.ns_scopes[ns.index()].0 as usize].first_var + index)
    }

    /// The name of a variable slot: found through the scope that holds it (scopes are made in
    /// slot order, so the last scope starting at or before the slot is the one).
    pub(super) fn var_name(&self, slot: SlotId) -> &str {
        let (mut low, mut high) = (0usize, self.scopes.len());
        while high - low > 1 {
            let middle = (low + high) / 2;
            if self.scopes[middle].first_var <= slot.0 {
                low = middle;
            } else {
                high = middle;
            }
        }
        let Some(scope) = self.scopes.get(low) else { return "?" };
        let index = (slot.0 - scope.first_var.min(slot.0)) as usize;
        match scope.vars {
            ScopeVars::Block(block) => self.blocks[block.index()].vars.get(index).map(|(name, _)| self.interner.resolve(*name)).unwrap_or("?"),
            ScopeVars::Namespace(ns) => self.model.namespaces[ns as usize].global_names.get(index).map(|(name, _)| self.interner.resolve(*name)).unwrap_or("?"),
            ScopeVars::SelfValue => "self",
        }
    }

    /// The variable or attribute a slot is, for messages.
    pub fn describe_slot(&self, slot: SlotId) -> Subject {
        match self.slots[slot.0 as usize].owner() {
            SlotOwner::Attr { instance, attr } => {
                let inst = &self.instances[instance.0 as usize];
                let entity = self.model.entity(inst.entity);
                Subject::Attribute {
                    name: self.interner.resolve(entity.attrs[attr as usize].name).to_string(),
                    of: self.describe_instance(instance),
                }
            }
            SlotOwner::Var => Subject::Variable(self.var_name(slot).to_string()),
        }
    }

    /// An instance as messages name it: its entity and where it was constructed.
    pub fn describe_instance(&self, instance: InstanceId) -> InstanceRef {
        let inst = &self.instances[instance.0 as usize];
        let entity = self.model.entity(inst.entity);
        let (line, _) = self.sources.file(inst.span.file).map(|f| f.line_col(inst.span.start as usize)).unwrap_or((0, 0));
        InstanceRef { entity: entity.full_name.clone(), file: self.sources.name(inst.span.file).to_string(), line }
    }
}
