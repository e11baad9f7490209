//! Parsing one file: runs the lexer, then the generated grammar with error recovery, and
//! returns the syntax tree together with every error found (lexical and syntactic), so one
//! run reports all the problems of a file. Also home of the small constructors the grammar's
//! actions call.

use crate::ast::{BinOp, Expr, ExprKind, MapKey, Module, Multiplicity};
use crate::error::{terminal_name, LexError, OpenBlock, SyntaxError, SyntaxErrorKind};
use crate::intern::Interner;
use crate::lexer::{self, Tok};
use crate::span::{FileId, Span};
use crate::strings::{FormatPart, StringPart, StringToken};
use lalrpop_util::{ErrorRecovery, ParseError};

#[allow(clippy::all, unused_parens, unused_imports, dead_code)]
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
pub fn parse(source: &str, file: FileId, interner: &mut Interner) -> Parsed {
    let mut lex_errors = Vec::new();
    let tokens = lexer::tokenize(source, file, interner, &mut lex_errors);
    let dict_symbol = interner.intern("dict");
    let mut recovered = Vec::new();
    let parser = generated::ModuleParser::new();
    let result = parser.parse(file, interner, dict_symbol, &mut recovered, tokens.into_iter().map(Ok));
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
    lex_errors.sort_by_key(|e| (e.span.start, e.span.end));
    Parsed { module, lex_errors, syntax_errors }
}

fn convert(error: ParseError<usize, Tok, SyntaxError>, file: FileId, source: &str) -> SyntaxError {
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
        ParseError::User { error } => error,
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
    use crate::ast::TopStmt;
    let mut module = Module::default();
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

pub fn user_error(kind: SyntaxErrorKind, span: Span) -> ErrorRecovery<usize, Tok, SyntaxError> {
    ErrorRecovery { error: ParseError::User { error: SyntaxError { kind, span } }, dropped_tokens: Vec::new() }
}

pub fn binary(op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
    Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span)
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

pub fn map_key(errors: &mut Vec<ErrorRecovery<usize, Tok, SyntaxError>>, token: StringToken, span: Span) -> MapKey {
    match token {
        StringToken::Plain(value) => MapKey { value, span },
        other => {
            errors.push(user_error(SyntaxErrorKind::NonConstantKey, span));
            MapKey { value: doc_text(other), span }
        }
    }
}

pub fn multiplicity(
    errors: &mut Vec<ErrorRecovery<usize, Tok, SyntaxError>>,
    lower: Option<i64>,
    upper: Option<Option<i64>>,
    span: Span,
) -> Multiplicity {
    let to_bound = |value: i64, errors: &mut Vec<ErrorRecovery<usize, Tok, SyntaxError>>| {
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
