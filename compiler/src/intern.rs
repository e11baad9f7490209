//! String interning: identifiers become [`Symbol`]s (a `u32`), so names compare and hash as
//! integers in the parser, the name resolver and the executor.
//!
//! The lexer interns every identifier it meets, so lookups are on the hot path of parsing:
//! the table is a small open-addressing one (linear probing) keyed by a word-at-a-time hash
//! of the text, each slot keeping 32 bits of the hash so that the text itself is compared
//! only on a probable match (and the table grows without rehashing texts). The texts live
//! end to end in one string, not in an allocation each.

/// An interned string. Only meaningful together with the [`Interner`] that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(u32);

impl Symbol {
    /// A symbol no interner hands out; resolves to a placeholder.
    pub fn default_symbol() -> Symbol {
        Symbol(u32::MAX)
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A slot of the table: 0 when empty, else the symbol's index plus one.
#[derive(Clone, Copy, Default, Debug)]
struct Slot {
    hash: u32,
    symbol_plus_one: u32,
}

/// Owns the interned strings. Symbols are handed out in first-seen order, so interning is
/// deterministic for a deterministic input order.
#[derive(Default, Debug)]
pub struct Interner {
    /// A power of two long (or empty), at most half full.
    slots: Vec<Slot>,
    /// The texts of all symbols, end to end.
    text: String,
    /// Where the text of each symbol ends in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
}

const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

/// Eight bytes as a word.
fn read_word(chunk: &[u8]) -> u64 {
    chunk.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

/// Up to seven bytes as a word (a loop: a variable-length copy would call `memcpy`).
fn read_tail(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |word, &byte| (word << 8) | u64::from(byte))
}

/// A fast hash of short texts, eight bytes at a time.
fn hash(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut hash = (bytes.len() as u64).wrapping_mul(MULTIPLIER);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        hash = (hash ^ read_word(chunk)).wrapping_mul(MULTIPLIER).rotate_left(23);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        hash = (hash ^ read_tail(rest)).wrapping_mul(MULTIPLIER).rotate_left(23);
    }
    // Mix the high bits down: the slot index uses the low bits.
    let mixed = (hash ^ (hash >> 29)).wrapping_mul(MULTIPLIER);
    (mixed >> 32) as u32
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The text of symbol number `index`.
    fn text_of(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 { 0 } else { *self.ends.get(index - 1)? as usize };
        self.text.get(start..end)
    }

    /// The slot holding `text`, or the empty slot where it belongs.
    fn find(&self, text: &str, hash: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.symbol_plus_one == 0 {
                return at;
            }
            if slot.hash == hash && self.text_of((slot.symbol_plus_one - 1) as usize) == Some(text) {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    pub fn intern(&mut self, text: &str) -> Symbol {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); 1024];
        }
        let hash = hash(text);
        let at = self.find(text, hash);
        let slot = self.slots[at];
        if slot.symbol_plus_one != 0 {
            return Symbol(slot.symbol_plus_one - 1);
        }
        let symbol = Symbol(u32::try_from(self.ends.len()).unwrap_or(u32::MAX - 2));
        self.text.push_str(text);
        self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        self.slots[at] = Slot { hash, symbol_plus_one: symbol.0.saturating_add(1) };
        if self.ends.len() * 2 > self.slots.len() {
            self.grow();
        }
        symbol
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.symbol_plus_one != 0) {
            let mut at = slot.hash as usize & mask;
            while self.slots[at].symbol_plus_one != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }

    /// Looks a string up without interning it.
    pub fn get(&self, text: &str) -> Option<Symbol> {
        if self.slots.is_empty() {
            return None;
        }
        let slot = self.slots[self.find(text, hash(text))];
        (slot.symbol_plus_one != 0).then(|| Symbol(slot.symbol_plus_one - 1))
    }

    /// The text of the symbol with this [`Symbol::index`], for tools that only have the number
    /// (the fuzz tests compare trees of two interners through their `Debug` text).
    pub fn resolve_index(&self, index: usize) -> Option<&str> {
        self.text_of(index)
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        self.text_of(symbol.index()).unwrap_or("<unknown symbol>")
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_reversible() {
        let mut interner = Interner::new();
        let a = interner.intern("alpha");
        let b = interner.intern("beta");
        assert_ne!(a, b);
        assert_eq!(interner.intern("alpha"), a);
        assert_eq!(interner.resolve(b), "beta");
        assert_eq!(interner.get("gamma"), None);
    }

    #[test]
    fn many_symbols_survive_growth() {
        let mut interner = Interner::new();
        let names: Vec<String> = (0..5000).map(|i| format!("name_{i}_{}", "x".repeat(i % 20))).collect();
        let symbols: Vec<Symbol> = names.iter().map(|n| interner.intern(n)).collect();
        for (i, (name, symbol)) in names.iter().zip(&symbols).enumerate() {
            assert_eq!(symbol.index(), i);
            assert_eq!(interner.intern(name), *symbol);
            assert_eq!(interner.get(name), Some(*symbol));
            assert_eq!(interner.resolve(*symbol), name);
        }
        assert_eq!(interner.get(""), None);
        let empty = interner.intern("");
        assert_eq!(interner.resolve(empty), "");
        assert_eq!(interner.len(), 5001);
    }
}
