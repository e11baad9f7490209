//! The documentation's examples as tests: every fenced code block tagged ```` ```cf ```` (or
//! ```` ```inmanta ````) in `docs/*.md` is compiled as the `main.cf` of an in-memory project
//! with `std`, one test per block, named `<file>::line_<N>` after the line of its opening
//! fence. Blocks tagged ```` ```cf-fragment ```` are not run.
//!
//! A block states its expected outcome on `# expect:` comment lines, as in the language
//! corpus (`tests/lang`):
//!
//! ```text
//! # expect: ok
//! # expect: error <kind> line <N>: <fragment of the message>
//! # expect: output: <a line printed by std::print, in order>
//! ```
//!
//! A block without `ok` or `error` expectations must compile without errors. Error lines count
//! from the first line inside the block.
//!
//! A block may also hold the files of modules: a line `# file: <path>` starts a new file at
//! `<path>` relative to the project root (e.g. `# file: libs/web/model/_init.cf`); the text
//! before the first such line, and after a `# file: main.cf` line, is `main.cf`, whose lines
//! the error expectations count. The project's `project.yml` is `name: docs` with
//! `modulepath: libs`.

use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::compile::{compile_project, Environment, Limits};
use cairn_compiler::fs::MemFs;
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../support/expect.rs"]
mod expect;
use expect::{check_compilation, parse_expected};
use std::path::{Path, PathBuf};

/// Splits a block into files: `main.cf` first, then one file per `# file: <path>` line (a
/// `# file: main.cf` line continues `main.cf`).
fn split_files(code: &str) -> Vec<(String, String)> {
    let mut files = vec![("main.cf".to_string(), String::new())];
    let mut current = 0;
    for line in code.lines() {
        if let Some(path) = line.strip_prefix("# file:") {
            let path = path.trim().to_string();
            current = match files.iter().position(|(p, _)| *p == path) {
                Some(index) => index,
                None => {
                    files.push((path, String::new()));
                    files.len() - 1
                }
            };
            continue;
        }
        files[current].1.push_str(line);
        files[current].1.push('\n');
    }
    files
}

fn run_block(code: &str) -> Result<(), Failed> {
    let files = split_files(code);
    let main_text = files[0].1.clone();
    let expected = parse_expected(&main_text, false)?;
    let mut plugins = PluginRegistry::new();
    cairn_std::register(&mut plugins);
    let builtins = [cairn_std::module().builtin()];
    let settings = |_: &str| None;
    let env_vars = |_: &str| None;
    let env = Environment { builtins: &builtins, plugins: &plugins, foreign: None, settings: &settings, env_vars: &env_vars, limits: Limits::default() };
    let mut fs = MemFs::new();
    fs.add("/docs/project.yml", "name: docs\nmodulepath: libs\n");
    for (path, text) in files {
        fs.add(Path::new("/docs").join(path), text);
    }
    let compilation = compile_project(&fs, Path::new("/docs"), &env).map_err(|e| e.to_string())?;
    check_compilation(&expected, &compilation)
}

/// A runnable block of a Markdown file: the line of its opening fence and its text.
struct Block {
    line: usize,
    code: String,
}

fn extract_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, bool, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
                if fence_len >= 3 {
                    let info = trimmed[fence_len..].trim();
                    let tag = info.split_whitespace().next().unwrap_or("");
                    let runnable = tag == "cf" || tag == "inmanta";
                    open = Some(("`".repeat(fence_len), index + 1, runnable, String::new()));
                }
            }
            Some((fence, start, runnable, code)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end().chars().all(|c| c == '`') {
                    if *runnable {
                        blocks.push(Block { line: *start, code: std::mem::take(code) });
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    blocks
}

fn main() {
    let args = Arguments::from_args();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .map(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "md")).collect()
        })
        .unwrap_or_default();
    pages.sort();
    let mut trials = Vec::new();
    for page in pages {
        let stem = page.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let markdown = match std::fs::read_to_string(&page) {
            Ok(text) => text,
            Err(error) => {
                let message = format!("cannot read {}: {error}", page.display());
                trials.push(Trial::test(stem, move || Err(message.into())));
                continue;
            }
        };
        for block in extract_blocks(&markdown) {
            let name = format!("{stem}::line_{:04}", block.line);
            trials.push(Trial::test(name, move || run_block(&block.code)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

