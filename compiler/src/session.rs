//! A parse session: loads files through a [`FileSystem`], parses each one and gathers the
//! syntax trees and every diagnostic. `cairn parse` and `cairn compile` both run on it.

use crate::ast::Module;
use crate::diagnostic::{sort_and_dedup, Diagnostic};
use crate::fs::FileSystem;
use crate::intern::Interner;
use crate::parser;
use crate::project::{Project, ProjectError};
use crate::source::SourceMap;
use crate::span::FileId;
use std::path::Path;

/// One parsed file.
#[derive(Debug)]
pub struct ParsedFile {
    pub namespace: String,
    pub file: FileId,
    pub module: Module,
}

#[derive(Debug, Default)]
pub struct ParseSession {
    pub sources: SourceMap,
    pub interner: Interner,
    pub files: Vec<ParsedFile>,
    pub diagnostics: Vec<Diagnostic>,
    /// Problems that are not about a place in a file (unreadable file, ...).
    pub io_errors: Vec<String>,
    pub lines: usize,
}

impl ParseSession {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses text already in memory as namespace `namespace`.
    pub fn add_source(&mut self, namespace: &str, name: &str, text: String) -> FileId {
        self.lines += text.lines().count();
        let file = self.sources.add(name, text);
        let parsed = parser::parse(self.sources.text(file), file, &mut self.interner);
        self.diagnostics.extend(parsed.lex_errors.iter().map(Diagnostic::from));
        self.diagnostics.extend(parsed.syntax_errors.iter().map(Diagnostic::from));
        self.files.push(ParsedFile { namespace: namespace.to_string(), file, module: parsed.module });
        file
    }

    /// Reads and parses one file; an unreadable file is recorded in `io_errors`.
    pub fn add_file(&mut self, fs: &dyn FileSystem, namespace: &str, path: &Path) -> Option<FileId> {
        match fs.read_to_string(path) {
            Ok(text) => Some(self.add_source(namespace, &path.display().to_string(), text)),
            Err(error) => {
                self.io_errors.push(format!("cannot read {}: {error}", path.display()));
                None
            }
        }
    }

    /// Parses a project's `main.cf` and every `.cf` file of the modules on its module path.
    pub fn parse_project(fs: &dyn FileSystem, root: &Path) -> Result<(Project, ParseSession), ProjectError> {
        let project = Project::load(fs, root)?;
        let mut session = ParseSession::new();
        session.add_file(fs, "__config__", &project.main_file());
        for module in &project.modules {
            for (namespace, path) in &module.files {
                session.add_file(fs, namespace, path);
            }
        }
        session.finish();
        Ok((project, session))
    }

    /// Sorts and de-duplicates the diagnostics.
    pub fn finish(&mut self) {
        sort_and_dedup(&mut self.diagnostics);
    }

    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty() || !self.io_errors.is_empty()
    }
}
