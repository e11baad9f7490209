//! The list and dict plugins: `count`, `len`, `unique`, `flatten`,
//! `contains`, `dict_get`, `at`, `item`, `select`, `key_sort`, `sequence`, `filter` and
//! `inlineif`. Indexing is Python's (negative indexes count from the end), equality and
//! ordering are Python's (see `support`).

use crate::support::{describe, error, int, items, python_cmp, python_eq, python_index, read_path, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::{Any, Bool, Dict, Instance, Int, List, String};
    registry.register("std::count", vec![Param::new("item_list", List)], |_, a| Ok(Value::Int(items(&a[0]).len() as i64)));
    // `len` is the Python function `list_len`; the model knows it as `len` only.
    registry.register("std::len", vec![Param::new("item_list", List)], list_len);
    registry.register("std::unique", vec![Param::new("item_list", List)], |_, a| Ok(Value::Bool(all_unique(items(&a[0])))));
    registry.register("std::flatten", vec![Param::new("item_list", List)], flatten);
    registry.register("std::contains", vec![Param::new("dct", Dict), Param::new("key", String)], |_, a| match &a[0] {
        Value::Dict(dict) => Ok(Value::Bool(dict.contains_key(text(&a[1])))),
        _ => Ok(Value::Bool(false)),
    });
    registry.register("std::dict_get", vec![Param::new("dct", Dict), Param::new("key", String)], |_, a| {
        let key = text(&a[1]);
        match &a[0] {
            // Its return type is `string` (std 8.4.2): another value fails, as in Inmanta 14.
            Value::Dict(dict) => match dict.get(key) {
                Some(value @ Value::Str(_)) => Ok(value.clone()),
                Some(Value::Unknown) => Ok(Value::Unknown),
                Some(other) => Err(error(format!("the value of key '{key}' is {}, but dict_get returns a string", describe(other)))),
                None => Err(error(format!("key '{key}' not found in the dict"))),
            },
            other => Err(error(format!("expected a dict, got {}", describe(other)))),
        }
    });
    registry.register("std::at", vec![Param::new("objects", List), Param::new("index", Int)], |_, a| {
        let list = items(&a[0]);
        let index = int(&a[1]);
        python_index(list.len(), index)
            .map(|i| list[i].clone())
            .ok_or_else(|| error(format!("list index {index} out of range (the list has {} items)", list.len())))
    });
    registry.register("std::item", vec![Param::new("objects", List), Param::new("index", Int)], item);
    registry.register("std::select", vec![Param::new("objects", List), Param::new("attr", String)], select);
    registry.register("std::key_sort", vec![Param::new("items", List), Param::new("key", Any)], key_sort);
    registry.register(
        "std::sequence",
        vec![Param::new("i", Int), Param::optional("start", Int, Value::Int(0))],
        |_, a| Ok(Value::list(sequence(int(&a[0]), int(&a[1])).into_iter().map(Value::Int).collect())),
    );
    registry.register("std::filter", vec![Param::new("values", List), Param::new("not_item", Instance)], |_, a| {
        Ok(Value::list(items(&a[0]).iter().filter(|v| !python_eq(v, &a[1])).cloned().collect()))
    });
    registry.register("std::inlineif", vec![Param::new("conditional", Bool), Param::new("a", Any), Param::new("b", Any)], |_, a| {
        Ok(if a[0].truthy() { a[1].clone() } else { a[2].clone() })
    });
}

/// `len(item_list)`, but unknown when an item is unknown (Inmanta's conservative count).
fn list_len(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let list = items(&args[0]);
    Ok(if list.iter().any(Value::is_unknown) { Value::Unknown } else { Value::Int(list.len() as i64) })
}

pub fn all_unique(list: &[Value]) -> bool {
    list.iter().enumerate().all(|(i, x)| !list[..i].iter().any(|y| python_eq(x, y)))
}

/// `list(chain.from_iterable(item_list))`: one level; a string contributes its characters
/// and a dict its keys, as iterating them in Python does.
fn flatten(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let mut out = Vec::new();
    for (position, element) in items(&args[0]).iter().enumerate() {
        match element {
            Value::List(inner) => out.extend(inner.iter().cloned()),
            Value::Str(s) => out.extend(s.chars().map(|c| Value::str(&c.to_string()))),
            Value::Dict(dict) => out.extend(dict.keys().map(|k| Value::Str(k.clone()))),
            Value::Unknown => return Ok(Value::Unknown),
            other => {
                return Err(error(format!("item {position} is {}, which is not a list: flatten takes a list of lists", describe(other))))
            }
        }
    }
    Ok(Value::list(out))
}

/// `[obj[index] for obj in objects]`.
fn item(_: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let index = int(&args[1]);
    let mut out = Vec::new();
    for element in items(&args[0]) {
        out.push(match element {
            Value::List(inner) => python_index(inner.len(), index)
                .map(|i| inner[i].clone())
                .ok_or_else(|| error(format!("list index {index} out of range in {element}")))?,
            Value::Str(s) => python_index(s.chars().count(), index)
                .and_then(|i| s.chars().nth(i))
                .map(|c| Value::str(&c.to_string()))
                .ok_or_else(|| error(format!("string index {index} out of range in '{s}'")))?,
            Value::Unknown => Value::Unknown,
            other => return Err(error(format!("cannot take item {index} of {}", describe(other)))),
        });
    }
    Ok(Value::list(out))
}

/// `[getattr(item, attr) for item in objects]`.
fn select(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let attr = text(&args[1]).to_string();
    let mut out = Vec::new();
    for element in items(&args[0]) {
        out.push(match element {
            Value::Instance(id) => ctx.host.attribute(*id, &attr)?,
            Value::Unknown => Value::Unknown,
            other => return Err(error(format!("cannot read attribute `{attr}` of {}", describe(other)))),
        });
    }
    Ok(Value::list(out))
}

/// `sorted(items, key=attrgetter(key))`: `key` is an attribute name, a dotted path
/// (`host.name`) or a list of them (sorting on the tuple). The sort is stable.
fn key_sort(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let paths: Vec<std::string::String> = match &args[1] {
        Value::Str(path) => vec![path.to_string()],
        Value::List(parts) if !parts.is_empty() && parts.iter().all(|p| matches!(p, Value::Str(_))) => {
            parts.iter().map(|p| text(p).to_string()).collect()
        }
        other => return Err(error(format!("key should be an attribute name or a list of them, got {}", describe(other)))),
    };
    let mut keyed: Vec<(Value, Value)> = Vec::new();
    for element in items(&args[0]) {
        let mut key = Vec::with_capacity(paths.len());
        for path in &paths {
            key.push(read_path(ctx, element, path)?);
        }
        if key.iter().any(Value::is_unknown) {
            return Ok(Value::Unknown);
        }
        let key = if key.len() == 1 { key.remove(0) } else { Value::list(key) };
        keyed.push((key, element.clone()));
    }
    let keyed = merge_sort(keyed, &|x: &(Value, Value), y: &(Value, Value)| python_cmp(&x.0, &y.0))
        .map_err(|message| PluginFailure::Error(format!("cannot sort on `{}`: {message}", paths.join(", "))))?;
    Ok(Value::list(keyed.into_iter().map(|(_, element)| element).collect()))
}

/// A stable merge sort whose comparison may fail (Python's `sorted` raises on values it
/// cannot order); unlike `slice::sort_by` it never panics on an inconsistent order.
fn merge_sort<T: Clone, E>(list: Vec<T>, compare: &dyn Fn(&T, &T) -> Result<std::cmp::Ordering, E>) -> Result<Vec<T>, E> {
    if list.len() <= 1 {
        return Ok(list);
    }
    let mut left = list;
    let right = left.split_off(left.len() / 2);
    let left = merge_sort(left, compare)?;
    let right = merge_sort(right, compare)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if compare(&right[j], &left[i])? == std::cmp::Ordering::Less {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    Ok(out)
}

/// `list(range(start, i + start))`.
pub fn sequence(i: i64, start: i64) -> Vec<i64> {
    (start..i.saturating_add(start)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_and_uniqueness() {
        assert_eq!(sequence(3, 0), vec![0, 1, 2]);
        assert_eq!(sequence(3, 5), vec![5, 6, 7]);
        assert_eq!(sequence(0, 0), Vec::<i64>::new());
        assert_eq!(sequence(-2, 0), Vec::<i64>::new());
        assert!(all_unique(&[Value::Int(1), Value::Int(2)]));
        assert!(!all_unique(&[Value::Int(1), Value::Float(1.0)]));
        assert!(!all_unique(&[Value::str("a"), Value::str("a")]));
        assert!(all_unique(&[]));
        let cmp = |a: &i64, b: &i64| -> Result<std::cmp::Ordering, ()> { Ok(a.cmp(b)) };
        assert_eq!(merge_sort(vec![3, 1, 2, 1], &cmp), Ok(vec![1, 1, 2, 3]));
        let pairs = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        let by_first = |a: &(i32, char), b: &(i32, char)| -> Result<std::cmp::Ordering, ()> { Ok(a.0.cmp(&b.0)) };
        assert_eq!(merge_sort(pairs, &by_first), Ok(vec![(1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]));
    }
}
