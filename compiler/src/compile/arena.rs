//! A growable arena in fixed-size chunks. The executor keeps millions of slots and tasks; a
//! plain `Vec` doubles its capacity (up to twice the memory in use, plus a copy of everything
//! at each growth), a chunked arena allocates exactly what it holds, in 4,096-item blocks.

use std::ops::{Index, IndexMut};

const CHUNK_BITS: usize = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

#[derive(Debug, Clone)]
pub struct Arena<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Arena<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, value: T) {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(value);
        }
        self.len += 1;
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index >> CHUNK_BITS).and_then(|c| c.get(index & (CHUNK - 1)))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flat_map(|c| c.iter_mut())
    }
}

impl<T> Index<usize> for Arena<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for Arena<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_index_and_iterates_across_chunks() {
        let mut arena = Arena::new();
        for i in 0..(CHUNK * 2 + 5) {
            arena.push(i);
        }
        assert_eq!(arena.len(), CHUNK * 2 + 5);
        assert_eq!(arena[CHUNK + 3], CHUNK + 3);
        arena[7] = 70;
        assert_eq!(arena.get(7), Some(&70));
        assert_eq!(arena.get(CHUNK * 3), None);
        assert_eq!(arena.iter().count(), CHUNK * 2 + 5);
    }
}
