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
//! `# expect: output: <line>` lines give what the model prints (`std::print`), in order.
//! The `parse` area runs the parser alone; every other area compiles the file as the
//! `main.cf` of a project (with `std`), and a folder holding `project.yml` is one project
//! case whose expectations are in its `main.cf`. Error lines refer to `main.cf` unless the
//! fragment names another file. `# limit: instances <N>` and `# limit: chain <N>` lower the
//! compile's runaway limits for the case (so a runaway case stays small).

use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::compile::{compile_project, Environment, Limits};
use cairn_compiler::fs::{MemFs, RealFs};
use cairn_compiler::session::ParseSession;
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../support/expect.rs"]
mod expect;
use expect::{check_compilation, check_diagnostics, parse_expected, parse_header, Expectation};
use std::path::{Path, PathBuf};

fn run_parse_case(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let expectation = parse_header(&text, true)?;
    let mut session = ParseSession::new();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    session.add_source("__config__", &name, text);
    session.finish();
    check(&expectation, &session)
}

fn check(expectation: &Expectation, session: &ParseSession) -> Result<(), Failed> {
    check_diagnostics(expectation, &session.sources, &session.diagnostics)
}

/// Compiles a case: a single `.cf` file (as `main.cf` of an in-memory project) or a project
/// folder; checks diagnostics and printed output.
/// The environment variables every compile case sees (`std::get_env`): a fixed map, so that
/// no case depends on the environment the tests run in.
const ENV_VARS: &[(&str, &str)] = &[("PATH", "/usr/bin:/bin"), ("CAIRN_LANG_VARIABLE", "from the runner"), ("CAIRN_LANG_NUMBER", "42")];

/// The limits a case asks for with `# limit:` lines; the defaults otherwise.
fn case_limits(text: &str) -> Result<Limits, String> {
    let mut limits = Limits::default();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("# limit:") else { continue };
        let mut words = rest.split_whitespace();
        let (what, value) = (words.next(), words.next().and_then(|n| n.parse::<u32>().ok()));
        match (what, value) {
            (Some("instances"), Some(n)) => limits.max_instances = n as usize,
            (Some("chain"), Some(n)) => limits.max_chain_depth = n,
            _ => return Err(format!("bad limit `{line}`: expected `# limit: instances N` or `# limit: chain N`")),
        }
    }
    Ok(limits)
}

fn run_compile_case(path: &Path) -> Result<(), Failed> {
    let mut plugins = PluginRegistry::new();
    cairn_std::register(&mut plugins);
    let builtins = [cairn_std::module().builtin()];
    let settings = |_: &str| None;
    let env_vars = |name: &str| ENV_VARS.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string());
    let main_path = if path.is_dir() { path.join("main.cf") } else { path.to_path_buf() };
    let main_text = std::fs::read_to_string(&main_path).map_err(|e| format!("cannot read {}: {e}", main_path.display()))?;
    let limits = case_limits(&main_text)?;
    let env = Environment { builtins: &builtins, plugins: &plugins, foreign: None, settings: &settings, env_vars: &env_vars, limits };
    let (main_text, compilation) = if path.is_dir() {
        let compilation = compile_project(&RealFs, path, &env).map_err(|e| e.to_string())?;
        (main_text, compilation)
    } else {
        let text = main_text;
        let mut fs = MemFs::new();
        fs.add("/case/project.yml", "name: case\n").add("/case/main.cf", text.clone());
        let compilation = compile_project(&fs, Path::new("/case"), &env).map_err(|e| e.to_string())?;
        (text, compilation)
    };
    let expected = parse_expected(&main_text, true)?;
    check_compilation(&expected, &compilation)
}

fn collect_cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() && path.join("project.yml").is_file() {
            out.push(path);
        } else if path.is_dir() {
            collect_cases(&path, out);
        } else if path.extension().is_some_and(|e| e == "cf") {
            out.push(path);
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
    let mut areas: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    areas.sort();
    for area in areas {
        let area_name = area.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if area_name == "parse" || area_name.ends_with("_pending") {
            continue;
        }
        let mut cases = Vec::new();
        collect_cases(&area, &mut cases);
        for path in cases {
            let name = path.strip_prefix(&root).unwrap_or(&path).with_extension("").display().to_string().replace('/', "::");
            trials.push(Trial::test(name, move || run_compile_case(&path)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

