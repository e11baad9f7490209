//! Freezing: lists and optional values are complete once nothing can write them any more;
//! when every candidate still has possible writers, the best one is frozen to make progress.

use super::*;

/// The freeze-candidate group of variables (never safe: frozen only when stuck).
const VAR_GROUP: u32 = u32::MAX;
/// The group of attributes whose name no statement writes.
const UNWRITTEN_GROUP: u32 = u32::MAX - 1;

impl<'a> Executor<'a> {
    /// Freezes lists and optional values that readers wait for; false when nothing is left to
    /// freeze (the run is over).
    ///
    /// Every candidate with no possible writer left is frozen (in slot order). If there is
    /// none, the one with the fewest possible writers (then the oldest) is frozen alone. The
    /// candidates are grouped by the counter that gives their writers (their attribute name),
    /// so a round looks at each group's oldest live member only: a model where every round can
    /// only force one freeze (`if std::count(self.items) == 0: ...` on thousands of
    /// instances) stays linear instead of rescanning every candidate each round.
    pub(super) fn freeze_something(&mut self) -> bool {
        let mut safe = Vec::new();
        let mut best: Option<(u32, SlotId)> = None;
        let groups: Vec<u32> = self.freeze_candidates.keys().copied().collect();
        for group in groups {
            let writers = self.group_writers(group);
            let Some(mut members) = self.freeze_candidates.remove(&group) else { continue };
            if writers == 0 {
                safe.extend(members.iter().copied().filter(|slot| self.waits_for_freeze(*slot)));
                continue;
            }
            while let Some(&first) = members.first() {
                if self.waits_for_freeze(first) {
                    if best.is_none_or(|current| (writers, first) < current) {
                        best = Some((writers, first));
                    }
                    break;
                }
                members.pop_first();
            }
            if !members.is_empty() {
                self.freeze_candidates.insert(group, members);
            }
        }
        if safe.is_empty() {
            let Some((_, slot)) = best else { return false };
            self.forced_freezes.insert(slot);
            safe.push(slot);
        }
        safe.sort_unstable();
        for slot in safe {
            self.freeze(slot);
        }
        true
    }

    /// Not frozen yet, and a reader waits for it to be.
    fn waits_for_freeze(&self, slot: SlotId) -> bool {
        !self.slots[slot.0 as usize].frozen && self.freeze_waiters.get(&slot).is_some_and(|w| !w.is_empty())
    }

    /// Makes `slot` a freeze candidate, in the group of its writers' counter.
    pub(super) fn add_freeze_candidate(&mut self, slot: SlotId) {
        let group = self.freeze_group(slot);
        self.freeze_candidates.entry(group).or_default().insert(slot);
    }

    /// The counter of possible writers that applies to a slot: its attribute name's id;
    /// [`VAR_GROUP`] for variables, [`UNWRITTEN_GROUP`] for names nothing writes.
    fn freeze_group(&self, slot: SlotId) -> u32 {
        match self.slots[slot.0 as usize].owner() {
            SlotOwner::Attr { instance, attr } => {
                let entity = self.instances[instance.0 as usize].entity;
                let name = self.model.entity(entity).attrs[attr as usize].name;
                self.name_ids.get(&name).copied().unwrap_or(UNWRITTEN_GROUP)
            }
            SlotOwner::Var => VAR_GROUP,
        }
    }

    fn group_writers(&self, group: u32) -> u32 {
        match group {
            // A variable is set by a statement of its own block: only freeze it when stuck.
            VAR_GROUP => u32::MAX,
            UNWRITTEN_GROUP => 0,
            name => self.pending.get(name as usize).copied().unwrap_or(0),
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
        // (Its entry in `freeze_candidates` is dropped as stale by the next round.)
        if let Some(list) = self.freeze_waiters.remove(&slot) {
            self.queue.extend(list);
        }
        self.wake(slot);
    }
}
