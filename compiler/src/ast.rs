//! The syntax tree of one `.cf` file, as written (before name resolution). Every node carries
//! a [`Span`]; names are interned [`Symbol`]s. The tree renders nothing and knows nothing of
//! other files: resolution and execution happen in later phases.

use crate::intern::Symbol;
use crate::lexer::CmpOp;
use crate::span::Span;
use crate::strings::{FormatPart, StringPart};

/// An identifier with its location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: Symbol,
    pub span: Span,
}

/// A possibly namespaced name: `x`, `std::Host`, `a::b::c`. One part (the common case) is
/// stored inline; the span always runs from the first part to the last, so it is computed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QualName {
    pub parts: Parts,
}

/// The parts of a [`QualName`]; derefs to a slice of identifiers (never empty).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Parts {
    One(Ident),
    Many(Box<[Ident]>),
}

impl std::ops::Deref for Parts {
    type Target = [Ident];

    fn deref(&self) -> &[Ident] {
        match self {
            Parts::One(ident) => std::slice::from_ref(ident),
            Parts::Many(parts) => parts,
        }
    }
}

impl std::fmt::Debug for QualName {
    // The same output as the derived form of the former `{ parts: Vec<Ident>, span: Span }`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualName").field("parts", &&*self.parts).field("span", &self.span()).finish()
    }
}

impl QualName {
    pub fn single(ident: Ident) -> Self {
        QualName { parts: Parts::One(ident) }
    }

    /// Appends a part (`q::i`).
    pub fn push(&mut self, ident: Ident) {
        // One exact-size allocation (collecting from an exactly sized iterator).
        let parts: Box<[Ident]> = self.parts.iter().copied().chain(std::iter::once(ident)).collect();
        self.parts = Parts::Many(parts);
    }

    /// From the start of the first part to the end of the last one.
    pub fn span(&self) -> Span {
        let first = self.parts[0].span;
        first.to(self.last().span)
    }

    /// The last part: the entity, variable or plugin name itself.
    pub fn last(&self) -> Ident {
        // A QualName is never built empty.
        self.parts[self.parts.len() - 1]
    }

    /// The namespace parts before the last one.
    pub fn namespace(&self) -> &[Ident] {
        &self.parts[..self.parts.len() - 1]
    }
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    /// The docstring at the top of the file.
    pub doc: Option<String>,
    pub statements: Vec<TopStmt>,
}

#[derive(Clone, Debug, PartialEq)]
///
/// The declarations are boxed so that a statement (moved around a lot while parsing) stays small.
pub enum TopStmt {
    Import(Box<Import>),
    Typedef(Box<Typedef>),
    Entity(Box<Entity>),
    Implementation(Box<Implementation>),
    Implement(Box<Implement>),
    Relation(Box<Relation>),
    Index(Box<Index>),
    Stmt(Stmt),
    /// A free-standing multi-line string (a comment, in effect).
    Doc(String, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub module: QualName,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Typedef {
    pub name: Ident,
    pub base: QualName,
    pub constraint: Constraint,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// `matching <expression over self>`
    Expr(Expr),
    /// `matching /regex/`
    Regex { pattern: String, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    pub name: Ident,
    pub parents: Vec<QualName>,
    pub doc: Option<String>,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub ty: TypeRef,
    pub name: Ident,
    pub default: AttrDefault,
    pub span: Span,
}

/// An attribute type as written: `string`, `std::port[]?`, `dict?`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeRef {
    pub base: QualName,
    pub list: bool,
    pub nullable: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttrDefault {
    None,
    Value(Expr),
    /// `= undef`: removes a default inherited from a parent.
    Undef(Span),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Implementation {
    pub name: Ident,
    pub entity: QualName,
    pub doc: Option<String>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Implement {
    pub entity: QualName,
    pub using: Vec<ImplRef>,
    pub when: Option<Expr>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImplRef {
    Named(QualName),
    /// `using parents`: the implements of the parent entities apply.
    Parents(Span),
}

/// `A.x [m] -- B.y [n]` or the one-directional `A.x [m] -- B`.
#[derive(Clone, Debug, PartialEq)]
pub struct Relation {
    pub left: RelationEnd,
    pub right_entity: QualName,
    /// Absent for a one-directional relation.
    pub right: Option<(Ident, Multiplicity)>,
    /// References written in place of `--` (`A.b [1] lsm::__rwplus__ B`): kept, not used by
    /// the compiler (Inmanta's lsm module reads them).
    pub annotations: Vec<QualName>,
    pub doc: Option<String>,
    pub span: Span,
}

/// One named end of a relation: entity `entity` gets relation attribute `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationEnd {
    pub entity: QualName,
    pub name: Ident,
    pub multiplicity: Multiplicity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multiplicity {
    pub lower: u32,
    pub upper: Option<u32>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    pub entity: QualName,
    pub attributes: Vec<Ident>,
    pub span: Span,
}

/// Kept small (boxed expressions) for the same reason as [`TopStmt`].
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `target = value`; the target is a name or an attribute path.
    Assign { target: Box<Expr>, value: Box<Expr>, span: Span },
    /// `target += value`
    Extend { target: Box<Expr>, value: Box<Expr>, span: Span },
    For { var: Ident, iterable: Box<Expr>, body: Vec<Stmt>, span: Span },
    If { branches: Vec<(Expr, Vec<Stmt>)>, otherwise: Vec<Stmt>, span: Span },
    /// A bare expression: a plugin call, a constructor, ...
    Expr(Expr),
    /// What error recovery left of a statement that did not parse.
    Error(Span),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }
}

/// The variants with larger payloads are boxed, keeping `Expr` at 48 bytes: expressions are
/// moved around a lot while parsing. `Debug` prints them as if they were inline.
#[derive(Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Str(String),
    /// A plain or multi-line string with `{{ ref }}` parts.
    Interpolated(Vec<StringPart>),
    /// An `f"..."` string.
    Format(Vec<FormatPart>),
    List(Vec<Expr>),
    Map(Vec<(MapKey, Expr)>),
    /// A variable, possibly namespaced: `x`, `ns::x`.
    Name(QualName),
    /// `base.attr`
    Attr { base: Box<Expr>, attr: Ident },
    /// `base[key]`: dict access.
    Subscript { base: Box<Expr>, key: Box<Expr> },
    /// `Entity[a=1, b=x]`: lookup in an index.
    IndexLookup(Box<IndexLookup>),
    /// `inst.rel[a=1]`: lookup among the instances of a relation.
    RelationLookup(Box<RelationLookup>),
    /// `ns::plugin(args)`
    Call(Box<Call>),
    /// `ns::Entity(a=1, **kwargs)`
    Construct(Box<Construct>),
    Not(Box<Expr>),
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `cond ? then : otherwise`
    Conditional { cond: Box<Expr>, then: Box<Expr>, otherwise: Box<Expr> },
    /// `x is defined`, `a.b is defined`, `d["k"] is defined`
    IsDefined(Box<Expr>),
    /// `[value for x in l if c for y in m]`
    Comprehension(Box<Comprehension>),
    /// What error recovery left of an expression that did not parse.
    Error,
}

/// `Entity[a=1, b=x]`
#[derive(Clone, Debug, PartialEq)]
pub struct IndexLookup {
    pub entity: QualName,
    pub args: Vec<Arg>,
}

/// `inst.rel[a=1]`
#[derive(Clone, Debug, PartialEq)]
pub struct RelationLookup {
    pub base: Expr,
    pub args: Vec<Arg>,
}

/// `ns::plugin(args)`
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub function: QualName,
    pub args: Vec<Arg>,
}

/// `ns::Entity(a=1, **kwargs)`
#[derive(Clone, Debug, PartialEq)]
pub struct Construct {
    pub entity: QualName,
    pub args: Vec<Arg>,
}

/// `[value for x in l if c for y in m]`
#[derive(Clone, Debug, PartialEq)]
pub struct Comprehension {
    pub value: Expr,
    pub clauses: Vec<CompClause>,
}

impl std::fmt::Debug for ExprKind {
    // The output of `#[derive(Debug)]` with the boxed payloads written inline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExprKind::Int(value) => f.debug_tuple("Int").field(value).finish(),
            ExprKind::Float(value) => f.debug_tuple("Float").field(value).finish(),
            ExprKind::Bool(value) => f.debug_tuple("Bool").field(value).finish(),
            ExprKind::Null => f.write_str("Null"),
            ExprKind::Str(value) => f.debug_tuple("Str").field(value).finish(),
            ExprKind::Interpolated(parts) => f.debug_tuple("Interpolated").field(parts).finish(),
            ExprKind::Format(parts) => f.debug_tuple("Format").field(parts).finish(),
            ExprKind::List(items) => f.debug_tuple("List").field(items).finish(),
            ExprKind::Map(pairs) => f.debug_tuple("Map").field(pairs).finish(),
            ExprKind::Name(name) => f.debug_tuple("Name").field(name).finish(),
            ExprKind::Attr { base, attr } => f.debug_struct("Attr").field("base", base).field("attr", attr).finish(),
            ExprKind::Subscript { base, key } => f.debug_struct("Subscript").field("base", base).field("key", key).finish(),
            ExprKind::IndexLookup(lookup) => {
                f.debug_struct("IndexLookup").field("entity", &lookup.entity).field("args", &lookup.args).finish()
            }
            ExprKind::RelationLookup(lookup) => {
                f.debug_struct("RelationLookup").field("base", &lookup.base).field("args", &lookup.args).finish()
            }
            ExprKind::Call(call) => f.debug_struct("Call").field("function", &call.function).field("args", &call.args).finish(),
            ExprKind::Construct(construct) => {
                f.debug_struct("Construct").field("entity", &construct.entity).field("args", &construct.args).finish()
            }
            ExprKind::Not(inner) => f.debug_tuple("Not").field(inner).finish(),
            ExprKind::Binary { op, lhs, rhs } => f.debug_struct("Binary").field("op", op).field("lhs", lhs).field("rhs", rhs).finish(),
            ExprKind::Conditional { cond, then, otherwise } => {
                f.debug_struct("Conditional").field("cond", cond).field("then", then).field("otherwise", otherwise).finish()
            }
            ExprKind::IsDefined(inner) => f.debug_tuple("IsDefined").field(inner).finish(),
            ExprKind::Comprehension(comprehension) => f
                .debug_struct("Comprehension")
                .field("value", &comprehension.value)
                .field("clauses", &comprehension.clauses)
                .finish(),
            ExprKind::Error => f.write_str("Error"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapKey {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CompClause {
    For { var: Ident, iterable: Expr },
    If(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Positional(Expr),
    Named { name: Ident, value: Expr },
    /// `**dict`
    Kwargs(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    And,
    Or,
    Cmp(CmpOp),
    In,
    NotIn,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Cmp(op) => op.as_str(),
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
        }
    }
}
