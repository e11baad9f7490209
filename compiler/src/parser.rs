//! Parsing one file: streams the lexer's tokens into the fast grammar; a file with a syntax
//! error is parsed again by the reference grammar, with error recovery (see [`parse`]).
//! Returns the syntax tree together with every error found (lexical and syntactic), so one
//! run reports all the problems of a file. Also home of the small constructors the grammars'
//! actions call, and of the precedence climbing of the fast grammar ([`Chain`]).

use crate::ast::{BinOp, Expr, ExprKind, MapKey, Module, Multiplicity, TopStmt};
use crate::error::{terminal_name, LexError, OpenBlock, SyntaxError, SyntaxErrorKind};
use crate::intern::{Interner, Symbol};
use crate::lexer::{self, Tok};
use crate::span::{FileId, Span};
use crate::strings::{FormatPart, StringPart, StringToken};
use lalrpop_util::{ErrorRecovery, ParseError};
use std::cell::RefCell;

/// An error the grammar recovered from (or explains). The error is boxed so that lalrpop's
/// stack values, which must be able to hold one, stay small.
pub type Recovery = ErrorRecovery<usize, Tok, Box<SyntaxError>>;

/// The reference grammar, with error recovery.
#[allow(clippy::all, unused_parens, unused_imports, dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/grammar.rs"));
}

/// The fast path: the same language and tree, no error recovery.
#[allow(clippy::all, unused_parens, unused_imports, dead_code)]
mod generated_fast {
    include!(concat!(env!("OUT_DIR"), "/grammar_fast.rs"));
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
/// The fast grammar (`grammar_fast.lalrpop`) parses first, with tokens streamed from the
/// lexer (no token vector; the interner is shared through a `RefCell`: the lexer interns
/// while the grammar's error actions read it). Identifiers are interned in lexing order and
/// `dict` (the name of the `dict` keyword type) after them. Should that parse meet a syntax
/// error, or an action report one, the file is parsed again, exactly as before the fast
/// path existed, with the reference grammar (`grammar.lalrpop`), whose states and error
/// recovery make the error messages; by then every symbol exists, so the numbering is the
/// same.
pub fn parse(source: &str, file: FileId, interner: &mut Interner) -> Parsed {
    let mut lex_errors = Vec::new();
    let shared = RefCell::new(std::mem::take(interner));
    let mut reported = Vec::new();
    let fast = {
        let mut tokens = lexer::Lexer::new(source, file, &shared, &mut lex_errors);
        let parser = generated_fast::ModuleParser::new();
        let result = parser.parse(file, &shared, DICT_PLACEHOLDER, &mut reported, tokens.by_ref().map(|t| t.map_err(|never| match never {})));
        // Should the parser stop early, the rest is still lexed: every lexical error is
        // reported and every identifier interned.
        for _ in tokens.by_ref() {}
        result
    };
    *interner = shared.into_inner();
    let dict_symbol = interner.intern("dict");
    lex_errors.sort_by_key(|e| (e.span.start, e.span.end));
    if let (Ok(mut module), true) = (fast, reported.is_empty()) {
        set_dict_symbol(&mut module, dict_symbol);
        return Parsed { module, lex_errors, syntax_errors: Vec::new() };
    }
    let (module, syntax_errors) = parse_reporting_errors(source, file, interner, dict_symbol);
    Parsed { module, lex_errors, syntax_errors }
}

/// Parses with the reference grammar alone, as [`parse`] does for a file with an error. For
/// the property test that checks the two grammars accept the same files and build the same
/// trees (`compiler/tests/fuzz.rs`): the fast grammar is only right as long as they agree.
#[doc(hidden)]
pub fn parse_with_reference_grammar(source: &str, file: FileId, interner: &mut Interner) -> Parsed {
    let mut lex_errors = Vec::new();
    // Interned in the same order as `parse`: the file's identifiers, then `dict`.
    let _ = lexer::tokenize(source, file, interner, &mut lex_errors);
    let dict_symbol = interner.intern("dict");
    lex_errors.sort_by_key(|e| (e.span.start, e.span.end));
    let (module, syntax_errors) = parse_reporting_errors(source, file, interner, dict_symbol);
    Parsed { module, lex_errors, syntax_errors }
}

/// The reference grammar's parse: the tree as far as it recovered, and every syntax error.
fn parse_reporting_errors(source: &str, file: FileId, interner: &mut Interner, dict_symbol: Symbol) -> (Module, Vec<SyntaxError>) {
    // The lexical errors are those of the first lexing already.
    let mut ignored = Vec::new();
    let tokens = lexer::tokenize(source, file, interner, &mut ignored);
    let shared = RefCell::new(std::mem::take(interner));
    let mut recovered = Vec::new();
    let parser = generated::ModuleParser::new();
    let result = parser.parse(file, &shared, dict_symbol, &mut recovered, tokens.into_iter().map(Ok));
    *interner = shared.into_inner();
    let mut syntax_errors = Vec::new();
    let module = match result {
        Ok(module) => module,
        Err(error) => {
            syntax_errors.push(convert(error, file, source));
            Module::default()
        }
    };
    for recovery in recovered {
        syntax_errors.push(convert(recovery.error, file, source));
    }
    syntax_errors.sort_by_key(|e| (e.span.start, e.span.end));
    syntax_errors.dedup();
    attach_open_blocks(&mut syntax_errors, source, file);
    (module, syntax_errors)
}

/// Stands for the symbol of `dict` while parsing: `dict` is interned only after the file's
/// identifiers (see [`parse`]). The `dict` type of an attribute is the only user.
const DICT_PLACEHOLDER: Symbol = Symbol::PLACEHOLDER;

fn set_dict_symbol(module: &mut Module, dict_symbol: Symbol) {
    for statement in &mut module.statements {
        if let TopStmt::Entity(entity) = statement {
            for attribute in &mut entity.attributes {
                if let crate::ast::Parts::One(ident) = &mut attribute.ty.base.parts {
                    if ident.name == DICT_PLACEHOLDER {
                        ident.name = dict_symbol;
                    }
                }
            }
        }
    }
}

fn convert(error: ParseError<usize, Tok, Box<SyntaxError>>, file: FileId, source: &str) -> SyntaxError {
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
            let open_block = None;
            SyntaxError {
                kind: SyntaxErrorKind::UnexpectedToken { found: describe_token(&source[start..end], &token), expected, open_block },
                span: Span::new(file, start, end),
            }
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
    names
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

/// Fills in, for every "unexpected token/end of file" error, the innermost block (`entity`,
/// `implementation`, `for`, `if`) still open where it happened, by re-lexing the file once and
/// matching openers with `end` in one sweep (only runs when there are syntax errors).
fn attach_open_blocks(errors: &mut [SyntaxError], source: &str, file: FileId) {
    let mut wanted: Vec<(usize, usize)> = errors
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.kind {
            SyntaxErrorKind::UnexpectedToken { .. } | SyntaxErrorKind::UnexpectedEof { .. } => Some((e.span.start as usize, i)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    wanted.sort();
    let mut interner = Interner::new();
    let mut ignored = Vec::new();
    let tokens = lexer::tokenize(source, file, &mut interner, &mut ignored);
    let mut stack: Vec<OpenBlock> = Vec::new();
    let mut brackets = 0usize;
    let mut after_implementation = false;
    let mut next = 0;
    let mut tokens = tokens.into_iter().peekable();
    while next < wanted.len() {
        let (offset, error_index) = wanted[next];
        match tokens.peek() {
            Some((start, _, _)) if *start < offset => {}
            _ => {
                let block = stack.last().copied();
                match &mut errors[error_index].kind {
                    SyntaxErrorKind::UnexpectedToken { open_block, .. } | SyntaxErrorKind::UnexpectedEof { open_block, .. } => {
                        *open_block = block;
                    }
                    _ => {}
                }
                next += 1;
                continue;
            }
        }
        let Some((start, token, end)) = tokens.next() else { break };
        let span = Span::new(file, start, end);
        match token {
            Tok::LBracket | Tok::LParen | Tok::LBrace => brackets += 1,
            Tok::RBracket | Tok::RParen | Tok::RBrace => brackets = brackets.saturating_sub(1),
            Tok::Entity => stack.push(OpenBlock { keyword: "entity", span }),
            Tok::Implementation => {
                after_implementation = true;
                stack.push(OpenBlock { keyword: "implementation", span });
            }
            Tok::For if after_implementation => after_implementation = false,
            Tok::For if brackets == 0 => stack.push(OpenBlock { keyword: "for loop", span }),
            Tok::If if brackets == 0 => stack.push(OpenBlock { keyword: "if statement", span }),
            Tok::End => {
                stack.pop();
            }
            _ => {}
        }
    }
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

pub fn user_error(kind: SyntaxErrorKind, span: Span) -> Recovery {
    ErrorRecovery { error: ParseError::User { error: Box::new(SyntaxError { kind, span }) }, dropped_tokens: Vec::new() }
}

pub fn binary(op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
    Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span)
}

/// A flat chain of operands and operators as the grammar reads it (see the expression part
/// of the grammar); [`Chain::build`] turns it into the tree.
pub enum Chain {
    /// A lone operand: the common case, built without a vector.
    One(Expr),
    Many(Vec<ChainItem>),
}

pub enum ChainItem {
    /// A prefix `not` starting at this offset.
    Not(usize),
    /// An operand with the extent of its grammar symbol (which includes parentheses around
    /// it, unlike its span): a binary node spans from its left operand's extent to its right
    /// one's, as the rules `<l:@L> <a:X> op <b:Y> <r:@R>` of a grammar by levels do.
    Operand { start: usize, expr: Expr, end: usize },
    Op(BinOp),
}

/// `not` applies to a comparison-level operand: it binds looser than comparisons and
/// tighter than `and`.
const NOT_OPERAND_PRECEDENCE: u8 = 3;

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Cmp(_) => 3,
        BinOp::In | BinOp::NotIn => 4,
        BinOp::Add | BinOp::Sub => 5,
        BinOp::Mul | BinOp::Div | BinOp::Mod => 6,
        BinOp::Pow => 7,
    }
}

impl Chain {
    pub fn one(expr: Expr) -> Chain {
        Chain::One(expr)
    }

    /// `not not ... operand`
    pub fn with_nots(nots: Vec<usize>, start: usize, expr: Expr, end: usize) -> Chain {
        let mut items = Vec::with_capacity(nots.len() + 3);
        items.extend(nots.into_iter().map(ChainItem::Not));
        items.push(ChainItem::Operand { start, expr, end });
        Chain::Many(items)
    }

    /// Appends `op nots... operand`; `chain_start..chain_end` is the extent of the chain so far.
    #[allow(clippy::too_many_arguments)]
    pub fn push(self, chain_start: usize, chain_end: usize, op: BinOp, nots: Vec<usize>, start: usize, expr: Expr, end: usize) -> Chain {
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

    /// The tree, by precedence climbing.
    pub fn build(self, file: FileId) -> Expr {
        match self {
            Chain::One(expr) => expr,
            Chain::Many(items) => {
                let mut items = items.into_iter().peekable();
                climb(&mut items, 0, file).0
            }
        }
    }
}

type Items = std::iter::Peekable<std::vec::IntoIter<ChainItem>>;

/// Parses operators of precedence `min` or more; returns the tree and its extent.
fn climb(items: &mut Items, min: u8, file: FileId) -> (Expr, usize, usize) {
    let (mut lhs, start, mut end) = match items.next() {
        Some(ChainItem::Not(start)) => {
            let (operand, _, end) = climb(items, NOT_OPERAND_PRECEDENCE, file);
            (Expr::new(ExprKind::Not(Box::new(operand)), Span::new(file, start, end)), start, end)
        }
        Some(ChainItem::Operand { start, expr, end }) => (expr, start, end),
        // The grammar only makes chains that alternate operands and operators.
        _ => (Expr::new(ExprKind::Error, Span::new(file, 0, 0)), 0, 0),
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
        lhs = binary(op, lhs, rhs, Span::new(file, start, end));
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

pub fn multiplicity(
    errors: &mut Vec<Recovery>,
    lower: Option<i64>,
    upper: Option<Option<i64>>,
    span: Span,
) -> Multiplicity {
    let to_bound = |value: i64, errors: &mut Vec<Recovery>| {
        u32::try_from(value).unwrap_or_else(|_| {
            errors.push(user_error(SyntaxErrorKind::NegativeMultiplicity, span));
            0
        })
    };
    let lower = lower.map(|l| to_bound(l, errors)).unwrap_or(0);
    let upper = upper.flatten().map(|u| to_bound(u, errors));
    if let Some(upper) = upper {
        if upper < lower {
            errors.push(user_error(SyntaxErrorKind::InvertedMultiplicity, span));
        }
    }
    Multiplicity { lower, upper, span }
}
