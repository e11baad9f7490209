//! String interning: identifiers become [`Symbol`]s (a `u32`), so names compare and hash as
//! integers in the parser, the name resolver and the executor.

use rustc_hash::FxHashMap;

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

/// Owns the interned strings. Symbols are handed out in first-seen order, so interning is
/// deterministic for a deterministic input order.
#[derive(Default, Debug)]
pub struct Interner {
    map: FxHashMap<Box<str>, Symbol>,
    strings: Vec<Box<str>>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&mut self, text: &str) -> Symbol {
        if let Some(&symbol) = self.map.get(text) {
            return symbol;
        }
        let symbol = Symbol(u32::try_from(self.strings.len()).unwrap_or(u32::MAX));
        let owned: Box<str> = text.into();
        self.strings.push(owned.clone());
        self.map.insert(owned, symbol);
        symbol
    }

    /// Looks a string up without interning it.
    pub fn get(&self, text: &str) -> Option<Symbol> {
        self.map.get(text).copied()
    }

    pub fn resolve(&self, symbol: Symbol) -> &str {
        self.strings.get(symbol.index()).map(|s| &**s).unwrap_or("<unknown symbol>")
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
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
}
