//! Every error the front end can report, and all of their message text in one place.
//!
//! Each phase has its own error type; [`Details`] is what a message needs (kind, title,
//! label, hint) and [`Diagnostic`](crate::diagnostic::Diagnostic) turns it into something
//! codespan can render. Wording lives here and nowhere else.

use crate::span::Span;

/// The parts of a message: a short machine-readable kind, the headline, the text under the
/// primary span, and an optional hint.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    pub kind: &'static str,
    pub title: String,
    pub label: String,
    pub hint: Option<String>,
}

impl Details {
    pub fn new(kind: &'static str, title: impl Into<String>, label: impl Into<String>) -> Self {
        Details { kind, title: title.into(), label: label.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A problem found while cutting the text into tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LexErrorKind {
    IllegalCharacter(char),
    UnterminatedString,
    UnterminatedTripleQuote,
    UnterminatedRegex,
    EmptyRegex,
    IntegerTooLarge,
    InvalidEscape(String),
    FormatUnclosedField,
    FormatBadField(String),
    FormatSingleBrace,
    HyphenInIdentifier(String),
    /// A file over 4 GiB: only that much is read.
    FileTooLarge,
}

impl LexError {
    pub fn details(&self) -> Details {
        match &self.kind {
            LexErrorKind::IllegalCharacter(c) => {
                let d = Details::new("lexical", format!("illegal character `{}`", c.escape_debug()), "not part of the language");
                match c {
                    '!' => d.hint("negation is written `not`, inequality `!=`"),
                    '&' | '|' => d.hint("boolean operators are written `and` and `or`"),
                    ';' => d.hint("statements need no separator: put each on its own line"),
                    '@' | '$' | '`' => d,
                    _ => d,
                }
            }
            LexErrorKind::UnterminatedString => Details::new("lexical", "unterminated string", "this string has no closing quote on its line")
                .hint("strings in `\"...\"` or `'...'` end on the same line; use `\"\"\"...\"\"\"` for text over several lines"),
            LexErrorKind::UnterminatedTripleQuote => {
                Details::new("lexical", "unterminated multi-line string", "this `\"\"\"` is never closed").hint("close it with `\"\"\"`")
            }
            LexErrorKind::UnterminatedRegex => {
                Details::new("lexical", "unterminated regular expression", "this regex has no closing `/` on its line")
            }
            LexErrorKind::EmptyRegex => Details::new("lexical", "empty regular expression", "a regex needs at least one character"),
            LexErrorKind::IntegerTooLarge => Details::new("lexical", "integer literal too large", "does not fit in 64 bits"),
            LexErrorKind::InvalidEscape(text) => {
                Details::new("invalid-string", format!("invalid escape sequence `{text}`"), "not a valid escape")
                    .hint("`\\x` takes 2 hex digits, `\\u` 4 and `\\U` 8; write `\\\\` for a backslash")
            }
            LexErrorKind::FormatUnclosedField => {
                Details::new("invalid-string", "unclosed `{` in f-string", "this field has no closing `}`").hint("write `{{` for a literal `{`")
            }
            LexErrorKind::FormatBadField(field) => Details::new(
                "invalid-string",
                format!("invalid f-string field `{{{field}}}`"),
                "a field must be a variable or an attribute path",
            )
            .hint("compute the value in a variable first, then write `{name}` or `{name.attr:spec}`"),
            LexErrorKind::FormatSingleBrace => {
                Details::new("invalid-string", "single `}` in f-string", "unmatched brace").hint("write `}}` for a literal `}`")
            }
            LexErrorKind::FileTooLarge => Details::new("lexical", "file too large", "only its first 4 GiB are read"),
            LexErrorKind::HyphenInIdentifier(name) => Details::new(
                "invalid-identifier",
                format!("the use of '-' in identifiers is not allowed: `{name}`"),
                "identifier contains '-'",
            )
            .hint(format!(
                "rename it to `{}`; if you meant a subtraction, put spaces around the `-`",
                name.replace('-', "_")
            )),
        }
    }
}

/// A problem found by the grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub span: Span,
}

/// A block (`entity`, `implementation`, `for`, `if`) that was still open where an error hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenBlock {
    pub keyword: &'static str,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SyntaxErrorKind {
    UnexpectedToken { found: String, expected: Vec<String>, open_block: Option<OpenBlock> },
    UnexpectedEof { expected: Vec<String>, open_block: Option<OpenBlock> },
    LowercaseEntityName(String),
    CapitalizedAttribute(String),
    ObsoleteArrow(&'static str),
    NegativeMultiplicity,
    InvertedMultiplicity,
    MethodCall(String),
    TypedefConstructor,
    ImplementationForNonEntity,
    NonConstantKey,
    /// A dict literal gives `key` twice; `first` is where it was given first.
    DuplicateKey { key: String, first: Span },
    EntityAsAttributeType(String),
    LowercaseEntityRef(String),
    CapitalizedTypedef(String),
    /// An attribute default that is not a constant (`string x = y`).
    NonConstantDefault,
    /// A default of the wrong shape: not a dict literal for a `dict` attribute (`dict`), or
    /// for another attribute a dict literal or a list holding a list or dict.
    DefaultShape { dict: bool },
    /// A `matching /.../` regex that does not compile: the regex library's reason.
    InvalidRegex(String),
    /// `dict x = null`: the attribute is named.
    DictNullDefault(String),
    /// `index Host()`.
    EmptyIndex,
    /// `x += e` on a plain variable: the variable is named.
    ExtendVariable(String),
    /// `defined = 1`: a keyword used as a name; the keyword is given.
    ReservedKeyword(String),
    /// `else if` instead of `elif`.
    ElseIf,
    /// An entity name used as a value (`x = Host`): the name as written.
    EntityAsValue(String),
    /// Python's `True`, `False` or `None`, with the spelling meant.
    PythonLiteral { written: &'static str, meant: &'static str },
    /// `mymod.submod.Entity`, with the `::` spelling.
    InvalidNamespaceAccess { written: String, suggested: String },
    /// Statements and expressions nested deeper than the limit.
    TooDeep { limit: usize },
    /// One expression chaining more operators than the limit.
    TooLong { limit: usize },
}

impl SyntaxError {
    pub fn details(&self) -> Details {
        match &self.kind {
            SyntaxErrorKind::UnexpectedToken { found, expected, open_block } => {
                let d = Details::new("syntax", format!("unexpected {found}"), format!("expected {}", describe_expected(expected)));
                with_token_hint(with_block_hint(d, expected, *open_block), found, expected)
            }
            SyntaxErrorKind::UnexpectedEof { expected, open_block } => {
                let d = Details::new("syntax", "unexpected end of file", format!("expected {}", describe_expected(expected)));
                with_block_hint(d, expected, *open_block)
            }
            SyntaxErrorKind::LowercaseEntityName(name) => Details::new(
                "invalid-identifier",
                format!("entity name `{name}` must start with a capital letter"),
                "lower-case name",
            )
            .hint(format!("rename it to `{}`", capitalize(name))),
            SyntaxErrorKind::CapitalizedAttribute(name) => Details::new(
                "invalid-identifier",
                format!("attribute name `{name}` must not start with a capital letter"),
                "capitalised names are types",
            )
            .hint(format!("rename it to `{}`", lowercase_first(name))),
            SyntaxErrorKind::ObsoleteArrow(arrow) => Details::new(
                "syntax",
                format!("relations are written with `--`, not `{arrow}`"),
                "obsolete relation arrow",
            )
            .hint("write `A.b [1] -- B.a [0:]`"),
            SyntaxErrorKind::NegativeMultiplicity => {
                Details::new("syntax", "negative multiplicity", "bounds of a multiplicity are 0 or more")
            }
            SyntaxErrorKind::InvertedMultiplicity => {
                Details::new("syntax", "multiplicity's upper bound is below its lower bound", "write `[low:high]` with low <= high")
            }
            SyntaxErrorKind::MethodCall(name) => Details::new(
                "syntax",
                format!("`{name}(...)` calls a method: there are no methods"),
                "a plugin is called by its (namespaced) name",
            )
            .hint("plugins are called as `ns::plugin(x)`, with the object as an argument"),
            SyntaxErrorKind::TypedefConstructor => Details::new(
                "syntax",
                "default constructors (`typedef X as Y(...)`) are not supported",
                "a typedef constrains a primitive type",
            )
            .hint("set the defaults in an entity that extends the base entity instead"),
            SyntaxErrorKind::EntityAsAttributeType(name) => Details::new(
                "syntax",
                format!("`{name}` cannot be the type of an attribute"),
                "attributes have primitive types",
            )
            .hint("use `string`, `int`, `float`, `bool`, `dict`, `list`, `any` or a typedef; link entities with a relation: `A.b [1] -- B`"),
            SyntaxErrorKind::LowercaseEntityRef(name) => Details::new(
                "invalid-identifier",
                format!("`{name}` is not an entity name: entity names must start with a capital letter"),
                "expected an entity here",
            )
            .hint(format!("did you mean `{}`?", capitalize(name))),
            SyntaxErrorKind::TooDeep { limit } => Details::new(
                "too-deep",
                format!("nested more than {limit} levels deep"),
                "the limit is passed here",
            )
            .hint("Cairn refuses models nested this deep (blocks, brackets, operators, calls); split the expression or the blocks into variables"),
            SyntaxErrorKind::TooLong { limit } => Details::new(
                "too-deep",
                format!("more than {limit} operators in one expression"),
                "this expression",
            )
            .hint("split it into several variables, or build the value with a list and a plugin"),
            SyntaxErrorKind::CapitalizedTypedef(name) => Details::new(
                "invalid-identifier",
                format!("typedef name `{name}` must start with a lower-case letter"),
                "capitalised names are entities",
            )
            .hint(format!("rename it to `{}`", lowercase_first(name))),
            SyntaxErrorKind::NonConstantKey => Details::new(
                "syntax",
                "dict keys must be plain strings",
                "interpolation is not allowed in a key",
            ),
            SyntaxErrorKind::DuplicateKey { key, .. } => Details::new(
                "duplicate",
                format!("duplicate key {key:?} in dict"),
                "given again here",
            )
            .hint("a dict literal gives each key once"),
            SyntaxErrorKind::ImplementationForNonEntity => {
                Details::new("syntax", "an implementation is for an entity", "expected an entity name here")
            }
            SyntaxErrorKind::NonConstantDefault => Details::new(
                "syntax",
                "the default of an attribute must be a constant",
                "not a constant",
            )
            .hint("a default is a literal, `null`, or a list or dict of those; compute other values in an implementation"),
            SyntaxErrorKind::DefaultShape { dict: true } => Details::new(
                "syntax",
                "the default of a `dict` attribute must be a dict literal",
                "not a dict literal",
            )
            .hint("write `{...}`, or `null` for a `dict?` attribute"),
            SyntaxErrorKind::DefaultShape { dict: false } => Details::new(
                "syntax",
                "this default is not allowed: a dict literal is the default of a `dict` attribute only, and a list default holds no lists or dicts",
                "not allowed as a default",
            )
            .hint("compute nested values in an implementation"),
            SyntaxErrorKind::InvalidRegex(reason) => {
                Details::new("syntax", "invalid regular expression", reason.clone())
            }
            SyntaxErrorKind::DictNullDefault(name) => Details::new(
                "syntax",
                "null can not be assigned to a `dict` attribute",
                "this attribute is not nullable",
            )
            .hint(format!("did you mean `dict? {name} = null`?")),
            SyntaxErrorKind::EmptyIndex => {
                Details::new("syntax", "an index needs at least one attribute", "expected an attribute name before `)`")
            }
            SyntaxErrorKind::ExtendVariable(name) => Details::new(
                "syntax",
                format!("`+=` cannot extend the variable `{name}`"),
                "a variable is assigned once, with `=`",
            )
            .hint("`+=` adds to a relation or a list attribute: `x.items += value`"),
            SyntaxErrorKind::ReservedKeyword(keyword) => Details::new(
                "syntax",
                format!("invalid identifier: `{keyword}` is a reserved keyword"),
                "a keyword cannot be used as a name",
            )
            .hint("choose another name"),
            SyntaxErrorKind::ElseIf => Details::new("syntax", "unexpected keyword `if` after `else`", "`else if` is spelled `elif`")
                .hint("write `elif condition:`"),
            SyntaxErrorKind::EntityAsValue(name) => Details::new(
                "syntax",
                format!("the entity `{name}` is not a value"),
                "expected a value here",
            )
            .hint(format!("construct an instance with `{name}(...)`, or look one up with `{name}[key=value]`")),
            SyntaxErrorKind::PythonLiteral { written, meant } => {
                Details::new("syntax", format!("`{written}` is not a value here"), "Python spelling").hint(format!("write `{meant}`"))
            }
            SyntaxErrorKind::InvalidNamespaceAccess { written, suggested } => Details::new(
                "syntax",
                format!("invalid namespace access `{written}`"),
                "namespaces are separated by `::`, not `.`",
            )
            .hint(format!("did you mean `{suggested}`?")),
        }
    }
}

/// Hints for slips an unexpected token often comes from.
fn with_token_hint(details: Details, found: &str, expected: &[String]) -> Details {
    if details.hint.is_some() {
        return details;
    }
    let expects = |name: &str| expected.iter().any(|e| e == name);
    if found == "`=`" && expects("a comparison") {
        return details.hint("`=` assigns a value; a comparison is written `==`");
    }
    // Inmanta's lexer reads `5-1` as `5` and `-1` (a `-` before a digit belongs to the
    // number), so a negative number where none can stand is nearly always a subtraction.
    if found.starts_with("number `-") {
        return details.hint("a `-` right before a digit belongs to the number: to subtract, put a space after the `-`");
    }
    details
}

fn with_block_hint(details: Details, expected: &[String], open_block: Option<OpenBlock>) -> Details {
    match open_block {
        Some(block) if expected.iter().any(|e| e == "`end`") => {
            details.hint(format!("expected `end` to close the {} opened here", block.keyword))
        }
        _ => details,
    }
}

/// Turns lalrpop's list of expected terminals into prose. A list that holds everything an
/// expression or a statement can start with is named as such instead of listed.
fn describe_expected(expected: &[String]) -> String {
    let has = |name: &str| expected.iter().any(|e| e == name);
    // After an operand the expression may go on in many ways: those are named "an operator"
    // (`(`, `.`, `::` and `[` go on with a name, `?` and `is` with an expression).
    const GOES_ON: &[&str] = &[
        "`%`", "`*`", "`**`", "`+`", "`-`", "`/`", "`and`", "`or`", "`in`", "`not`", "a comparison", "`?`", "`is`", "`(`", "`.`",
        "`::`", "`[`",
    ];
    let goes_on = has("`+`") && has("`*`") && has("`or`") && has("a comparison");
    let folded: Vec<String>;
    let expected = if goes_on {
        folded = expected
            .iter()
            .filter(|e| !GOES_ON.contains(&e.as_str()))
            .cloned()
            .chain(std::iter::once("an operator".to_string()))
            .collect();
        &folded[..]
    } else {
        expected
    };
    let has = |name: &str| expected.iter().any(|e| e == name);
    let starts_expression = has("`(`") && has("an integer") && has("an identifier");
    let starts_statement = has("`for`") && has("`if`") && has("an identifier");
    let mut summary: Vec<String> = Vec::new();
    if has("`end`") {
        summary.push("`end`".to_string());
    }
    if starts_statement && has("`entity`") {
        summary.push("a statement or declaration".to_string());
    } else if starts_statement {
        summary.push("a statement".to_string());
    } else if starts_expression {
        summary.push("an expression".to_string());
    }
    if !summary.is_empty() {
        if expected.len() <= 4 {
            return join_or(expected);
        }
        return join_or(&summary);
    }
    match expected.len() {
        0 => "something else".to_string(),
        1..=6 => join_or(expected),
        _ => format!("one of {}, ...", expected[..5].join(", ")),
    }
}

fn join_or(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn lowercase_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Names for terminals in messages: lalrpop hands them over as written in the grammar.
pub fn terminal_name(terminal: &str) -> String {
    match terminal {
        "Id" => "an identifier".to_string(),
        "Cid" => "a type name".to_string(),
        "Int" => "an integer".to_string(),
        "Float" => "a number".to_string(),
        "Str" => "a string".to_string(),
        "Mls" => "a multi-line string".to_string(),
        "Regex" => "a regex".to_string(),
        "CmpOp" => "a comparison".to_string(),
        "Rel" => "`--`".to_string(),
        quoted if quoted.starts_with('"') && quoted.ends_with('"') && quoted.len() >= 2 => {
            // `"[ "` is the lookup `[` (`Tok::LIndex`): shown as `[`.
            format!("`{}`", quoted[1..quoted.len() - 1].trim_end())
        }
        other => other.to_string(),
    }
}
