//! Lowering: turns the statements and expressions of the syntax tree into the executable IR,
//! resolving every name once (variables to scope slots, entities, plugins, namespaces) and
//! reporting what cannot be resolved. Also computes, for every block, which attribute names
//! it may write (directly or through the implementations of what it constructs): the
//! executor's freezing decisions count pending writers per name (`may_write`). Names of
//! globals and plugin calls are resolved in `calls`.

use super::errors::{CompileError, ErrorKind, Operation};
use super::ir::{Block, BlockId, IrClause, IrExpr, IrKind, IrPart, IrStmt, Target};
use super::loader::{ModuleInfo, ModuleOrigin};
use super::model::{join, AttrDef, AttrKind, EntityId, Model, NamespaceInput, NsId, TypedefConstraint};
use super::plugins::PluginRegistry;
use super::value::Value;
use crate::ast::{self, Arg, BinOp, CompClause, ExprKind, Stmt, TopStmt};
use crate::intern::{Interner, Symbol};
use crate::span::Span;
use crate::strings::{FormatPart, StringPart};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::rc::Rc;

mod calls;
mod may_write;

struct Frame {
    vars: FxHashMap<Symbol, u32>,
    /// The namespace's top level: its variables are globals.
    global: bool,
}

/// What one statement may write: attribute names, constructed entities (whose
/// implementations then run) and nested blocks.
#[derive(Default)]
struct StmtInfo {
    writes: FxHashSet<Symbol>,
    constructs: Vec<EntityId>,
    children: Vec<BlockId>,
}

#[derive(Default)]
struct BlockInfo {
    /// One entry per lowered statement of the block.
    stmts: Vec<StmtInfo>,
    /// Writes outside any statement (a `when` condition, a typedef constraint).
    extra: StmtInfo,
    /// The block's statements are being lowered: records go to the last statement.
    open: bool,
}

struct Lowerer<'a> {
    model: &'a Model,
    interner: &'a Interner,
    plugins: &'a PluginRegistry,
    modules: &'a BTreeMap<String, ModuleInfo>,
    errors: &'a mut Vec<CompileError>,
    blocks: Vec<Block>,
    info: Vec<BlockInfo>,
    ns: NsId,
    frames: Vec<Frame>,
    comp_vars: Vec<Symbol>,
    /// Inside an implementation (or `when`): the entity whose attributes are bare names.
    self_entity: Option<EntityId>,
    /// Lowering a typedef constraint: names other than `self` are not looked up.
    in_constraint: bool,
    current: usize,
    self_symbol: Symbol,
    name_ids: FxHashMap<Symbol, u32>,
    /// Set while lowering the value of a constructor argument that is a relation with an
    /// inverse: `(the inverse, the relation's target entity)`, taken by the constructor it is
    /// (directly, or as an item of a list literal).
    /// The (inverse, target) pairs a constructor being lowered may take its owner as.
    lhs_hint: Vec<(Symbol, EntityId)>,
}

/// Lowers everything executable in the model; returns the blocks.
pub fn lower(
    model: &mut Model,
    inputs: &[NamespaceInput<'_>],
    interner: &mut Interner,
    plugins: &PluginRegistry,
    modules: &BTreeMap<String, ModuleInfo>,
    errors: &mut Vec<CompileError>,
) -> (Vec<Block>, FxHashMap<Symbol, u32>) {
    let self_symbol = interner.intern("self");
    // Globals first: any namespace may read `ns::x` of another.
    for (index, input) in inputs.iter().enumerate() {
        let mut globals = FxHashMap::default();
        let mut names = Vec::new();
        for statement in &input.ast.statements {
            if let TopStmt::Stmt(Stmt::Assign { target, .. }) = statement {
                if let ExprKind::Name(name) = &target.kind {
                    if name.parts.len() == 1 && !globals.contains_key(&name.parts[0].name) {
                        globals.insert(name.parts[0].name, names.len() as u32);
                        names.push((name.parts[0].name, name.parts[0].span));
                    }
                }
            }
        }
        model.namespaces[index].globals = globals;
        model.namespaces[index].global_names = names;
    }
    let mut top_blocks = Vec::new();
    let mut impl_bodies = Vec::new();
    let mut whens = Vec::new();
    let mut constraints = Vec::new();
    let blocks = {
        let model_ref: &Model = model;
        let mut lowerer = Lowerer {
            model: model_ref,
            interner,
            plugins,
            modules,
            errors,
            blocks: Vec::new(),
            info: Vec::new(),
            ns: NsId(0),
            frames: Vec::new(),
            comp_vars: Vec::new(),
            self_entity: None,
            in_constraint: false,
            current: 0,
            self_symbol,
            name_ids: FxHashMap::default(),
            lhs_hint: Vec::new(),
        };
        for (index, input) in inputs.iter().enumerate() {
            lowerer.ns = NsId(index as u32);
            let statements: Vec<&Stmt> = input
                .ast
                .statements
                .iter()
                .filter_map(|s| match s {
                    TopStmt::Stmt(stmt) => Some(stmt),
                    _ => None,
                })
                .collect();
            let block = lowerer.lower_top_block(&statements);
            top_blocks.push((index, block));
            for statement in &input.ast.statements {
                // A relation's annotations are variables of its namespace: each must exist
                // (Inmanta resolves them; Cairn has no use for their values).
                if let TopStmt::Relation(relation) = statement {
                    for annotation in &relation.annotations {
                        match &annotation.parts[..] {
                            [name] => {
                                lowerer.resolve_name(*name);
                            }
                            _ => {
                                lowerer.lower_global(annotation);
                            }
                        }
                    }
                }
                if let TopStmt::Typedef(typedef) = statement {
                    if let ast::Constraint::Expr(expr) = &typedef.constraint {
                        if let Some(id) = model_ref.namespaces[index].typedefs.get(&typedef.name.name) {
                            lowerer.in_constraint = true;
                            let lowered = lowerer.lower_with_self(expr, None);
                            lowerer.in_constraint = false;
                            if !references_self(&lowered) {
                                lowerer.error(CompileError::new(
                                    ErrorKind::TypedefWithoutSelf(model_ref.typedefs[id.index()].name.clone()),
                                    expr.span,
                                ));
                            }
                            constraints.push((*id, lowered));
                        }
                    }
                }
            }
        }
        for (id, implementation) in model_ref.implementations.iter().enumerate() {
            let (file_index, position) = implementation.source;
            let TopStmt::Implementation(ast_impl) = &inputs[file_index].ast.statements[position] else { continue };
            lowerer.ns = implementation.ns;
            lowerer.self_entity = Some(implementation.entity);
            let body = lowerer.lower_block(&ast_impl.body.iter().collect::<Vec<_>>(), vec![(self_symbol, implementation.span)]);
            lowerer.self_entity = None;
            impl_bodies.push((id, body));
        }
        for (id, implement) in model_ref.implements.iter().enumerate() {
            let (file_index, position) = implement.source;
            let TopStmt::Implement(ast_implement) = &inputs[file_index].ast.statements[position] else { continue };
            if let Some(when) = &ast_implement.when {
                lowerer.ns = implement.ns;
                let lowered = lowerer.lower_with_self(when, Some(implement.entity));
                whens.push((id, lowered));
            }
        }
        lowerer.compute_may_write(model_ref, &impl_bodies);
        (lowerer.blocks, lowerer.name_ids)
    };
    for (index, block) in top_blocks {
        model.namespaces[index].top_block = Some(block);
    }
    for (id, body) in impl_bodies {
        model.implementations[id].body = Some(body);
    }
    for (id, when) in whens {
        model.implements[id].when = Some(when);
    }
    for (id, lowered) in constraints {
        model.typedefs[id.index()].constraint = TypedefConstraint::Expr(Some(lowered));
    }
    blocks
}

impl Lowerer<'_> {
    fn new_block(&mut self) -> BlockId {
        let id = BlockId(self.blocks.len() as u32);
        self.blocks.push(Block::default());
        self.info.push(BlockInfo::default());
        id
    }

    /// Where the current statement's writes are recorded.
    fn record(&mut self) -> &mut StmtInfo {
        let info = &mut self.info[self.current];
        match info.stmts.last_mut() {
            Some(stmt) if info.open => stmt,
            _ => &mut info.extra,
        }
    }

    /// Lowers the statements of block `id` (the current block), one info entry each.
    fn lower_stmts(&mut self, id: BlockId, statements: &[&Stmt]) -> Vec<IrStmt> {
        let was_open = std::mem::replace(&mut self.info[id.index()].open, true);
        let mut stmts = Vec::with_capacity(statements.len());
        for statement in statements {
            self.info[id.index()].stmts.push(StmtInfo::default());
            match self.lower_stmt(statement) {
                Some(stmt) => stmts.push(stmt),
                None => {
                    self.info[id.index()].stmts.pop();
                }
            }
        }
        self.info[id.index()].open = was_open;
        stmts
    }

    fn error(&mut self, error: CompileError) {
        self.errors.push(error);
    }

    fn name(&self, symbol: Symbol) -> &str {
        self.interner.resolve(symbol)
    }

    fn lower_top_block(&mut self, statements: &[&Stmt]) -> BlockId {
        let id = self.new_block();
        let previous = self.current;
        self.current = id.index();
        let vars = self.model.namespaces[self.ns.index()].globals.clone();
        self.frames.push(Frame { vars, global: true });
        let stmts = self.lower_stmts(id, statements);
        self.frames.pop();
        self.blocks[id.index()].stmts = stmts;
        self.current = previous;
        id
    }

    /// Lowers a nested block; `preset` variables come first (loop variable, `self`).
    fn lower_block(&mut self, statements: &[&Stmt], preset: Vec<(Symbol, Span)>) -> BlockId {
        let id = self.new_block();
        if self.current < self.info.len() && self.info[self.current].open {
            self.record().children.push(id);
        }
        let previous = self.current;
        self.current = id.index();
        let mut vars = preset;
        for statement in statements {
            if let Stmt::Assign { target, .. } = statement {
                if let ExprKind::Name(name) = &target.kind {
                    if name.parts.len() == 1 && !vars.iter().any(|(s, _)| *s == name.parts[0].name) {
                        vars.push((name.parts[0].name, name.parts[0].span));
                    }
                }
            }
        }
        let map = vars.iter().enumerate().map(|(i, (s, _))| (*s, i as u32)).collect();
        self.frames.push(Frame { vars: map, global: false });
        let stmts = self.lower_stmts(id, statements);
        self.frames.pop();
        self.blocks[id.index()].stmts = stmts;
        self.blocks[id.index()].vars = vars;
        self.current = previous;
        id
    }

    /// Lowers an expression evaluated with `self` as variable 0 (typedef constraints,
    /// `implement ... when`). With an entity, its attributes are visible as bare names.
    fn lower_with_self(&mut self, expr: &ast::Expr, entity: Option<EntityId>) -> IrExpr {
        let saved_frames = std::mem::take(&mut self.frames);
        let mut vars = FxHashMap::default();
        vars.insert(self.self_symbol, 0);
        self.frames.push(Frame { vars, global: false });
        self.self_entity = entity;
        let block = self.new_block();
        let previous = self.current;
        self.current = block.index();
        let lowered = self.lower_expr(expr);
        self.current = previous;
        self.self_entity = None;
        self.frames = saved_frames;
        lowered
    }

    fn lower_stmt(&mut self, statement: &Stmt) -> Option<IrStmt> {
        Some(match statement {
            Stmt::Assign { target, value, span } => {
                let target = self.lower_target(target, true)?;
                let value = self.lower_assigned(&target, value);
                IrStmt::Assign { target, value, span: *span }
            }
            Stmt::Extend { target, value, span } => {
                let target = self.lower_target(target, false)?;
                let value = self.lower_assigned(&target, value);
                IrStmt::Extend { target, value, span: *span }
            }
            Stmt::For { var, iterable, body, span } => {
                let iterable = self.lower_expr(iterable);
                let body = self.lower_block(&body.iter().collect::<Vec<_>>(), vec![(var.name, var.span)]);
                self.blocks[body.index()].loop_body = true;
                IrStmt::For { iterable, body, span: *span }
            }
            Stmt::If { branches, otherwise, span } => self.lower_if(branches, otherwise, *span),
            Stmt::Expr(expr) => IrStmt::Expr(self.lower_expr(expr)),
            Stmt::Error(_) => return None,
        })
    }

    fn lower_if(&mut self, branches: &[(ast::Expr, Vec<Stmt>)], otherwise: &[Stmt], span: Span) -> IrStmt {
        let (cond, then) = &branches[0];
        let cond = self.lower_expr(cond);
        let then = self.lower_block(&then.iter().collect::<Vec<_>>(), Vec::new());
        let otherwise = if branches.len() > 1 {
            // `elif` is an `if` inside the `else` block.
            let id = self.new_block();
            self.record().children.push(id);
            let previous = self.current;
            self.current = id.index();
            self.frames.push(Frame { vars: FxHashMap::default(), global: false });
            self.info[id.index()].stmts.push(StmtInfo::default());
            self.info[id.index()].open = true;
            let nested = self.lower_if(&branches[1..], otherwise, span);
            self.info[id.index()].open = false;
            self.frames.pop();
            self.current = previous;
            self.blocks[id.index()].stmts = vec![nested];
            Some(id)
        } else if otherwise.is_empty() {
            None
        } else {
            Some(self.lower_block(&otherwise.iter().collect::<Vec<_>>(), Vec::new()))
        };
        IrStmt::If { cond, then, otherwise, span }
    }

    fn lower_target(&mut self, target: &ast::Expr, assign: bool) -> Option<Target> {
        match &target.kind {
            ExprKind::Name(name) if name.parts.len() == 1 && assign => {
                let frame = self.frames.last()?;
                let index = *frame.vars.get(&name.parts[0].name)?;
                if frame.global {
                    Some(Target::Global { ns: self.ns, index })
                } else {
                    Some(Target::Var(index))
                }
            }
            ExprKind::Attr { base, attr } => {
                self.record().writes.insert(attr.name);
                Some(Target::Attr { base: self.lower_expr(base), name: attr.name, name_span: attr.span })
            }
            _ => {
                self.error(CompileError::new(ErrorKind::InvalidAssignmentTarget, target.span));
                None
            }
        }
    }

    fn resolve_name(&mut self, ident: ast::Ident) -> IrKind {
        if let Some(position) = self.comp_vars.iter().rposition(|v| *v == ident.name) {
            return IrKind::CompVar(position as u32);
        }
        let mut depth = 0;
        for frame in self.frames.iter().rev() {
            if let Some(&index) = frame.vars.get(&ident.name) {
                return if frame.global { IrKind::Global { ns: self.ns, index } } else { IrKind::Var { depth, index } };
            }
            if !frame.global {
                depth += 1;
            }
        }
        if let Some(entity) = self.self_entity {
            if self.model.entity(entity).attr(ident.name).is_some() {
                // The implementation's own frame is the outermost non-global one.
                let self_depth = self.frames.iter().filter(|f| !f.global).count().saturating_sub(1) as u32;
                let base = IrExpr { kind: IrKind::Var { depth: self_depth, index: 0 }, span: ident.span };
                return IrKind::Attr { base: Box::new(base), name: ident.name };
            }
        }
        if self.in_constraint {
            return IrKind::ConstraintVariable(Rc::from(self.name(ident.name)));
        }
        if let Some(&index) = self.model.namespaces[self.ns.index()].globals.get(&ident.name) {
            return IrKind::Global { ns: self.ns, index };
        }
        let near = self.near_variable(ident.name);
        let error = CompileError::new(ErrorKind::VariableNotFound(self.name(ident.name).to_string()), ident.span).with_help(near);
        if self.frames.iter().any(|frame| !frame.global) {
            return IrKind::Missing(Box::new(error));
        }
        self.error(error);
        IrKind::Const(Value::Unknown)
    }

    /// A name in scope near `name` (variables, the entity's attributes in an implementation,
    /// the namespace's globals), for "did you mean".
    fn near_variable(&self, name: Symbol) -> Option<super::errors::Help> {
        let mut candidates: Vec<Symbol> = self.comp_vars.clone();
        for frame in &self.frames {
            candidates.extend(frame.vars.keys().copied());
        }
        if let Some(entity) = self.self_entity {
            candidates.extend(self.model.entity(entity).attrs.iter().map(|a| a.name));
        }
        candidates.extend(self.model.namespaces[self.ns.index()].globals.keys().copied());
        let mut names: Vec<&str> = candidates.into_iter().map(|s| self.name(s)).collect();
        names.sort_unstable();
        names.dedup();
        crate::suggest::closest(self.name(name), names).map(super::errors::Help::DidYouMean)
    }

    fn lower_reference(&mut self, parts: &[ast::Ident]) -> IrExpr {
        let first = parts[0];
        let mut expr = IrExpr { kind: self.resolve_name(first), span: first.span };
        for part in &parts[1..] {
            let span = expr.span.to(part.span);
            expr = IrExpr { kind: IrKind::Attr { base: Box::new(expr), name: part.name }, span };
        }
        expr
    }

    fn lower_args(&mut self, args: &[Arg]) -> (Vec<(Symbol, Span, IrExpr)>, Vec<IrExpr>) {
        let mut named = Vec::new();
        let mut wrapped = Vec::new();
        for arg in args {
            match arg {
                Arg::Named { name, value } => named.push((name.name, name.span, self.lower_expr(value))),
                Arg::Kwargs(value) => wrapped.push(self.lower_expr(value)),
                Arg::Positional(value) => {
                    self.error(CompileError::new(
                        ErrorKind::InvalidOperation(Operation::NamedArgumentsOnly),
                        value.span,
                    ));
                }
            }
        }
        (named, wrapped)
    }

    /// The arguments of a constructor of `entity`: the named ones (those whose value needs the
    /// new instance last, from the returned position on), and the `**` ones.
    fn lower_construct_args(&mut self, entity: EntityId, args: &[Arg]) -> (Vec<(Symbol, Span, IrExpr)>, Vec<IrExpr>, u32) {
        let mut named = Vec::new();
        let mut later = Vec::new();
        let mut wrapped = Vec::new();
        let def = self.model.entity(entity);
        for arg in args {
            match arg {
                Arg::Named { name, value } => {
                    let hint: Vec<(Symbol, EntityId)> = match def.attr(name.name).map(|(_, attr)| &attr.kind) {
                        Some(AttrKind::Relation { target, inverse: Some(inverse), .. }) => vec![(*inverse, *target)],
                        _ => Vec::new(),
                    };
                    let (value, takes_instance) = self.lower_relation_value(value, &hint);
                    if takes_instance {
                        // Set once the instance exists, by the statement's task: it writes it.
                        self.record().writes.insert(name.name);
                        later.push((name.name, name.span, value));
                    } else {
                        named.push((name.name, name.span, value));
                    }
                }
                Arg::Kwargs(value) => wrapped.push(self.lower_expr(value)),
                Arg::Positional(value) => {
                    self.error(CompileError::new(ErrorKind::InvalidOperation(Operation::NamedArgumentsOnly), value.span));
                }
            }
        }
        let deferred = u32::try_from(named.len()).unwrap_or(u32::MAX);
        named.extend(later);
        (named, wrapped, deferred)
    }

    /// The value of `x.rel = value` or `x.rel += value`: a constructor there (or in a list
    /// literal) may take `x` as the inverse of `rel` when its index needs it, as in Inmanta.
    /// `x`'s entity is known when the statement runs, so every relation named `rel` is a
    /// candidate here; the statement gives the owner only when its relation has that inverse.
    fn lower_assigned(&mut self, target: &Target, value: &ast::Expr) -> IrExpr {
        let Target::Attr { name, .. } = target else { return self.lower_expr(value) };
        if !matches!(value.kind, ExprKind::Construct(_) | ExprKind::List(_) | ExprKind::Conditional { .. }) {
            return self.lower_expr(value);
        }
        let mut hint: Vec<(Symbol, EntityId)> = Vec::new();
        for entity in &self.model.entities {
            if let Some((_, AttrDef { kind: AttrKind::Relation { target, inverse: Some(inverse), .. }, .. })) = entity.attr(*name) {
                if !hint.contains(&(*inverse, *target)) {
                    hint.push((*inverse, *target));
                }
            }
        }
        self.lower_relation_value(value, &hint).0
    }

    /// The value of a relation argument: a constructor (or a list literal of them) may take
    /// the new instance as an index attribute (`hint`); true when one does.
    fn lower_relation_value(&mut self, expr: &ast::Expr, hint: &[(Symbol, EntityId)]) -> (IrExpr, bool) {
        match &expr.kind {
            ExprKind::List(items) if !hint.is_empty() => {
                let mut takes = false;
                let items = items
                    .iter()
                    .map(|item| {
                        let (item, item_takes) = self.lower_relation_value(item, hint);
                        takes |= item_takes;
                        item
                    })
                    .collect();
                (IrExpr { kind: IrKind::List(items), span: expr.span }, takes)
            }
            ExprKind::Conditional { cond, then, otherwise } if !hint.is_empty() => {
                let cond = self.lower_expr(cond);
                let (then, then_takes) = self.lower_relation_value(then, hint);
                let (otherwise, otherwise_takes) = self.lower_relation_value(otherwise, hint);
                let kind = IrKind::Conditional { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) };
                (IrExpr { kind, span: expr.span }, then_takes || otherwise_takes)
            }
            ExprKind::Construct(_) if !hint.is_empty() => {
                self.lhs_hint = hint.to_vec();
                let lowered = self.lower_expr(expr);
                self.lhs_hint = Vec::new();
                let takes = matches!(lowered.kind, IrKind::Construct { lhs_inverse: Some(_), .. });
                (lowered, takes)
            }
            _ => (self.lower_expr(expr), false),
        }
    }

    fn lower_expr(&mut self, expr: &ast::Expr) -> IrExpr {
        let span = expr.span;
        let kind = match &expr.kind {
            ExprKind::Int(i) => IrKind::Const(Value::Int(*i)),
            ExprKind::Float(f) => IrKind::Const(Value::Float(*f)),
            ExprKind::Bool(b) => IrKind::Const(Value::Bool(*b)),
            ExprKind::Null => IrKind::Const(Value::Null),
            ExprKind::Str(s) => IrKind::Const(Value::str(s)),
            ExprKind::Interpolated(parts) => IrKind::Concat(
                parts
                    .iter()
                    .map(|part| match part {
                        StringPart::Literal(text) => IrPart::Lit(Rc::from(text.as_str())),
                        StringPart::Ref(reference) => IrPart::Value(self.lower_reference(reference)),
                    })
                    .collect(),
            ),
            ExprKind::Format(parts) => IrKind::Concat(
                parts
                    .iter()
                    .map(|part| match part {
                        FormatPart::Literal(text) => IrPart::Lit(Rc::from(text.as_str())),
                        FormatPart::Field { reference, conversion, spec, nested, .. } => IrPart::Format {
                            value: self.lower_reference(reference),
                            spec: Rc::from(spec.as_str()),
                            conversion: *conversion,
                            nested: nested.iter().map(|n| self.lower_reference(n)).collect(),
                        },
                    })
                    .collect(),
            ),
            ExprKind::List(items) => IrKind::List(items.iter().map(|i| self.lower_expr(i)).collect()),
            ExprKind::Map(pairs) => {
                IrKind::Dict(pairs.iter().map(|(k, v)| (Rc::from(k.value.as_str()), self.lower_expr(v))).collect())
            }
            ExprKind::Name(name) => {
                if name.parts.len() == 1 {
                    self.resolve_name(name.parts[0])
                } else {
                    self.lower_global(name)
                }
            }
            ExprKind::Attr { base, attr } => IrKind::Attr { base: Box::new(self.lower_expr(base)), name: attr.name },
            ExprKind::Subscript { base, key } => {
                IrKind::Subscript { base: Box::new(self.lower_expr(base)), key: Box::new(self.lower_expr(key)) }
            }
            ExprKind::IndexLookup(lookup) => match self.model.lookup_entity(self.ns, &lookup.entity, self.interner) {
                Ok(entity) => {
                    let (named, wrapped) = self.lower_args(&lookup.args);
                    IrKind::IndexLookup { entity, args: named.into_iter().map(|(s, _, e)| (s, e)).collect(), wrapped }
                }
                Err(error) => {
                    self.error(error);
                    IrKind::Const(Value::Unknown)
                }
            },
            ExprKind::RelationLookup(lookup) => {
                let base = self.lower_expr(&lookup.base);
                let (named, wrapped) = self.lower_args(&lookup.args);
                IrKind::RelationLookup { base: Box::new(base), args: named.into_iter().map(|(s, _, e)| (s, e)).collect(), wrapped }
            }
            ExprKind::Call(call) => self.lower_call(&call.function, &call.args, span),
            ExprKind::Construct(construct) => match self.model.lookup_entity(self.ns, &construct.entity, self.interner) {
                Ok(entity_id) => {
                    let hint = std::mem::take(&mut self.lhs_hint);
                    let (named, wrapped, deferred) = self.lower_construct_args(entity_id, &construct.args);
                    let def = self.model.entity(entity_id);
                    // The index attribute the instance whose relation this is the value of gives.
                    let lhs_inverse = hint
                        .into_iter()
                        .find(|(inverse, target)| {
                            self.model.is_subtype(entity_id, *target)
                                && !named.iter().any(|(n, _, _)| n == inverse)
                                && def.indexes.iter().any(|index| self.model.indexes[index.index()].attrs.contains(inverse))
                        })
                        .map(|(inverse, _)| inverse);
                    for (name, name_span, _) in &named {
                        match def.attr(*name) {
                            None => {
                                let error = def.attribute_not_found(self.name(*name), *name_span, self.interner);
                                self.error(error);
                            }
                            Some((_, attr)) => {
                                if let AttrKind::Relation { inverse: Some(inverse), .. } = &attr.kind {
                                    self.record().writes.insert(*inverse);
                                }
                            }
                        }
                    }
                    for (i, (name, name_span, _)) in named.iter().enumerate() {
                        if named[..i].iter().any(|(n, _, _)| n == name) {
                            self.error(CompileError::new(ErrorKind::DuplicateArgument(self.name(*name).to_string()), *name_span));
                        }
                    }
                    // Every attribute of an index must be given (or defaulted): the index
                    // decides whether the instance exists already. With `**` it is checked when
                    // the constructor runs.
                    if wrapped.is_empty() {
                        let mut missing: Vec<(String, bool)> = Vec::new();
                        for index in &def.indexes {
                            for attr in &self.model.indexes[index.index()].attrs {
                                if named.iter().any(|(n, _, _)| n == attr)
                                    || lhs_inverse == Some(*attr)
                                    || missing.iter().any(|(m, _)| m == self.name(*attr))
                                {
                                    continue;
                                }
                                match def.attr(*attr) {
                                    Some((_, AttrDef { kind: AttrKind::Value { default: Some(_), .. }, .. })) => {}
                                    Some((_, attr_def)) => missing.push((self.name(*attr).to_string(), attr_def.is_relation())),
                                    None => {}
                                }
                            }
                        }
                        if !missing.is_empty() {
                            self.error(CompileError::new(
                                ErrorKind::IndexAttributeMissing { entity: def.full_name.clone(), attributes: missing },
                                span,
                            ));
                        }
                    }
                    self.record().constructs.push(entity_id);
                    IrKind::Construct { entity: entity_id, args: named, wrapped, deferred, lhs_inverse }
                }
                Err(error) => {
                    self.error(error);
                    IrKind::Const(Value::Unknown)
                }
            },
            ExprKind::Not(inner) => IrKind::Not(Box::new(self.lower_expr(inner))),
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => {
                IrKind::And(Box::new(self.lower_expr(lhs)), Box::new(self.lower_expr(rhs)))
            }
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => IrKind::Or(Box::new(self.lower_expr(lhs)), Box::new(self.lower_expr(rhs))),
            ExprKind::Binary { op, lhs, rhs } => {
                IrKind::Binary { op: *op, lhs: Box::new(self.lower_expr(lhs)), rhs: Box::new(self.lower_expr(rhs)) }
            }
            ExprKind::Conditional { cond, then, otherwise } => IrKind::Conditional {
                cond: Box::new(self.lower_expr(cond)),
                then: Box::new(self.lower_expr(then)),
                otherwise: Box::new(self.lower_expr(otherwise)),
            },
            ExprKind::IsDefined(inner) => IrKind::IsDefined(Box::new(self.lower_expr(inner))),
            ExprKind::Comprehension(comprehension) => {
                let ast::Comprehension { value, clauses } = &**comprehension;
                let first_var = self.comp_vars.len() as u32;
                let mut lowered = Vec::new();
                for clause in clauses {
                    match clause {
                        CompClause::For { var, iterable } => {
                            let iterable = self.lower_expr(iterable);
                            lowered.push(IrClause::For { var: self.comp_vars.len() as u32, iterable });
                            self.comp_vars.push(var.name);
                        }
                        CompClause::If(cond) => lowered.push(IrClause::If(self.lower_expr(cond))),
                    }
                }
                let value = self.lower_expr(value);
                self.comp_vars.truncate(first_var as usize);
                IrKind::Comprehension { value: Box::new(value), clauses: lowered, first_var }
            }
            ExprKind::Error => IrKind::Const(Value::Unknown),
        };
        IrExpr { kind, span }
    }

}

/// Whether a typedef constraint reads `self` (variable 0 of its one-variable scope).
fn references_self(expr: &IrExpr) -> bool {
    let any = |items: &[IrExpr]| items.iter().any(references_self);
    match &expr.kind {
        IrKind::Var { index: 0, .. } => true,
        IrKind::Const(_) | IrKind::Var { .. } | IrKind::Global { .. } | IrKind::CompVar(_) | IrKind::ConstraintVariable(_) | IrKind::Missing(_) => false,
        IrKind::Attr { base, .. } | IrKind::Not(base) | IrKind::IsDefined(base) => references_self(base),
        IrKind::Subscript { base, key } => references_self(base) || references_self(key),
        IrKind::IndexLookup { args, wrapped, .. } => args.iter().any(|(_, e)| references_self(e)) || any(wrapped),
        IrKind::RelationLookup { base, args, wrapped } => {
            references_self(base) || args.iter().any(|(_, e)| references_self(e)) || any(wrapped)
        }
        IrKind::Call { args, kwargs, wrapped, .. } => any(args) || kwargs.iter().any(|(_, e)| references_self(e)) || any(wrapped),
        IrKind::Foreign { args, kwargs, wrapped, .. } => any(args) || kwargs.iter().any(|(_, e)| references_self(e)) || any(wrapped),
        IrKind::Construct { args, wrapped, .. } => args.iter().any(|(_, _, e)| references_self(e)) || any(wrapped),
        IrKind::And(a, b) | IrKind::Or(a, b) | IrKind::Binary { lhs: a, rhs: b, .. } => references_self(a) || references_self(b),
        IrKind::Conditional { cond, then, otherwise } => references_self(cond) || references_self(then) || references_self(otherwise),
        IrKind::List(items) => any(items),
        IrKind::Dict(pairs) => pairs.iter().any(|(_, e)| references_self(e)),
        IrKind::Concat(parts) => parts.iter().any(|part| match part {
            IrPart::Lit(_) => false,
            IrPart::Value(e) => references_self(e),
            IrPart::Format { value, nested, .. } => references_self(value) || nested.iter().any(references_self),
        }),
        IrKind::Comprehension { value, clauses, .. } => {
            references_self(value)
                || clauses.iter().any(|clause| match clause {
                    IrClause::For { iterable, .. } => references_self(iterable),
                    IrClause::If(cond) => references_self(cond),
                })
        }
    }
}
