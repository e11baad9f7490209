//! The commands of `docs/getting-started.md` and `docs/resources.md` run as written: every
//! line starting with `cairn ` inside a ```sh block is run (from a copy of the quickstart
//! project) and must succeed, unless the block is marked ```sh,fails.

use super::text;
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_name() == "data" {
            continue;
        }
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `(command line, must succeed)` for every `cairn` command of a document.
fn commands(document: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_block: Option<bool> = None;
    for line in document.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = match in_block {
                Some(_) => None,
                None if info.starts_with("sh") => Some(!info.contains("fails")),
                None => Some(true).filter(|_| false),
            };
            continue;
        }
        if let (Some(succeeds), Some(command)) = (in_block, trimmed.strip_prefix("cairn ")) {
            out.push((command.to_string(), succeeds));
        }
    }
    out
}

/// Splits a command line as a shell would for the documents' commands: words, and text in
/// single quotes as one word.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(current);
    }
    words
}

fn run_document(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("docs").join(name)).expect("document");
    let work: PathBuf = std::env::temp_dir().join(format!("cairn-docs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&root.join("examples"), &work.join("examples"));
    let list = commands(&document);
    assert!(!list.is_empty(), "{name} shows no cairn command");
    // A fresh home: nothing may depend on the reader's folders (`~/.local/bin` and such).
    let home = work.join("home");
    std::fs::create_dir_all(&home).expect("home");
    for (command, succeeds) in list {
        let words = split_words(&command);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&args)
            .current_dir(&work)
            .env("CAIRN_COLOR", "never")
            .env("HOME", &home)
            .output()
            .expect("cairn runs");
        assert_eq!(output.status.success(), succeeds, "`cairn {command}` in {name}:\n{}", text(&output));
    }
}

#[test]
fn getting_started_commands_work() {
    run_document("getting-started.md");
}

#[test]
fn resources_reference_commands_work() {
    run_document("resources.md");
}
