//! The nesting limit. The passes after the parser (lowering, type checks, evaluation, even
//! dropping the tree) walk syntax trees recursively, so a file nested thousands of levels
//! deep (`[[[[...`, `not not not ...`, ten thousand nested `if`s, `a.b.c...`) would overflow
//! the stack and abort the process. No real model nests anywhere near [`MAX_NESTING`] levels;
//! a file that does gets a diagnostic at the place where the limit is passed, and that
//! statement is left out. The check itself walks the tree with a stack of its own.

use crate::ast::{Arg, AttrDefault, CompClause, Constraint, Expr, ExprKind, Module, Stmt, TopStmt};
use crate::error::{SyntaxError, SyntaxErrorKind};
use crate::span::Span;

/// How deep statements and expressions may nest (each block, bracket, operator, call and
/// attribute access is one level).
pub const MAX_NESTING: usize = 128;

enum Node<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
}

/// The span of the first node nested deeper than [`MAX_NESTING`] under `root`, if any.
fn too_deep(root: Node<'_>) -> Option<Span> {
    let mut stack: Vec<(Node<'_>, usize)> = vec![(root, 1)];
    while let Some((node, depth)) = stack.pop() {
        let span = match &node {
            Node::Stmt(stmt) => stmt_span(stmt),
            Node::Expr(expr) => expr.span,
        };
        if depth > MAX_NESTING {
            return Some(span);
        }
        let next = depth + 1;
        match node {
            Node::Stmt(stmt) => match stmt {
                Stmt::Assign { target, value, .. } | Stmt::Extend { target, value, .. } => {
                    stack.push((Node::Expr(target), next));
                    stack.push((Node::Expr(value), next));
                }
                Stmt::For { iterable, body, .. } => {
                    stack.push((Node::Expr(iterable), next));
                    stack.extend(body.iter().map(|s| (Node::Stmt(s), next)));
                }
                Stmt::If { branches, otherwise, .. } => {
                    for (condition, body) in branches {
                        stack.push((Node::Expr(condition), next));
                        stack.extend(body.iter().map(|s| (Node::Stmt(s), next)));
                    }
                    stack.extend(otherwise.iter().map(|s| (Node::Stmt(s), next)));
                }
                Stmt::Expr(expr) => stack.push((Node::Expr(expr), next)),
                Stmt::Error(_) => {}
            },
            Node::Expr(expr) => push_children(expr, next, &mut stack),
        }
    }
    None
}

fn push_args<'a>(args: &'a [Arg], depth: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    for arg in args {
        match arg {
            Arg::Positional(value) | Arg::Named { value, .. } | Arg::Kwargs(value) => stack.push((Node::Expr(value), depth)),
        }
    }
}

fn push_children<'a>(expr: &'a Expr, depth: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    match &expr.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Str(_)
        | ExprKind::Interpolated(_)
        | ExprKind::Format(_)
        | ExprKind::Name(_)
        | ExprKind::Error => {}
        ExprKind::List(items) => stack.extend(items.iter().map(|e| (Node::Expr(e), depth))),
        ExprKind::Map(pairs) => stack.extend(pairs.iter().map(|(_, e)| (Node::Expr(e), depth))),
        ExprKind::Attr { base, .. } | ExprKind::Not(base) | ExprKind::IsDefined(base) => stack.push((Node::Expr(base), depth)),
        ExprKind::Subscript { base, key } => {
            stack.push((Node::Expr(base), depth));
            stack.push((Node::Expr(key), depth));
        }
        ExprKind::IndexLookup(lookup) => push_args(&lookup.args, depth, stack),
        ExprKind::RelationLookup(lookup) => {
            stack.push((Node::Expr(&lookup.base), depth));
            push_args(&lookup.args, depth, stack);
        }
        ExprKind::Call(call) => push_args(&call.args, depth, stack),
        ExprKind::Construct(construct) => push_args(&construct.args, depth, stack),
        ExprKind::Binary { lhs, rhs, .. } => {
            stack.push((Node::Expr(lhs), depth));
            stack.push((Node::Expr(rhs), depth));
        }
        ExprKind::Conditional { cond, then, otherwise } => {
            stack.push((Node::Expr(cond), depth));
            stack.push((Node::Expr(then), depth));
            stack.push((Node::Expr(otherwise), depth));
        }
        ExprKind::Comprehension(comprehension) => {
            stack.push((Node::Expr(&comprehension.value), depth));
            for clause in &comprehension.clauses {
                match clause {
                    CompClause::For { iterable, .. } => stack.push((Node::Expr(iterable), depth)),
                    CompClause::If(condition) => stack.push((Node::Expr(condition), depth)),
                }
            }
        }
    }
}

fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::Assign { span, .. } | Stmt::Extend { span, .. } | Stmt::For { span, .. } | Stmt::If { span, .. } | Stmt::Error(span) => *span,
        Stmt::Expr(expr) => expr.span,
    }
}

fn error(span: Span) -> SyntaxError {
    SyntaxError { kind: SyntaxErrorKind::TooDeep { limit: MAX_NESTING }, span }
}

/// Leaves out what is too deep: the statement is replaced by an error statement, and the
/// old tree is leaked rather than dropped (dropping recurses as deep as the tree; the leak
/// is bounded by the size of the file, which is bounded, and the compile fails anyway).
fn neutralise_stmt(stmt: &mut Stmt, errors: &mut Vec<SyntaxError>) {
    if let Some(span) = too_deep(Node::Stmt(stmt)) {
        errors.push(error(span));
        let old = std::mem::replace(stmt, Stmt::Error(stmt_span(stmt)));
        std::mem::forget(old);
    }
}

fn neutralise_expr(expr: &mut Expr, errors: &mut Vec<SyntaxError>) {
    if let Some(span) = too_deep(Node::Expr(expr)) {
        errors.push(error(span));
        let old = std::mem::replace(expr, Expr::new(ExprKind::Error, expr.span));
        std::mem::forget(old);
    }
}

/// Checks every statement and expression of `module`; returns an error for each top-level
/// statement (or statement of an implementation) that nests too deep, and leaves those out.
pub fn check(module: &mut Module) -> Vec<SyntaxError> {
    let mut errors = Vec::new();
    for statement in &mut module.statements {
        match statement {
            TopStmt::Stmt(stmt) => neutralise_stmt(stmt, &mut errors),
            TopStmt::Implementation(implementation) => {
                for stmt in &mut implementation.body {
                    neutralise_stmt(stmt, &mut errors);
                }
            }
            TopStmt::Typedef(typedef) => {
                if let Constraint::Expr(expr) = &mut typedef.constraint {
                    neutralise_expr(expr, &mut errors);
                }
            }
            TopStmt::Entity(entity) => {
                for attribute in &mut entity.attributes {
                    if let AttrDefault::Value(expr) = &mut attribute.default {
                        neutralise_expr(expr, &mut errors);
                    }
                }
            }
            TopStmt::Implement(implement) => {
                if let Some(when) = &mut implement.when {
                    neutralise_expr(when, &mut errors);
                }
            }
            TopStmt::Import(_) | TopStmt::Relation(_) | TopStmt::Index(_) | TopStmt::Doc(..) => {}
        }
    }
    errors
}
