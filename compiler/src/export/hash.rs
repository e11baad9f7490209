//! The desired-state hash of a resource: a digest of its id (without version), its fields
//! and its requires, independent of field order, requires order and version, so an unchanged
//! resource keeps its hash from one version to the next.

use super::json::JsonValue;
use std::collections::BTreeMap;

/// FNV-1a over 128 bits: stable across runs, platforms and releases (unlike `std`'s hasher).
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= *byte as u128;
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

pub fn desired_state_hash(id: &str, attributes: &BTreeMap<String, JsonValue>, requires: &[String]) -> String {
    let mut hasher = Fnv128(Fnv128::OFFSET);
    hasher.write(id.as_bytes());
    hasher.write(&[0]);
    // BTreeMap iteration and the canonical JSON form make field order irrelevant.
    for (name, value) in attributes {
        hasher.write(name.as_bytes());
        hasher.write(&[1]);
        hasher.write(value.canonical().as_bytes());
        hasher.write(&[2]);
    }
    let mut sorted: Vec<&String> = requires.iter().collect();
    sorted.sort();
    for required in sorted {
        hasher.write(required.as_bytes());
        hasher.write(&[3]);
    }
    format!("{:032x}", hasher.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_field_and_requires_order() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), JsonValue::Int(1));
        a.insert("y".to_string(), JsonValue::Str("z".into()));
        let mut b = BTreeMap::new();
        b.insert("y".to_string(), JsonValue::Str("z".into()));
        b.insert("x".to_string(), JsonValue::Int(1));
        let first = desired_state_hash("t[a,k=v]", &a, &["r1".into(), "r2".into()]);
        assert_eq!(first, desired_state_hash("t[a,k=v]", &b, &["r2".into(), "r1".into()]));
        b.insert("x".to_string(), JsonValue::Int(2));
        assert_ne!(first, desired_state_hash("t[a,k=v]", &b, &["r1".into(), "r2".into()]));
    }
}
