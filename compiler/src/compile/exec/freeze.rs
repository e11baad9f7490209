//! Freezing: lists and optional values are complete once nothing can write them any more;
//! when every candidate still has possible writers, the best one is frozen to make progress.

use super::*;

impl<'a> Executor<'a> {
    /// Freezes lists and optional values that readers wait for; false when nothing is left to
    /// freeze (the run is over).
    pub(super) fn freeze_something(&mut self) -> bool {
        let candidates: Vec<SlotId> = self
            .freeze_candidates
            .iter()
            .copied()
            .filter(|slot| !self.slots[slot.0 as usize].frozen && self.freeze_waiters.get(slot).is_some_and(|w| !w.is_empty()))
            .collect();
        self.freeze_candidates = candidates.iter().copied().collect();
        if candidates.is_empty() {
            return false;
        }
        let mut safe = Vec::new();
        let mut best: Option<(u32, SlotId)> = None;
        for slot in &candidates {
            let writers = self.possible_writers(*slot);
            if writers == 0 {
                safe.push(*slot);
            }
            if best.is_none_or(|(w, _)| writers < w) {
                best = Some((writers, *slot));
            }
        }
        if safe.is_empty() {
            if let Some((_, slot)) = best {
                self.forced_freezes.insert(slot);
                safe.push(slot);
            }
        }
        for slot in safe {
            self.freeze(slot);
        }
        true
    }

    pub(super) fn possible_writers(&self, slot: SlotId) -> u32 {
        match self.slots[slot.0 as usize].owner() {
            SlotOwner::Attr { instance, attr } => {
                let entity = self.instances[instance.0 as usize].entity;
                let name = self.model.entity(entity).attrs[attr as usize].name;
                self.name_ids.get(&name).map(|id| self.pending[*id as usize]).unwrap_or(0)
            }
            // A variable is set by a statement of its own block: only freeze it when stuck.
            SlotOwner::Var => u32::MAX,
        }
    }

    pub(super) fn freeze(&mut self, slot: SlotId) {
        let reader = self
            .freeze_readers
            .remove(&slot)
            .or_else(|| self.freeze_waiters.get(&slot).and_then(|w| w.first()).map(|t| self.task_span(&self.tasks[t.0 as usize].kind)));
        let entry = &mut self.slots[slot.0 as usize];
        if entry.frozen {
            return;
        }
        entry.frozen = true;
        if let Some(reader) = reader {
            self.frozen_by.insert(slot, reader);
        }
        self.freeze_candidates.remove(&slot);
        if let Some(list) = self.freeze_waiters.remove(&slot) {
            self.queue.extend(list);
        }
        self.wake(slot);
    }
}
