//! Long source lines in rendered diagnostics. codespan-reporting prints every labelled line
//! whole, so a label on a 27 kB line (a generated model, a long string) would print all of
//! it. When a line a diagnostic shows is longer than [`LONG_LINE`] bytes, the diagnostic is
//! rendered from an [`Excerpt`] instead: a copy of just the lines the renderer looks at, long
//! ones cut to [`CONTEXT`] bytes around each label's start and end with `…` where text was
//! left out, the labels moved onto the copy (so the carets stay under the right characters),
//! and the line numbers and the `file:line:column` of the header still those of the file.
//! Diagnostics without long lines are rendered from the file itself, unchanged.

use crate::source::SourceMap;
use crate::span::FileId;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files, Location};
use rustc_hash::FxHashMap;
use std::ops::Range;

/// A source line longer than this many bytes is cut in an excerpt.
pub const LONG_LINE: usize = 200;
/// How much of a long line is kept on each side of a label's start and end, in bytes
/// (widened to whole characters).
pub const CONTEXT: usize = 40;
/// What stands for the text left out.
const ELLIPSIS: &str = "…";

/// One copied line: its index in the file, where the copy is in the excerpt's text, and the
/// pieces of the original it holds.
struct Line {
    index: usize,
    range: Range<usize>,
    pieces: Vec<Piece>,
}

/// A run of the original line copied unchanged: it starts at byte `original` of the file and
/// at byte `copy` of the excerpt, and is `len` bytes long.
#[derive(Clone, Copy)]
struct Piece {
    original: usize,
    copy: usize,
    len: usize,
}

/// The lines of one file that a diagnostic shows, with long ones cut.
struct Excerpt {
    text: String,
    /// In file order (and so in excerpt order).
    lines: Vec<Line>,
}

/// The files of one diagnostic as the renderer sees them: excerpts for the files with long
/// lines, the files themselves otherwise.
pub struct Excerpts<'a> {
    sources: &'a SourceMap,
    excerpts: FxHashMap<FileId, Excerpt>,
}

impl<'a> Excerpts<'a> {
    /// The excerpts a diagnostic with these labels needs; `None` when no line it shows is
    /// long (it is then rendered from the files as they are).
    pub fn for_labels(sources: &'a SourceMap, labels: &[cs::Label<FileId>]) -> Option<Excerpts<'a>> {
        let mut by_file: FxHashMap<FileId, Vec<Range<usize>>> = FxHashMap::default();
        for label in labels {
            by_file.entry(label.file_id).or_default().push(label.range.clone());
        }
        let mut excerpts = FxHashMap::default();
        for (file, ranges) in by_file {
            if let Some(excerpt) = Excerpt::build(sources, file, &ranges) {
                excerpts.insert(file, excerpt);
            }
        }
        (!excerpts.is_empty()).then_some(Excerpts { sources, excerpts })
    }

    /// The diagnostic with its labels moved onto the excerpts.
    pub fn relabel(&self, mut diagnostic: cs::Diagnostic<FileId>) -> cs::Diagnostic<FileId> {
        for label in &mut diagnostic.labels {
            if let Some(excerpt) = self.excerpts.get(&label.file_id) {
                let start = excerpt.to_copy(self.sources, label.file_id, label.range.start);
                let end = excerpt.to_copy(self.sources, label.file_id, label.range.end).max(start);
                label.range = start..end;
            }
        }
        diagnostic
    }
}

/// The line that holds `byte` of the file, and its byte range (with the line break).
fn line_of(sources: &SourceMap, file: FileId, byte: usize) -> Option<(usize, Range<usize>)> {
    let index = Files::line_index(sources, file, byte).ok()?;
    Some((index, Files::line_range(sources, file, index).ok()?))
}

/// `range` without its line break.
fn without_break(text: &str, range: &Range<usize>) -> usize {
    let line = &text[range.clone()];
    range.start + line.trim_end_matches(['\n', '\r']).len()
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl Excerpt {
    /// The excerpt of `file` for labels at `ranges`, or `None` when no line it would show is
    /// long.
    fn build(sources: &SourceMap, file: FileId, ranges: &[Range<usize>]) -> Option<Excerpt> {
        let text = sources.file(file)?.text.as_str();
        // The lines the renderer may ask for: those of each label, and one either side (a
        // single line between two labelled ones is shown rather than elided).
        let mut wanted: Vec<usize> = Vec::new();
        for range in ranges {
            let (first, _) = line_of(sources, file, range.start)?;
            let (last, _) = line_of(sources, file, range.end)?;
            wanted.extend(first.saturating_sub(1)..=last + 1);
        }
        wanted.sort_unstable();
        wanted.dedup();
        let lines: Vec<(usize, Range<usize>)> =
            wanted.into_iter().filter_map(|index| Some((index, Files::line_range(sources, file, index).ok()?))).collect();
        if !lines.iter().any(|(_, range)| without_break(text, range) - range.start > LONG_LINE) {
            return None;
        }
        let mut excerpt = Excerpt { text: String::new(), lines: Vec::with_capacity(lines.len()) };
        for (index, range) in lines {
            let start = excerpt.text.len();
            let content_end = without_break(text, &range);
            let pieces = if content_end - range.start > LONG_LINE {
                excerpt.copy_cut(text, &range, content_end, ranges)
            } else {
                excerpt.text.push_str(&text[range.clone()]);
                vec![Piece { original: range.start, copy: start, len: range.len() }]
            };
            excerpt.lines.push(Line { index, range: start..excerpt.text.len(), pieces });
        }
        Some(excerpt)
    }

    /// Copies the long line `range` (content up to `content_end`) cut around the label
    /// boundaries that fall on it; the pieces copied.
    fn copy_cut(&mut self, text: &str, range: &Range<usize>, content_end: usize, labels: &[Range<usize>]) -> Vec<Piece> {
        let points: Vec<usize> = labels
            .iter()
            .flat_map(|label| [label.start, label.end])
            .filter(|&point| point >= range.start && point <= content_end)
            .collect();
        let mut windows: Vec<(usize, usize)> = if points.is_empty() {
            // A line inside a multi-line label: its beginning.
            vec![(range.start, range.start + 2 * CONTEXT)]
        } else {
            points.iter().map(|&point| (point.saturating_sub(CONTEXT), point + CONTEXT)).collect()
        };
        for window in &mut windows {
            window.0 = floor_boundary(text, window.0.max(range.start));
            window.1 = ceil_boundary(text, window.1.min(content_end));
        }
        windows.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(windows.len());
        for (start, end) in windows {
            match merged.last_mut() {
                // Leaving out less than the ellipsis takes would not shorten anything.
                Some(last) if start <= last.1 + ELLIPSIS.len() => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let mut pieces = Vec::with_capacity(merged.len() + 1);
        let mut at = range.start;
        for (start, end) in merged {
            if start > at {
                self.text.push_str(ELLIPSIS);
            }
            pieces.push(Piece { original: start, copy: self.text.len(), len: end - start });
            self.text.push_str(&text[start..end]);
            at = end;
        }
        if at < content_end {
            self.text.push_str(ELLIPSIS);
        }
        // The line break, so that positions after the content map too.
        pieces.push(Piece { original: content_end, copy: self.text.len(), len: range.end - content_end });
        self.text.push_str(&text[content_end..range.end]);
        pieces
    }

    fn line(&self, index: usize) -> Option<&Line> {
        self.lines.binary_search_by_key(&index, |line| line.index).ok().map(|found| &self.lines[found])
    }

    /// The copied line that holds excerpt byte `byte`.
    fn line_at(&self, byte: usize) -> Option<&Line> {
        let after = self.lines.partition_point(|line| line.range.start <= byte);
        self.lines.get(after.checked_sub(1)?)
    }

    /// Where byte `byte` of the file is in the excerpt (a byte left out: the next one kept).
    fn to_copy(&self, sources: &SourceMap, file: FileId, byte: usize) -> usize {
        let Some((index, _)) = line_of(sources, file, byte) else { return self.text.len() };
        let Some(line) = self.line(index) else { return self.text.len() };
        for piece in &line.pieces {
            if byte < piece.original {
                return piece.copy;
            }
            if byte <= piece.original + piece.len {
                return piece.copy + (byte - piece.original);
            }
        }
        line.range.end
    }

    /// Where excerpt byte `byte` is in the file (an ellipsis: the text after it).
    fn to_original(&self, byte: usize) -> Option<usize> {
        let line = self.line_at(byte)?;
        let mut last = None;
        for piece in &line.pieces {
            if byte < piece.copy {
                return Some(piece.original);
            }
            if byte <= piece.copy + piece.len {
                return Some(piece.original + (byte - piece.copy));
            }
            last = Some(piece.original + piece.len);
        }
        last
    }
}

impl<'a> Files<'a> for Excerpts<'a> {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Files::name(self.sources, id)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        match self.excerpts.get(&id) {
            Some(excerpt) => Ok(excerpt.text.as_str()),
            None => Files::source(self.sources, id),
        }
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        match self.excerpts.get(&id) {
            Some(excerpt) => excerpt.line_at(byte_index).map(|line| line.index).ok_or(files::Error::FileMissing),
            None => Files::line_index(self.sources, id, byte_index),
        }
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        match self.excerpts.get(&id) {
            Some(excerpt) => excerpt
                .line(line_index)
                .map(|line| line.range.clone())
                .ok_or(files::Error::LineTooLarge { given: line_index, max: excerpt.lines.last().map_or(0, |l| l.index) }),
            None => Files::line_range(self.sources, id, line_index),
        }
    }

    /// The place in the file, not in the excerpt: the header names the real column.
    fn location(&'a self, id: FileId, byte_index: usize) -> Result<Location, files::Error> {
        match self.excerpts.get(&id) {
            Some(excerpt) => {
                let original = excerpt.to_original(byte_index).ok_or(files::Error::FileMissing)?;
                Files::location(self.sources, id, original)
            }
            None => Files::location(self.sources, id, byte_index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{render_plain, Diagnostic, Label, Severity};
    use crate::span::Span;

    fn diagnostic(file: FileId, start: usize, end: usize) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            kind: "test",
            message: "something is wrong".into(),
            primary: Label { span: Span::new(file, start, end), message: "here".into() },
            secondary: Vec::new(),
            hint: None,
        }
    }

    #[test]
    fn a_label_on_a_long_line_is_shown_with_its_surroundings_only() {
        let mut sources = SourceMap::new();
        let long = format!("x = [{}\"needle\"{}]\n", "1, ".repeat(3000), ", 2".repeat(3000));
        let text = format!("a = 1\n{long}b = 2\n");
        let file = sources.add("main.cf", text.clone());
        let start = text.find("\"needle\"").expect("there");
        let rendered = render_plain(&sources, &[diagnostic(file, start, start + 8)]);
        let column = start - 6 + 1;
        assert!(rendered.contains(&format!("┌─ main.cf:2:{column}")), "{rendered}");
        assert!(rendered.len() < 600, "{} bytes:\n{rendered}", rendered.len());
        let source_line = rendered.lines().find(|l| l.starts_with("2 │")).expect("the line is shown");
        let caret_line = rendered.lines().find(|l| l.contains("^^^")).expect("a caret");
        assert!(source_line.starts_with("2 │ …"), "{source_line}");
        assert!(source_line.ends_with('…'), "{source_line}");
        // The caret is under the needle.
        let caret_at = caret_line.chars().position(|c| c == '^').expect("caret");
        let needle_at = source_line.chars().collect::<Vec<_>>().windows(8).position(|w| w.iter().collect::<String>() == "\"needle\"");
        assert_eq!(Some(caret_at), needle_at, "{rendered}");
        assert_eq!(caret_line.matches('^').count(), 8, "{rendered}");
    }

    #[test]
    fn short_lines_render_exactly_as_before() {
        let mut sources = SourceMap::new();
        let file = sources.add("main.cf", "a = 1\nb = 2\n".to_string());
        let d = diagnostic(file, 6, 7);
        let labels = [cs::Label::primary(file, 6..7)];
        assert!(Excerpts::for_labels(&sources, &labels).is_none());
        assert!(render_plain(&sources, &[d]).contains("2 │ b = 2"));
    }

    #[test]
    fn a_long_label_keeps_its_start_and_end_and_multibyte_text_is_cut_on_characters() {
        let mut sources = SourceMap::new();
        let text = format!("s = \"{}\"\nt = 1\n", "é".repeat(5000));
        let file = sources.add("main.cf", text.clone());
        let rendered = render_plain(&sources, &[diagnostic(file, 4, text.find('\n').unwrap_or(0))]);
        let source_line = rendered.lines().find(|l| l.starts_with("1 │")).expect("shown");
        assert!(source_line.starts_with("1 │ s = \"éé"), "{source_line}");
        assert!(source_line.contains('…') && source_line.ends_with("é\""), "{source_line}");
        let caret_line = rendered.lines().find(|l| l.contains('^')).expect("caret");
        assert_eq!(caret_line.matches('^').count(), source_line.chars().count() - "1 │ s = ".chars().count(), "{rendered}");
        assert!(rendered.contains("┌─ main.cf:1:5"), "{rendered}");
    }

    #[test]
    fn labels_in_two_places_of_a_long_line_and_on_a_short_line_nearby() {
        let mut sources = SourceMap::new();
        let text = format!("x = 1\ny = [\"first\"{}\"second\"]\nz = 3\n", ", 0".repeat(1000));
        let file = sources.add("main.cf", text.clone());
        let first = text.find("\"first\"").expect("there");
        let second = text.find("\"second\"").expect("there");
        let d = diagnostic(file, second, second + 8)
            .with_secondary(Span::new(file, first, first + 7), "one")
            .with_secondary(Span::new(file, 0, 1), "short");
        let rendered = render_plain(&sources, &[d]);
        assert!(rendered.contains("1 │ x = 1"), "{rendered}");
        let source_line = rendered.lines().find(|l| l.starts_with("2 │")).expect("shown");
        assert!(source_line.contains("\"first\"") && source_line.contains("\"second\""), "{rendered}");
        assert_eq!(source_line.matches('…').count(), 1, "{rendered}");
        assert!(rendered.len() < 800, "{rendered}");
        let second_column = second - text.find('y').unwrap_or(0) + 1;
        assert!(rendered.contains(&format!("main.cf:2:{second_column}")), "{rendered}");
    }
}
