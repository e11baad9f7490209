//! The commands of a Markdown document, as the documentation tests run them: every line that
//! starts with `cairn ` inside a ```sh block (a ```sh,fails block must fail; a ```sh,skip
//! block is not run), split into words as a shell would.

use std::path::Path;

pub fn copy_dir(from: &Path, to: &Path) {
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
pub fn commands(document: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_block: Option<bool> = None;
    for line in document.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = match in_block {
                Some(_) => None,
                // ```sh,skip shows what a reader runs elsewhere (a server, an export):
                // not run here; ```sh,fails must fail.
                None if info.starts_with("sh") && !info.contains("skip") => Some(!info.contains("fails")),
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
/// single or double quotes as one word.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match c {
            '\'' | '"' if quote.is_none() => {
                quote = Some(c);
                started = true;
            }
            c if quote == Some(c) => quote = None,
            c if c.is_whitespace() && quote.is_none() => {
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
