//! The Cairn language: lexer (logos), grammar (lalrpop), syntax tree with spans, diagnostics
//! (codespan-reporting) and project loading. No network, no database: file access goes
//! through the [`fs::FileSystem`] trait so tests can run in memory.

pub mod ast;
pub mod compile;
pub mod diagnostic;
pub mod error;
pub mod excerpt;
pub mod export;
pub mod fs;
pub mod intern;
pub mod lexer;
pub mod nesting;
pub mod parser;
pub mod project;
pub mod pyregex;
pub mod session;
pub mod source;
pub mod span;
pub mod strings;
pub mod suggest;

pub use diagnostic::{Diagnostic, Severity};
pub use intern::{Interner, Symbol};
pub use parser::{parse, Parsed};
pub use source::SourceMap;
pub use span::{FileId, Span};
