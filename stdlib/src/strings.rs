//! The string plugins: `print`, `length`, `upper`, `lower`, `capitalize`, `replace`,
//! `split`, `limit`, `format` (Python's `str.format`, with `*args` and `**kwargs`) and
//! `unique_file`. Names and parameter names are those a model sees in Inmanta (`print`, not
//! the Python function `printf`), so keyword calls (`std::replace(string=s, old="a",
//! new="b")`) work.

use crate::digest::{hex, md5};
use crate::format::python_format;
use crate::support::{error, int, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::{Any, Int, String};
    let string = |name| Param::new(name, String);
    registry.register("std::print", vec![Param::new("message", Any)], print);
    registry.register("std::length", vec![string("value")], |_, a| Ok(Value::Int(text(&a[0]).chars().count() as i64)));
    registry.register("std::upper", vec![string("string")], |_, a| Ok(Value::str(&text(&a[0]).to_uppercase())));
    registry.register("std::lower", vec![string("string")], |_, a| Ok(Value::str(&text(&a[0]).to_lowercase())));
    registry.register("std::capitalize", vec![string("string")], |_, a| Ok(Value::str(&capitalize(text(&a[0])))));
    registry.register("std::replace", vec![string("string"), string("old"), string("new")], |_, a| {
        Ok(Value::str(&text(&a[0]).replace(text(&a[1]), text(&a[2]))))
    });
    registry.register("std::split", vec![string("string_list"), string("delim")], |_, a| {
        let delim = text(&a[1]);
        if delim.is_empty() {
            return Err(error("empty separator"));
        }
        Ok(Value::list(text(&a[0]).split(delim).map(Value::str).collect()))
    });
    registry.register("std::limit", vec![string("string"), Param::new("length", Int)], |_, a| {
        Ok(Value::str(&limit(text(&a[0]), int(&a[1]))))
    });
    let format = registry.register("std::format", vec![string("__string")], |ctx, a| {
        let template = text(&a[0]).to_string();
        let kwargs = ctx.kwargs;
        Ok(Value::str(&python_format(&template, &a[1..], kwargs, ctx)?))
    });
    format.variadic = true;
    format.kwargs = true;
    registry.register(
        "std::unique_file",
        vec![string("prefix"), string("seed"), string("suffix"), Param::optional("length", Int, Value::Int(20))],
        |_, a| Ok(Value::str(&unique_file(text(&a[0]), text(&a[1]), text(&a[2])))),
    );
}

/// `std::print(message)`: one output line, the value rendered as string interpolation does.
fn print(ctx: &mut PluginCtx<'_>, args: &[Value]) -> PluginResult {
    let line = ctx.host.render(&args[0]);
    ctx.host.print(line);
    Ok(Value::Null)
}

/// Python's `str.capitalize`: the first character upper case, the rest lower case.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

/// Python's `string[:length]`: a negative length drops that many characters from the end.
pub fn limit(s: &str, length: i64) -> String {
    let count = s.chars().count() as i64;
    let keep = if length < 0 { (count + length).max(0) } else { length.min(count) };
    s.chars().take(keep as usize).collect()
}

/// `prefix + md5(seed).hexdigest() + suffix`; Inmanta accepts a `length` and ignores it.
pub fn unique_file(prefix: &str, seed: &str, suffix: &str) -> String {
    format!("{prefix}{}{suffix}", hex(&md5(seed.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_string_functions() {
        assert_eq!(capitalize("aAbB c"), "Aabb c");
        assert_eq!(capitalize(""), "");
        assert_eq!(capitalize("élan"), "Élan");
        assert_eq!(limit("abcdef", 3), "abc");
        assert_eq!(limit("abcdef", 10), "abcdef");
        assert_eq!(limit("abcdef", -2), "abcd");
        assert_eq!(limit("abc", -5), "");
        assert_eq!(limit("abc", 0), "");
        assert_eq!(unique_file("/tmp/", "abc", ".txt"), "/tmp/900150983cd24fb0d6963f7d28e17f72.txt");
    }
}
