//! The JSON form of exported resources, written as a stream: `cairn export -j` writes the
//! same shape as Inmanta's (`[{"id": "...,v=N", fields..., "requires": [...], "version": N}]`,
//! requires without version) one resource at a time through one reused buffer, so memory does
//! not double for large models. The same
//! writer, generic over a [`Sink`], feeds the desired-state hash the canonical form (object
//! keys sorted) without building it as a string.

use super::Resource;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<JsonValue>),
    /// Keys keep the model's order; [`canonical`](JsonValue::canonical) sorts them.
    Object(Vec<(String, JsonValue)>),
}

/// Where JSON text goes: a buffer, or the hasher (which only needs the bytes).
pub(crate) trait Sink {
    fn put(&mut self, text: &str);
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// `write!` into a [`Sink`] (numbers).
struct Fmt<'s, S: Sink>(&'s mut S);

impl<S: Sink> fmt::Write for Fmt<'_, S> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.put(text);
        Ok(())
    }
}

impl JsonValue {
    pub fn write(&self, out: &mut String) {
        self.write_to(out, false);
    }

    /// JSON with object keys sorted: the form hashed for the desired state.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, true);
        out
    }

    /// Writes the value; with `sorted`, the keys of every object in ascending order (a key
    /// given twice keeps its last value), as in the canonical form.
    pub(crate) fn write_to<S: Sink>(&self, out: &mut S, sorted: bool) {
        match self {
            JsonValue::Null => out.put("null"),
            JsonValue::Bool(b) => out.put(if *b { "true" } else { "false" }),
            JsonValue::Int(i) => {
                let _ = write!(Fmt(out), "{i}");
            }
            JsonValue::Float(f) if f.is_finite() => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let _ = write!(Fmt(out), "{f:.1}");
                } else {
                    let _ = write!(Fmt(out), "{f}");
                }
            }
            JsonValue::Float(_) => out.put("null"),
            JsonValue::Str(s) => write_string(out, s),
            JsonValue::List(items) => {
                out.put("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.put(", ");
                    }
                    item.write_to(out, sorted);
                }
                out.put("]");
            }
            JsonValue::Object(pairs) if sorted && !pairs.windows(2).all(|w| w[0].0 < w[1].0) => {
                // Stable sort: among equal keys the last one given is the one kept.
                let mut order: Vec<&(String, JsonValue)> = pairs.iter().collect();
                order.sort_by(|a, b| a.0.cmp(&b.0));
                out.put("{");
                let mut first = true;
                for (i, (key, value)) in order.iter().map(|p| (&p.0, &p.1)).enumerate() {
                    if order.get(i + 1).is_some_and(|next| next.0 == *key) {
                        continue;
                    }
                    if !first {
                        out.put(", ");
                    }
                    first = false;
                    write_pair(out, key, value, sorted);
                }
                out.put("}");
            }
            JsonValue::Object(pairs) => {
                out.put("{");
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.put(", ");
                    }
                    write_pair(out, key, value, sorted);
                }
                out.put("}");
            }
        }
    }
}

fn write_pair<S: Sink>(out: &mut S, key: &str, value: &JsonValue, sorted: bool) {
    write_string(out, key);
    out.put(": ");
    value.write_to(out, sorted);
}

/// `\u00XX` for the control characters without a short escape.
const CONTROL: [&str; 32] = [
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007", "\\u0008", "\\t", "\\n", "\\u000b", "\\u000c",
    "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018",
    "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
];

/// A JSON string literal.
pub(crate) fn write_string<S: Sink>(out: &mut S, text: &str) {
    out.put("\"");
    write_escaped(out, text);
    out.put("\"");
}

/// The inside of a JSON string literal: runs without anything to escape are copied whole,
/// skipped over eight bytes at a time.
fn write_escaped<S: Sink>(out: &mut S, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            // (A chunk that is not 8 bytes cannot happen; zeros would only mean a byte check.)
            if !needs_escape(u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default())) {
                i += 8;
                continue;
            }
        }
        let byte = bytes[i];
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0..=0x1f => CONTROL[byte as usize],
            _ => {
                i += 1;
                continue;
            }
        };
        // `i` is at an ASCII byte, so both slices fall on character boundaries.
        if start < i {
            out.put(&text[start..i]);
        }
        out.put(escape);
        i += 1;
        start = i;
    }
    if start < text.len() {
        out.put(&text[start..]);
    }
}

/// Whether any of the eight bytes is a control character, `"` or `\\` (exact as a yes/no;
/// the classic "has a zero byte / a byte less than n" tests).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (control | has_zero(word ^ (ONES * b'"' as u64)) | has_zero(word ^ (ONES * b'\\' as u64))) != 0
}

/// The JSON object of one resource: its versioned id (`suffix` is `,v=N"`), its fields, its
/// requires (ids without version, as Inmanta writes them) and its `version` (the number).
fn write_resource(out: &mut Vec<u8>, resource: &Resource, suffix: &str, version: &str) {
    out.put("{\"id\": \"");
    write_escaped(out, &resource.id);
    out.put(suffix);
    for (name, value) in &resource.attributes {
        out.put(", ");
        write_string(out, name);
        out.put(": ");
        value.write_to(out, false);
    }
    out.put(", \"requires\": [");
    for (i, required) in resource.requires.iter().enumerate() {
        if i > 0 {
            out.put(", ");
        }
        write_string(out, required);
    }
    out.put("], \"version\": ");
    out.put(version);
    out.put("}");
}

/// Streams a whole version as a JSON list, in the shape of Inmanta's `export -j`: every
/// resource `{"id": "...,v=N", fields..., "requires": [ids], "version": N}`.
pub fn write_version_json(writer: &mut dyn Write, resources: &[Resource], version: u64) -> io::Result<()> {
    const CHUNK: usize = 1 << 16;
    let suffix = format!(",v={version}\"");
    let number = version.to_string();
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    buffer.push(b'[');
    for (i, resource) in resources.iter().enumerate() {
        buffer.put(if i == 0 { "\n  " } else { ",\n  " });
        write_resource(&mut buffer, resource, &suffix, &number);
        if buffer.len() >= CHUNK {
            writer.write_all(&buffer)?;
            buffer.clear();
        }
    }
    buffer.put("\n]\n");
    writer.write_all(&buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_before() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\nd\re\tf\u{1}g\u{7f}h\u{e9}\u{1f600}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\u{7f}h\u{e9}\u{1f600}\"");
    }

    #[test]
    fn escaping_matches_the_character_by_character_form() {
        fn simple(text: &str) -> String {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let alphabet: Vec<char> = "ab \"\\\n\r\t\u{0}\u{1f}\u{20}\u{7f}\u{80}\u{e9}\u{ff}\u{1f600}~".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for length in 0..200 {
            let text: String = (0..length)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let mut out = String::new();
            write_string(&mut out, &text);
            assert_eq!(out, simple(&text), "{text:?}");
        }
        for byte in 0u8..=0x7f {
            let text = format!("abcdefgh{}ijklmnop", byte as char);
            let mut out = String::new();
            write_string(&mut out, &text);
            assert_eq!(out, simple(&text));
        }
    }

    #[test]
    fn canonical_sorts_keys_and_keeps_the_last_duplicate() {
        let value = JsonValue::Object(vec![
            ("b".into(), JsonValue::Int(1)),
            (
                "a".into(),
                JsonValue::List(vec![JsonValue::Object(vec![("y".into(), JsonValue::Null), ("x".into(), JsonValue::Float(2.0))])]),
            ),
            ("b".into(), JsonValue::Bool(true)),
        ]);
        assert_eq!(value.canonical(), r#"{"a": [{"x": 2.0, "y": null}], "b": true}"#);
        let mut plain = String::new();
        value.write(&mut plain);
        assert_eq!(plain, r#"{"b": 1, "a": [{"y": null, "x": 2.0}], "b": true}"#);
    }
}
