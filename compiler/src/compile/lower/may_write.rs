//! Which attribute names each block may write: its own writes, the inverse names of the
//! relations it writes, and what the implementations of the entities it constructs may
//! write, to a fixpoint. The executor counts pending writers per name to decide freezes.

use super::*;

impl Lowerer<'_> {
    /// Fills `may_write` of every block: its own attribute writes, the inverse names of the
    /// relations written, and everything the implementations of constructed entities may
    /// write, to a fixpoint.
    pub(super) fn compute_may_write(&mut self, model: &Model, impl_bodies: &[(usize, BlockId)]) {
        let mut ids: FxHashMap<Symbol, u32> = FxHashMap::default();
        let mut inverses: FxHashMap<Symbol, FxHashSet<Symbol>> = FxHashMap::default();
        for entity in &model.entities {
            for attr in &entity.attrs {
                let next = ids.len() as u32;
                ids.entry(attr.name).or_insert(next);
                if let AttrKind::Relation { inverse: Some(inverse), .. } = &attr.kind {
                    inverses.entry(attr.name).or_default().insert(*inverse);
                }
            }
        }
        let words = ids.len().div_ceil(64).max(1);
        let count = self.blocks.len();
        let mark_writes = |info: &StmtInfo, set: &mut [u64]| {
            for name in &info.writes {
                let mut mark = |n: &Symbol| {
                    if let Some(&id) = ids.get(n) {
                        set[id as usize / 64] |= 1 << (id % 64);
                    }
                };
                mark(name);
                if let Some(inv) = inverses.get(name) {
                    inv.iter().for_each(&mut mark);
                }
            }
        };
        // Direct writes of every statement.
        let mut stmt_sets: Vec<Vec<Vec<u64>>> = self
            .info
            .iter()
            .map(|info| {
                info.stmts
                    .iter()
                    .map(|stmt| {
                        let mut set = vec![0u64; words];
                        mark_writes(stmt, &mut set);
                        set
                    })
                    .collect()
            })
            .collect();
        let mut sets = vec![vec![0u64; words]; count];
        for (block, info) in self.info.iter().enumerate() {
            mark_writes(&info.extra, &mut sets[block]);
        }
        // Implementation bodies per entity (an entity runs implementations of its ancestors).
        let mut bodies_of: Vec<Vec<BlockId>> = vec![Vec::new(); model.entities.len()];
        for &(impl_id, body) in impl_bodies {
            let target = model.implementations[impl_id].entity;
            for (entity, list) in bodies_of.iter_mut().enumerate() {
                if model.is_subtype(EntityId(entity as u32), target) {
                    list.push(body);
                }
            }
        }
        let merge = |into: &mut Vec<u64>, from: &[u64]| {
            for (w, word) in from.iter().enumerate() {
                into[w] |= word;
            }
        };
        // To a fixpoint: a statement may write what its nested blocks and the implementations
        // of what it constructs may write; a block what its statements may write.
        let mut changed = true;
        while changed {
            changed = false;
            for block in 0..count {
                let mut block_set = sets[block].clone();
                for (index, stmt) in self.info[block].stmts.iter().enumerate() {
                    let mut merged = stmt_sets[block][index].clone();
                    for child in &stmt.children {
                        merge(&mut merged, &sets[child.index()]);
                    }
                    for entity in &stmt.constructs {
                        for body in &bodies_of[entity.index()] {
                            merge(&mut merged, &sets[body.index()]);
                        }
                    }
                    merge(&mut block_set, &merged);
                    if merged != stmt_sets[block][index] {
                        stmt_sets[block][index] = merged;
                        changed = true;
                    }
                }
                for entity in &self.info[block].extra.constructs {
                    for body in &bodies_of[entity.index()] {
                        merge(&mut block_set, &sets[body.index()]);
                    }
                }
                if block_set != sets[block] {
                    sets[block] = block_set;
                    changed = true;
                }
            }
        }
        let names_of = |set: &[u64]| -> Rc<[u32]> {
            let mut names = Vec::new();
            for (w, word) in set.iter().enumerate() {
                let mut bits = *word;
                while bits != 0 {
                    let bit = bits.trailing_zeros();
                    names.push((w * 64) as u32 + bit);
                    bits &= bits - 1;
                }
            }
            names.into()
        };
        for (block, set) in sets.iter().enumerate() {
            self.blocks[block].may_write = names_of(set);
            self.blocks[block].stmt_may_write = stmt_sets[block].iter().map(|set| names_of(set)).collect();
        }
        self.name_ids = ids;
    }
}
