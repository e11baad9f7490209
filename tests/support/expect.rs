//! Expectations written in `.cf` sources (`# expect: ok`, `# expect: error <kind> line <N>:
//! <fragment>`, `# expect: output: <line>`) and the check of a compile against them. Shared
//! by the language corpus (`tests/lang`) and the documentation examples (`tests/docs`).

use cairn_compiler::compile::Compilation;
use cairn_compiler::diagnostic::{render_plain, Diagnostic};
use cairn_compiler::SourceMap;
use libtest_mimic::Failed;

#[derive(Debug, PartialEq)]
pub struct ExpectedError {
    pub kind: String,
    pub line: usize,
    pub fragment: String,
}

#[derive(Debug)]
pub enum Expectation {
    Ok,
    Errors(Vec<ExpectedError>),
}

#[derive(Debug)]
pub struct Expected {
    pub outcome: Expectation,
    pub output: Option<Vec<String>>,
}

/// `required`: a source without any `# expect:` line is an error (corpus files) rather than
/// an expectation of success (documentation examples).
pub fn parse_expected(text: &str, required: bool) -> Result<Expected, String> {
    let mut output: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("# expect: output:") {
            output.get_or_insert_with(Vec::new).push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        }
    }
    Ok(Expected { outcome: parse_header(text, required)?, output })
}

pub fn parse_header(text: &str, required: bool) -> Result<Expectation, String> {
    let mut ok = false;
    let mut errors = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("# expect:") else { continue };
        let rest = rest.trim();
        if rest.starts_with("output:") {
            continue;
        }
        if rest == "ok" {
            ok = true;
            continue;
        }
        let spec = rest.strip_prefix("error ").ok_or_else(|| format!("bad expectation `{line}`"))?;
        let (head, fragment) = spec.split_once(':').ok_or_else(|| format!("missing `:` in `{line}`"))?;
        let mut words = head.split_whitespace();
        let kind = words.next().ok_or_else(|| format!("missing kind in `{line}`"))?;
        if words.next() != Some("line") {
            return Err(format!("expected `line N` in `{line}`"));
        }
        let number = words.next().and_then(|n| n.parse().ok()).ok_or_else(|| format!("bad line number in `{line}`"))?;
        errors.push(ExpectedError { kind: kind.to_string(), line: number, fragment: fragment.trim().to_string() });
    }
    match (ok, errors.is_empty()) {
        (true, true) => Ok(Expectation::Ok),
        (false, false) => Ok(Expectation::Errors(errors)),
        (true, false) => Err("a file cannot expect both ok and errors".to_string()),
        (false, true) if required => Err("no `# expect:` line".to_string()),
        (false, true) => Ok(Expectation::Ok),
    }
}

fn matches(expected: &ExpectedError, diagnostic: &Diagnostic, line: usize) -> bool {
    let text = format!(
        "{}\n{}\n{}",
        diagnostic.message,
        diagnostic.primary.message,
        diagnostic.hint.as_deref().unwrap_or("")
    );
    diagnostic.kind == expected.kind && line == expected.line && text.contains(&expected.fragment)
}

pub fn check_diagnostics(expectation: &Expectation, sources: &SourceMap, diagnostics: &[Diagnostic]) -> Result<(), Failed> {
    let rendered = || render_plain(sources, diagnostics);
    match expectation {
        Expectation::Ok if diagnostics.is_empty() => Ok(()),
        Expectation::Ok => Err(format!("expected ok, got:\n{}", rendered()).into()),
        Expectation::Errors(expected) => {
            let mut unmatched: Vec<&Diagnostic> = diagnostics.iter().collect();
            let mut missing = Vec::new();
            for want in expected {
                match unmatched.iter().position(|d| matches(want, d, d.line(sources))) {
                    Some(index) => {
                        unmatched.remove(index);
                    }
                    None => missing.push(want),
                }
            }
            if missing.is_empty() && unmatched.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "missing expected errors: {missing:?}\nunexpected diagnostics: {}\nall diagnostics:\n{}",
                    unmatched.len(),
                    rendered()
                )
                .into())
            }
        }
    }
}

/// Checks a whole compile against what a case expects: no IO errors, the expected
/// diagnostics, and (when given) the lines printed by `std::print`, in order.
pub fn check_compilation(expected: &Expected, compilation: &Compilation) -> Result<(), Failed> {
    if !compilation.session.io_errors.is_empty() {
        return Err(format!("io errors: {:?}", compilation.session.io_errors).into());
    }
    check_diagnostics(&expected.outcome, &compilation.session.sources, &compilation.diagnostics)?;
    if let Some(want) = &expected.output {
        let got = compilation.execution.as_ref().map(|e| e.output.clone()).unwrap_or_default();
        if got != *want {
            return Err(format!("printed output differs\nexpected: {want:#?}\ngot: {got:#?}").into());
        }
    }
    Ok(())
}
