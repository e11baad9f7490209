//! The Jinja2 cases of `tests/export/jinja/cases.json`, each rendered by Cairn's
//! `std::template` exactly as a model calls it, and compared with what the real inmanta-core
//! 14.0.0 / std 8.4.2 produced (`scripts/jinja-reference.py` wrote the expectations).
//!
//! Each case is one project, built as the reference script builds it: the template in the
//! project's `templates/NAME.j2`, and a `main.cf` with the case's top-level variables
//! (`scope`), its extra statements (`model`) and a `std::testing::NullResource` whose `value`
//! is `std::template("/NAME.j2", k=v, ...)` with the case's keyword arguments (`vars`). The
//! value is also printed, which is how the test reads it. A case that expects a string must
//! compile and print exactly that string; a case that expects an error must fail with an
//! error of the same meaning (the plugin failing, and Jinja2's key words: the undefined name,
//! the missing attribute or element, the clashing argument, the unserialisable proxy).
//!
//! Cases Cairn cannot run as Inmanta does are listed in [`KNOWN_DIFFERENCES`] with the reason;
//! they are checked to still fail, so a fix is noticed.

use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::compile::{compile_project, Environment, Limits};
use cairn_compiler::fs::MemFs;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value as Json;
use std::path::Path;

/// Cases whose outcome differs from Inmanta's, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("var_big_int", "the model writes 12345678901234567890, which Cairn's lexer refuses: Cairn's ints are 64-bit (Python's are unbounded)"),
    ("literals", "minijinja has no tuples: `('t', 1)` is a list and prints as `['t', 1]` where Jinja2 prints `('t', 1)`"),
];

/// Keyword names the reference script refuses as well (they are Inmanta keywords).
fn literal(value: &Json) -> String {
    match value {
        Json::Null => "null".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or_default();
                // Python's repr: `1.0`, `2.5`, `0.1`.
                let text = format!("{f:?}");
                if text.contains('.') || text.contains('e') { text } else { format!("{text}.0") }
            } else {
                n.to_string()
            }
        }
        Json::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 32 || (c as u32) > 126 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Json::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Json::Object(map) => format!("{{{}}}", map.iter().map(|(k, v)| format!("{}: {}", literal(&Json::String(k.clone())), literal(v))).collect::<Vec<_>>().join(", ")),
    }
}

/// The `main.cf` of a case, as `statements()` of the reference script writes it.
fn main_cf(case: &Json, name: &str) -> String {
    let mut lines = vec!["import std::testing".to_string(), String::new()];
    if let Some(Json::Object(scope)) = case.get("scope") {
        for (key, value) in scope {
            lines.push(format!("{key} = {}", literal(value)));
        }
    }
    if let Some(Json::String(model)) = case.get("model") {
        lines.push(model.clone());
    }
    let mut args = vec![format!("\"/{name}.j2\"")];
    if let Some(Json::Object(vars)) = case.get("vars") {
        for (key, value) in vars {
            args.push(format!("{key}={}", literal(value)));
        }
    }
    lines.push(format!("cairn_case_result = std::template({})", args.join(", ")));
    lines.push(format!("std::testing::NullResource(name=\"case-{name}\", value=cairn_case_result)"));
    lines.push("std::print(cairn_case_result)".to_string());
    lines.join("\n") + "\n"
}

/// What the compile of a case gave: the printed value, or the error messages (title and
/// hint of each diagnostic).
fn run(case: &Json, name: &str) -> Result<String, Vec<String>> {
    let mut plugins = PluginRegistry::new();
    cairn_std::register(&mut plugins);
    let builtins = [cairn_std::module().builtin()];
    let settings = |_: &str| None;
    let env_vars = |_: &str| None;
    let env = Environment { builtins: &builtins, plugins: &plugins, foreign: None, settings: &settings, env_vars: &env_vars, limits: Limits::default() };
    let template = case.get("template").and_then(Json::as_str).unwrap_or_default();
    let mut fs = MemFs::new();
    fs.add("/p/project.yml", "name: jinjacases\n").add(format!("/p/templates/{name}.j2"), template).add("/p/main.cf", main_cf(case, name));
    let compilation = compile_project(&fs, Path::new("/p"), &env).map_err(|e| vec![e.to_string()])?;
    if !compilation.diagnostics.is_empty() {
        return Err(compilation
            .diagnostics
            .iter()
            .map(|d| format!("{} [{}] {}", d.message, d.primary.message, d.hint.clone().unwrap_or_default()))
            .collect());
    }
    let output = compilation.execution.map(|e| e.output).unwrap_or_default();
    output.into_iter().next().ok_or_else(|| vec!["nothing printed".to_string()])
}

/// The fragments an error of the same meaning as Inmanta's must contain.
fn expected_fragments(case: &Json) -> Vec<String> {
    let error = case.get("error").and_then(Json::as_str).unwrap_or_default();
    let cause = case.get("cause").and_then(Json::as_str).unwrap_or_default();
    let mut fragments = vec!["std::template".to_string()];
    if let Some(rest) = error.split("got multiple values for argument '").nth(1) {
        fragments.push(format!("got multiple values for argument `{}`", rest.split('\'').next().unwrap_or_default()));
    }
    if let Some(rest) = cause.split("got multiple values for argument '").nth(1) {
        fragments.push(format!("got multiple values for argument `{}`", rest.split('\'').next().unwrap_or_default()));
    }
    let cause = cause.split(" (reported in").next().unwrap_or_default();
    if cause.ends_with("is undefined") || cause.contains("has no attribute") || cause.contains("has no element") {
        // Jinja2's own words, which Cairn gives as the hint.
        fragments.push(cause.to_string());
    }
    if cause.contains("is not JSON serializable") {
        fragments.push(cause.trim_start_matches("TypeError: ").to_string());
    }
    fragments
}

fn check(case: &Json, name: &str) -> Result<(), Failed> {
    let outcome = run(case, name);
    if let Some(expected) = case.get("expected").and_then(Json::as_str) {
        return match outcome {
            Ok(text) if text == expected => Ok(()),
            Ok(text) => Err(format!("rendered {text:?}, Inmanta renders {expected:?}").into()),
            Err(errors) => Err(format!("failed ({}), Inmanta renders {expected:?}", errors.join(" | ")).into()),
        };
    }
    let errors = match outcome {
        Ok(text) => return Err(format!("rendered {text:?}, Inmanta fails: {}", case.get("error").unwrap_or(&Json::Null)).into()),
        Err(errors) => errors,
    };
    let fragments = expected_fragments(case);
    if errors.len() == 1 && fragments.iter().all(|f| errors[0].contains(f.as_str())) {
        Ok(())
    } else {
        Err(format!("errors {errors:?} lack one of {fragments:?} (Inmanta: {} / {})", case["error"], case.get("cause").unwrap_or(&Json::Null)).into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/jinja/cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = doc.get("cases").and_then(Json::as_array).cloned().unwrap_or_default();
    assert_eq!(cases.len(), 95, "cases.json holds the 95 reference cases");
    let mut trials = Vec::new();
    for case in cases {
        let name = case.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
        match KNOWN_DIFFERENCES.iter().find(|(known, _)| *known == name) {
            Some((_, reason)) => {
                let reason = reason.to_string();
                trials.push(Trial::test(format!("known_difference::{name}"), move || match check(&case, &name) {
                    Ok(()) => Err(format!("now matches Inmanta: remove it from KNOWN_DIFFERENCES ({reason})").into()),
                    Err(_) => Ok(()),
                }));
            }
            None => trials.push(Trial::test(name.clone(), move || check(&case, &name))),
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
