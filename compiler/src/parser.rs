//! Parsing one file: streams the lexer's tokens into the grammar (`grammar.lalrpop`, the only
//! one: fast on good files, with error recovery on bad ones), so each file is lexed once.
//! Returns the syntax tree together with every error found (lexical and syntactic), so one
//! run reports all the problems of a file; follow-on errors of a recovery are dropped and
//! each "unexpected token" learns the block it is in, from the block structure the lexer
//! recorded ([`annotate_errors`]). Also home of the small constructors the grammar's actions
//! call, and of the precedence climbing of its operator chains ([`Chain`]).

use crate::ast::{BinOp, Expr, ExprKind, Ident, MapKey, Module, Multiplicity, QualName, TopStmt, TypeRef};
use crate::error::{terminal_name, LexError, LexErrorKind, OpenBlock, SyntaxError, SyntaxErrorKind};
use crate::intern::{Interner, Symbol};
use crate::lexer::{self, Mark, MarkKind, Tok};
use crate::span::{FileId, Span};
use crate::strings::{FormatPart, StringPart, StringToken};
use lalrpop_util::{ErrorRecovery, ParseError};
use std::cell::RefCell;

/// An error the grammar recovered from (or explains). The error is boxed so that lalrpop's
/// stack values, which must be able to hold one, stay small.
pub type Recovery = ErrorRecovery<u32, Tok, Box<SyntaxError>>;

/// The parser lalrpop generates from `grammar.lalrpop` (its own code, so its lints are off).
#[allow(clippy::all, clippy::unwrap_used, unused_parens, unused_imports, dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/grammar.rs"));
}

/// The result of parsing one file: the tree (partial where errors were recovered from) and
/// the errors in source order.
#[derive(Debug)]
pub struct Parsed {
    pub module: Module,
    pub lex_errors: Vec<LexError>,
    pub syntax_errors: Vec<SyntaxError>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        !self.lex_errors.is_empty() || !self.syntax_errors.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.lex_errors.len() + self.syntax_errors.len()
    }
}

/// Parses `source` as file `file`. Never fails: problems are returned in [`Parsed`].
///
/// Tokens are streamed from the lexer into the parser (no token vector), once, whether the
/// file has errors or not. The interner is shared through a `RefCell`: the lexer interns
/// while the grammar's actions read it. `dict` is a keyword, but the type of a `dict`
/// attribute is a name like the others: it is interned before the file's names, so the
/// grammar has its symbol at hand.
pub fn parse(source: &str, file: FileId, interner: &mut Interner) -> Parsed {
    let dict_symbol = interner.intern("dict");
    let shared = RefCell::new(std::mem::take(interner));
    let mut lex_errors = Vec::new();
    let mut recovered = Vec::new();
    let (result, marks) = {
        let mut tokens = lexer::Lexer::new(source, file, &shared, &mut lex_errors);
        let parser = generated::ModuleParser::new();
        let result = parser.parse(file, &shared, dict_symbol, &mut recovered, tokens.by_ref().map(|t| t.map_err(|never| match never {})));
        // Should the parser give up early, the rest is still lexed: every lexical error is
        // reported and every identifier interned.
        for _ in tokens.by_ref() {}
        (result, tokens.into_marks())
    };
    *interner = shared.into_inner();
    lex_errors.sort_by_key(|e| (e.span.start, e.span.end));
    let mut syntax_errors = Vec::new();
    let module = match result {
        Ok(mut module) => {
            syntax_errors.extend(crate::nesting::check(&mut module));
            module
        }
        Err(error) => {
            syntax_errors.push(convert(error, file, source));
            Module::default()
        }
    };
    if syntax_errors.is_empty() && recovered.is_empty() {
        return Parsed { module, lex_errors, syntax_errors };
    }
    syntax_errors.extend(recovered.into_iter().map(|recovery| convert(recovery.error, file, source)));
    syntax_errors.sort_by_key(|e| (e.span.start, e.span.end));
    syntax_errors.dedup();
    annotate_errors(&mut syntax_errors, &lex_errors, &marks, source, file);
    Parsed { module, lex_errors, syntax_errors }
}

fn convert(error: ParseError<u32, Tok, Box<SyntaxError>>, file: FileId, source: &str) -> SyntaxError {
    let error = error.map_location(|location| location as usize);
    match error {
        ParseError::InvalidToken { location } => SyntaxError {
            kind: SyntaxErrorKind::UnexpectedToken { found: "token".into(), expected: Vec::new(), open_block: None },
            span: Span::new(file, location, location + 1),
        },
        ParseError::UnrecognizedEof { location, expected } => {
            let expected = tidy_expected(expected);
            let open_block = None;
            SyntaxError {
                kind: SyntaxErrorKind::UnexpectedEof { expected, open_block },
                span: Span::new(file, location, location),
            }
        }
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => {
            let expected = tidy_expected(expected);
            let text = &source[start..end];
            let kind = if is_keyword(&token) && expected.iter().any(|e| e == "an identifier") && assigned(&source[end..]) {
                // `defined = ...`: Inmanta's "invalid identifier, defined is a reserved keyword".
                SyntaxErrorKind::ReservedKeyword(text.to_string())
            } else {
                SyntaxErrorKind::UnexpectedToken { found: describe_token(text, &token), expected, open_block: None }
            };
            SyntaxError { kind, span: Span::new(file, start, end) }
        }
        ParseError::ExtraToken { token: (start, token, end) } => SyntaxError {
            kind: SyntaxErrorKind::UnexpectedToken {
                found: describe_token(&source[start..end], &token),
                expected: Vec::new(),
                open_block: None,
            },
            span: Span::new(file, start, end),
        },
        ParseError::User { error } => *error,
    }
}

fn tidy_expected(expected: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = expected.iter().map(|e| terminal_name(e)).collect();
    // Put `end` first: when a block is open it is the most useful thing to suggest.
    names.sort_by_key(|n| (n != "`end`", n.clone()));
    names.dedup();
    // Right after `else`, `if` is only there for the grammar's rule that explains `else if`.
    if names == ["`:`", "`if`"] {
        names.pop();
    }
    names
}

fn is_keyword(token: &Tok) -> bool {
    matches!(
        token,
        Tok::Typedef
            | Tok::As
            | Tok::Matching
            | Tok::Entity
            | Tok::Extends
            | Tok::End
            | Tok::In
            | Tok::Implementation
            | Tok::For
            | Tok::Index
            | Tok::Implement
            | Tok::Using
            | Tok::When
            | Tok::And
            | Tok::Or
            | Tok::Not
            | Tok::True
            | Tok::False
            | Tok::Import
            | Tok::Is
            | Tok::Defined
            | Tok::Dict
            | Tok::Null
            | Tok::Undef
            | Tok::Parents
            | Tok::If
            | Tok::Else
            | Tok::Elif
    )
}

/// Whether `rest` (the text after a token) goes on with `=`, an assignment to that token.
fn assigned(rest: &str) -> bool {
    let after = &rest[lexer::skip_trivia(rest)..];
    after.starts_with('=') && !after.starts_with("==")
}

fn describe_token(text: &str, token: &Tok) -> String {
    let shown: String = text.chars().take(40).collect();
    match token {
        Tok::Id(_) => format!("identifier `{shown}`"),
        Tok::Cid(_) => format!("type name `{shown}`"),
        Tok::Int(_) | Tok::Float(_) => format!("number `{shown}`"),
        Tok::Str(_) | Tok::Mls(_) => "string".to_string(),
        Tok::Regex(_) => "regex".to_string(),
        _ if shown.chars().all(|c| c.is_ascii_alphabetic()) => format!("keyword `{shown}`"),
        _ => format!("`{shown}`"),
    }
}

// ---------- what the block structure tells about the errors ----------

/// A lexical error that can derail the parse: one that drops or swallows text. With the
/// parser's own errors ([`is_unexpected`]) these are the triggers of follow-on errors; the
/// errors the grammar explains on purpose (a lower-case entity name, ...) and the lexical
/// ones that keep the token (a `-` in a name, a bad escape) leave the parse on track.
fn is_trigger(error: &LexError) -> bool {
    matches!(
        error.kind,
        LexErrorKind::IllegalCharacter(_)
            | LexErrorKind::UnterminatedString
            | LexErrorKind::UnterminatedTripleQuote
            | LexErrorKind::UnterminatedRegex
    )
}

/// The errors the parser itself detects (where its recovery starts): the ones that may be
/// follow-on errors, and triggers of others.
fn is_unexpected(error: &SyntaxError) -> bool {
    matches!(
        error.kind,
        SyntaxErrorKind::UnexpectedToken { .. } | SyntaxErrorKind::UnexpectedEof { .. } | SyntaxErrorKind::ReservedKeyword(_)
    )
}

/// A trigger's byte range, and whether it is lexical.
#[derive(Clone, Copy)]
struct Trigger {
    start: usize,
    end: usize,
    lexical: bool,
}

/// An open bracket during the sweep of [`annotate_errors`]: where the outermost bracket
/// that is closed later, among this one and those around it, starts.
struct OpenBracket {
    outermost_closed: Option<usize>,
}

/// Two jobs, done in one sweep over the errors and the lexer's marks (only when a file has
/// syntax errors, so the error-free path pays nothing but the recording of the marks):
///
/// - Each "unexpected token/end of file" error learns the innermost block (`entity`,
///   `implementation`, `for`, `if`) still open where it happened, matching openers with
///   `end` lexically (the hint "expected `end` to close the ... opened here").
/// - Follow-on errors are dropped. lalrpop's recovery resumes at the nearest place that takes
///   the next token, which after a slip inside brackets or a block header is usually a new
///   statement, leaving the rest of the line and the block's closers to be reported too.
///   One slip should give one diagnostic, so an "unexpected token" error goes when, with `q`
///   the last trigger before it (see [`is_trigger`]):
///   1. it is on the line where `q` ends (the rest of a line a recovery skipped), or right
///      after a lexical `q` with only blanks and comments between (a dropped character or an
///      unterminated string leaves the next token stranded);
///   2. it is inside, or at the closer of, a bracket pair that is closed and holds `q`;
///   3. it is at an `end` whose block (matched lexically) holds `q`;
///   4. it is at the end of the file and an unterminated `"""` swallowed the rest.
///
/// A mistake on another line, outside the broken brackets and block, is still reported.
fn annotate_errors(errors: &mut Vec<SyntaxError>, lex_errors: &[LexError], marks: &[Mark], source: &str, file: FileId) {
    let mut triggers: Vec<Trigger> = errors
        .iter()
        .filter(|e| is_unexpected(e))
        .map(|e| Trigger { start: e.span.start as usize, end: e.span.end as usize, lexical: false })
        .chain(
            lex_errors
                .iter()
                .filter(|e| is_trigger(e))
                .map(|e| Trigger { start: e.span.start as usize, end: e.span.end as usize, lexical: true }),
        )
        .collect();
    triggers.sort_by_key(|t| (t.start, t.end));
    let swallowed_tail = lex_errors.iter().any(|e| e.kind == LexErrorKind::UnterminatedTripleQuote);

    // Which opening brackets are closed later (a first pass: the sweep needs it going forward).
    let mut closed = vec![false; marks.len()];
    let mut pending = Vec::new();
    for (index, mark) in marks.iter().enumerate() {
        match mark.kind {
            MarkKind::Open => pending.push(index),
            MarkKind::Close => {
                if let Some(open) = pending.pop() {
                    closed[open] = true;
                }
            }
            _ => {}
        }
    }

    let mut brackets: Vec<OpenBracket> = Vec::new();
    let mut blocks: Vec<(OpenBlock, usize)> = Vec::new();
    let mut after_implementation = false;
    let mut next_mark = 0;
    let mut next_trigger = 0;
    let mut keep = Vec::with_capacity(errors.len());
    for error in errors.iter_mut() {
        let at = error.span.start as usize;
        // The block structure just before the error's token.
        while let Some(mark) = marks.get(next_mark).filter(|m| (m.start as usize) < at) {
            let span = mark.span(file);
            match mark.kind {
                MarkKind::Open => {
                    let outer = brackets.last().and_then(|b| b.outermost_closed);
                    let own = closed[next_mark].then_some(mark.start as usize);
                    brackets.push(OpenBracket { outermost_closed: outer.or(own) });
                }
                MarkKind::Close => {
                    brackets.pop();
                }
                MarkKind::Entity => blocks.push((OpenBlock { keyword: "entity", span }, mark.start as usize)),
                MarkKind::Implementation => {
                    after_implementation = true;
                    blocks.push((OpenBlock { keyword: "implementation", span }, mark.start as usize));
                }
                // The `for` of `implementation x for Entity` opens nothing.
                MarkKind::For if after_implementation => after_implementation = false,
                // Inside brackets, `for` and `if` belong to a list comprehension.
                MarkKind::For if brackets.is_empty() => blocks.push((OpenBlock { keyword: "for loop", span }, mark.start as usize)),
                MarkKind::If if brackets.is_empty() => blocks.push((OpenBlock { keyword: "if statement", span }, mark.start as usize)),
                MarkKind::For | MarkKind::If => {}
                MarkKind::End => {
                    blocks.pop();
                }
            }
            next_mark += 1;
        }
        while triggers.get(next_trigger).is_some_and(|t| t.start < at) {
            next_trigger += 1;
        }
        if !is_unexpected(error) {
            keep.push(true);
            continue;
        }
        let open_block = blocks.last().map(|(block, _)| *block);
        match &mut error.kind {
            SyntaxErrorKind::UnexpectedToken { open_block: slot, .. } | SyntaxErrorKind::UnexpectedEof { open_block: slot, .. } => {
                *slot = open_block;
            }
            _ => {}
        }
        let previous = next_trigger.checked_sub(1).and_then(|i| triggers.get(i)).copied();
        let at_mark = marks.get(next_mark).filter(|m| m.start as usize == at).map(|m| m.kind);
        let follows = previous.is_some_and(|q| {
            let same_line = !source.as_bytes().get(q.end.min(at)..at).is_some_and(|gap| gap.contains(&b'\n'));
            let adjacent = q.lexical && source.get(q.end..).is_some_and(|rest| q.end + lexer::skip_trivia(rest) >= at);
            let in_brackets = brackets.last().and_then(|b| b.outermost_closed).is_some_and(|start| start < q.start);
            let at_block_end = at_mark == Some(MarkKind::End) && blocks.last().is_some_and(|(_, start)| *start < q.start);
            same_line || adjacent || in_brackets || at_block_end
        });
        let swallowed = swallowed_tail && matches!(error.kind, SyntaxErrorKind::UnexpectedEof { .. });
        keep.push(!(follows || swallowed));
    }
    let mut flags = keep.into_iter();
    errors.retain(|_| flags.next().unwrap_or(true));
}

// ---------- constructors used by the grammar's actions ----------

/// What can stand between `[` and `]` after a reference.
pub enum Bracket {
    Key(Expr),
    Args(Vec<crate::ast::Arg>),
}

/// Builds a module from its top-level statements: the leading string becomes the module's
/// docstring, a string right after a typedef, relation or implement documents it.
pub fn attach_docs(statements: Vec<crate::ast::TopStmt>) -> Module {
    let mut module = Module { doc: None, statements: Vec::with_capacity(statements.len()) };
    for statement in statements {
        match statement {
            TopStmt::Doc(text, span) => {
                if module.statements.is_empty() && module.doc.is_none() {
                    module.doc = Some(text);
                    continue;
                }
                match module.statements.last_mut() {
                    Some(TopStmt::Typedef(t)) if t.doc.is_none() => t.doc = Some(text),
                    Some(TopStmt::Relation(r)) if r.doc.is_none() => r.doc = Some(text),
                    Some(TopStmt::Implement(i)) if i.doc.is_none() => i.doc = Some(text),
                    _ => module.statements.push(TopStmt::Doc(text, span)),
                }
            }
            other => module.statements.push(other),
        }
    }
    module
}

/// A span from two of the grammar's locations.
pub fn sp(file: FileId, start: u32, end: u32) -> Span {
    Span { file, start, end }
}

/// A `matching /.../` regex that does not compile is a syntax error, as in Inmanta (which
/// compiles it while parsing). The model compiles it again (and reports nothing then).
pub fn check_regex(errors: &mut Vec<Recovery>, pattern: &str, span: Span) {
    if let Err(message) = crate::pyregex::PyRegex::new(&crate::compile::model::python_pattern(pattern)) {
        // The library's last line is the reason (`error: unclosed group`).
        let reason = message.lines().last().unwrap_or_default().trim().to_string();
        errors.push(user_error(SyntaxErrorKind::InvalidRegex(reason), span));
    }
}

pub fn user_error(kind: SyntaxErrorKind, span: Span) -> Recovery {
    ErrorRecovery { error: ParseError::User { error: Box::new(SyntaxError { kind, span }) }, dropped_tokens: Vec::new() }
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
    Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span)
}

/// A flat chain of operands and operators as the grammar reads it (see the expression part
/// of the grammar); [`Chain::build`] turns it into the tree with the precedence of a grammar
/// by levels.
pub enum Chain {
    /// A lone operand: the common case, built without a vector.
    One(Expr),
    Many(Vec<ChainItem>),
}

pub enum ChainItem {
    /// A prefix `not` starting at this offset.
    Not(u32),
    /// An operand with the extent of its grammar symbol (which includes parentheses around
    /// it, unlike its span): a binary node spans from its left operand's extent to its right
    /// one's, as the rules `<l:@L> <a:X> op <b:Y> <r:@R>` of a grammar by levels do.
    Operand { start: u32, expr: Expr, end: u32 },
    Op(BinOp),
}

/// Inmanta 14's precedence (its parser's table, lowest first): `or`, `and`, comparisons,
/// `+ -`, `* / %`, `**`, prefix `not`, `in`/`not in`. So `not` binds tighter than every binary
/// operator but `in` (`not a == b` is `(not a) == b`, `not a in l` is `not (a in l)`), and
/// `in` tightest of all (`1 + 2 in l` is `1 + (2 in l)`).
const NOT_OPERAND_PRECEDENCE: u8 = 7;

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Cmp(_) => 3,
        BinOp::Add | BinOp::Sub => 4,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
        BinOp::Pow => 6,
        BinOp::In | BinOp::NotIn => 7,
    }
}

impl Chain {
    pub fn one(expr: Expr) -> Chain {
        Chain::One(expr)
    }

    /// `not not ... operand`
    pub fn with_nots(nots: Vec<u32>, start: u32, expr: Expr, end: u32) -> Chain {
        let mut items = Vec::with_capacity(nots.len() + 3);
        items.extend(nots.into_iter().map(ChainItem::Not));
        items.push(ChainItem::Operand { start, expr, end });
        Chain::Many(items)
    }

    /// Appends `op nots... operand`; `chain_start..chain_end` is the extent of the chain so far.
    #[allow(clippy::too_many_arguments)]
    pub fn push(self, chain_start: u32, chain_end: u32, op: BinOp, nots: Vec<u32>, start: u32, expr: Expr, end: u32) -> Chain {
        let mut items = match self {
            Chain::One(first) => {
                // Most chains have two operands.
                let mut items = Vec::with_capacity(4);
                items.push(ChainItem::Operand { start: chain_start, expr: first, end: chain_end });
                items
            }
            Chain::Many(items) => items,
        };
        items.push(ChainItem::Op(op));
        items.extend(nots.into_iter().map(ChainItem::Not));
        items.push(ChainItem::Operand { start, expr, end });
        Chain::Many(items)
    }

    /// The tree, by precedence climbing. Inlined: most chains are a lone operand, which is
    /// just moved out (the climbing itself stays a call). A chain of more operators than the
    /// nesting limit is refused: climbing it would recurse as deep (`not not ...`, `**`), and
    /// its tree would be too deep for the later passes anyway.
    #[inline]
    pub fn build(self, file: FileId, errors: &mut Vec<Recovery>) -> Expr {
        match self {
            Chain::One(expr) => expr,
            Chain::Many(items) if items.len() > 2 * crate::nesting::MAX_NESTING + 1 => too_long(items, file, errors),
            Chain::Many(items) => build_many(items, file),
        }
    }
}

fn too_long(items: Vec<ChainItem>, file: FileId, errors: &mut Vec<Recovery>) -> Expr {
    let start = items.iter().find_map(|i| match i {
        ChainItem::Not(start) => Some(*start),
        ChainItem::Operand { start, .. } => Some(*start),
        ChainItem::Op(_) => None,
    });
    let end = items.iter().rev().find_map(|i| match i {
        ChainItem::Operand { end, .. } => Some(*end),
        _ => None,
    });
    let span = sp(file, start.unwrap_or(0), end.unwrap_or(0));
    errors.push(user_error(SyntaxErrorKind::TooLong { limit: crate::nesting::MAX_NESTING }, span));
    // The operands may be deep themselves: leaked, not dropped (see `nesting`).
    std::mem::forget(items);
    Expr::new(ExprKind::Error, span)
}

fn build_many(items: Vec<ChainItem>, file: FileId) -> Expr {
    let mut items = items.into_iter().peekable();
    climb(&mut items, 0, file).0
}

type Items = std::iter::Peekable<std::vec::IntoIter<ChainItem>>;

/// Parses operators of precedence `min` or more; returns the tree and its extent.
fn climb(items: &mut Items, min: u8, file: FileId) -> (Expr, u32, u32) {
    let (mut lhs, start, mut end) = match items.next() {
        Some(ChainItem::Not(start)) => {
            let (operand, _, end) = climb(items, NOT_OPERAND_PRECEDENCE, file);
            (Expr::new(ExprKind::Not(Box::new(operand)), sp(file, start, end)), start, end)
        }
        Some(ChainItem::Operand { start, expr, end }) => (expr, start, end),
        // The grammar only makes chains that alternate operands and operators.
        _ => (Expr::new(ExprKind::Error, sp(file, 0, 0)), 0, 0),
    };
    while let Some(&ChainItem::Op(op)) = items.peek() {
        let level = precedence(op);
        if level < min {
            break;
        }
        items.next();
        // `**` is right-associative, everything else left-associative.
        let next_min = if op == BinOp::Pow { level } else { level + 1 };
        let (rhs, _, rhs_end) = climb(items, next_min, file);
        end = rhs_end;
        lhs = binary(op, lhs, rhs, sp(file, start, end));
    }
    (lhs, start, end)
}

pub fn string_expr(token: StringToken, span: Span) -> Expr {
    let kind = match token {
        StringToken::Plain(text) => ExprKind::Str(text),
        StringToken::Interpolated(parts) => ExprKind::Interpolated(parts),
        StringToken::Format(parts) => ExprKind::Format(parts),
    };
    Expr::new(kind, span)
}

/// The text of a docstring; interpolation markers are kept as written.
pub fn doc_text(token: StringToken) -> String {
    match token {
        StringToken::Plain(text) => text,
        StringToken::Interpolated(parts) => parts
            .into_iter()
            .map(|part| match part {
                StringPart::Literal(text) => text,
                StringPart::Ref(_) => "{{ ... }}".to_string(),
            })
            .collect(),
        StringToken::Format(parts) => parts
            .into_iter()
            .map(|part| match part {
                FormatPart::Literal(text) => text,
                FormatPart::Field { .. } => "{...}".to_string(),
            })
            .collect(),
    }
}

pub fn map_key(errors: &mut Vec<Recovery>, token: StringToken, span: Span) -> MapKey {
    match token {
        StringToken::Plain(value) => MapKey { value, span },
        other => {
            errors.push(user_error(SyntaxErrorKind::NonConstantKey, span));
            MapKey { value: doc_text(other), span }
        }
    }
}

/// A dict literal: its pairs, each key given once (a key given again is reported at the
/// second place, and the pair kept, so the rest of the file still compiles).
pub fn map(errors: &mut Vec<Recovery>, pairs: Vec<(MapKey, Expr)>, span: Span) -> Expr {
    if pairs.len() > 1 {
        let mut seen: rustc_hash::FxHashMap<&str, Span> = rustc_hash::FxHashMap::default();
        for (key, _) in &pairs {
            if let Some(first) = seen.get(key.value.as_str()) {
                errors.push(user_error(SyntaxErrorKind::DuplicateKey { key: key.value.clone(), first: *first }, key.span));
            } else {
                seen.insert(&key.value, key.span);
            }
        }
    }
    Expr::new(ExprKind::Map(pairs), span)
}

pub fn multiplicity(
    _errors: &mut Vec<Recovery>,
    lower: Option<i64>,
    upper: Option<Option<i64>>,
    span: Span,
) -> Multiplicity {
    // Inmanta 14 checks no bounds at the declaration: a negative bound or an upper bound
    // below the lower one only fail when an instance uses the relation (a negative upper
    // bound accepts no value, as 0 does; a negative lower bound asks for none, as 0 does).
    let to_bound = |value: i64| u32::try_from(value).unwrap_or(0);
    let lower = lower.map(to_bound).unwrap_or(0);
    let upper = upper.flatten().map(to_bound);
    Multiplicity { lower, upper, span }
}

/// Checks an attribute's default as Inmanta's grammar does: it is a constant, and `null`
/// does not go into a plain `dict` (into other types it is the type checker's business).
pub fn check_default(errors: &mut Vec<Recovery>, interner: &Interner, dict_symbol: Symbol, ty: &TypeRef, name: Ident, value: &Expr) {
    let dict = !ty.list && ty.base.parts.len() == 1 && ty.base.last().name == dict_symbol;
    let plain_dict = dict && !ty.nullable;
    // Inmanta's grammar: a `dict` attribute's default is a dict literal (or `null` when
    // nullable); any other's is a constant or a list of constants that holds no list or dict.
    let shape_ok = match &value.kind {
        ExprKind::Map(_) => dict,
        ExprKind::Null | ExprKind::Error => true,
        ExprKind::List(items) => !dict && items.iter().all(|item| !matches!(item.kind, ExprKind::List(_) | ExprKind::Map(_))),
        _ => !dict,
    };
    if plain_dict && value.kind == ExprKind::Null {
        let name = interner.resolve(name.name).to_string();
        errors.push(user_error(SyntaxErrorKind::DictNullDefault(name), value.span));
    } else if !shape_ok {
        errors.push(user_error(SyntaxErrorKind::DefaultShape { dict }, value.span));
    } else if !is_constant(value, 0) {
        errors.push(user_error(SyntaxErrorKind::NonConstantDefault, value.span));
    }
}

/// Literals, `null`, and lists and dicts of constants (language.md). An expression that
/// already failed to parse counts as one: it has its own error; so does one nested deeper
/// than the nesting limit, which the nesting check reports (and which must not be walked
/// recursively here: it would overflow the stack).
fn is_constant(expr: &Expr, depth: usize) -> bool {
    if depth > crate::nesting::MAX_NESTING {
        return true;
    }
    match &expr.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Str(_)
        | ExprKind::Interpolated(_)
        | ExprKind::Format(_)
        | ExprKind::Error => true,
        ExprKind::List(items) => items.iter().all(|item| is_constant(item, depth + 1)),
        ExprKind::Map(pairs) => pairs.iter().all(|(_, value)| is_constant(value, depth + 1)),
        _ => false,
    }
}

/// An entity name where a value belongs: Python's `True`, `False` and `None` get their
/// spelling here, other names are explained as entities.
pub fn bare_entity(errors: &mut Vec<Recovery>, interner: &Interner, name: QualName) -> Expr {
    let span = name.span();
    let written = written_name(interner, &name, "::");
    let kind = match written.as_str() {
        "True" => SyntaxErrorKind::PythonLiteral { written: "True", meant: "true" },
        "False" => SyntaxErrorKind::PythonLiteral { written: "False", meant: "false" },
        "None" => SyntaxErrorKind::PythonLiteral { written: "None", meant: "null" },
        _ => SyntaxErrorKind::EntityAsValue(written),
    };
    errors.push(user_error(kind, span));
    Expr::new(ExprKind::Error, span)
}

/// `a.b.Entity`, an entity reached through `.` instead of `::`: explained, and read as
/// `a::b::Entity` so the rest of the statement still parses.
pub fn dotted_class_ref(errors: &mut Vec<Recovery>, interner: &Interner, base: Expr, entity: Ident) -> QualName {
    let mut parts = Vec::new();
    collect_parts(&base, &mut parts);
    parts.push(entity);
    let mut name = QualName::single(parts[0]);
    for part in &parts[1..] {
        name.push(*part);
    }
    let span = base.span.to(entity.span);
    let written = format!("{}.{}", written_expr(interner, &base), interner.resolve(entity.name));
    let suggested = written_name(interner, &name, "::");
    errors.push(user_error(SyntaxErrorKind::InvalidNamespaceAccess { written, suggested }, span));
    name
}

/// The identifiers of a reference (`a::b.c.d` gives `a`, `b`, `c`, `d`).
fn collect_parts(expr: &Expr, parts: &mut Vec<Ident>) {
    match &expr.kind {
        ExprKind::Name(name) => parts.extend(name.parts.iter().copied()),
        ExprKind::Attr { base, attr } => {
            collect_parts(base, parts);
            parts.push(*attr);
        }
        // The grammar only passes references.
        _ => {}
    }
}

/// A reference as written.
fn written_expr(interner: &Interner, expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Name(name) => written_name(interner, name, "::"),
        ExprKind::Attr { base, attr } => format!("{}.{}", written_expr(interner, base), interner.resolve(attr.name)),
        _ => String::new(),
    }
}

fn written_name(interner: &Interner, name: &QualName, separator: &str) -> String {
    name.parts.iter().map(|part| interner.resolve(part.name)).collect::<Vec<_>>().join(separator)
}
