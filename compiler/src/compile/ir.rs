//! The executable form of statements and expressions: names resolved to variable slots,
//! entities, indexes and plugins; produced by `lower/`, run by `exec/`.

use super::errors::CompileError;
use super::model::{EntityId, NsId};
use super::value::Value;
use crate::ast::BinOp;
use crate::intern::Symbol;
use crate::span::Span;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

impl BlockId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A list of statements run together in one scope.
#[derive(Debug, Default)]
pub struct Block {
    pub stmts: Vec<IrStmt>,
    /// Variables assigned in this block (a `for` body's first variable is the loop variable,
    /// an implementation's first is `self`).
    pub vars: Vec<(Symbol, Span)>,
    /// Dense ids of the attribute names that this block (and everything it may start) may
    /// write: the pending-writer counters of the executor are kept per name.
    pub may_write: Rc<[u32]>,
    /// The same per statement (by index in `stmts`): a statement's task counts as a pending
    /// writer only of what it may write itself.
    pub stmt_may_write: Vec<Rc<[u32]>>,
    /// The body of a `for` (its first variable is the loop variable).
    pub loop_body: bool,
}

#[derive(Debug)]
pub enum IrStmt {
    Assign { target: Target, value: IrExpr, span: Span },
    Extend { target: Target, value: IrExpr, span: Span },
    Expr(IrExpr),
    For { iterable: IrExpr, body: BlockId, span: Span },
    If { cond: IrExpr, then: BlockId, otherwise: Option<BlockId>, span: Span },
}

impl IrStmt {
    pub fn span(&self) -> Span {
        match self {
            IrStmt::Assign { span, .. } | IrStmt::Extend { span, .. } | IrStmt::For { span, .. } | IrStmt::If { span, .. } => *span,
            IrStmt::Expr(expr) => expr.span,
        }
    }
}

#[derive(Debug)]
pub enum Target {
    /// A variable of the current block.
    Var(u32),
    /// A top-level variable of a namespace.
    Global { ns: NsId, index: u32 },
    Attr { base: IrExpr, name: Symbol, name_span: Span },
}

#[derive(Debug, Clone)]
pub struct IrExpr {
    pub kind: IrKind,
    pub span: Span,
}

/// A plugin, by index into the plugin registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginRef(pub u32);

#[derive(Debug, Clone)]
pub enum IrKind {
    Const(Value),
    /// A variable `depth` scopes up from the current one.
    Var { depth: u32, index: u32 },
    Global { ns: NsId, index: u32 },
    /// A comprehension variable, by position on the comprehension stack.
    CompVar(u32),
    /// A name other than `self` read in a typedef constraint (by its written name): an error
    /// when the constraint is evaluated, as in Inmanta (a typedef never used is accepted).
    ConstraintVariable(Rc<str>),
    /// A name found nowhere, read inside a block (an implementation, an `if` or `for` body):
    /// the error is raised when the block runs, as in Inmanta (which resolves names as it
    /// executes, so code that never runs may name what does not exist).
    Missing(Box<super::errors::CompileError>),
    Attr { base: Box<IrExpr>, name: Symbol },
    Subscript { base: Box<IrExpr>, key: Box<IrExpr> },
    IndexLookup { entity: EntityId, args: Vec<(Symbol, IrExpr)>, wrapped: Vec<IrExpr> },
    RelationLookup { base: Box<IrExpr>, args: Vec<(Symbol, IrExpr)>, wrapped: Vec<IrExpr> },
    Call { plugin: PluginRef, args: Vec<IrExpr>, kwargs: Vec<(Symbol, IrExpr)>, wrapped: Vec<IrExpr> },
    /// `args[deferred..]` are relations whose values construct instances that take the new
    /// instance as their `lhs_inverse` (Inmanta's "the left-hand side gives an index
    /// attribute": `JsonFile(values=[JsonObject(path=...)])` gives each `JsonObject` its
    /// `json_file`): they are evaluated and set once the instance exists. `lhs_inverse` is the
    /// index attribute this constructor takes from the instance whose relation it is the value
    /// of.
    Construct { entity: EntityId, args: Vec<(Symbol, Span, IrExpr)>, wrapped: Vec<IrExpr>, deferred: u32, lhs_inverse: Option<Symbol> },
    /// A call of a plugin of a module with foreign (Python) code that no native plugin
    /// covers: run by the embedder's [`ForeignPlugins`](super::plugins::ForeignPlugins) once
    /// its arguments are known (an unknown argument makes the result unknown). Without one,
    /// `missing` is the error the call gives when it runs (not where it is written, as in
    /// Inmanta, where the plugin exists).
    /// `names` are the full names the call may mean, in lookup order.
    Foreign { names: Rc<[Rc<str>]>, args: Vec<IrExpr>, kwargs: Vec<(Symbol, IrExpr)>, wrapped: Vec<IrExpr>, missing: Box<CompileError> },
    Not(Box<IrExpr>),
    And(Box<IrExpr>, Box<IrExpr>),
    Or(Box<IrExpr>, Box<IrExpr>),
    Binary { op: BinOp, lhs: Box<IrExpr>, rhs: Box<IrExpr> },
    Conditional { cond: Box<IrExpr>, then: Box<IrExpr>, otherwise: Box<IrExpr> },
    IsDefined(Box<IrExpr>),
    List(Vec<IrExpr>),
    Dict(Vec<(Rc<str>, IrExpr)>),
    Concat(Vec<IrPart>),
    Comprehension { value: Box<IrExpr>, clauses: Vec<IrClause>, first_var: u32 },
}

#[derive(Debug, Clone)]
pub enum IrPart {
    Lit(Rc<str>),
    Value(IrExpr),
    /// `nested` are the values of the spec's nested fields (`{x:{width}}`), in order.
    Format { value: IrExpr, spec: Rc<str>, conversion: Option<char>, nested: Vec<IrExpr> },
}

#[derive(Debug, Clone)]
pub enum IrClause {
    For { var: u32, iterable: IrExpr },
    If(IrExpr),
}
