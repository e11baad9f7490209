//! The one place where errors of every phase become rendered diagnostics: a [`Diagnostic`]
//! holds kind, message, spans and hint; [`render`] prints it through codespan-reporting with
//! file, line, column and the labelled source (long lines cut around the labels, see
//! [`crate::excerpt`]).

use crate::error::{Details, LexError, SyntaxError, SyntaxErrorKind};
use crate::excerpt::Excerpts;
use crate::source::SourceMap;
use crate::span::Span;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::term::{self, termcolor::{self, WriteColor}};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A problem to show the user. The first label is the primary one.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Short machine-readable kind, e.g. `syntax` or `invalid-identifier`.
    pub kind: &'static str,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn from_details(details: Details, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind: details.kind,
            message: details.title,
            primary: Label { span, message: details.label },
            secondary: Vec::new(),
            hint: details.hint,
        }
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    /// Sort key: file, position, then message, so output order is deterministic.
    pub fn sort_key(&self) -> (u32, u32, u32, &str) {
        (self.primary.span.file.0, self.primary.span.start, self.primary.span.end, &self.message)
    }

    /// One-based line of the primary label.
    pub fn line(&self, sources: &SourceMap) -> usize {
        sources.file(self.primary.span.file).map(|f| f.line_col(self.primary.span.start as usize).0).unwrap_or(0)
    }
}

impl From<&LexError> for Diagnostic {
    fn from(error: &LexError) -> Self {
        Diagnostic::from_details(error.details(), error.span)
    }
}

impl From<&SyntaxError> for Diagnostic {
    fn from(error: &SyntaxError) -> Self {
        let diagnostic = Diagnostic::from_details(error.details(), error.span);
        let open_block = match &error.kind {
            SyntaxErrorKind::UnexpectedToken { open_block, expected, .. }
            | SyntaxErrorKind::UnexpectedEof { open_block, expected } => {
                open_block.filter(|_| expected.iter().any(|e| e == "`end`"))
            }
            _ => None,
        };
        match (open_block, &error.kind) {
            (Some(block), _) => diagnostic.with_secondary(block.span, format!("{} opened here", block.keyword)),
            (None, SyntaxErrorKind::DuplicateKey { first, .. }) => diagnostic.with_secondary(*first, "first given here"),
            (None, _) => diagnostic,
        }
    }
}

/// Sorts diagnostics and drops exact duplicates.
pub fn sort_and_dedup(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup();
}

fn to_codespan(diagnostic: &Diagnostic) -> cs::Diagnostic<crate::span::FileId> {
    let severity = match diagnostic.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = vec![cs::Label::primary(diagnostic.primary.span.file, diagnostic.primary.span.range())
        .with_message(&diagnostic.primary.message)];
    for label in &diagnostic.secondary {
        labels.push(cs::Label::secondary(label.span.file, label.span.range()).with_message(&label.message));
    }
    let mut notes = Vec::new();
    if let Some(hint) = &diagnostic.hint {
        notes.push(format!("hint: {hint}"));
    }
    cs::Diagnostic::new(severity)
        .with_code(diagnostic.kind)
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// Renders diagnostics to a terminal or buffer.
pub fn render(writer: &mut dyn WriteColor, sources: &SourceMap, diagnostics: &[Diagnostic]) -> std::io::Result<()> {
    let config = term::Config::default();
    for diagnostic in diagnostics {
        let rendered = to_codespan(diagnostic);
        let emitted = match Excerpts::for_labels(sources, &rendered.labels) {
            // A line it shows is long: render from the cut copy.
            Some(excerpts) => term::emit_to_write_style(writer, &config, &excerpts, &excerpts.relabel(rendered)),
            None => term::emit_to_write_style(writer, &config, sources, &rendered),
        };
        emitted.map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

/// Renders diagnostics without colour, for tests and logs.
pub fn render_plain(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let mut buffer = termcolor::Buffer::no_color();
    let _ = render(&mut buffer, sources, diagnostics);
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}
