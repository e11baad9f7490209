//! Implementations: which ones an instance runs (each `implement` statement's `when`,
//! evaluated with `self` bound), and the scopes implementation code runs in (whose instance,
//! which implementation, which creator an instance made there has).

use super::*;

impl<'a> Executor<'a> {
    pub(super) fn run_select(&mut self, instance: InstanceId, implement: ImplementId) -> Eval<bool> {
        let def = &self.model.implements[implement.index()];
        if let Some(when) = &def.when {
            let scope = self.self_scope(instance);
            self.current_self = CurrentSelf::Instance(instance);
            let selected = self
                .eval(when, scope)
                .and_then(|value| self.condition(&value, Context::WhenCondition, when.span));
            match selected {
                Ok(true) => {}
                Ok(false) => return Ok(true),
                Err(Halt::Error(error)) => {
                    // The instance cannot be implemented: what it misses follows from this.
                    self.instances[instance.0 as usize].failed = true;
                    return Err(Halt::Error(error));
                }
                Err(wait) => return Err(wait),
            }
        }
        let inst = instance.0 as usize;
        for &implementation in &def.implementations {
            if self.instances[inst].implementations.contains(&implementation) {
                continue;
            }
            self.instances[inst].implementations.push(implementation);
            if let Some(body) = self.model.implementations[implementation.index()].body {
                let span = self.instances[inst].span;
                let scope = self.new_scope(body, None, &[Value::Instance(instance)], span);
                self.impl_scopes.insert(scope, (instance, implementation));
                self.spawn_statements(body, scope);
            }
        }
        Ok(true)
    }

    pub(super) fn select_implementations(&mut self, instance: InstanceId, entity: EntityId) {
        let model: &'a Model = self.model;
        for &implement in &model.entity(entity).effective_implements {
            match &self.implement_may_write[implement.index()] {
                Some(_) => {}
                None => {
                    let mut may_write: Vec<u32> = Vec::new();
                    for implementation in &model.implements[implement.index()].implementations {
                        if let Some(body) = model.implementations[implementation.index()].body {
                            may_write.extend(self.blocks[body.index()].may_write.iter());
                        }
                    }
                    may_write.sort_unstable();
                    may_write.dedup();
                    self.implement_may_write[implement.index()] = Some(may_write.into());
                }
            }
            self.new_task(TaskKind::Select { instance, implement });
        }
    }

    /// The instance whose implementation a scope belongs to (through its parents).
    pub(super) fn instance_of_scope(&self, scope: ScopeId) -> Option<InstanceId> {
        self.implementation_of_scope(scope).map(|(instance, _)| instance)
    }

    /// The instance and the implementation a scope belongs to (through its parents).
    pub(super) fn implementation_of_scope(&self, scope: ScopeId) -> Option<(InstanceId, ImplId)> {
        let mut current = scope;
        loop {
            if let Some(found) = self.impl_scopes.get(&current) {
                return Some(*found);
            }
            current = self.scopes[current.0 as usize].parent?;
        }
    }

    /// Who creates an instance constructed in `scope`: the instance of the enclosing
    /// implementation, or the item of the innermost enclosing `for` over instances, whichever
    /// lies deeper in its chain (the implementation on a tie), so that neither a recursive
    /// implementation nor a loop that feeds itself escapes the chain limit.
    pub(super) fn creator_of_scope(&self, scope: ScopeId) -> Option<(InstanceId, Origin)> {
        let mut looped: Option<(InstanceId, Origin)> = None;
        let mut current = scope;
        loop {
            if let Some(&(instance, implementation)) = self.impl_scopes.get(&current) {
                let own = (instance, Origin::Implementation(implementation));
                return Some(match looped {
                    Some(item) if self.instances[item.0 .0 as usize].depth > self.instances[instance.0 as usize].depth => item,
                    _ => own,
                });
            }
            let entry = &self.scopes[current.0 as usize];
            if let (None, ScopeVars::Block(block)) = (looped, entry.vars) {
                if self.blocks[block.index()].loop_body {
                    if let SlotValue::Single(Value::Instance(item)) = &self.slots[entry.first_var as usize].value {
                        looped = Some((*item, Origin::Loop(block)));
                    }
                }
            }
            match entry.parent {
                Some(parent) => current = parent,
                None => return looped,
            }
        }
    }

    /// A one-variable scope holding `self`, for `when` conditions.
    /// (One per instance, shared by all its `when` conditions and their re-runs.)
    pub(super) fn self_scope(&mut self, instance: InstanceId) -> ScopeId {
        if let Some(&scope) = self.self_scopes.get(&instance) {
            return scope;
        }
        let first_var = self.slots.len() as u32;
        self.slots.push(Slot::var(SlotValue::Single(Value::Instance(instance)), None));
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { first_var, parent: None, vars: ScopeVars::SelfValue });
        self.self_scopes.insert(instance, id);
        id
    }
}
