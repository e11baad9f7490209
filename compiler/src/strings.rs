//! String literal decoding: escape sequences, `{{ a.b }}` interpolation in plain and
//! multi-line strings, and the fields of `f"..."` strings (Python format syntax).
//!
//! Spans of the references found inside a string point into the original source, so an error
//! about `{{ host.nme }}` underlines `host.nme` itself.

use crate::ast::Ident;
use crate::error::{LexError, LexErrorKind};
use crate::intern::Interner;
use crate::span::{FileId, Span};

/// A dotted reference found inside a string: `a.b.c`.
pub type StringRef = Vec<Ident>;

/// A decoded string literal.
#[derive(Clone, Debug, PartialEq)]
pub enum StringToken {
    /// No interpolation: the final value.
    Plain(String),
    /// A plain or multi-line string with `{{ ref }}` parts.
    Interpolated(Vec<StringPart>),
    /// An f-string.
    Format(Vec<FormatPart>),
}

impl StringToken {
    pub fn raw(body: &str) -> Self {
        StringToken::Plain(body.to_string())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StringPart {
    Literal(String),
    Ref(StringRef),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FormatPart {
    Literal(String),
    /// `spec` keeps nested fields (`{x:{width}.{precision}f}`) as written; `nested` are their
    /// references, in order, whose values replace them when the string is built.
    Field { reference: StringRef, conversion: Option<char>, spec: String, nested: Vec<StringRef>, span: Span },
}

/// Decodes a plain (`"..."`, `'...'`) or multi-line string body that starts at byte
/// `offset` of the file: escapes, then `{{ ref }}` interpolation.
pub fn decode_plain(
    body: &str,
    offset: usize,
    file: FileId,
    interner: &mut Interner,
    errors: &mut Vec<LexError>,
) -> StringToken {
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut search = 0;
    while let Some(open) = find_double_brace(body, search) {
        match interpolation_at(body, open) {
            Some((name_start, name_end, close_end)) => {
                if open > literal_start {
                    let text = unescape(&body[literal_start..open], offset + literal_start, file, errors);
                    parts.push(StringPart::Literal(text));
                }
                let reference = dotted(&body[name_start..name_end], offset + name_start, file, interner);
                parts.push(StringPart::Ref(reference));
                literal_start = close_end;
                search = close_end;
            }
            None => search = open + 1,
        }
    }
    if parts.is_empty() {
        return StringToken::Plain(unescape(body, offset, file, errors));
    }
    if literal_start < body.len() {
        let text = unescape(&body[literal_start..], offset + literal_start, file, errors);
        parts.push(StringPart::Literal(text));
    }
    StringToken::Interpolated(parts)
}

/// The first `{{` at or after byte `from`. Searching for the single byte `{` (memchr) and
/// checking the next one is much cheaper on short strings than `str::find("{{")`, whose
/// two-way searcher is set up anew for every string and showed up in parse profiles.
fn find_double_brace(body: &str, from: usize) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut at = from;
    while let Some(found) = body.get(at..)?.find('{') {
        let open = at + found;
        if bytes.get(open + 1) == Some(&b'{') {
            return Some(open);
        }
        at = open + 1;
    }
    None
}

/// Matches Inmanta's `{{\s*([\.A-Za-z0-9_-]+)\s*}}` at `open`; returns the name range and the
/// end of the closing braces.
fn interpolation_at(body: &str, open: usize) -> Option<(usize, usize, usize)> {
    let bytes = body.as_bytes();
    let mut i = open + 2;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'_' | b'-')) {
        i += 1;
    }
    let name_end = i;
    if name_end == name_start {
        return None;
    }
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if body[i..].starts_with("}}") {
        Some((name_start, name_end, i + 2))
    } else {
        None
    }
}

/// Splits `a.b.c` (at byte `offset`) into identifiers with their own spans.
fn dotted(text: &str, offset: usize, file: FileId, interner: &mut Interner) -> StringRef {
    let mut parts = Vec::new();
    let mut start = 0;
    for piece in text.split('.') {
        let span = Span::new(file, offset + start, offset + start + piece.len());
        parts.push(Ident { name: interner.intern(piece), span });
        start += piece.len() + 1;
    }
    parts
}

/// Decodes an f-string body (Python `str.format` syntax: `{{`, `}}`, `{ref!c:spec}`).
pub fn decode_format(
    body: &str,
    offset: usize,
    file: FileId,
    interner: &mut Interner,
    errors: &mut Vec<LexError>,
) -> StringToken {
    let mut parts = Vec::new();
    // The decoded text since the last field. Escapes are decoded run by run as the runs are
    // met (see below), so `literal` holds final text and is never unescaped again.
    let mut literal = String::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    let flush = |literal: &mut String, parts: &mut Vec<FormatPart>| {
        if !literal.is_empty() {
            parts.push(FormatPart::Literal(std::mem::take(literal)));
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                literal.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                literal.push('}');
                i += 2;
            }
            b'{' => {
                let Some(close) = find_field_end(body, i + 1) else {
                    errors.push(LexError {
                        kind: LexErrorKind::FormatUnclosedField,
                        span: Span::new(file, offset + i, offset + body.len()),
                    });
                    break;
                };
                flush(&mut literal, &mut parts);
                let field = &body[i + 1..close];
                let field_span = Span::new(file, offset + i, offset + close + 1);
                let (name_and_conv, spec, spec_start) = match field.find(':') {
                    Some(colon) => (&field[..colon], &field[colon + 1..], offset + i + 1 + colon + 1),
                    None => (field, "", offset + close),
                };
                // Nested fields of the spec: dotted names only, as for the field itself.
                let mut nested = Vec::new();
                let mut from = 0;
                while let Some(open) = spec[from..].find('{').map(|n| from + n) {
                    let Some(end) = spec[open..].find('}').map(|n| open + n) else { break };
                    let inner = &spec[open + 1..end];
                    let lead = inner.len() - inner.trim_start().len();
                    if is_dotted_name(inner.trim()) {
                        nested.push(dotted(inner.trim(), spec_start + open + 1 + lead, file, interner));
                    } else {
                        errors.push(LexError { kind: LexErrorKind::FormatBadField(inner.to_string()), span: field_span });
                    }
                    from = end + 1;
                }
                let (name, conversion) = match name_and_conv.find('!') {
                    Some(bang) => (&name_and_conv[..bang], name_and_conv[bang + 1..].chars().next()),
                    None => (name_and_conv, None),
                };
                let trimmed = name.trim();
                let lead = name.len() - name.trim_start().len();
                if is_dotted_name(trimmed) {
                    let reference = dotted(trimmed, offset + i + 1 + lead, file, interner);
                    parts.push(FormatPart::Field { reference, conversion, spec: spec.to_string(), nested, span: field_span });
                } else {
                    errors.push(LexError { kind: LexErrorKind::FormatBadField(field.to_string()), span: field_span });
                }
                i = close + 1;
            }
            b'}' => {
                errors.push(LexError {
                    kind: LexErrorKind::FormatSingleBrace,
                    span: Span::new(file, offset + i, offset + i + 1),
                });
                i += 1;
            }
            _ => {
                // Take the whole run up to the next brace at once. Braces are ASCII, so the
                // run ends on a char boundary. Its escapes are decoded here, where the run's
                // source offset is known: decoding the accumulated literal later reported
                // escape errors at shifted offsets (by one per `{{`, `}}` or stray `}`
                // before them), possibly inside a multi-byte character (found by fuzzing:
                // `f' "}" é\x4 '`).
                let run = bytes[i..].iter().position(|&b| b == b'{' || b == b'}').map_or(bytes.len(), |n| i + n);
                literal.push_str(&unescape(&body[i..run], offset + i, file, errors));
                i = run;
            }
        }
    }
    flush(&mut literal, &mut parts);
    StringToken::Format(parts)
}

/// The `}` closing a replacement field opened before `from`, allowing one level of nested
/// fields inside the format spec, as Python does.
fn find_field_end(body: &str, from: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, b) in body.bytes().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// Decodes a string literal as Inmanta does: its UTF-8 bytes through Python's
/// `unicode_escape`. Escapes (`\n \t \\ \" \' \xhh \uXXXX \UXXXXXXXX \ooo`, a backslash-newline
/// joining lines) are decoded; an unknown escape is kept as written, as Python does; and every
/// byte of a non-ASCII character becomes the character of that Latin-1 code, so `"Café"` is
/// `"CafÃ©"` in Inmanta and here alike (`"Caf\u00e9"` is the way to write `é`).
pub fn unescape(text: &str, offset: usize, file: FileId, errors: &mut Vec<LexError>) -> String {
    if text.is_ascii() && !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            push_as_latin1_bytes(&mut out, c);
            continue;
        }
        let Some((_, escaped)) = chars.next() else {
            out.push('\\');
            break;
        };
        match escaped {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut value = escaped.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek() {
                        Some(&(_, d)) if d.is_digit(8) => {
                            value = value * 8 + d.to_digit(8).unwrap_or(0);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let digits = match escaped {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut value = 0u32;
                let mut read = 0;
                while read < digits {
                    match chars.peek() {
                        Some(&(_, d)) if d.is_ascii_hexdigit() => {
                            value = value * 16 + d.to_digit(16).unwrap_or(0);
                            chars.next();
                            read += 1;
                        }
                        _ => break,
                    }
                }
                match char::from_u32(value) {
                    Some(ch) if read == digits => out.push(ch),
                    _ => {
                        let end = chars.peek().map(|&(j, _)| j).unwrap_or(text.len());
                        errors.push(LexError {
                            kind: LexErrorKind::InvalidEscape(text[i..end].to_string()),
                            span: Span::new(file, offset + i, offset + end),
                        });
                    }
                }
            }
            other => {
                out.push('\\');
                push_as_latin1_bytes(&mut out, other);
            }
        }
    }
    out
}

/// `c` as `unicode_escape` reads it: an ASCII character as itself, any other as one
/// character per byte of its UTF-8 form.
fn push_as_latin1_bytes(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c);
    } else {
        let mut buffer = [0u8; 4];
        out.extend(c.encode_utf8(&mut buffer).bytes().map(char::from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(body: &str) -> (StringToken, Vec<LexError>, Interner) {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let token = decode_plain(body, 0, FileId(0), &mut interner, &mut errors);
        (token, errors, interner)
    }

    #[test]
    fn escapes_are_decoded() {
        let (token, errors, _) = plain(r#"a\tb\n\"q\" \x41\u00e9 \d"#);
        assert!(errors.is_empty());
        assert_eq!(token, StringToken::Plain("a\tb\n\"q\" Aé \\d".to_string()));
    }

    #[test]
    fn interpolation_finds_dotted_references() {
        let (token, _, interner) = plain("host {{ h.name }}!");
        let StringToken::Interpolated(parts) = token else { panic!("expected interpolation") };
        assert_eq!(parts.len(), 3);
        let StringPart::Ref(reference) = &parts[1] else { panic!("expected a reference") };
        let names: Vec<_> = reference.iter().map(|i| interner.resolve(i.name)).collect();
        assert_eq!(names, ["h", "name"]);
        assert_eq!(reference[1].span.range(), 10..14);
    }

    #[test]
    fn braces_without_a_name_stay_literal() {
        let (token, _, _) = plain("{{ }} and {{a b}}");
        assert_eq!(token, StringToken::Plain("{{ }} and {{a b}}".to_string()));
    }

    #[test]
    fn format_fields_and_specs() {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let token = decode_format("{{x}} {a.b:>10} {c!r}", 0, FileId(0), &mut interner, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let StringToken::Format(parts) = token else { panic!("expected format") };
        assert_eq!(parts[0], FormatPart::Literal("{x} ".to_string()));
        let FormatPart::Field { spec, .. } = &parts[1] else { panic!("field") };
        assert_eq!(spec, ">10");
        let FormatPart::Field { conversion, .. } = &parts[3] else { panic!("field") };
        assert_eq!(*conversion, Some('r'));
    }

    #[test]
    fn nested_fields_of_a_spec_are_references() {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let token = decode_format("{x:{width}.{p.n}f}", 0, FileId(0), &mut interner, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let StringToken::Format(parts) = token else { panic!("expected format") };
        let FormatPart::Field { spec, nested, .. } = &parts[0] else { panic!("field") };
        assert_eq!(spec, "{width}.{p.n}f");
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[1].len(), 2);
    }

    #[test]
    fn format_escape_errors_point_at_the_escape() {
        // A stray `}` and a `{{` before the escape must not shift its span.
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let body = " \"}\" {{é\\x4 ";
        decode_format(body, 10, FileId(0), &mut interner, &mut errors);
        let escape = errors.iter().find(|e| matches!(e.kind, LexErrorKind::InvalidEscape(_))).map(|e| e.span.range());
        let at = body.find('\\').map(|i| i + 10);
        assert_eq!(escape, at.map(|at| at..at + 3), "{errors:?}");
    }

    #[test]
    fn format_errors_are_reported() {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        decode_format("{1+2} }", 0, FileId(0), &mut interner, &mut errors);
        assert_eq!(errors.len(), 2);
    }
}
