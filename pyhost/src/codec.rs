//! Model values on the wire of the plugin host (`docs/plugin-host.md`, "Values"): plain JSON
//! for null, bools, numbers, strings and lists; an instance as `{"$ref": N, "$type": E}`; the
//! unknown as `{"$unknown": true}`; a dict whose keys could be mistaken for those as
//! `{"$dict": {...}}`. Ints and floats stay apart (`1` and `1.0`).

use cairn_compiler::compile::value::{Dict, InstanceId, Value};
use serde_json::{Map, Number, Value as Json};
use std::rc::Rc;

/// Why a value from the host is not a model value.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

/// A model value as JSON; `entity` names an instance's entity.
pub fn encode(value: &Value, entity: &dyn Fn(InstanceId) -> String) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Number((*i).into()),
        // A NaN or infinite float cannot be a model value (no literal or operation makes one).
        Value::Float(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::Str(s) => Json::String(s.to_string()),
        Value::List(items) => Json::Array(items.iter().map(|item| encode(item, entity)).collect()),
        Value::Dict(dict) => {
            let map: Map<String, Json> = dict.iter().map(|(k, v)| (k.to_string(), encode(v, entity))).collect();
            if dict.keys().any(|k| k.starts_with('$')) {
                let mut wrapped = Map::new();
                wrapped.insert("$dict".into(), Json::Object(map));
                Json::Object(wrapped)
            } else {
                Json::Object(map)
            }
        }
        Value::Instance(id) => {
            let mut map = Map::new();
            map.insert("$ref".into(), Json::Number(id.0.into()));
            map.insert("$type".into(), Json::String(entity(*id)));
            Json::Object(map)
        }
        Value::Unknown => {
            let mut map = Map::new();
            map.insert("$unknown".into(), Json::Bool(true));
            Json::Object(map)
        }
    }
}

/// A value the host sent; `valid_instance` says whether an instance number is one of the
/// model's (a host cannot invent instances).
pub fn decode(json: &Json, valid_instance: &dyn Fn(u32) -> bool) -> Result<Value, DecodeError> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None if n.is_u64() => return Err(DecodeError(format!("the integer {n} does not fit in 64 bits"))),
            None => Value::Float(n.as_f64().ok_or_else(|| DecodeError(format!("{n} is not a number Cairn can hold")))?),
        },
        Json::String(s) => Value::Str(Rc::from(s.as_str())),
        Json::Array(items) => Value::list(items.iter().map(|item| decode(item, valid_instance)).collect::<Result<_, _>>()?),
        Json::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                let id = reference
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| valid_instance(*n))
                    .ok_or_else(|| DecodeError(format!("{reference} is not an instance of this model")))?;
                return Ok(Value::Instance(InstanceId(id)));
            }
            if map.get("$unknown").is_some() {
                return Ok(Value::Unknown);
            }
            let entries = match map.get("$dict") {
                Some(Json::Object(inner)) if map.len() == 1 => inner,
                _ => map,
            };
            let mut dict = Dict::default();
            for (key, value) in entries {
                dict.insert(Rc::from(key.as_str()), decode(value, valid_instance)?);
            }
            Value::Dict(Rc::new(dict))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let json = encode(&value, &|_| "std::Host".to_string());
        let text = json.to_string();
        let back: Json = serde_json::from_str(&text).expect("valid JSON");
        decode(&back, &|n| n < 10).expect("decodes")
    }

    #[test]
    fn every_kind_of_value_survives_the_wire() {
        let mut dict = Dict::default();
        dict.insert(Rc::from("$ref"), Value::Int(1));
        dict.insert(Rc::from("b"), Value::Float(1.0));
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(2.5),
            Value::Float(1.0),
            Value::str("x"),
            Value::list(vec![Value::Int(1), Value::Unknown]),
            Value::Dict(Rc::new(dict)),
            Value::Instance(InstanceId(7)),
            Value::Unknown,
        ];
        for value in values {
            assert_eq!(round_trip(value.clone()), value);
        }
    }

    #[test]
    fn ints_and_floats_stay_apart() {
        assert_eq!(encode(&Value::Float(1.0), &|_| String::new()).to_string(), "1.0");
        assert_eq!(encode(&Value::Int(1), &|_| String::new()).to_string(), "1");
    }

    #[test]
    fn a_host_cannot_invent_instances_or_huge_ints() {
        let reference: Json = serde_json::from_str(r#"{"$ref": 99, "$type": "x::Y"}"#).expect("json");
        assert!(decode(&reference, &|n| n < 10).is_err());
        let big: Json = serde_json::from_str("18446744073709551615").expect("json");
        assert!(decode(&big, &|_| true).is_err());
    }
}
