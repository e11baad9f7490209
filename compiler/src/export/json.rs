//! The JSON form of exported resources, written as a stream: `cairn export -j` writes the
//! same shape as Inmanta's (`[{"id": "...,v=N", fields..., "requires": [...]}]`) one resource
//! at a time, so memory does not double for large models.

use super::Resource;
use std::collections::BTreeMap;
use std::fmt::Write as _;
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

impl JsonValue {
    pub fn write(&self, out: &mut String) {
        match self {
            JsonValue::Null => out.push_str("null"),
            JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            JsonValue::Float(f) if f.is_finite() => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let _ = write!(out, "{f:.1}");
                } else {
                    let _ = write!(out, "{f}");
                }
            }
            JsonValue::Float(_) => out.push_str("null"),
            JsonValue::Str(s) => write_string(out, s),
            JsonValue::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            JsonValue::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    /// JSON with object keys sorted: the form hashed for the desired state.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.sorted().write(&mut out);
        out
    }

    fn sorted(&self) -> JsonValue {
        match self {
            JsonValue::List(items) => JsonValue::List(items.iter().map(JsonValue::sorted).collect()),
            JsonValue::Object(pairs) => {
                let map: BTreeMap<&String, JsonValue> = pairs.iter().map(|(k, v)| (k, v.sorted())).collect();
                JsonValue::Object(map.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            other => other.clone(),
        }
    }
}

pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON object of one resource, with its versioned id.
pub fn resource_json(resource: &Resource, version: u64) -> String {
    let mut out = String::new();
    out.push('{');
    write_string(&mut out, "id");
    out.push_str(": ");
    write_string(&mut out, &format!("{},v={version}", resource.id));
    for (name, value) in &resource.attributes {
        out.push_str(", ");
        write_string(&mut out, name);
        out.push_str(": ");
        value.write(&mut out);
    }
    out.push_str(", \"requires\": [");
    for (i, required) in resource.requires.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(&mut out, &format!("{required},v={version}"));
    }
    out.push(']');
    out.push('}');
    out
}

/// Streams a whole version as a JSON list.
pub fn write_version_json(writer: &mut dyn Write, resources: &[Resource], version: u64) -> io::Result<()> {
    writer.write_all(b"[")?;
    for (i, resource) in resources.iter().enumerate() {
        writer.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        writer.write_all(resource_json(resource, version).as_bytes())?;
    }
    writer.write_all(b"\n]\n")?;
    Ok(())
}
