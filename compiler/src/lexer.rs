//! The lexer: logos turns source text into tokens; a thin wrapper adds what a regular lexer
//! cannot do alone (regexes only after `matching`, string decoding, identifier interning),
//! turns lexical errors into recorded diagnostics so parsing always continues, and records
//! where the brackets and block keywords are ([`Mark`]), so that the parser can explain and
//! sort out errors without lexing the file again.
//!
//! Inmanta's lexical quirks are kept on purpose: a `-` directly followed by a digit belongs to
//! the number (`5-1` is `5` then `-1`), and `-` is accepted inside identifiers so that the
//! parser can report "the use of '-' in identifiers is not allowed" at the right place.

use crate::error::{LexError, LexErrorKind};
use crate::intern::{Interner, Symbol};
use crate::span::{FileId, Span};
use crate::strings::{self, StringToken};
use logos::Logos;
use std::cell::RefCell;

/// Raw token classes as recognised by logos. Data is attached by [`Lexer`].
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip r"#[^\n]*")]
#[logos(skip r"//[^\n]*")]
enum Raw {
    #[token("typedef")]
    Typedef,
    #[token("as")]
    As,
    #[token("matching")]
    Matching,
    #[token("entity")]
    Entity,
    #[token("extends")]
    Extends,
    #[token("end")]
    End,
    #[token("in")]
    In,
    #[token("implementation")]
    Implementation,
    #[token("for")]
    For,
    #[token("index")]
    Index,
    #[token("implement")]
    Implement,
    #[token("using")]
    Using,
    #[token("when")]
    When,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("import")]
    Import,
    #[token("is")]
    Is,
    #[token("defined")]
    Defined,
    #[token("dict")]
    Dict,
    #[token("null")]
    Null,
    #[token("undef")]
    Undef,
    #[token("parents")]
    Parents,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("elif")]
    Elif,

    #[regex(r"[a-z_][a-zA-Z0-9_-]*")]
    Id,
    #[regex(r"[A-Z][a-zA-Z0-9_-]*")]
    Cid,
    #[regex(r"-?[0-9]+", priority = 3)]
    Int,
    #[regex(r"-?[0-9]*\.[0-9]+", priority = 3)]
    Float,

    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*'"#)]
    Str,
    #[regex(r#"r"([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"r'([^'\\\n]|\\[^\n])*'"#)]
    RawStr,
    #[regex(r#"f"([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"f'([^'\\\n]|\\[^\n])*'"#)]
    FStr,
    /// Only the opening quotes: the body is scanned by hand, since its end is the first `"""`.
    #[token(r#"""""#)]
    TripleQuote,
    /// A quote with no closing quote on its line (a backslash ending the line included: it
    /// is not a character of its own).
    #[regex(r#""([^"\\\n]|\\[^\n])*\\?"#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*\\?"#)]
    UnterminatedStr,

    #[token("::")]
    Sep,
    #[token("--")]
    Rel,
    #[token("->")]
    ArrowRight,
    #[token("<-")]
    ArrowLeft,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<=")]
    LessEq,
    #[token(">=")]
    GreaterEq,
    #[token("<")]
    Less,
    #[token(">")]
    Greater,
    #[token("+=")]
    PlusEq,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("**")]
    DoubleStar,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("?")]
    Question,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token(",")]
    Comma,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
}

/// A token as the grammar sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Typedef,
    As,
    Matching,
    Entity,
    Extends,
    End,
    In,
    Implementation,
    For,
    Index,
    Implement,
    Using,
    When,
    And,
    Or,
    Not,
    True,
    False,
    Import,
    Is,
    Defined,
    Dict,
    Null,
    Undef,
    Parents,
    If,
    Else,
    Elif,
    /// A lower-case identifier (variable, attribute, relation, plugin, namespace part).
    Id(Symbol),
    /// A capitalised identifier (entity or other type name).
    Cid(Symbol),
    Int(i64),
    Float(f64),
    /// Any string form but the multi-line one (docstrings may only be multi-line).
    Str(Box<StringToken>),
    /// A `"""..."""` string: usable as a value or as a docstring.
    Mls(Box<StringToken>),
    /// The body of `/.../` after `matching` (a thin box: keeps `Tok` at 16 bytes).
    Regex(Box<String>),
    Sep,
    /// `--`, or the obsolete `->`/`<-` (the parser rejects those with a hint).
    Rel(RelArrow),
    CmpOp(CmpOp),
    PlusEq,
    Assign,
    Plus,
    Minus,
    DoubleStar,
    Star,
    Slash,
    Percent,
    Question,
    Colon,
    Dot,
    Comma,
    LBracket,
    /// A `[` that continues the reference or lookup before it (`d["k"]`, `string[]`,
    /// `a.b [0:1]`): right after an identifier or after a lookup's `]`. Every other `[`
    /// opens a list, so a list may start a statement without an LR conflict.
    LIndex,
    RBracket,
    LParen,
    /// A `(` right after an identifier or a type name: a call's or a constructor's (also
    /// `index Entity(...)`). Every other `(` groups, so a parenthesised expression may start
    /// a statement without an LR conflict (Inmanta accepts `(x)` as a statement; after a
    /// name its parser, like this one, reads the `(` as a call).
    LCall,
    RParen,
    LBrace,
    RBrace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelArrow {
    Both,
    Right,
    Left,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }
}

/// A token with its byte range, as lalrpop's external-lexer interface wants it. Offsets are
/// `u32`, as in [`Span`]: every value on the parser's stack carries two, so they are kept small.
pub type SpannedTok = (u32, Tok, u32);

/// A byte offset as a token position. Exact: [`Lexer::new`] cuts a text at 4 GiB, so every
/// offset fits (a check per token showed in the parse benchmark).
fn position(offset: usize) -> u32 {
    offset as u32
}

fn spanned(start: usize, token: Tok, end: usize) -> SpannedTok {
    (position(start), token, position(end))
}

/// Where a bracket or a block keyword starts: what the parser needs of a file's block
/// structure to name the block an error is in and to tell follow-on errors from real ones
/// (`parser::annotate_errors`). Recorded for every file while lexing, a few per line, so a
/// file with errors is not lexed again for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub start: u32,
    pub kind: MarkKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// `(`, `[` or `{`.
    Open,
    /// `)`, `]` or `}`.
    Close,
    Entity,
    Implementation,
    For,
    If,
    End,
}

impl Mark {
    /// The mark's token: brackets are one byte, keywords as long as they are spelt.
    pub fn span(self, file: FileId) -> Span {
        let len = match self.kind {
            MarkKind::Open | MarkKind::Close => 1,
            MarkKind::Entity => "entity".len(),
            MarkKind::Implementation => "implementation".len(),
            MarkKind::For => "for".len(),
            MarkKind::If => "if".len(),
            MarkKind::End => "end".len(),
        };
        let start = self.start as usize;
        Span::new(file, start, start + len)
    }
}

/// Wraps the logos lexer. Never fails: lexical errors are pushed to `errors` and the offending
/// text is skipped, so one run reports every problem of a file.
///
/// The interner is shared through a `RefCell` so that the parser can read it while pulling
/// tokens (see `parser::parse`); it is only borrowed inside `next`.
pub struct Lexer<'src, 'ctx> {
    raw: logos::Lexer<'src, Raw>,
    source: &'src str,
    file: FileId,
    interner: &'ctx RefCell<Interner>,
    errors: &'ctx mut Vec<LexError>,
    /// The previous token was `matching`: a `/` now starts a regex.
    after_matching: bool,
    /// The brackets and block keywords so far, in source order.
    marks: Vec<Mark>,
    /// The previous token may be continued by a lookup `[` (see `Tok::LIndex`).
    indexable: bool,
    /// For each open `[`: whether it is a `Tok::LIndex`.
    brackets: Vec<bool>,
    /// The previous token was a name: a `(` now is a call's (see `Tok::LCall`).
    callable: bool,
}

impl<'src, 'ctx> Lexer<'src, 'ctx> {
    pub fn new(
        source: &'src str,
        file: FileId,
        interner: &'ctx RefCell<Interner>,
        errors: &'ctx mut Vec<LexError>,
    ) -> Self {
        // Token positions are `u32`, as in `Span`: a longer text is lexed up to 4 GiB.
        let mut cut = source.len().min(u32::MAX as usize);
        while !source.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut < source.len() {
            errors.push(LexError { kind: LexErrorKind::FileTooLarge, span: Span::new(file, cut, cut) });
        }
        let source = &source[..cut];
        Lexer { raw: Raw::lexer(source), source, file, interner, errors, after_matching: false, marks: Vec::new(), indexable: false, brackets: Vec::new(), callable: false }
    }

    /// The brackets and block keywords of what was lexed, in source order.
    pub fn into_marks(self) -> Vec<Mark> {
        self.marks
    }

    fn mark(&mut self, start: usize, kind: MarkKind) {
        self.marks.push(Mark { start: position(start), kind });
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn error(&mut self, kind: LexErrorKind, start: usize, end: usize) {
        let span = self.span(start, end);
        self.errors.push(LexError { kind, span });
    }

    /// After `matching`, a `/` opens a regex that ends at the next unescaped `/` on the line.
    fn try_regex(&mut self) -> Option<SpannedTok> {
        let rest = self.raw.remainder();
        let skipped = skip_trivia(rest);
        let body = &rest[skipped..];
        if !body.starts_with('/') || body.starts_with("//") {
            return None;
        }
        let start = self.raw.span().end + skipped;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in body.char_indices().skip(1) {
            match c {
                '\n' => break,
                '\\' if !escaped => escaped = true,
                '/' if !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        match close {
            Some(close) if close > 1 => {
                self.raw.bump(skipped + close + 1);
                let pattern = body[1..close].replace("\\/", "/");
                Some(spanned(start, Tok::Regex(Box::new(pattern)), start + close + 1))
            }
            Some(close) => {
                self.raw.bump(skipped + close + 1);
                self.error(LexErrorKind::EmptyRegex, start, start + close + 1);
                Some(spanned(start, Tok::Regex(Box::default()), start + close + 1))
            }
            None => {
                let line_len = body.find('\n').unwrap_or(body.len());
                self.raw.bump(skipped + line_len);
                self.error(LexErrorKind::UnterminatedRegex, start, start + line_len);
                Some(spanned(start, Tok::Regex(Box::default()), start + line_len))
            }
        }
    }

    /// Scans the body of a `"""` string: it ends at the first `"""` (up to two more quotes
    /// belong to the body's end, as in Inmanta's `"{3,5}` rule).
    fn triple_quoted(&mut self, start: usize) -> SpannedTok {
        let rest = self.raw.remainder();
        match rest.find(r#"""""#) {
            Some(close) => {
                let mut end_quotes = 3;
                while end_quotes < 5 && rest[close + end_quotes..].starts_with('"') {
                    end_quotes += 1;
                }
                // Extra quotes beyond three close the string: `""""text""""` keeps `"text"`
                // semantics of Inmanta's lazy match, which ends at the first three quotes.
                let body_end = close + end_quotes - 3;
                let body = &rest[..body_end];
                self.raw.bump(close + end_quotes);
                let end = self.raw.span().end;
                let token = strings::decode_plain(body, start + 3, self.file, &mut self.interner.borrow_mut(), self.errors);
                spanned(start, Tok::Mls(Box::new(token)), end)
            }
            None => {
                self.raw.bump(rest.len());
                let end = self.source.len();
                self.error(LexErrorKind::UnterminatedTripleQuote, start, start + 3);
                let token = strings::decode_plain(rest, start + 3, self.file, &mut self.interner.borrow_mut(), self.errors);
                spanned(start, Tok::Mls(Box::new(token)), end)
            }
        }
    }

    /// `slice` is the token's text, `source[start..end]`.
    fn convert(&mut self, raw: Raw, slice: &'src str, start: usize, end: usize) -> Option<Tok> {
        Some(match raw {
            Raw::Typedef => Tok::Typedef,
            Raw::As => Tok::As,
            Raw::Matching => Tok::Matching,
            Raw::Entity => {
                self.mark(start, MarkKind::Entity);
                Tok::Entity
            }
            Raw::Extends => Tok::Extends,
            Raw::End => {
                self.mark(start, MarkKind::End);
                Tok::End
            }
            Raw::In => Tok::In,
            Raw::Implementation => {
                self.mark(start, MarkKind::Implementation);
                Tok::Implementation
            }
            Raw::For => {
                self.mark(start, MarkKind::For);
                Tok::For
            }
            Raw::Index => Tok::Index,
            Raw::Implement => Tok::Implement,
            Raw::Using => Tok::Using,
            Raw::When => Tok::When,
            Raw::And => Tok::And,
            Raw::Or => Tok::Or,
            Raw::Not => Tok::Not,
            Raw::True => Tok::True,
            Raw::False => Tok::False,
            Raw::Import => Tok::Import,
            Raw::Is => Tok::Is,
            Raw::Defined => Tok::Defined,
            Raw::Dict => Tok::Dict,
            Raw::Null => Tok::Null,
            Raw::Undef => Tok::Undef,
            Raw::Parents => Tok::Parents,
            Raw::If => {
                self.mark(start, MarkKind::If);
                Tok::If
            }
            Raw::Else => Tok::Else,
            Raw::Elif => Tok::Elif,
            Raw::Id | Raw::Cid => {
                // A byte loop: `str::contains` sets up a memchr search per identifier, which
                // costs more than scanning the few bytes of a typical name.
                if slice.bytes().any(|b| b == b'-') {
                    self.error(LexErrorKind::HyphenInIdentifier(slice.to_string()), start, end);
                }
                let symbol = self.interner.borrow_mut().intern(slice);
                if raw == Raw::Id {
                    Tok::Id(symbol)
                } else {
                    Tok::Cid(symbol)
                }
            }
            Raw::Int => match slice.parse::<i64>() {
                Ok(value) => Tok::Int(value),
                Err(_) => {
                    self.error(LexErrorKind::IntegerTooLarge, start, end);
                    Tok::Int(0)
                }
            },
            Raw::Float => {
                // `-.5` and `.5` are floats in Inmanta; Rust's parser wants a leading digit.
                let normalized = if let Some(rest) = slice.strip_prefix("-.") {
                    format!("-0.{rest}")
                } else if let Some(rest) = slice.strip_prefix('.') {
                    format!("0.{rest}")
                } else {
                    slice.to_string()
                };
                Tok::Float(normalized.parse::<f64>().unwrap_or(0.0))
            }
            Raw::Str => {
                let body = &slice[1..slice.len() - 1];
                Tok::Str(Box::new(strings::decode_plain(body, start + 1, self.file, &mut self.interner.borrow_mut(), self.errors)))
            }
            Raw::RawStr => Tok::Str(Box::new(StringToken::raw(&slice[2..slice.len() - 1]))),
            Raw::FStr => {
                let body = &slice[2..slice.len() - 1];
                Tok::Str(Box::new(strings::decode_format(body, start + 2, self.file, &mut self.interner.borrow_mut(), self.errors)))
            }
            Raw::TripleQuote => unreachable_triple(),
            Raw::UnterminatedStr => {
                self.error(LexErrorKind::UnterminatedString, start, end);
                let body = &slice[1..];
                Tok::Str(Box::new(StringToken::raw(body)))
            }
            Raw::Sep => Tok::Sep,
            Raw::Rel => Tok::Rel(RelArrow::Both),
            Raw::ArrowRight => Tok::Rel(RelArrow::Right),
            Raw::ArrowLeft => Tok::Rel(RelArrow::Left),
            Raw::EqEq => Tok::CmpOp(CmpOp::Eq),
            Raw::NotEq => Tok::CmpOp(CmpOp::Ne),
            Raw::LessEq => Tok::CmpOp(CmpOp::Le),
            Raw::GreaterEq => Tok::CmpOp(CmpOp::Ge),
            Raw::Less => Tok::CmpOp(CmpOp::Lt),
            Raw::Greater => Tok::CmpOp(CmpOp::Gt),
            Raw::PlusEq => Tok::PlusEq,
            Raw::Assign => Tok::Assign,
            Raw::Plus => Tok::Plus,
            Raw::Minus => Tok::Minus,
            Raw::DoubleStar => Tok::DoubleStar,
            Raw::Star => Tok::Star,
            Raw::Slash => Tok::Slash,
            Raw::Percent => Tok::Percent,
            Raw::Question => Tok::Question,
            Raw::Colon => Tok::Colon,
            Raw::Dot => Tok::Dot,
            Raw::Comma => Tok::Comma,
            Raw::LBracket => {
                self.mark(start, MarkKind::Open);
                Tok::LBracket
            }
            Raw::RBracket => {
                self.mark(start, MarkKind::Close);
                Tok::RBracket
            }
            Raw::LParen => {
                self.mark(start, MarkKind::Open);
                Tok::LParen
            }
            Raw::RParen => {
                self.mark(start, MarkKind::Close);
                Tok::RParen
            }
            Raw::LBrace => {
                self.mark(start, MarkKind::Open);
                Tok::LBrace
            }
            Raw::RBrace => {
                self.mark(start, MarkKind::Close);
                Tok::RBrace
            }
        })
    }
}

/// Length of the whitespace and comments at the start of `text` (a comment may sit between
/// `matching` and its regex; the parser also asks whether two errors are adjacent).
pub(crate) fn skip_trivia(text: &str) -> usize {
    let mut position = 0;
    loop {
        let rest = &text[position..];
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        position += rest.len() - trimmed.len();
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            position += trimmed.find('\n').unwrap_or(trimmed.len());
        } else {
            return position;
        }
    }
}

/// Triple quotes are handled before `convert` is called.
fn unreachable_triple() -> Tok {
    Tok::Comma
}

impl Lexer<'_, '_> {
    /// Tells a lookup `[` from a list `[` (`Tok::LIndex`), by the token before it.
    fn classify_bracket(&mut self, token: Tok) -> Tok {
        let (token, indexable) = match token {
            Tok::LBracket if self.indexable => {
                self.brackets.push(true);
                (Tok::LIndex, false)
            }
            Tok::LBracket => {
                self.brackets.push(false);
                (Tok::LBracket, false)
            }
            Tok::LParen if self.callable => (Tok::LCall, false),
            Tok::RBracket => {
                let index = self.brackets.pop().unwrap_or(false);
                (Tok::RBracket, index)
            }
            Tok::Id(_) | Tok::Cid(_) => (token, true),
            other => (other, false),
        };
        self.callable = matches!(token, Tok::Id(_) | Tok::Cid(_));
        self.indexable = indexable;
        token
    }
}

impl Iterator for Lexer<'_, '_> {
    type Item = Result<SpannedTok, std::convert::Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.after_matching {
                self.after_matching = false;
                if let Some(token) = self.try_regex() {
                    return Some(Ok(token));
                }
            }
            let raw = self.raw.next()?;
            let range = self.raw.span();
            match raw {
                Ok(Raw::TripleQuote) => return Some(Ok(self.triple_quoted(range.start))),
                Ok(raw) => {
                    self.after_matching = raw == Raw::Matching;
                    // logos hands out the slice without re-checking char boundaries, which
                    // slicing `source` again would do for every token.
                    let slice = self.raw.slice();
                    if let Some(token) = self.convert(raw, slice, range.start, range.end) {
                        let token = self.classify_bracket(token);
                        return Some(Ok(spanned(range.start, token, range.end)));
                    }
                }
                Err(()) => {
                    let slice = &self.source[range.clone()];
                    let ch = slice.chars().next().unwrap_or('?');
                    self.error(LexErrorKind::IllegalCharacter(ch), range.start, range.end);
                }
            }
        }
    }
}

/// Lexes a whole file into tokens (for the lexer benchmark and tests; the parser streams).
pub fn tokenize(source: &str, file: FileId, interner: &mut Interner, errors: &mut Vec<LexError>) -> Vec<SpannedTok> {
    // Real models have a token every 5 to 6 bytes; reserving that up front saves the
    // doubling reallocations (and their copies) of a vector that reaches megabytes on large
    // files. Only the touched part of an over-estimate costs memory.
    let mut tokens = Vec::with_capacity(source.len() / 5 + 16);
    let shared = RefCell::new(std::mem::take(interner));
    tokens.extend(Lexer::new(source, file, &shared, errors).filter_map(Result::ok));
    *interner = shared.into_inner();
    tokens
}
