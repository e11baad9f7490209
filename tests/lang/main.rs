//! The language corpus: every `tests/lang/<area>/**/*.cf` file is one test. Its expected
//! outcome is written in the file itself, on `# expect:` comment lines:
//!
//! ```text
//! # expect: ok
//! # expect: error <kind> line <N>: <fragment of the message>
//! ```
//!
//! A file expecting errors must produce exactly that many diagnostics, each matching one
//! expectation by kind, line and message fragment (searched in the title, label and hint).
//! The `parse` area runs the parser alone.

use cairn_compiler::diagnostic::{render_plain, Diagnostic};
use cairn_compiler::session::ParseSession;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq)]
struct ExpectedError {
    kind: String,
    line: usize,
    fragment: String,
}

#[derive(Debug)]
enum Expectation {
    Ok,
    Errors(Vec<ExpectedError>),
}

fn parse_header(text: &str) -> Result<Expectation, String> {
    let mut ok = false;
    let mut errors = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("# expect:") else { continue };
        let rest = rest.trim();
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
        (false, true) => Err("no `# expect:` line".to_string()),
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

fn run_parse_case(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let expectation = parse_header(&text)?;
    let mut session = ParseSession::new();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    session.add_source("__config__", &name, text);
    session.finish();
    check(&expectation, &session)
}

fn check(expectation: &Expectation, session: &ParseSession) -> Result<(), Failed> {
    let rendered = || render_plain(&session.sources, &session.diagnostics);
    match expectation {
        Expectation::Ok if session.diagnostics.is_empty() => Ok(()),
        Expectation::Ok => Err(format!("expected ok, got:\n{}", rendered()).into()),
        Expectation::Errors(expected) => {
            let mut unmatched: Vec<&Diagnostic> = session.diagnostics.iter().collect();
            let mut missing = Vec::new();
            for want in expected {
                match unmatched.iter().position(|d| matches(want, d, d.line(&session.sources))) {
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

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "cf") {
            out.push(path);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang");
    let mut trials = Vec::new();
    let mut files = Vec::new();
    collect(&root.join("parse"), &mut files);
    for path in files {
        let name = path.strip_prefix(&root).unwrap_or(&path).with_extension("").display().to_string().replace('/', "::");
        trials.push(Trial::test(name, move || run_parse_case(&path)));
    }
    libtest_mimic::run(&args, trials).exit();
}
