//! The desired-state hash of a resource: a digest of its id (without version), its fields
//! and its requires, independent of field order, requires order and version, so an unchanged
//! resource keeps its hash from one version to the next. The fields' canonical JSON is fed to
//! the hasher as it is written, never built as a string.

use super::json::{JsonValue, Sink};

/// FNV-1a over 128 bits: stable across runs, platforms and releases (unlike `std`'s hasher).
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    /// `state = (state ^ byte) * PRIME` per byte. The prime is `2^88 + 0x13B`, so the product
    /// is `(state << 88) + state * 0x13B`, computed on the two 64-bit halves: the low half only
    /// depends on the low half (one multiplication per byte on the critical path).
    fn write(&mut self, bytes: &[u8]) {
        const LOW: u64 = 0x13B;
        let mut lo = self.0 as u64;
        let mut hi = (self.0 >> 64) as u64;
        for byte in bytes {
            lo ^= *byte as u64;
            let product = (lo as u128) * (LOW as u128);
            hi = hi.wrapping_mul(LOW).wrapping_add((product >> 64) as u64).wrapping_add(lo << 24);
            lo = product as u64;
        }
        self.0 = ((hi as u128) << 64) | lo as u128;
    }
}

// `write` relies on the shape of the prime.
const _: () = assert!(Fnv128::PRIME == (1 << 88) + 0x13B);

impl Sink for Fnv128 {
    fn put(&mut self, text: &str) {
        self.write(text.as_bytes());
    }
}

/// The hash of a resource. `attributes` must come sorted by name, each name once (the order
/// of the exported fields); `requires` may come in any order.
pub fn desired_state_hash<'x, I>(id: &str, attributes: I, requires: &[String]) -> String
where
    I: IntoIterator<Item = (&'x str, &'x JsonValue)>,
{
    let mut hasher = Fnv128(Fnv128::OFFSET);
    hasher.write(id.as_bytes());
    hasher.write(&[0]);
    // Sorted names and the canonical JSON form make field order irrelevant.
    for (name, value) in attributes {
        hasher.write(name.as_bytes());
        hasher.write(&[1]);
        value.write_to(&mut hasher, true);
        hasher.write(&[2]);
    }
    let mut hash_required = |required: &String| {
        hasher.write(required.as_bytes());
        hasher.write(&[3]);
    };
    if requires.is_sorted() {
        requires.iter().for_each(&mut hash_required);
    } else {
        let mut sorted: Vec<&String> = requires.iter().collect();
        sorted.sort();
        sorted.into_iter().for_each(&mut hash_required);
    }
    hex(hasher.0)
}

/// `{:032x}`.
fn hex(value: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = DIGITS[((value >> ((31 - i) * 4)) & 0xf) as usize];
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn hash(id: &str, attributes: &BTreeMap<String, JsonValue>, requires: &[String]) -> String {
        desired_state_hash(id, attributes.iter().map(|(k, v)| (k.as_str(), v)), requires)
    }

    #[test]
    fn hash_ignores_field_and_requires_order() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), JsonValue::Int(1));
        a.insert("y".to_string(), JsonValue::Str("z".into()));
        let mut b = BTreeMap::new();
        b.insert("y".to_string(), JsonValue::Str("z".into()));
        b.insert("x".to_string(), JsonValue::Int(1));
        let first = hash("t[a,k=v]", &a, &["r1".into(), "r2".into()]);
        assert_eq!(first, hash("t[a,k=v]", &b, &["r2".into(), "r1".into()]));
        b.insert("x".to_string(), JsonValue::Int(2));
        assert_ne!(first, hash("t[a,k=v]", &b, &["r1".into(), "r2".into()]));
    }

    /// The values themselves are part of the deploy state: they must never change (this one
    /// was computed by the original, string-building implementation).
    #[test]
    fn hash_values_are_pinned() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), JsonValue::Int(1));
        a.insert("y".to_string(), JsonValue::Object(vec![("b".into(), JsonValue::Float(1.5)), ("a".into(), JsonValue::Null)]));
        assert_eq!(hash("t[a,k=v]", &a, &["r2".into(), "r1".into()]), "ee0c5469045bdcc585acb8a0ebba91c5");
        assert_eq!(hex(0x0123456789abcdef_0011223344556677), "0123456789abcdef0011223344556677");
        assert_eq!(hex(5), format!("{:032x}", 5u128));
    }

    #[test]
    fn split_multiplication_is_the_prime_multiplication() {
        let mut state: u128 = Fnv128::OFFSET;
        let mut hasher = Fnv128(Fnv128::OFFSET);
        for i in 0..10_000u32 {
            let byte = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
            state ^= byte as u128;
            state = state.wrapping_mul(Fnv128::PRIME);
            hasher.write(&[byte]);
            assert_eq!(hasher.0, state);
        }
    }
}
