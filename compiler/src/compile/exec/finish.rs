//! The end of a run: completeness checks over every instance, and the explanation of what
//! never ran and why.

use super::*;

impl<'a> Executor<'a> {
    pub(super) fn finish(&mut self) {
        // Everything still open is now as complete as it will get.
        for slot in self.slots.iter_mut() {
            slot.frozen = true;
        }
        let mut blocked_writers: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        // Attributes a constructor argument that never got its value was to set: not reported
        // as "not set" (what the argument waits for is the error; with no other error, the
        // waiting argument is reported below).
        let mut late_unset: FxHashSet<(InstanceId, u32)> = FxHashSet::default();
        for (id, task) in self.tasks.iter().enumerate() {
            if let (false, TaskKind::LateArg(late)) = (task.done, &task.kind) {
                late_unset.insert((late.instance, late.attr));
            }
            if !task.done {
                for &name in self.task_may_write(&task.kind).iter() {
                    blocked_writers.entry(name).or_default().push(id);
                }
            }
        }
        let mut errors = Vec::new();
        for (instance_index, instance) in self.instances.iter().enumerate() {
            let instance_id = InstanceId(instance_index as u32);
            let entity = self.model.entity(instance.entity);
            if instance.failed {
                continue;
            }
            if instance.implementations.is_empty() {
                let mut error = CompileError::new(ErrorKind::NoImplementation { entity: entity.full_name.clone() }, instance.span);
                if let Some(cause) = self.blocked_select_cause(instance_id) {
                    error = error.with_cause(cause);
                }
                errors.push(error);
            }
            for (attr_index, attr) in entity.attrs.iter().enumerate() {
                let slot_id = SlotId(instance.first_slot + attr_index as u32);
                let slot = &self.slots[slot_id.0 as usize];
                // `None`: complete; `Some(None)`: not set; `Some(Some((lower, count)))`: too few.
                let missing = match (&attr.kind, &slot.value) {
                    (AttrKind::Relation { lower, .. }, SlotValue::List(items)) if (items.len() as u32) < *lower => Some(Some((*lower, items.len()))),
                    (AttrKind::Relation { lower, upper, .. }, SlotValue::Unset) if *lower > 0 => {
                        if *upper == Some(1) {
                            Some(None)
                        } else {
                            Some(Some((*lower, 0)))
                        }
                    }
                    (AttrKind::Value { .. }, SlotValue::Unset) => Some(None),
                    _ => None,
                };
                let Some(missing) = missing else { continue };
                if self.failed_slots.contains(&slot_id) || late_unset.contains(&(instance_id, attr_index as u32)) {
                    continue;
                }
                let name = self.interner.resolve(attr.name).to_string();
                let missing = Some(match missing {
                    None => ErrorKind::AttributeNotSet { instance: self.describe_instance(instance_id), attribute: name },
                    Some((lower, count)) => ErrorKind::TooFewValues { instance: self.describe_instance(instance_id), attribute: name, lower, count },
                });
                if let Some(kind) = missing {
                    let mut error = CompileError::new(kind, instance.span).with_related(attr.span, Related::AttributeDeclaredHere);
                    if let Some(writers) = self.name_ids.get(&attr.name).and_then(|id| blocked_writers.get(id)) {
                        if let Some(&task) = writers.first() {
                            error = error.with_related(self.task_span(&self.tasks[task].kind), Related::CouldSetButNeverRan);
                            if let Some(cause) = self.task_wait(task).and_then(|w| self.describe_wait(w)) {
                                error = error.with_cause(Cause::StatementWaiting(cause));
                            }
                        }
                    }
                    errors.push(error);
                }
            }
        }
        // Lookups that never matched.
        for (id, task) in self.tasks.iter().enumerate() {
            if task.done {
                continue;
            }
            if let Some(Wait::Index(index, key)) = self.task_wait(id) {
                let entity = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                errors.push(CompileError::new(ErrorKind::NoIndexMatch { entity, key: self.show_key(*index, key) }, self.task_span(&task.kind)));
            }
        }
        if errors.is_empty() && self.errors.is_empty() {
            // Nothing else explains statements that never ran: report them.
            for (id, task) in self.tasks.iter().enumerate() {
                if task.done {
                    continue;
                }
                if let Some(wait) = self.task_wait(id) {
                    if let Some(waiting) = self.describe_wait(wait) {
                        errors.push(CompileError::new(ErrorKind::Unresolved(waiting), self.task_span(&task.kind)));
                    }
                }
            }
        }
        self.errors.extend(errors);
    }

    pub(super) fn blocked_select_cause(&self, instance: InstanceId) -> Option<Cause> {
        self.tasks.iter().enumerate().find_map(|(id, task)| match (&task.kind, self.task_wait(id)) {
            (TaskKind::Select { instance: i, .. }, Some(wait)) if *i == instance && !task.done => {
                self.describe_wait(wait).map(Cause::WhenConditionWaiting)
            }
            _ => None,
        })
    }

    pub(super) fn describe_wait(&self, wait: &Wait) -> Option<Waiting> {
        match wait {
            Wait::Change(slot) | Wait::Freeze(slot, _) => Some(Waiting::NeverSet(self.describe_slot(*slot))),
            Wait::Index(index, key) => {
                let entity = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                Some(Waiting::NeverExists { entity, key: self.show_key(*index, key) })
            }
        }
    }
}
