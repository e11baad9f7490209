//! The commands of `docs/getting-started.md` and `docs/resources.md` run as written: every
//! line starting with `cairn ` inside a ```sh block is run (from a copy of the quickstart
//! project) and must succeed, unless the block is marked ```sh,fails.

use super::text;
use std::path::{Path, PathBuf};

#[path = "../support/docs.rs"]
mod docs_support;
use docs_support::{commands, copy_dir, split_words};

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
