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

/// A possibly namespaced name: `x`, `std::Host`, `a::b::c`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QualName {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl QualName {
    pub fn single(ident: Ident) -> Self {
        QualName { parts: vec![ident], span: ident.span }
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
pub enum TopStmt {
    Import(Import),
    Typedef(Typedef),
    Entity(Entity),
    Implementation(Implementation),
    Implement(Implement),
    Relation(Relation),
    Index(Index),
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

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `target = value`; the target is a name or an attribute path.
    Assign { target: Expr, value: Expr, span: Span },
    /// `target += value`
    Extend { target: Expr, value: Expr, span: Span },
    For { var: Ident, iterable: Expr, body: Vec<Stmt>, span: Span },
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

#[derive(Clone, Debug, PartialEq)]
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
    IndexLookup { entity: QualName, args: Vec<Arg> },
    /// `inst.rel[a=1]`: lookup among the instances of a relation.
    RelationLookup { base: Box<Expr>, args: Vec<Arg> },
    /// `ns::plugin(args)`
    Call { function: QualName, args: Vec<Arg> },
    /// `ns::Entity(a=1, **kwargs)`
    Construct { entity: QualName, args: Vec<Arg> },
    Not(Box<Expr>),
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `cond ? then : otherwise`
    Conditional { cond: Box<Expr>, then: Box<Expr>, otherwise: Box<Expr> },
    /// `x is defined`, `a.b is defined`, `d["k"] is defined`
    IsDefined(Box<Expr>),
    /// `[value for x in l if c for y in m]`
    Comprehension { value: Box<Expr>, clauses: Vec<CompClause> },
    /// What error recovery left of an expression that did not parse.
    Error,
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
