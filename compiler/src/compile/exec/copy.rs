//! Relations assigned from relations, gradually: `x.rel = y.other` (or `+=`) where both have
//! an upper bound above one passes the elements on as they arrive in `y.other`, as Inmanta
//! does, instead of reading it whole (which would freeze it before its writers are done).

use super::*;

/// `x.rel = y.other` between relations with an upper bound above one, done gradually.
pub(super) struct RelationCopy {
    pub to: InstanceId,
    pub attr: u32,
    /// The source relation's slot.
    pub list: SlotId,
    pub span: Span,
    /// What the assigning statement may write: this task writes the same.
    pub may_write: Rc<[u32]>,
}

impl<'a> Executor<'a> {
    /// `x.rel = y.other` (or `+=`) where both are relations with an upper bound above one:
    /// as in Inmanta, the elements are passed on as they arrive in `y.other` rather than once
    /// it is complete, so the copy never forces it frozen (`run.requires = self.requires`).
    /// `Ok(true)` when a [`RelationCopy`] task took the statement over.
    pub(super) fn copy_gradually(&mut self, target: &Target, value: &IrExpr, scope: ScopeId, span: Span) -> Eval<bool> {
        let (Target::Attr { base, name, name_span }, IrKind::Attr { base: from_base, name: from_name }) = (target, &value.kind) else {
            return Ok(false);
        };
        // The bases are evaluated here and again by the plain assignment when this does not
        // apply: only expressions with nothing to replay (no constructor, call or lookup),
        // and only when the source names a list relation somewhere (no cost for the others).
        if !self.list_relation_names.contains(from_name) || !eval::is_pure(base) || !eval::is_pure(from_base) {
            return Ok(false);
        }
        let is_multi_relation = |this: &Self, instance: InstanceId, name: Symbol| {
            let entity = this.model.entity(this.instances[instance.0 as usize].entity);
            entity.attr(name).filter(|(_, def)| def.is_relation() && def.is_multi()).map(|(index, _)| index)
        };
        let Value::Instance(to) = self.eval(base, scope)? else { return Ok(false) };
        let Value::Instance(from) = self.eval(from_base, scope)? else { return Ok(false) };
        let (Some(attr), Some(source)) = (is_multi_relation(self, to, *name), is_multi_relation(self, from, *from_name)) else {
            return Ok(false);
        };
        let may_write = self.task_may_write(&self.tasks[self.current_task.0 as usize].kind);
        let list = self.instances[from.0 as usize].slot(source);
        let copy = RelationCopy { to, attr, list, span: name_span.to(span), may_write };
        self.new_task(TaskKind::Copy { copy: Rc::new(copy), consumed: 0 });
        Ok(true)
    }

    pub(super) fn run_copy(&mut self, id: TaskId, copy: &RelationCopy, consumed: u32) -> Eval<bool> {
        let items: Vec<Value> = match &self.slots[copy.list.0 as usize].value {
            SlotValue::List(items) => items.get(consumed as usize..).map(<[Value]>::to_vec).unwrap_or_default(),
            _ => Vec::new(),
        };
        for item in &items {
            self.set_attr(copy.to, copy.attr, item.clone(), copy.span, false)?;
        }
        if let TaskKind::Copy { consumed: c, .. } = &mut self.tasks[id.0 as usize].kind {
            *c += items.len() as u32;
        }
        if self.slots[copy.list.0 as usize].frozen {
            Ok(true)
        } else {
            self.slots[copy.list.0 as usize].watched = true;
            self.freeze_waiters.entry(copy.list).or_default().push(id);
            self.add_freeze_candidate(copy.list);
            Err(Halt::Wait(Wait::Change(copy.list)))
        }
    }

}
