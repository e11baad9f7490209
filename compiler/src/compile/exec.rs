//! The executor: runs the lowered program order-free and deterministically.
//!
//! Every variable and attribute is a [`Slot`] in one arena. A statement runs as a task; when
//! it reads a slot that has no value yet it is parked on that slot and re-run when the slot
//! changes (side effects already done in an earlier run, constructors and plugin calls, are
//! replayed from the task's memo, so a re-run never does them twice). Nothing scans: a value
//! arriving wakes exactly the tasks parked on it.
//!
//! Lists (relations of upper bound > 1, list attributes) fill gradually; a read that needs the
//! whole list waits for it to freeze. A list freezes when it reaches its upper bound, or, once
//! no task can run, when no live task may still write an attribute of that name (a counter
//! per attribute name, kept up to date as tasks start and finish); if every candidate still
//! has possible writers the compile is stuck and the best candidate (fewest possible writers,
//! then oldest) is frozen. At the end, completeness is checked and what never ran is
//! explained.

use super::arena::Arena;
use super::errors::{CompileError, ErrorKind};
use super::ir::{Block, BlockId, IrClause, IrExpr, IrKind, IrPart, IrStmt, Target};
use super::model::{AttrDef, AttrKind, EntityId, ImplId, ImplementId, IndexId, Model, Type, TypedefConstraint};
use super::plugins::{PluginCtx, PluginFailure, PluginHost, PluginRegistry, WaitToken};
use super::value::{format_float, Dict, InstanceId, KeyPart, Value};
use crate::ast::BinOp;
use crate::intern::{Interner, Symbol};
use crate::lexer::CmpOp;
use crate::source::SourceMap;
use crate::span::Span;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TaskId(u32);

/// What a slot holds. A list is shared with the values read from it (`Rc`): a read of a
/// complete list costs a reference count, and appending copies only while a read holds it.
#[derive(Clone, Debug)]
pub enum SlotValue {
    Unset,
    Single(Value),
    List(Rc<Vec<Value>>),
}

/// Whose slot this is: an attribute of an instance, or a variable (whose name is found
/// through its scope, only when a message needs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotOwner {
    Attr { instance: InstanceId, attr: u32 },
    Var,
}

/// One variable or attribute. A million of these make a large model, so the layout is
/// packed: 48 bytes (the owner in two `u32`s, "not set yet" as a sentinel span).
#[derive(Clone, Debug)]
pub struct Slot {
    pub value: SlotValue,
    /// Where the (first) value was set; for lists, where it was frozen by a read.
    set_at: Span,
    /// The instance (or [`VAR_OWNER`]) and the attribute index.
    owner: (u32, u32),
    pub frozen: bool,
    /// A task was ever parked on this slot (most never are: their writes skip the waiter
    /// maps).
    watched: bool,
}

/// Relation lists up to this length are checked for duplicates by a scan, longer ones by hash.
const SCAN_LIMIT: usize = 16;

/// `Slot::owner.0` of a variable.
const VAR_OWNER: u32 = u32::MAX;
/// `Slot::set_at` before anything set the slot.
const NOT_SET: Span = Span { file: crate::span::FileId(u32::MAX), start: 0, end: 0 };

impl Slot {
    fn var(value: SlotValue, set_at: Option<Span>) -> Slot {
        Slot { value, set_at: set_at.unwrap_or(NOT_SET), owner: (VAR_OWNER, 0), frozen: false, watched: false }
    }

    fn attr(instance: InstanceId, attr: u32) -> Slot {
        Slot { value: SlotValue::Unset, set_at: NOT_SET, owner: (instance.0, attr), frozen: false, watched: false }
    }

    pub fn set_at(&self) -> Option<Span> {
        (self.set_at != NOT_SET).then_some(self.set_at)
    }

    fn mark_set_at(&mut self, span: Span) {
        self.set_at = span;
    }

    /// Records where the first value came from (later values keep the first place).
    fn mark_first_set_at(&mut self, span: Span) {
        if self.set_at == NOT_SET {
            self.set_at = span;
        }
    }

    pub fn owner(&self) -> SlotOwner {
        match self.owner {
            (VAR_OWNER, _) => SlotOwner::Var,
            (instance, attr) => SlotOwner::Attr { instance: InstanceId(instance), attr },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub entity: EntityId,
    pub first_slot: u32,
    pub span: Span,
    pub implementations: Vec<ImplId>,
    registered_indexes: u32,
    /// The constructor failed: the instance is left out of the final checks.
    failed: bool,
}

impl Instance {
    pub fn slot(&self, attr: u32) -> SlotId {
        SlotId(self.first_slot + attr)
    }
}

struct Scope {
    first_var: u32,
    parent: Option<ScopeId>,
    /// Whose variables these are (their names, for messages).
    vars: ScopeVars,
}

#[derive(Clone, Copy)]
enum ScopeVars {
    Block(BlockId),
    Namespace(u32),
    /// The one-variable scopes of `when` conditions and typedef constraints.
    SelfValue,
}

#[derive(Clone, Copy)]
enum CurrentSelf {
    None,
    Instance(InstanceId),
    /// The scope of a statement: its implementation's instance, if any, through the parents.
    Scope(ScopeId),
}

enum TaskKind {
    Stmt { block: BlockId, index: u32, scope: ScopeId },
    Select { instance: InstanceId, implement: ImplementId },
    ForEach { block: BlockId, index: u32, scope: ScopeId, list: SlotId, consumed: u32 },
}

struct Task {
    kind: TaskKind,
    may_write: Rc<[u32]>,
    /// Results of constructors and plugin calls already done, replayed on a re-run; boxed
    /// because most tasks never have any.
    memo: Option<Box<Vec<Value>>>,
    done: bool,
    waiting: Option<Wait>,
    span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Wait {
    /// Woken when the slot gets a value or grows.
    Change(SlotId),
    /// Woken when the slot is frozen (the whole list, or the final answer of an optional);
    /// with the span of the read that needs it.
    Freeze(SlotId, Span),
    Index(IndexId, Box<Vec<KeyPart>>),
}

enum Halt {
    Wait(Wait),
    /// Boxed: every evaluation returns an `Eval`, which stays small this way.
    Error(Box<CompileError>),
}

impl From<CompileError> for Halt {
    fn from(error: CompileError) -> Halt {
        Halt::Error(Box::new(error))
    }
}

type Eval<T> = Result<T, Halt>;

fn fail<T>(kind: ErrorKind, span: Span) -> Eval<T> {
    Err(Halt::from(CompileError::new(kind, span)))
}

/// Outcome of a run: the instances and their slots, plus every error.
pub struct Execution {
    pub instances: Vec<Instance>,
    pub slots: Arena<Slot>,
    pub errors: Vec<CompileError>,
    pub output: Vec<String>,
    pub tasks_run: u64,
}

impl Execution {
    pub fn slot_value(&self, instance: InstanceId, attr: u32) -> &SlotValue {
        let inst = &self.instances[instance.0 as usize];
        &self.slots[inst.slot(attr).0 as usize].value
    }
}

pub struct Executor<'a> {
    model: &'a Model,
    blocks: &'a [Block],
    plugins: &'a PluginRegistry,
    interner: &'a Interner,
    sources: &'a SourceMap,
    name_ids: &'a FxHashMap<Symbol, u32>,
    settings: &'a dyn Fn(&str) -> Option<String>,
    module_file: &'a dyn Fn(&str) -> Result<String, String>,
    module_files: &'a dyn Fn(&str) -> Result<Vec<String>, String>,
    slots: Arena<Slot>,
    instances: Vec<Instance>,
    scopes: Arena<Scope>,
    tasks: Arena<Task>,
    queue: VecDeque<TaskId>,
    waiters: FxHashMap<SlotId, Vec<TaskId>>,
    freeze_waiters: FxHashMap<SlotId, Vec<TaskId>>,
    freeze_candidates: BTreeSet<SlotId>,
    /// The first read that waits for a slot to freeze: it explains a later write.
    freeze_readers: FxHashMap<SlotId, Span>,
    /// Slots frozen while something could still write them, because nothing else could run.
    forced_freezes: FxHashSet<SlotId>,
    /// Attributes a write to failed: their being unset is not reported again.
    failed_slots: FxHashSet<SlotId>,
    /// Per index: the tasks waiting for a key to appear.
    index_waiters: Vec<FxHashMap<Vec<KeyPart>, Vec<TaskId>>>,
    /// Per entity, per attribute: a bit per position in the entity's `indexes` that uses the
    /// attribute (an attribute set only looks at the indexes it can complete).
    index_masks: Vec<Vec<u32>>,
    indexes: Vec<FxHashMap<Vec<KeyPart>, InstanceId>>,
    pending: Vec<u32>,
    ns_scopes: Vec<ScopeId>,
    errors: Vec<CompileError>,
    output: Vec<String>,
    memo: Vec<Value>,
    memo_pos: usize,
    plugin_wait: Option<Wait>,
    /// Where the running statement's `self` comes from (resolved only when a plugin asks).
    current_self: CurrentSelf,
    /// Root scopes of implementation bodies, to the instance they implement (`self` of
    /// plugin calls such as `std::template`).
    impl_scopes: FxHashMap<ScopeId, InstanceId>,
    /// For frozen slots: the read that froze them (only for diagnostics, so kept aside).
    frozen_by: FxHashMap<SlotId, Span>,
    /// Members of multi-valued relations, for O(1) duplicate checks.
    relation_members: FxHashSet<(SlotId, InstanceId)>,
    scratch_scopes: Vec<ScopeId>,
    self_scopes: FxHashMap<InstanceId, ScopeId>,
    scratch_depth: usize,
    comp: Vec<Value>,
    tasks_run: u64,
    /// Typedef constraint verdicts for scalar values, by (typedef, value).
    constraint_verdicts: FxHashMap<(u32, KeyPart), bool>,
    /// Per implement statement: what its implementations may write (computed once).
    implement_may_write: Vec<Option<Rc<[u32]>>>,
    /// Per index: its attribute names, sorted (a lookup names them in any order).
    sorted_index_attrs: Vec<Vec<Symbol>>,
}

pub struct ExecInput<'a> {
    pub model: &'a Model,
    pub blocks: &'a [Block],
    pub plugins: &'a PluginRegistry,
    pub interner: &'a Interner,
    pub sources: &'a SourceMap,
    pub name_ids: &'a FxHashMap<Symbol, u32>,
    pub settings: &'a dyn Fn(&str) -> Option<String>,
    pub module_file: &'a dyn Fn(&str) -> Result<String, String>,
    /// Lists the regular files of a module folder (`module/rest`), for `std::list_files`.
    pub module_files: &'a dyn Fn(&str) -> Result<Vec<String>, String>,
}

pub fn execute(input: ExecInput<'_>) -> Execution {
    let mut executor = Executor {
        model: input.model,
        blocks: input.blocks,
        plugins: input.plugins,
        interner: input.interner,
        sources: input.sources,
        name_ids: input.name_ids,
        settings: input.settings,
        module_file: input.module_file,
        module_files: input.module_files,
        slots: Arena::new(),
        instances: Vec::new(),
        scopes: Arena::new(),
        tasks: Arena::new(),
        queue: VecDeque::new(),
        waiters: FxHashMap::default(),
        freeze_waiters: FxHashMap::default(),
        freeze_candidates: BTreeSet::new(),
        freeze_readers: FxHashMap::default(),
        forced_freezes: FxHashSet::default(),
        failed_slots: FxHashSet::default(),
        index_waiters: vec![FxHashMap::default(); input.model.indexes.len()],
        index_masks: index_masks(input.model),
        indexes: vec![FxHashMap::default(); input.model.indexes.len()],
        pending: vec![0; input.name_ids.len() + 1],
        ns_scopes: Vec::new(),
        errors: Vec::new(),
        output: Vec::new(),
        memo: Vec::new(),
        memo_pos: 0,
        plugin_wait: None,
        current_self: CurrentSelf::None,
        impl_scopes: FxHashMap::default(),
        frozen_by: FxHashMap::default(),
        relation_members: FxHashSet::default(),
        scratch_scopes: Vec::new(),
        self_scopes: FxHashMap::default(),
        scratch_depth: 0,
        comp: Vec::new(),
        tasks_run: 0,
        constraint_verdicts: FxHashMap::default(),
        implement_may_write: vec![None; input.model.implements.len()],
        sorted_index_attrs: input
            .model
            .indexes
            .iter()
            .map(|index| {
                let mut attrs = index.attrs.clone();
                attrs.sort();
                attrs
            })
            .collect(),
    };
    executor.run();
    if std::env::var_os("CAIRN_EXEC_STATS").is_some() {
        eprintln!("slots {} scopes {} tasks {} runs {} instances {} slot size {} task size {}", executor.slots.len(), executor.scopes.len(), executor.tasks.len(), executor.tasks_run, executor.instances.len(), std::mem::size_of::<Slot>(), std::mem::size_of::<Task>());
    }
    Execution {
        instances: executor.instances,
        slots: executor.slots,
        errors: executor.errors,
        output: executor.output,
        tasks_run: executor.tasks_run,
    }
}

/// For each entity and attribute, which of the entity's indexes (by position, at most 32)
/// include the attribute.
fn index_masks(model: &Model) -> Vec<Vec<u32>> {
    model
        .entities
        .iter()
        .map(|entity| {
            let mut masks = vec![0u32; entity.attrs.len()];
            for (position, index) in entity.indexes.iter().enumerate().take(32) {
                for name in &model.indexes[index.index()].attrs {
                    if let Some((attr, _)) = entity.attr(*name) {
                        masks[attr as usize] |= 1 << position;
                    }
                }
            }
            masks
        })
        .collect()
}

impl<'a> Executor<'a> {
    fn run(&mut self) {
        // Namespace scopes first (any namespace may read another's globals), then their
        // top-level statements.
        for ns in &self.model.namespaces {
            let first_var = self.slots.len() as u32;
            for _ in &ns.global_names {
                self.slots.push(Slot::var(SlotValue::Unset, None));
            }
            let scope = ScopeId(self.scopes.len() as u32);
            self.scopes.push(Scope { first_var, parent: None, vars: ScopeVars::Namespace(self.ns_scopes.len() as u32) });
            self.ns_scopes.push(scope);
        }
        self.check_defaults();
        for (index, ns) in self.model.namespaces.iter().enumerate() {
            if let Some(block) = ns.top_block {
                self.spawn_statements(block, self.ns_scopes[index]);
            }
        }
        loop {
            while let Some(task) = self.queue.pop_front() {
                self.run_task(task);
            }
            if !self.freeze_something() {
                break;
            }
        }
        self.finish();
    }

    /// Default values must fit their attribute's type, whether or not an instance is made
    /// (Inmanta checks them when it builds the entity).
    fn check_defaults(&mut self) {
        let model = self.model;
        for (id, entity) in model.entities.iter().enumerate() {
            for attr in &entity.attrs {
                if attr.declared_in.index() != id {
                    continue;
                }
                if let AttrKind::Value { ty, default: Some(default), .. } = &attr.kind {
                    if let Err(error) = self.check_type(ty, default, attr.span, attr.name) {
                        self.errors.push(error);
                    }
                }
            }
        }
    }

    // ---------- tasks ----------

    fn new_task(&mut self, kind: TaskKind, may_write: Rc<[u32]>, span: Span) -> TaskId {
        for &name in may_write.iter() {
            self.pending[name as usize] += 1;
        }
        let id = TaskId(self.tasks.len() as u32);
        self.tasks.push(Task { kind, may_write, memo: None, done: false, waiting: None, span });
        self.queue.push_back(id);
        id
    }

    fn complete(&mut self, id: TaskId) {
        let task = &mut self.tasks[id.0 as usize];
        if task.done {
            return;
        }
        task.done = true;
        task.waiting = None;
        task.memo = None;
        let may_write = task.may_write.clone();
        for &name in may_write.iter() {
            self.pending[name as usize] -= 1;
        }
    }

    fn park(&mut self, id: TaskId, wait: Wait) {
        match &wait {
            Wait::Change(slot) => {
                self.slots[slot.0 as usize].watched = true;
                self.waiters.entry(*slot).or_default().push(id)
            }
            Wait::Freeze(slot, reader) => {
                self.freeze_readers.entry(*slot).or_insert(*reader);
                self.slots[slot.0 as usize].watched = true;
                self.freeze_waiters.entry(*slot).or_default().push(id);
                self.freeze_candidates.insert(*slot);
            }
            Wait::Index(index, key) => self.index_waiters[index.index()].entry((**key).clone()).or_default().push(id),
        }
        self.tasks[id.0 as usize].waiting = Some(wait);
    }

    fn wake(&mut self, slot: SlotId) {
        if !self.slots[slot.0 as usize].watched {
            return;
        }
        if let Some(list) = self.waiters.remove(&slot) {
            self.queue.extend(list);
        }
    }

    fn new_scope(&mut self, block: BlockId, parent: Option<ScopeId>, preset: &[Value], span: Span) -> ScopeId {
        let first_var = self.slots.len() as u32;
        for i in 0..self.blocks[block.index()].vars.len() {
            self.slots.push(match preset.get(i) {
                Some(value) => Slot::var(SlotValue::Single(value.clone()), Some(span)),
                None => Slot::var(SlotValue::Unset, None),
            });
        }
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { first_var, parent, vars: ScopeVars::Block(block) });
        id
    }

    fn spawn_statements(&mut self, block: BlockId, scope: ScopeId) {
        let blocks = self.blocks;
        let info = &blocks[block.index()];
        for (index, stmt) in info.stmts.iter().enumerate() {
            let may_write = info.stmt_may_write.get(index).cloned().unwrap_or_else(|| info.may_write.clone());
            self.new_task(TaskKind::Stmt { block, index: index as u32, scope }, may_write, stmt.span());
        }
    }

    fn spawn_block(&mut self, block: BlockId, parent: Option<ScopeId>, preset: &[Value], span: Span) {
        let scope = self.new_scope(block, parent, preset, span);
        self.spawn_statements(block, scope);
    }

    fn run_task(&mut self, id: TaskId) {
        let task = &mut self.tasks[id.0 as usize];
        if task.done {
            return;
        }
        task.waiting = None;
        self.tasks_run += 1;
        self.memo = task.memo.take().map(|memo| *memo).unwrap_or_default();
        self.memo_pos = 0;
        let result = match task.kind {
            TaskKind::Stmt { block, index, scope } => self.run_stmt(block, index, scope),
            TaskKind::Select { instance, implement } => self.run_select(instance, implement),
            TaskKind::ForEach { block, index, scope, list, consumed } => self.run_foreach(id, block, index, scope, list, consumed),
        };
        let memo = std::mem::take(&mut self.memo);
        self.tasks[id.0 as usize].memo = if memo.is_empty() { None } else { Some(Box::new(memo)) };
        match result {
            Ok(true) => self.complete(id),
            Ok(false) => {}
            Err(Halt::Wait(wait)) => self.park(id, wait),
            Err(Halt::Error(error)) => {
                self.errors.push(*error);
                self.complete(id);
            }
        }
    }

    /// Runs one statement; `Ok(true)` when it is done.
    fn run_stmt(&mut self, block: BlockId, index: u32, scope: ScopeId) -> Eval<bool> {
        let blocks = self.blocks;
        let stmt = &blocks[block.index()].stmts[index as usize];
        self.current_self = CurrentSelf::Scope(scope);
        match stmt {
            IrStmt::Assign { target, value, span } => {
                let value = self.eval(value, scope)?;
                self.assign(target, value, scope, *span, false)?;
            }
            IrStmt::Extend { target, value, span } => {
                let value = self.eval(value, scope)?;
                self.assign(target, value, scope, *span, true)?;
            }
            IrStmt::Expr(expr) => {
                self.eval(expr, scope)?;
            }
            IrStmt::If { cond, then, otherwise, span } => {
                let value = self.eval(cond, scope)?;
                if value.is_unknown() {
                    return Ok(true);
                }
                if self.condition(&value, "the condition of an `if` statement", cond.span)? {
                    self.spawn_block(*then, Some(scope), &[], *span);
                } else if let Some(otherwise) = otherwise {
                    self.spawn_block(*otherwise, Some(scope), &[], *span);
                }
            }
            IrStmt::For { iterable, body, span } => {
                // A relation or list attribute is consumed element by element as it fills.
                if let IrKind::Attr { base, name } = &iterable.kind {
                    let base_value = self.eval(base, scope)?;
                    if let Value::Instance(instance) = base_value {
                        let (attr_index, multi) = self.attr_of(instance, *name, iterable.span)?;
                        if multi {
                            let list = self.instances[instance.0 as usize].slot(attr_index);
                            let may_write = self.blocks[body.index()].may_write.clone();
                            self.new_task(TaskKind::ForEach { block, index, scope, list, consumed: 0 }, may_write, *span);
                            return Ok(true);
                        }
                    }
                }
                let value = self.eval(iterable, scope)?;
                match value {
                    Value::List(items) => {
                        for item in items.iter() {
                            if !item.is_unknown() {
                                self.spawn_block(*body, Some(scope), std::slice::from_ref(item), *span);
                            }
                        }
                    }
                    Value::Unknown => {}
                    other => {
                        return fail(
                            ErrorKind::InvalidOperation(format!(
                                "a for loop iterates over lists and relations, not over {}",
                                self.show_type(&other)
                            )),
                            iterable.span,
                        )
                    }
                }
            }
        }
        Ok(true)
    }

    fn run_foreach(&mut self, id: TaskId, block: BlockId, index: u32, scope: ScopeId, list: SlotId, consumed: u32) -> Eval<bool> {
        let IrStmt::For { body, span, .. } = &self.blocks[block.index()].stmts[index as usize] else { return Ok(true) };
        let (body, span) = (*body, *span);
        let items: Vec<Value> = match &self.slots[list.0 as usize].value {
            SlotValue::List(items) => items.get(consumed as usize..).map(<[Value]>::to_vec).unwrap_or_default(),
            SlotValue::Single(Value::List(items)) => items.get(consumed as usize..).map(<[Value]>::to_vec).unwrap_or_default(),
            SlotValue::Single(Value::Null | Value::Unknown) | SlotValue::Unset => Vec::new(),
            SlotValue::Single(other) => {
                return fail(
                    ErrorKind::InvalidOperation(format!("a for loop iterates over lists and relations, not over {}", self.show_type(other))),
                    span,
                )
            }
        };
        for item in &items {
            if !item.is_unknown() {
                self.spawn_block(body, Some(scope), std::slice::from_ref(item), span);
            }
        }
        if let TaskKind::ForEach { consumed: c, .. } = &mut self.tasks[id.0 as usize].kind {
            *c += items.len() as u32;
        }
        if self.slots[list.0 as usize].frozen {
            Ok(true)
        } else {
            // Woken by every new element; and the list is a freeze candidate, so that once
            // nothing can write it any more it freezes and the loop completes.
            self.slots[list.0 as usize].watched = true;
            self.freeze_waiters.entry(list).or_default().push(id);
            self.freeze_candidates.insert(list);
            Err(Halt::Wait(Wait::Change(list)))
        }
    }

    fn run_select(&mut self, instance: InstanceId, implement: ImplementId) -> Eval<bool> {
        let def = &self.model.implements[implement.index()];
        if let Some(when) = &def.when {
            let scope = self.self_scope(instance);
            self.current_self = CurrentSelf::Instance(instance);
            let selected = self
                .eval(when, scope)
                .and_then(|value| self.condition(&value, "the `when` condition of an implement statement", when.span));
            match selected {
                Ok(true) => {}
                Ok(false) => return Ok(true),
                Err(Halt::Error(error)) => {
                    // The instance cannot be implemented: what it misses follows from this.
                    self.instances[instance.0 as usize].failed = true;
                    return Err(Halt::Error(error));
                }
                Err(wait) => return Err(wait),
            }
        }
        let inst = instance.0 as usize;
        for &implementation in &def.implementations {
            if self.instances[inst].implementations.contains(&implementation) {
                continue;
            }
            self.instances[inst].implementations.push(implementation);
            if let Some(body) = self.model.implementations[implementation.index()].body {
                let span = self.instances[inst].span;
                let scope = self.new_scope(body, None, &[Value::Instance(instance)], span);
                self.impl_scopes.insert(scope, instance);
                self.spawn_statements(body, scope);
            }
        }
        Ok(true)
    }

    fn select_implementations(&mut self, instance: InstanceId, entity: EntityId) {
        let span = self.instances[instance.0 as usize].span;
        let model: &'a Model = self.model;
        for &implement in &model.entity(entity).effective_implements {
            let may_write = match &self.implement_may_write[implement.index()] {
                Some(names) => names.clone(),
                None => {
                    let mut may_write: Vec<u32> = Vec::new();
                    for implementation in &model.implements[implement.index()].implementations {
                        if let Some(body) = model.implementations[implementation.index()].body {
                            may_write.extend(self.blocks[body.index()].may_write.iter());
                        }
                    }
                    may_write.sort_unstable();
                    may_write.dedup();
                    let names: Rc<[u32]> = may_write.into();
                    self.implement_may_write[implement.index()] = Some(names.clone());
                    names
                }
            };
            self.new_task(TaskKind::Select { instance, implement }, may_write, span);
        }
    }

    /// The instance whose implementation a scope belongs to (through its parents).
    fn instance_of_scope(&self, scope: ScopeId) -> Option<InstanceId> {
        let mut current = scope;
        loop {
            if let Some(instance) = self.impl_scopes.get(&current) {
                return Some(*instance);
            }
            current = self.scopes[current.0 as usize].parent?;
        }
    }

    /// A one-variable scope holding `self`, for `when` conditions.
    /// (One per instance, shared by all its `when` conditions and their re-runs.)
    fn self_scope(&mut self, instance: InstanceId) -> ScopeId {
        if let Some(&scope) = self.self_scopes.get(&instance) {
            return scope;
        }
        let first_var = self.slots.len() as u32;
        self.slots.push(Slot::var(SlotValue::Single(Value::Instance(instance)), None));
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { first_var, parent: None, vars: ScopeVars::SelfValue });
        self.self_scopes.insert(instance, id);
        id
    }

    // ---------- freezing ----------

    /// Freezes lists and optional values that readers wait for; false when nothing is left to
    /// freeze (the run is over).
    fn freeze_something(&mut self) -> bool {
        let candidates: Vec<SlotId> = self
            .freeze_candidates
            .iter()
            .copied()
            .filter(|slot| !self.slots[slot.0 as usize].frozen && self.freeze_waiters.get(slot).is_some_and(|w| !w.is_empty()))
            .collect();
        self.freeze_candidates = candidates.iter().copied().collect();
        if candidates.is_empty() {
            return false;
        }
        let mut safe = Vec::new();
        let mut best: Option<(u32, SlotId)> = None;
        for slot in &candidates {
            let writers = self.possible_writers(*slot);
            if writers == 0 {
                safe.push(*slot);
            }
            if best.is_none_or(|(w, _)| writers < w) {
                best = Some((writers, *slot));
            }
        }
        if safe.is_empty() {
            if let Some((_, slot)) = best {
                self.forced_freezes.insert(slot);
                safe.push(slot);
            }
        }
        for slot in safe {
            self.freeze(slot);
        }
        true
    }

    fn possible_writers(&self, slot: SlotId) -> u32 {
        match self.slots[slot.0 as usize].owner() {
            SlotOwner::Attr { instance, attr } => {
                let entity = self.instances[instance.0 as usize].entity;
                let name = self.model.entity(entity).attrs[attr as usize].name;
                self.name_ids.get(&name).map(|id| self.pending[*id as usize]).unwrap_or(0)
            }
            // A variable is set by a statement of its own block: only freeze it when stuck.
            SlotOwner::Var => u32::MAX,
        }
    }

    fn freeze(&mut self, slot: SlotId) {
        let reader = self
            .freeze_readers
            .remove(&slot)
            .or_else(|| self.freeze_waiters.get(&slot).and_then(|w| w.first()).map(|t| self.tasks[t.0 as usize].span));
        let entry = &mut self.slots[slot.0 as usize];
        if entry.frozen {
            return;
        }
        entry.frozen = true;
        if let Some(reader) = reader {
            self.frozen_by.insert(slot, reader);
        }
        self.freeze_candidates.remove(&slot);
        if let Some(list) = self.freeze_waiters.remove(&slot) {
            self.queue.extend(list);
        }
        self.wake(slot);
    }

    // ---------- reading ----------

    fn attr_of(&self, instance: InstanceId, name: Symbol, span: Span) -> Eval<(u32, bool)> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        match entity.attr(name) {
            Some((index, attr)) => Ok((index, attr.is_multi())),
            None => fail(
                ErrorKind::AttributeNotFound { entity: entity.full_name.clone(), attribute: self.interner.resolve(name).to_string() },
                span,
            ),
        }
    }

    fn read_attr(&mut self, instance: InstanceId, name: Symbol, span: Span) -> Eval<Value> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        let Some((index, attr)) = entity.attr(name) else {
            return fail(
                ErrorKind::AttributeNotFound { entity: entity.full_name.clone(), attribute: self.interner.resolve(name).to_string() },
                span,
            );
        };
        let multi = attr.is_multi();
        let optional = attr.is_optional_single();
        let slot_id = self.instances[instance.0 as usize].slot(index);
        let slot = &self.slots[slot_id.0 as usize];
        match &slot.value {
            SlotValue::Single(value) => Ok(value.clone()),
            SlotValue::List(items) if slot.frozen => Ok(Value::List(items.clone())),
            SlotValue::Unset if multi && slot.frozen => Ok(Value::list(Vec::new())),
            SlotValue::Unset if optional && slot.frozen => {
                let mut error = CompileError::new(ErrorKind::OptionalNotSet { target: self.describe_slot(slot_id) }, span);
                if let Some(null_at) = slot.set_at() {
                    error = error.with_related(null_at, "set to null here");
                }
                Err(Halt::from(error))
            }
            _ if multi || optional => Err(Halt::Wait(Wait::Freeze(slot_id, span))),
            _ => Err(Halt::Wait(Wait::Change(slot_id))),
        }
    }

    fn read_var(&self, slot: SlotId) -> Eval<Value> {
        match &self.slots[slot.0 as usize].value {
            SlotValue::Single(value) => Ok(value.clone()),
            SlotValue::List(items) => Ok(Value::List(items.clone())),
            SlotValue::Unset => Err(Halt::Wait(Wait::Change(slot))),
        }
    }

    fn var_slot(&self, scope: ScopeId, depth: u32, index: u32) -> SlotId {
        let mut current = scope;
        for _ in 0..depth {
            match self.scopes[current.0 as usize].parent {
                Some(parent) => current = parent,
                None => break,
            }
        }
        SlotId(self.scopes[current.0 as usize].first_var + index)
    }

    fn global_slot(&self, ns: super::model::NsId, index: u32) -> SlotId {
        SlotId(self.scopes[self.ns_scopes[ns.index()].0 as usize].first_var + index)
    }

    /// The name of a variable slot: found through the scope that holds it (scopes are made in
    /// slot order, so the last scope starting at or before the slot is the one).
    fn var_name(&self, slot: SlotId) -> &str {
        let (mut low, mut high) = (0usize, self.scopes.len());
        while high - low > 1 {
            let middle = (low + high) / 2;
            if self.scopes[middle].first_var <= slot.0 {
                low = middle;
            } else {
                high = middle;
            }
        }
        let Some(scope) = self.scopes.get(low) else { return "?" };
        let index = (slot.0 - scope.first_var.min(slot.0)) as usize;
        match scope.vars {
            ScopeVars::Block(block) => self.blocks[block.index()].vars.get(index).map(|(name, _)| self.interner.resolve(*name)).unwrap_or("?"),
            ScopeVars::Namespace(ns) => self.model.namespaces[ns as usize].global_names.get(index).map(|(name, _)| self.interner.resolve(*name)).unwrap_or("?"),
            ScopeVars::SelfValue => "self",
        }
    }

    pub fn describe_slot(&self, slot: SlotId) -> String {
        match self.slots[slot.0 as usize].owner() {
            SlotOwner::Attr { instance, attr } => {
                let inst = &self.instances[instance.0 as usize];
                let entity = self.model.entity(inst.entity);
                format!("attribute `{}` of {}", self.interner.resolve(entity.attrs[attr as usize].name), self.describe_instance(instance))
            }
            SlotOwner::Var => format!("variable `{}`", self.var_name(slot)),
        }
    }

    pub fn describe_instance(&self, instance: InstanceId) -> String {
        let inst = &self.instances[instance.0 as usize];
        let entity = self.model.entity(inst.entity);
        let (line, _) = self.sources.file(inst.span.file).map(|f| f.line_col(inst.span.start as usize)).unwrap_or((0, 0));
        format!("`{}` (created at {}:{line})", entity.full_name, self.sources.name(inst.span.file))
    }

    // ---------- writing ----------

    fn assign(&mut self, target: &Target, value: Value, scope: ScopeId, span: Span, extend: bool) -> Eval<()> {
        match target {
            Target::Var(index) => {
                let slot = SlotId(self.scopes[scope.0 as usize].first_var + index);
                self.set_var(slot, value, span)
            }
            Target::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.set_var(slot, value, span)
            }
            Target::Attr { base, name, name_span } => {
                let base_value = self.eval(base, scope)?;
                let instance = match base_value {
                    Value::Instance(instance) => instance,
                    Value::Unknown => return Ok(()),
                    other => {
                        return fail(
                            ErrorKind::NotAnInstance { found: self.show_type(&other), context: "setting an attribute".into() },
                            base.span,
                        )
                    }
                };
                let (index, _) = self.attr_of(instance, *name, *name_span)?;
                self.set_attr(instance, index, value, span, extend).map_err(|error| {
                    // The attribute stays unset because of this error: do not report it again.
                    self.failed_slots.insert(self.instances[instance.0 as usize].slot(index));
                    Halt::from(error)
                })
            }
        }
    }

    fn set_var(&mut self, slot: SlotId, value: Value, span: Span) -> Eval<()> {
        let entry = &mut self.slots[slot.0 as usize];
        match &entry.value {
            SlotValue::Unset => {
                entry.value = SlotValue::Single(value);
                entry.mark_set_at(span);
                self.wake(slot);
                Ok(())
            }
            SlotValue::Single(old) if *old == value => Ok(()),
            _ => {
                let old = match &entry.value {
                    SlotValue::Single(old) => old.clone(),
                    _ => Value::Null,
                };
                let first = entry.set_at();
                let mut error = CompileError::new(
                    ErrorKind::SetTwice { target: self.describe_slot(slot), old: self.show(&old), new: self.show(&value) },
                    span,
                );
                if let Some(first) = first {
                    error = error.with_related(first, "first set here");
                }
                Err(Halt::from(error))
            }
        }
    }

    /// Sets (or, for lists, extends) attribute `attr` of `instance`, with type checks,
    /// bidirectional relations, multiplicity and freeze checks, and index registration.
    fn set_attr(&mut self, instance: InstanceId, attr: u32, value: Value, span: Span, extend: bool) -> Result<(), CompileError> {
        let entity = self.instances[instance.0 as usize].entity;
        // The model outlives the executor's borrow: the definition is read in place.
        let model: &'a Model = self.model;
        let def = &model.entity(entity).attrs[attr as usize];
        match &def.kind {
            AttrKind::Relation { target, upper, lower, inverse } => {
                if extend && !def.is_multi() {
                    return Err(CompileError::new(
                        ErrorKind::InvalidOperation(format!(
                            "`+=` needs a list relation: `{}` holds at most one value",
                            self.interner.resolve(def.name)
                        )),
                        span,
                    ));
                }
                let items = match value {
                    Value::List(items) => items.as_ref().clone(),
                    // `null` says "no (more) values": the relation is complete as it is.
                    Value::Null if *lower == 0 || def.is_multi() => return self.set_relation_null(instance, attr, span),
                    other => vec![other],
                };
                for item in items {
                    let other = match item {
                        Value::Instance(other) if self.model.is_subtype(self.instances[other.0 as usize].entity, *target) => other,
                        Value::Unknown => {
                            // An unknown instance (a lookup with an unknown key): kept as a
                            // value, without an inverse to update.
                            self.add_unknown(instance, attr, *upper, span)?;
                            continue;
                        }
                        other_value => {
                            return Err(CompileError::new(
                                ErrorKind::TypeMismatch {
                                    expected: self.model.entity(*target).full_name.clone(),
                                    found: self.show_type(&other_value),
                                    context: format!("relation `{}`", self.interner.resolve(def.name)),
                                },
                                span,
                            ))
                        }
                    };
                    self.add_relation(instance, attr, other, *upper, span)?;
                    if let Some(inverse) = inverse {
                        let other_entity = self.model.entity(self.instances[other.0 as usize].entity);
                        if let Some((inverse_index, inverse_def)) = other_entity.attr(*inverse) {
                            let inverse_upper = match &inverse_def.kind {
                                AttrKind::Relation { upper, .. } => *upper,
                                _ => None,
                            };
                            self.add_relation(other, inverse_index, instance, inverse_upper, span)?;
                        }
                    }
                }
                Ok(())
            }
            AttrKind::Value { ty, .. } => {
                let slot_id = self.instances[instance.0 as usize].slot(attr);
                if def.is_multi() && extend {
                    // `+=` on a list attribute: the list fills gradually.
                    let element_type = match ty {
                        Type::List(inner) => (**inner).clone(),
                        Type::Nullable(inner) => match &**inner {
                            Type::List(element) => (**element).clone(),
                            _ => Type::Any,
                        },
                        _ => Type::Any,
                    };
                    let items = match value {
                        Value::List(items) => items.as_ref().clone(),
                        Value::Unknown => return Ok(()),
                        other => vec![other],
                    };
                    for item in &items {
                        self.check_type(&element_type, item, span, def.name)?;
                    }
                    let slot = &mut self.slots[slot_id.0 as usize];
                    if slot.frozen {
                        return Err(self.frozen_error(slot_id, span));
                    }
                    match &mut slot.value {
                        SlotValue::List(existing) => Rc::make_mut(existing).extend(items),
                        other => *other = SlotValue::List(Rc::new(items)),
                    }
                    slot.mark_first_set_at(span);
                    self.wake(slot_id);
                    return Ok(());
                }
                if extend {
                    return Err(CompileError::new(
                        ErrorKind::InvalidOperation(format!("`+=` needs a list, and `{}` is not one", self.interner.resolve(def.name))),
                        span,
                    ));
                }
                self.check_type(ty, &value, span, def.name)?;
                let slot = &mut self.slots[slot_id.0 as usize];
                match &slot.value {
                    SlotValue::Unset if slot.frozen => Err(self.frozen_error(slot_id, span)),
                    SlotValue::Unset => {
                        slot.value = SlotValue::Single(value);
                        slot.mark_set_at(span);
                        if def.is_multi() {
                            // A list assigned with `=` is complete.
                            self.complete_slot(slot_id);
                        } else {
                            self.wake(slot_id);
                        }
                        self.on_attr_set(instance, attr, span)
                    }
                    SlotValue::Single(old) if *old == value => Ok(()),
                    SlotValue::List(items) if Value::List(items.clone()) == value => {
                        self.complete_slot(slot_id);
                        Ok(())
                    }
                    SlotValue::Single(_) | SlotValue::List(_) => {
                        let old = match &slot.value {
                            SlotValue::Single(old) => old.clone(),
                            SlotValue::List(items) => Value::List(items.clone()),
                            SlotValue::Unset => Value::Null,
                        };
                        let first = slot.set_at();
                        let mut error = CompileError::new(
                            ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show(&old), new: self.show(&value) },
                            span,
                        );
                        if let Some(first) = first {
                            let label = if first == def.span { "first set here, by the default value" } else { "first set here" };
                            error = error.with_related(first, label);
                        }
                        Err(error)
                    }
                }
            }
        }
    }

    fn add_unknown(&mut self, instance: InstanceId, attr: u32, upper: Option<u32>, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let slot = &mut self.slots[slot_id.0 as usize];
        if slot.frozen {
            return Ok(());
        }
        slot.mark_first_set_at(span);
        if upper == Some(1) {
            if matches!(slot.value, SlotValue::Unset) {
                slot.value = SlotValue::Single(Value::Unknown);
                self.complete_slot(slot_id);
            }
            return Ok(());
        }
        match &mut slot.value {
            SlotValue::List(items) => Rc::make_mut(items).push(Value::Unknown),
            other => *other = SlotValue::List(Rc::new(vec![Value::Unknown])),
        }
        self.wake(slot_id);
        Ok(())
    }

    /// `rel = null`: an optional relation gets "no value", a list relation is complete.
    fn set_relation_null(&mut self, instance: InstanceId, attr: u32, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let slot = &mut self.slots[slot_id.0 as usize];
        match &slot.value {
            SlotValue::Unset => {
                slot.mark_first_set_at(span);
                self.complete_slot(slot_id);
                Ok(())
            }
            SlotValue::List(items) if items.is_empty() => {
                self.complete_slot(slot_id);
                Ok(())
            }
            SlotValue::Single(Value::Null) => Ok(()),
            _ => {
                let first = slot.set_at();
                let old = old_value(&slot.value);
                let mut error = CompileError::new(
                    ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show(&old), new: "null".to_string() },
                    span,
                );
                if let Some(first) = first {
                    error = error.with_related(first, "first set here");
                }
                Err(error)
            }
        }
    }

    /// Marks a slot complete because its value is final (not because a read needed it).
    fn complete_slot(&mut self, slot: SlotId) {
        let entry = &mut self.slots[slot.0 as usize];
        if entry.frozen {
            self.wake(slot);
            return;
        }
        entry.frozen = true;
        // (A stale entry in `freeze_candidates` is dropped by the next `freeze_something`.)
        if !entry.watched {
            return;
        }
        if let Some(list) = self.freeze_waiters.remove(&slot) {
            self.queue.extend(list);
        }
        self.wake(slot);
    }

    fn frozen_error(&self, slot: SlotId, span: Span) -> CompileError {
        let mut error = CompileError::new(ErrorKind::ModifiedAfterFreeze { target: self.describe_slot(slot) }, span);
        if let Some(&reader) = self.frozen_by.get(&slot) {
            error = error.with_related(reader, "this read needed the complete value and froze it");
            if self.forced_freezes.contains(&slot) {
                error = error.with_cause(
                    "the read and this write wait on each other: when nothing else could run, the compiler froze the value for the read, and the write came afterwards",
                );
            }
        } else if let Some(first) = self.slots[slot.0 as usize].set_at() {
            error = error.with_related(first, "the value was complete after this statement");
        }
        error
    }

    fn add_relation(&mut self, instance: InstanceId, attr: u32, other: InstanceId, upper: Option<u32>, span: Span) -> Result<(), CompileError> {
        let slot_id = self.instances[instance.0 as usize].slot(attr);
        let value = Value::Instance(other);
        if upper == Some(1) {
            let slot = &mut self.slots[slot_id.0 as usize];
            match &slot.value {
                SlotValue::Unset => {
                    if slot.frozen {
                        return Err(self.frozen_error(slot_id, span));
                    }
                    slot.value = SlotValue::Single(value);
                    slot.mark_set_at(span);
                    self.complete_slot(slot_id);
                    return self.on_attr_set(instance, attr, span);
                }
                SlotValue::Single(old) if *old == value => return Ok(()),
                _ => {
                    let old = old_value(&slot.value);
                    let first = slot.set_at();
                    let mut error = CompileError::new(
                        ErrorKind::SetTwice { target: self.describe_slot(slot_id), old: self.show(&old), new: self.show(&value) },
                        span,
                    );
                    if let Some(first) = first {
                        error = error.with_related(first, "first set here");
                    }
                    return Err(error);
                }
            }
        }
        // Relations are sets. Short lists are scanned; from SCAN_LIMIT members on, a hash of
        // (slot, member) keeps the test O(1) on the large lists (a datacenter's nodes) where a
        // scan would be quadratic.
        let current_len = match &self.slots[slot_id.0 as usize].value {
            SlotValue::List(items) => items.len(),
            _ => 0,
        };
        let already = match &value {
            Value::Instance(member) if current_len >= SCAN_LIMIT => self.relation_members.contains(&(slot_id, *member)),
            other => matches!(&self.slots[slot_id.0 as usize].value, SlotValue::List(items) if items.contains(other)),
        };
        if already {
            return Ok(());
        }
        let slot = &mut self.slots[slot_id.0 as usize];
        let count = match &slot.value {
            SlotValue::List(items) => items.len(),
            _ => 0,
        };
        if let Some(upper) = upper {
            if count as u32 >= upper {
                let first = slot.set_at();
                let mut error = CompileError::new(ErrorKind::UpperBoundExceeded { target: self.describe_slot(slot_id), upper }, span);
                if let Some(first) = first {
                    error = error.with_related(first, "the first value was set here");
                }
                return Err(error);
            }
        }
        if slot.frozen {
            return Err(self.frozen_error(slot_id, span));
        }
        if let Value::Instance(member) = &value {
            if count + 1 == SCAN_LIMIT {
                // The list leaves the scanned range: index the members it has.
                if let SlotValue::List(items) = &self.slots[slot_id.0 as usize].value {
                    for item in items.iter() {
                        if let Value::Instance(existing) = item {
                            self.relation_members.insert((slot_id, *existing));
                        }
                    }
                }
            }
            if count + 1 >= SCAN_LIMIT {
                self.relation_members.insert((slot_id, *member));
            }
        }
        let slot = &mut self.slots[slot_id.0 as usize];
        match &mut slot.value {
            SlotValue::List(items) => Rc::make_mut(items).push(value),
            other => *other = SlotValue::List(Rc::new(vec![value])),
        }
        slot.mark_first_set_at(span);
        if upper.is_some_and(|upper| count as u32 + 1 == upper) {
            self.complete_slot(slot_id);
        } else {
            self.wake(slot_id);
        }
        Ok(())
    }

    /// After a single-valued attribute got its value: register the instance in the indexes
    /// that are now complete.
    fn on_attr_set(&mut self, instance: InstanceId, attr: u32, span: Span) -> Result<(), CompileError> {
        let entity = self.instances[instance.0 as usize].entity;
        // Only the indexes over this attribute, and not yet registered, are candidates.
        let candidates = self.index_masks[entity.index()].get(attr as usize).copied().unwrap_or(0)
            & !self.instances[instance.0 as usize].registered_indexes;
        let model: &'a Model = self.model;
        let indexes = &model.entity(entity).indexes;
        if candidates == 0 && indexes.len() <= 32 {
            return Ok(());
        }
        let name = model.entity(entity).attrs[attr as usize].name;
        for (position, &index) in indexes.iter().enumerate() {
            // Past 32 indexes (never seen in practice) the bits run out: checked by name, and
            // registering again is harmless.
            let relevant = if position < 32 { candidates & (1 << position) != 0 } else { model.indexes[index.index()].attrs.contains(&name) };
            if !relevant {
                continue;
            }
            let Some(key) = self.index_key(instance, index) else { continue };
            if position < 32 {
                self.instances[instance.0 as usize].registered_indexes |= 1 << position;
            }
            if !self.index_waiters[index.index()].is_empty() {
                if let Some(list) = self.index_waiters[index.index()].remove(&key) {
                    self.queue.extend(list);
                }
            }
            let existing = match self.indexes[index.index()].entry(key) {
                std::collections::hash_map::Entry::Occupied(entry) => *entry.get(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(instance);
                    instance
                }
            };
            if existing != instance {
                let key = self.index_key(instance, index).unwrap_or_default();
                let entity_name = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                return Err(CompileError::new(
                    ErrorKind::IndexCollision { entity: entity_name, key: self.show_key(index, &key) },
                    span,
                )
                .with_related(self.instances[existing.0 as usize].span, "first instance created here"));
            }
        }
        Ok(())
    }

    fn index_key(&self, instance: InstanceId, index: IndexId) -> Option<Vec<KeyPart>> {
        let inst = &self.instances[instance.0 as usize];
        let entity = self.model.entity(inst.entity);
        let mut key = Vec::with_capacity(self.model.indexes[index.index()].attrs.len());
        for name in &self.model.indexes[index.index()].attrs {
            let (attr, _) = entity.attr(*name)?;
            match &self.slots[inst.slot(attr).0 as usize].value {
                SlotValue::Single(value) => key.push(KeyPart::of(value)),
                _ => return None,
            }
        }
        Some(key)
    }

    fn show_key(&self, index: IndexId, key: &[KeyPart]) -> String {
        let names = &self.model.indexes[index.index()].attrs;
        let parts: Vec<String> = names
            .iter()
            .zip(key)
            .map(|(n, k)| {
                let shown = match k {
                    KeyPart::Str(s) => format!("\"{s}\""),
                    KeyPart::Int(i) => i.to_string(),
                    KeyPart::Float(bits) => format!("{:?}", f64::from_bits(*bits)),
                    KeyPart::Bool(b) => if *b { "true" } else { "false" }.to_string(),
                    KeyPart::Null => "null".to_string(),
                    KeyPart::Instance(i) => self.describe_instance(*i),
                    other => format!("{other:?}"),
                };
                format!("{}={}", self.interner.resolve(*n), shown)
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    // ---------- types ----------

    fn check_type(&mut self, ty: &Type, value: &Value, span: Span, attribute: Symbol) -> Result<(), CompileError> {
        if self.type_accepts(ty, value, span)? {
            return Ok(());
        }
        let context = format!("attribute `{}`", self.interner.resolve(attribute));
        Err(self.mismatch(ty, value, span, context)?)
    }

    /// Explains why `ty` does not accept `value`: the list element, typedef constraint or
    /// base type at fault.
    fn mismatch(&mut self, ty: &Type, value: &Value, span: Span, context: String) -> Result<CompileError, CompileError> {
        let inner = match ty {
            Type::Nullable(inner) => &**inner,
            other => other,
        };
        match (inner, value) {
            (Type::List(element), Value::List(items)) => {
                for item in items.iter() {
                    if !self.type_accepts(element, item, span)? {
                        return self.mismatch(element, item, span, format!("an element of {context}"));
                    }
                }
            }
            (Type::Typedef(id), value) => {
                let typedef = &self.model.typedefs[id.index()];
                let (name, base) = (typedef.name.clone(), typedef.base.clone());
                if self.type_accepts(&base, value, span)? {
                    return Ok(CompileError::new(ErrorKind::ConstraintViolation { typedef: name, value: self.show(value) }, span)
                        .with_related(typedef.span, "typedef declared here"));
                }
                if matches!(base, Type::Typedef(_)) {
                    return self.mismatch(&base, value, span, context);
                }
                return Ok(CompileError::new(
                    ErrorKind::TypeMismatch {
                        expected: format!("{name} (based on {})", self.model.type_name(&base)),
                        found: self.show_type(value),
                        context,
                    },
                    span,
                ));
            }
            _ => {}
        }
        Ok(CompileError::new(ErrorKind::TypeMismatch { expected: self.model.type_name(ty), found: self.show_type(value), context }, span))
    }

    fn type_accepts(&mut self, ty: &Type, value: &Value, span: Span) -> Result<bool, CompileError> {
        Ok(match (ty, value) {
            (_, Value::Unknown) => true,
            (Type::Any, _) => true,
            (Type::Nullable(_), Value::Null) => true,
            (Type::Nullable(inner), other) => self.type_accepts(inner, other, span)?,
            (Type::String, Value::Str(_)) => true,
            (Type::Int, Value::Int(_)) => true,
            (Type::Float, Value::Float(_)) => true,
            (Type::Number, Value::Int(_) | Value::Float(_)) => true,
            (Type::Bool, Value::Bool(_)) => true,
            (Type::Dict, Value::Dict(_)) => true,
            (Type::List(inner), Value::List(items)) => {
                for item in items.iter() {
                    if !self.type_accepts(inner, item, span)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Type::Entity(entity), Value::Instance(instance)) => {
                self.model.is_subtype(self.instances[instance.0 as usize].entity, *entity)
            }
            (Type::Typedef(id), value) => {
                // The model outlives the executor's borrow: no clone of the constraint needed.
                let model: &'a Model = self.model;
                let typedef = &model.typedefs[id.index()];
                if !self.type_accepts(&typedef.base, value, span)? {
                    return Ok(false);
                }
                if matches!(typedef.constraint, TypedefConstraint::None | TypedefConstraint::Expr(None)) {
                    return Ok(true);
                }
                // Constraints are pure: the verdict for a scalar value is computed once (a
                // fleet repeats the same few roles, modes and names thousands of times).
                let cache_key = match value {
                    Value::Str(_) | Value::Int(_) | Value::Bool(_) | Value::Float(_) => Some((id.0, KeyPart::of(value))),
                    _ => None,
                };
                if let Some(&verdict) = cache_key.as_ref().and_then(|key| self.constraint_verdicts.get(key)) {
                    return Ok(verdict);
                }
                let verdict = match &typedef.constraint {
                    TypedefConstraint::None | TypedefConstraint::Expr(None) => true,
                    TypedefConstraint::Regex(regex) => match value {
                        Value::Str(text) => regex.find(text).is_some_and(|m| m.start() == 0),
                        other => {
                            let text = self.show(other);
                            regex.find(&text).is_some_and(|m| m.start() == 0)
                        }
                    },
                    TypedefConstraint::Expr(Some(expr)) => {
                        let scope = self.value_scope(value.clone());
                        let saved_memo = (std::mem::take(&mut self.memo), self.memo_pos);
                        self.memo_pos = 0;
                        let result = self.eval(expr, scope);
                        self.scratch_depth -= 1;
                        self.memo = saved_memo.0;
                        self.memo_pos = saved_memo.1;
                        match result {
                            Ok(result) => result.is_unknown() || result.truthy(),
                            Err(Halt::Error(error)) => return Err(*error),
                            // Not a verdict: not remembered.
                            Err(Halt::Wait(_)) => return Ok(true),
                        }
                    }
                };
                if let Some(key) = cache_key {
                    self.constraint_verdicts.insert(key, verdict);
                }
                verdict
            }
            _ => false,
        })
    }

    /// A one-variable scope holding `value` as `self`, for typedef constraints. The scratch
    /// scopes are reused (one per nesting depth) instead of growing the arena per check.
    fn value_scope(&mut self, value: Value) -> ScopeId {
        let depth = self.scratch_depth;
        self.scratch_depth += 1;
        if let Some(&scope) = self.scratch_scopes.get(depth) {
            let slot = self.scopes[scope.0 as usize].first_var as usize;
            self.slots[slot].value = SlotValue::Single(value);
            return scope;
        }
        let scope = self.new_value_scope(value);
        self.scratch_scopes.push(scope);
        scope
    }

    fn new_value_scope(&mut self, value: Value) -> ScopeId {
        let first_var = self.slots.len() as u32;
        self.slots.push(Slot::var(SlotValue::Single(value), None));
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { first_var, parent: None, vars: ScopeVars::SelfValue });
        id
    }

    fn show(&self, value: &Value) -> String {
        match value {
            Value::Str(s) => format!("\"{s}\""),
            Value::Instance(instance) => self.describe_instance(*instance),
            other => self.render(other),
        }
    }

    fn show_type(&self, value: &Value) -> String {
        match value {
            Value::Null => "null".to_string(),
            Value::Instance(instance) => format!("an instance of `{}`", self.model.entity(self.instances[instance.0 as usize].entity).full_name),
            other => format!("{} {}", other.type_name(), self.show(other)),
        }
    }

    fn render_value(&self, value: &Value) -> String {
        let mut out = String::new();
        self.render_into(value, &mut out);
        out
    }

    /// Renders as string interpolation does, appending to `out`.
    fn render_into(&self, value: &Value, out: &mut String) {
        match value {
            Value::Str(text) => out.push_str(text),
            other => other.render(out, &|id| {
                let entity = self.model.entity(self.instances[id.0 as usize].entity);
                format!("{} {}", entity.full_name, id.0)
            }),
        }
    }

    // ---------- construction ----------

    /// Constructs an instance; `args` are `(attribute, name span, argument span, value)`.
    fn construct(&mut self, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, span: Span) -> Eval<Value> {
        let entity = self.model.entity(entity_id);
        for (i, (name, name_span, _, _)) in args.iter().enumerate() {
            if args[..i].iter().any(|(n, _, _, _)| n == name) {
                return fail(ErrorKind::DuplicateArgument(self.interner.resolve(*name).to_string()), *name_span);
            }
        }
        // Construction returns the existing instance when an index key matches (as in
        // Inmanta, the key is made of the given attributes and the defaults).
        let mut matched: Option<(InstanceId, IndexId, Vec<KeyPart>)> = None;
        for &index in &entity.indexes {
            let names = &self.model.indexes[index.index()].attrs;
            let mut key = Vec::with_capacity(names.len());
            let mut missing = Vec::new();
            for name in names {
                if let Some((_, _, _, value)) = args.iter().find(|(n, _, _, _)| n == name) {
                    key.push(KeyPart::of(value));
                    continue;
                }
                match entity.attr(*name) {
                    Some((_, AttrDef { kind: AttrKind::Value { default: Some(default), .. }, .. })) => key.push(KeyPart::of(default)),
                    Some((_, def)) => missing.push((self.interner.resolve(*name).to_string(), def.is_relation())),
                    None => missing.push((self.interner.resolve(*name).to_string(), false)),
                }
            }
            if !missing.is_empty() {
                return fail(ErrorKind::IndexAttributeMissing { entity: entity.full_name.clone(), attributes: missing }, span);
            }
            if let Some(&existing) = self.indexes[index.index()].get(&key) {
                let existing_entity = self.instances[existing.0 as usize].entity;
                if existing_entity != entity_id {
                    return Err(Halt::from(
                        CompileError::new(
                            ErrorKind::IndexTypeMismatch {
                                entity: entity.full_name.clone(),
                                key: self.show_key(index, &key),
                                existing: self.model.entity(existing_entity).full_name.clone(),
                            },
                            span,
                        )
                        .with_related(self.instances[existing.0 as usize].span, "the existing instance was created here"),
                    ));
                }
                match &matched {
                    Some((other, other_index, other_key)) if *other != existing => {
                        return Err(Halt::from(
                            CompileError::new(
                                ErrorKind::IndexCollision { entity: entity.full_name.clone(), key: self.show_key(index, &key) },
                                span,
                            )
                            .with_related(self.instances[existing.0 as usize].span, "one index finds this instance")
                            .with_related(
                                self.instances[other.0 as usize].span,
                                format!("index key {} finds this one", self.show_key(*other_index, other_key)),
                            ),
                        ));
                    }
                    _ => matched = Some((existing, index, key)),
                }
            }
        }
        if let Some((existing, _, _)) = matched {
            // The arguments and the defaults are set on the existing instance: a different
            // value is "set twice".
            self.init_attributes(existing, entity_id, args, span, true)?;
            return Ok(Value::Instance(existing));
        }
        let instance = InstanceId(self.instances.len() as u32);
        let first_slot = self.slots.len() as u32;
        for (attr, _) in entity.attrs.iter().enumerate() {
            self.slots.push(Slot::attr(instance, attr as u32));
        }
        self.instances.push(Instance {
            entity: entity_id,
            first_slot,
            span,
            implementations: Vec::new(),
            registered_indexes: 0,
            failed: false,
        });
        if let Err(halt) = self.init_attributes(instance, entity_id, args, span, false) {
            // A constructor that failed leaves no instance to complete: its missing attributes
            // would only repeat the error.
            self.instances[instance.0 as usize].failed = true;
            return Err(halt);
        }
        self.select_implementations(instance, entity_id);
        Ok(Value::Instance(instance))
    }

    /// Sets the constructor arguments and then the defaults of the attributes not given.
    fn init_attributes(&mut self, instance: InstanceId, entity_id: EntityId, args: Vec<(Symbol, Span, Span, Value)>, span: Span, existing: bool) -> Eval<()> {
        // A handful of arguments: a list scan beats hashing.
        let mut given: Vec<u32> = Vec::with_capacity(args.len());
        for (name, name_span, arg_span, value) in args {
            let (attr, _) = self.attr_of(instance, name, name_span)?;
            given.push(attr);
            self.set_attr(instance, attr, value, arg_span, false).map_err(Halt::from)?;
        }
        let entity = self.model.entity(entity_id);
        for (attr, def) in entity.attrs.iter().enumerate() {
            if given.contains(&(attr as u32)) {
                continue;
            }
            if let AttrKind::Value { default: Some(default), .. } = &def.kind {
                let at = if existing { span } else { def.span };
                let def_span = def.span;
                self.set_attr(instance, attr as u32, default.clone(), at, false).map_err(|error| {
                    Halt::from(if existing {
                        error.with_related(def_span, "the default value comes from here").with_cause(
                            "a constructor that finds an existing instance through an index sets the arguments and the defaults of the other attributes on it",
                        )
                    } else {
                        error
                    })
                })?;
            }
        }
        Ok(())
    }

    // ---------- evaluation ----------

    fn memoized(&mut self) -> Option<Value> {
        let value = self.memo.get(self.memo_pos).cloned();
        if value.is_some() {
            self.memo_pos += 1;
        }
        value
    }

    fn remember(&mut self, value: &Value) {
        if self.memo.capacity() == 0 {
            self.memo.reserve(4);
        }
        self.memo.push(value.clone());
        self.memo_pos += 1;
    }

    fn eval(&mut self, expr: &IrExpr, scope: ScopeId) -> Eval<Value> {
        let span = expr.span;
        match &expr.kind {
            IrKind::Const(value) => Ok(value.clone()),
            IrKind::Var { depth, index } => {
                let slot = self.var_slot(scope, *depth, *index);
                self.read_var(slot)
            }
            IrKind::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.read_var(slot)
            }
            IrKind::CompVar(index) => Ok(self.comp.get(*index as usize).cloned().unwrap_or(Value::Unknown)),
            IrKind::Attr { base, name } => {
                let base_value = self.eval(base, scope)?;
                match base_value {
                    Value::Instance(instance) => self.read_attr(instance, *name, span),
                    Value::Unknown => Ok(Value::Unknown),
                    other => fail(
                        ErrorKind::NotAnInstance {
                            found: self.show_type(&other),
                            context: format!("reading `.{}`", self.interner.resolve(*name)),
                        },
                        base.span,
                    ),
                }
            }
            IrKind::Subscript { base, key } => {
                let base_value = self.eval(base, scope)?;
                let key_value = self.eval(key, scope)?;
                match (&base_value, &key_value) {
                    (Value::Unknown, _) | (_, Value::Unknown) => Ok(Value::Unknown),
                    (Value::Dict(dict), Value::Str(k)) => match dict.get(k) {
                        Some(value) => Ok(value.clone()),
                        None => fail(ErrorKind::KeyNotFound(format!("\"{k}\"")), key.span),
                    },
                    (Value::List(items), Value::Int(i)) => {
                        let index = if *i < 0 { items.len() as i64 + i } else { *i };
                        match items.get(index as usize) {
                            Some(value) if index >= 0 => Ok(value.clone()),
                            _ => fail(ErrorKind::KeyNotFound(i.to_string()), key.span),
                        }
                    }
                    _ => fail(
                        ErrorKind::InvalidOperation(format!("cannot index a {} with a {}", base_value.type_name(), key_value.type_name())),
                        span,
                    ),
                }
            }
            IrKind::IndexLookup { entity, args, wrapped } => {
                let args = self.eval_named(args, wrapped, scope, span)?;
                self.index_lookup(*entity, args, span)
            }
            IrKind::RelationLookup { base, args, wrapped } => {
                let args = self.eval_named(args, wrapped, scope, span)?;
                self.relation_lookup(base, args, scope, span)
            }
            IrKind::Call { plugin, args, kwargs, wrapped } => {
                if let Some(value) = self.memoized() {
                    return Ok(value);
                }
                let mut positional = Vec::with_capacity(args.len());
                for arg in args {
                    positional.push(self.eval(arg, scope)?);
                }
                let named = self.eval_named(kwargs, wrapped, scope, span)?;
                let value = self.call_plugin(*plugin, positional, named, span)?;
                self.remember(&value);
                Ok(value)
            }
            IrKind::Construct { entity, args, wrapped } => {
                if let Some(value) = self.memoized() {
                    return Ok(value);
                }
                let mut values = Vec::with_capacity(args.len());
                for (name, name_span, arg) in args {
                    values.push((*name, *name_span, name_span.to(arg.span), self.eval(arg, scope)?));
                }
                for extra in wrapped {
                    match self.eval(extra, scope)? {
                        Value::Dict(dict) => {
                            for (key, value) in dict.iter() {
                                match self.interner.get(key) {
                                    Some(symbol) => values.push((symbol, extra.span, extra.span, value.clone())),
                                    None => {
                                        return fail(
                                            ErrorKind::AttributeNotFound {
                                                entity: self.model.entity(*entity).full_name.clone(),
                                                attribute: key.to_string(),
                                            },
                                            extra.span,
                                        )
                                    }
                                }
                            }
                        }
                        other => {
                            return fail(
                                ErrorKind::TypeMismatch { expected: "dict".into(), found: self.show_type(&other), context: "`**`".into() },
                                extra.span,
                            )
                        }
                    }
                }
                let value = self.construct(*entity, values, span)?;
                self.remember(&value);
                Ok(value)
            }
            IrKind::Not(inner) => {
                let value = self.eval(inner, scope)?;
                if value.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(!self.condition(&value, "the operand of `not`", inner.span)?))
            }
            IrKind::And(lhs, rhs) => {
                let left = self.eval(lhs, scope)?;
                if left.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if !self.condition(&left, "the left operand of `and`", lhs.span)? {
                    return Ok(Value::Bool(false));
                }
                let right = self.eval(rhs, scope)?;
                if right.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(self.condition(&right, "the right operand of `and`", rhs.span)?))
            }
            IrKind::Or(lhs, rhs) => {
                let left = self.eval(lhs, scope)?;
                if left.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if self.condition(&left, "the left operand of `or`", lhs.span)? {
                    return Ok(Value::Bool(true));
                }
                let right = self.eval(rhs, scope)?;
                if right.is_unknown() {
                    return Ok(Value::Unknown);
                }
                Ok(Value::Bool(self.condition(&right, "the right operand of `or`", rhs.span)?))
            }
            IrKind::Binary { op, lhs, rhs } => {
                let left = self.eval(lhs, scope)?;
                let right = self.eval(rhs, scope)?;
                self.binary(*op, left, right, span)
            }
            IrKind::Conditional { cond, then, otherwise } => {
                let value = self.eval(cond, scope)?;
                if value.is_unknown() {
                    return Ok(Value::Unknown);
                }
                if self.condition(&value, "the condition of a conditional expression", cond.span)? {
                    self.eval(then, scope)
                } else {
                    self.eval(otherwise, scope)
                }
            }
            IrKind::IsDefined(inner) => self.is_defined(inner, scope),
            IrKind::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.eval(item, scope)?);
                }
                Ok(Value::list(values))
            }
            IrKind::Dict(pairs) => {
                let mut dict = Dict::default();
                for (key, value) in pairs {
                    dict.insert(key.clone(), self.eval(value, scope)?);
                }
                Ok(Value::Dict(Rc::new(dict)))
            }
            IrKind::Concat(parts) => {
                let mut out = String::with_capacity(64);
                for part in parts {
                    match part {
                        IrPart::Lit(text) => out.push_str(text),
                        IrPart::Value(value) => {
                            let value = self.eval(value, scope)?;
                            if value.is_unknown() {
                                return Ok(Value::Unknown);
                            }
                            self.render_into(&value, &mut out);
                        }
                        IrPart::Format { value, spec, conversion } => {
                            let value = self.eval(value, scope)?;
                            if value.is_unknown() {
                                return Ok(Value::Unknown);
                            }
                            let rendered = match conversion {
                                Some('r') => self.show(&value).replace('"', "'"),
                                _ => String::new(),
                            };
                            match format_spec(&value, spec, &self.render_value(&value), (!rendered.is_empty()).then_some(rendered)) {
                                Ok(text) => out.push_str(&text),
                                Err(message) => return fail(ErrorKind::InvalidOperation(message), span),
                            }
                        }
                    }
                }
                Ok(Value::Str(Rc::from(out)))
            }
            IrKind::Comprehension { value, clauses, first_var } => {
                let mut out = Vec::new();
                self.comp.truncate(*first_var as usize);
                self.comprehend(value, clauses, scope, &mut out)?;
                self.comp.truncate(*first_var as usize);
                Ok(Value::list(out))
            }
        }
    }

    /// A condition must be a boolean (Inmanta does not use truthiness); unknown is false.
    fn condition(&self, value: &Value, context: &str, span: Span) -> Eval<bool> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Unknown => Ok(false),
            other => fail(ErrorKind::NotBoolean { context: context.to_string(), found: self.show_type(other) }, span),
        }
    }

    fn comprehend(&mut self, value: &IrExpr, clauses: &[IrClause], scope: ScopeId, out: &mut Vec<Value>) -> Eval<()> {
        let Some((first, rest)) = clauses.split_first() else {
            let item = self.eval(value, scope)?;
            out.push(item);
            return Ok(());
        };
        match first {
            IrClause::If(cond) => {
                let keep = self.eval(cond, scope)?;
                if !keep.is_unknown() && self.condition(&keep, "the `if` of a list comprehension", cond.span)? {
                    self.comprehend(value, rest, scope, out)?;
                }
                Ok(())
            }
            IrClause::For { var, iterable } => {
                let items = match self.eval(iterable, scope)? {
                    Value::List(items) => items,
                    Value::Unknown => return Ok(()),
                    other => {
                        return fail(
                            ErrorKind::InvalidOperation(format!("cannot iterate over a {}", other.type_name())),
                            iterable.span,
                        )
                    }
                };
                for item in items.iter() {
                    if item.is_unknown() {
                        continue;
                    }
                    self.comp.truncate(*var as usize);
                    self.comp.push(item.clone());
                    self.comprehend(value, rest, scope, out)?;
                }
                self.comp.truncate(*var as usize);
                Ok(())
            }
        }
    }

    fn eval_named(&mut self, args: &[(Symbol, IrExpr)], wrapped: &[IrExpr], scope: ScopeId, span: Span) -> Eval<Vec<(Symbol, Value)>> {
        let mut values = Vec::with_capacity(args.len());
        for (name, arg) in args {
            values.push((*name, self.eval(arg, scope)?));
        }
        for extra in wrapped {
            match self.eval(extra, scope)? {
                Value::Dict(dict) => {
                    for (key, value) in dict.iter() {
                        let symbol = self.interner.get(key).unwrap_or(Symbol::default_symbol());
                        values.push((symbol, value.clone()));
                    }
                }
                other => {
                    return fail(
                        ErrorKind::TypeMismatch { expected: "dict".into(), found: self.show_type(&other), context: "`**`".into() },
                        span,
                    )
                }
            }
        }
        Ok(values)
    }

    fn is_defined(&mut self, inner: &IrExpr, scope: ScopeId) -> Eval<Value> {
        match &inner.kind {
            IrKind::Attr { base, name } => {
                let base_value = self.eval(base, scope)?;
                let Value::Instance(instance) = base_value else { return Ok(Value::Bool(false)) };
                let (index, multi) = self.attr_of(instance, *name, inner.span)?;
                let slot_id = self.instances[instance.0 as usize].slot(index);
                let slot = &self.slots[slot_id.0 as usize];
                match &slot.value {
                    SlotValue::Single(value) => Ok(defined(value)),
                    SlotValue::List(items) if !items.is_empty() => Ok(Value::Bool(true)),
                    _ if slot.frozen => Ok(Value::Bool(false)),
                    _ => {
                        let _ = multi;
                        Err(Halt::Wait(Wait::Freeze(slot_id, inner.span)))
                    }
                }
            }
            IrKind::Var { depth, index } => {
                let slot = self.var_slot(scope, *depth, *index);
                self.var_defined(slot, inner.span)
            }
            IrKind::Global { ns, index } => {
                let slot = self.global_slot(*ns, *index);
                self.var_defined(slot, inner.span)
            }
            IrKind::Subscript { base, key } => {
                let base_value = self.eval(base, scope)?;
                let key_value = self.eval(key, scope)?;
                Ok(Value::Bool(match (&base_value, &key_value) {
                    (Value::Dict(dict), Value::Str(k)) => dict.get(k).is_some_and(|v| !matches!(v, Value::Null)),
                    _ => false,
                }))
            }
            _ => {
                let value = self.eval(inner, scope)?;
                Ok(Value::Bool(!matches!(value, Value::Null)))
            }
        }
    }

    fn var_defined(&mut self, slot: SlotId, span: Span) -> Eval<Value> {
        let entry = &self.slots[slot.0 as usize];
        match &entry.value {
            SlotValue::Single(value) => Ok(defined(value)),
            SlotValue::List(_) => Ok(Value::Bool(true)),
            SlotValue::Unset if entry.frozen => Ok(Value::Bool(false)),
            SlotValue::Unset => Err(Halt::Wait(Wait::Freeze(slot, span))),
        }
    }

    fn index_lookup(&mut self, entity: EntityId, args: Vec<(Symbol, Value)>, span: Span) -> Eval<Value> {
        let def = self.model.entity(entity);
        let mut names: Vec<Symbol> = args.iter().map(|(n, _)| *n).collect();
        names.sort();
        let index = def.indexes.iter().copied().find(|index| self.sorted_index_attrs[index.index()] == names);
        let Some(index) = index else {
            let shown: Vec<&str> = args.iter().map(|(n, _)| self.interner.resolve(*n)).collect();
            return fail(ErrorKind::NoIndexForLookup { entity: def.full_name.clone(), attributes: shown.join(", ") }, span);
        };
        if args.iter().any(|(_, v)| v.is_unknown()) {
            return Ok(Value::Unknown);
        }
        let mut key = Vec::with_capacity(self.model.indexes[index.index()].attrs.len());
        for name in &self.model.indexes[index.index()].attrs {
            let value = args.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
            key.push(KeyPart::of(&value));
        }
        match self.indexes[index.index()].get(&key) {
            Some(&found) if self.model.is_subtype(self.instances[found.0 as usize].entity, entity) => Ok(Value::Instance(found)),
            Some(_) => fail(ErrorKind::NoIndexMatch { entity: def.full_name.clone(), key: self.show_key(index, &key) }, span),
            None => Err(Halt::Wait(Wait::Index(index, Box::new(key)))),
        }
    }

    /// `owner.rel[a=1]`: as in Inmanta, an index lookup on the relation's target entity with
    /// the inverse end set to `owner` (`Target[inverse=owner, a=1]`), so it needs such an index.
    fn relation_lookup(&mut self, base: &IrExpr, mut args: Vec<(Symbol, Value)>, scope: ScopeId, span: Span) -> Eval<Value> {
        let IrKind::Attr { base: owner, name } = &base.kind else {
            return fail(ErrorKind::InvalidOperation("a lookup with `[name=value]` needs a relation".into()), span);
        };
        let owner_value = self.eval(owner, scope)?;
        let instance = match owner_value {
            Value::Instance(instance) => instance,
            Value::Unknown => return Ok(Value::Unknown),
            other => {
                return fail(
                    ErrorKind::NotAnInstance { found: self.show_type(&other), context: format!("looking up in `.{}`", self.interner.resolve(*name)) },
                    owner.span,
                )
            }
        };
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        let Some((_, def)) = entity.attr(*name) else {
            return fail(
                ErrorKind::AttributeNotFound { entity: entity.full_name.clone(), attribute: self.interner.resolve(*name).to_string() },
                base.span,
            );
        };
        let (target, inverse) = match &def.kind {
            AttrKind::Relation { target, inverse: Some(inverse), .. } => (*target, *inverse),
            AttrKind::Relation { .. } => {
                return fail(
                    ErrorKind::InvalidOperation(format!(
                        "a lookup in `.{}` needs a relation with two ends: it becomes an index lookup on the other end",
                        self.interner.resolve(*name)
                    )),
                    span,
                )
            }
            AttrKind::Value { .. } => {
                return fail(
                    ErrorKind::InvalidOperation(format!("a lookup in `.{}` needs a relation, not an attribute", self.interner.resolve(*name))),
                    span,
                )
            }
        };
        args.insert(0, (inverse, Value::Instance(instance)));
        self.index_lookup(target, args, span)
    }

    fn call_plugin(&mut self, plugin: super::ir::PluginRef, positional: Vec<Value>, named: Vec<(Symbol, Value)>, span: Span) -> Eval<Value> {
        let plugins = self.plugins;
        let def = plugins.get(plugin);
        let mut bound: Vec<Option<Value>> = vec![None; def.params.len()];
        let mut extra = Vec::new();
        for (i, value) in positional.into_iter().enumerate() {
            if i < bound.len() {
                bound[i] = Some(value);
            } else if def.variadic {
                extra.push(value);
            } else {
                return fail(
                    ErrorKind::PluginError { plugin: def.name.clone(), message: format!("takes at most {} arguments", def.params.len()) },
                    span,
                );
            }
        }
        for (name, value) in named {
            let name_text = self.interner.resolve(name);
            match def.params.iter().position(|p| p.name == name_text) {
                Some(position) => bound[position] = Some(value),
                None => {
                    return fail(
                        ErrorKind::PluginError { plugin: def.name.clone(), message: format!("has no parameter `{name_text}`") },
                        span,
                    )
                }
            }
        }
        let mut args = Vec::with_capacity(bound.len() + extra.len());
        for (param, value) in def.params.iter().zip(bound) {
            let value = match value.or_else(|| param.default.clone()) {
                Some(value) => value,
                None => {
                    return fail(
                        ErrorKind::PluginError { plugin: def.name.clone(), message: format!("missing argument `{}`", param.name) },
                        span,
                    )
                }
            };
            if !param.ty.accepts(&value) {
                return fail(
                    ErrorKind::TypeMismatch {
                        expected: param.ty.name(),
                        found: self.show_type(&value),
                        context: format!("argument `{}` of plugin `{}`", param.name, def.name),
                    },
                    span,
                );
            }
            args.push(value);
        }
        args.extend(extra);
        if def.unknown_passthrough && args.iter().any(Value::is_unknown) {
            return Ok(Value::Unknown);
        }
        let func = def.func;
        let name = def.name.clone();
        let this = match self.current_self {
            CurrentSelf::None => None,
            CurrentSelf::Instance(instance) => Some(instance),
            CurrentSelf::Scope(scope) => self.instance_of_scope(scope),
        };
        let mut ctx = PluginCtx { host: self, span, this };
        let result = func(&mut ctx, &args);
        match result {
            Ok(value) => Ok(value),
            Err(PluginFailure::Wait(_)) => match self.plugin_wait.take() {
                Some(wait) => Err(Halt::Wait(wait)),
                None => fail(ErrorKind::PluginError { plugin: name, message: "waited without a reason".into() }, span),
            },
            Err(PluginFailure::Error(message)) => fail(ErrorKind::PluginError { plugin: name, message }, span),
        }
    }

    fn binary(&mut self, op: BinOp, left: Value, right: Value, span: Span) -> Eval<Value> {
        if left.is_unknown() || right.is_unknown() {
            return Ok(Value::Unknown);
        }
        let invalid = |this: &Self| {
            fail(
                ErrorKind::InvalidOperation(format!(
                    "unsupported operation: {} {} {}",
                    this.show_type(&left),
                    op.as_str(),
                    this.show_type(&right)
                )),
                span,
            )
        };
        Ok(match op {
            BinOp::Cmp(CmpOp::Eq) => Value::Bool(left == right),
            BinOp::Cmp(CmpOp::Ne) => Value::Bool(left != right),
            BinOp::Cmp(cmp) => {
                // Inmanta orders numbers only ("Can only compare numbers").
                let ordering = match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => match a.partial_cmp(&b) {
                        Some(ordering) => ordering,
                        None => return invalid(self),
                    },
                    _ => {
                        return fail(
                            ErrorKind::InvalidOperation(format!(
                                "`{}` compares numbers only, got {} and {}",
                                op.as_str(),
                                self.show_type(&left),
                                self.show_type(&right)
                            )),
                            span,
                        )
                    }
                };
                Value::Bool(match cmp {
                    CmpOp::Lt => ordering.is_lt(),
                    CmpOp::Gt => ordering.is_gt(),
                    CmpOp::Le => ordering.is_le(),
                    CmpOp::Ge => ordering.is_ge(),
                    CmpOp::Eq | CmpOp::Ne => false,
                })
            }
            BinOp::In | BinOp::NotIn => {
                let found = match (&left, &right) {
                    (item, Value::List(items)) => items.contains(item),
                    (Value::Str(key), Value::Dict(dict)) => dict.contains_key(key),
                    (_, Value::Dict(_)) => false,
                    _ => {
                        return fail(
                            ErrorKind::InvalidOperation(format!(
                                "the right operand of `{}` must be a list or a dict, got {}",
                                op.as_str(),
                                self.show_type(&right)
                            )),
                            span,
                        )
                    }
                };
                Value::Bool(found == (op == BinOp::In))
            }
            BinOp::Add => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_add(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation("integer overflow".into()), span),
                },
                (Value::Str(a), Value::Str(b)) => Value::Str(Rc::from(format!("{a}{b}"))),
                (Value::List(a), Value::List(b)) => Value::list(a.iter().chain(b.iter()).cloned().collect()),
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a + b),
                    _ => return invalid(self),
                },
            },
            BinOp::Sub => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_sub(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation("integer overflow".into()), span),
                },
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a - b),
                    _ => return invalid(self),
                },
            },
            BinOp::Mul => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) => match a.checked_mul(*b) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation("integer overflow".into()), span),
                },
                (Value::Str(s), Value::Int(n)) | (Value::Int(n), Value::Str(s)) => Value::Str(Rc::from(s.repeat((*n).max(0) as usize))),
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a * b),
                    _ => return invalid(self),
                },
            },
            BinOp::Div => match (left.as_f64(), right.as_f64()) {
                (Some(_), Some(b)) if b == 0.0 => return fail(ErrorKind::InvalidOperation("division by zero".into()), span),
                (Some(a), Some(b)) => Value::Float(a / b),
                _ => return invalid(self),
            },
            BinOp::Mod => match (&left, &right) {
                (Value::Int(_), Value::Int(0)) => return fail(ErrorKind::InvalidOperation("modulo by zero".into()), span),
                (Value::Int(a), Value::Int(b)) => Value::Int(a.rem_euclid(*b) + if *b < 0 && a.rem_euclid(*b) != 0 { *b } else { 0 }),
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(_), Some(b)) if b == 0.0 => return fail(ErrorKind::InvalidOperation("modulo by zero".into()), span),
                    (Some(a), Some(b)) => Value::Float(a - b * (a / b).floor()),
                    _ => return invalid(self),
                },
            },
            BinOp::Pow => match (&left, &right) {
                (Value::Int(a), Value::Int(b)) if *b >= 0 => match u32::try_from(*b).ok().and_then(|b| a.checked_pow(b)) {
                    Some(v) => Value::Int(v),
                    None => return fail(ErrorKind::InvalidOperation("integer overflow".into()), span),
                },
                _ => match (left.as_f64(), right.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(a.powf(b)),
                    _ => return invalid(self),
                },
            },
            BinOp::And | BinOp::Or => Value::Bool(left.truthy() && right.truthy()),
        })
    }

    // ---------- the end ----------

    fn finish(&mut self) {
        // Everything still open is now as complete as it will get.
        for slot in self.slots.iter_mut() {
            slot.frozen = true;
        }
        let mut blocked_writers: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
        for (id, task) in self.tasks.iter().enumerate() {
            if !task.done {
                for &name in task.may_write.iter() {
                    blocked_writers.entry(name).or_default().push(id);
                }
            }
        }
        let mut errors = Vec::new();
        for (instance_index, instance) in self.instances.iter().enumerate() {
            let instance_id = InstanceId(instance_index as u32);
            let entity = self.model.entity(instance.entity);
            if instance.failed {
                continue;
            }
            if instance.implementations.is_empty() {
                let mut error = CompileError::new(ErrorKind::NoImplementation { entity: entity.full_name.clone() }, instance.span);
                if let Some(cause) = self.blocked_select_cause(instance_id) {
                    error = error.with_cause(cause);
                }
                errors.push(error);
            }
            for (attr_index, attr) in entity.attrs.iter().enumerate() {
                let slot_id = SlotId(instance.first_slot + attr_index as u32);
                let slot = &self.slots[slot_id.0 as usize];
                // `None`: complete; `Some(None)`: not set; `Some(Some((lower, count)))`: too few.
                let missing = match (&attr.kind, &slot.value) {
                    (AttrKind::Relation { lower, .. }, SlotValue::List(items)) if (items.len() as u32) < *lower => Some(Some((*lower, items.len()))),
                    (AttrKind::Relation { lower, upper, .. }, SlotValue::Unset) if *lower > 0 => {
                        if *upper == Some(1) {
                            Some(None)
                        } else {
                            Some(Some((*lower, 0)))
                        }
                    }
                    (AttrKind::Value { .. }, SlotValue::Unset) => Some(None),
                    _ => None,
                };
                let Some(missing) = missing else { continue };
                if self.failed_slots.contains(&slot_id) {
                    continue;
                }
                let name = self.interner.resolve(attr.name).to_string();
                let missing = Some(match missing {
                    None => ErrorKind::AttributeNotSet { instance: self.describe_instance(instance_id), attribute: name },
                    Some((lower, count)) => ErrorKind::TooFewValues { instance: self.describe_instance(instance_id), attribute: name, lower, count },
                });
                if let Some(kind) = missing {
                    let mut error = CompileError::new(kind, instance.span).with_related(attr.span, "attribute declared here");
                    if let Some(writers) = self.name_ids.get(&attr.name).and_then(|id| blocked_writers.get(id)) {
                        if let Some(&task) = writers.first() {
                            let task = &self.tasks[task];
                            error = error.with_related(task.span, "this statement could set it, but it never ran");
                            if let Some(cause) = task.waiting.as_ref().and_then(|w| self.describe_wait(w)) {
                                error = error.with_cause(format!("it is waiting for {cause}"));
                            }
                        }
                    }
                    errors.push(error);
                }
            }
        }
        // Lookups that never matched.
        for task in self.tasks.iter() {
            if task.done {
                continue;
            }
            if let Some(Wait::Index(index, key)) = &task.waiting {
                let entity = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                errors.push(CompileError::new(ErrorKind::NoIndexMatch { entity, key: self.show_key(*index, key) }, task.span));
            }
        }
        if errors.is_empty() && self.errors.is_empty() {
            // Nothing else explains statements that never ran: report them.
            for task in self.tasks.iter() {
                if task.done {
                    continue;
                }
                if let Some(wait) = &task.waiting {
                    if let Some(what) = self.describe_wait(wait) {
                        errors.push(CompileError::new(ErrorKind::Unresolved { what }, task.span));
                    }
                }
            }
        }
        self.errors.extend(errors);
    }

    fn blocked_select_cause(&self, instance: InstanceId) -> Option<String> {
        self.tasks.iter().find_map(|task| match (&task.kind, &task.waiting) {
            (TaskKind::Select { instance: i, .. }, Some(wait)) if *i == instance && !task.done => {
                self.describe_wait(wait).map(|w| format!("the `when` condition is waiting for {w}"))
            }
            _ => None,
        })
    }

    fn describe_wait(&self, wait: &Wait) -> Option<String> {
        match wait {
            Wait::Change(slot) | Wait::Freeze(slot, _) => Some(format!("{}, which is never set", self.describe_slot(*slot))),
            Wait::Index(index, key) => {
                let entity = self.model.entity(self.model.indexes[index.index()].entity).full_name.clone();
                Some(format!("a `{entity}` with {}, which never exists", self.show_key(*index, key)))
            }
        }
    }
}

impl PluginHost for Executor<'_> {
    fn attribute(&mut self, instance: InstanceId, name: &str) -> Result<Value, PluginFailure> {
        let Some(symbol) = self.interner.get(name) else {
            return Err(PluginFailure::Error(format!("no attribute `{name}`")));
        };
        match self.read_attr(instance, symbol, Span::default()) {
            Ok(value) => Ok(value),
            Err(Halt::Wait(wait)) => {
                self.plugin_wait = Some(wait);
                Err(PluginFailure::Wait(WaitToken(0)))
            }
            Err(Halt::Error(error)) => Err(PluginFailure::Error(error.details().title)),
        }
    }

    fn entity_name(&self, instance: InstanceId) -> String {
        self.model.entity(self.instances[instance.0 as usize].entity).full_name.clone()
    }

    fn is_instance_of(&self, instance: InstanceId, entity: &str) -> bool {
        let own = self.instances[instance.0 as usize].entity;
        std::iter::once(own)
            .chain(self.model.entity(own).ancestors.iter().copied())
            .any(|e| self.model.entity(e).full_name == entity)
    }

    fn attribute_names(&self, instance: InstanceId) -> Vec<String> {
        let entity = self.model.entity(self.instances[instance.0 as usize].entity);
        entity.attrs.iter().map(|a| self.interner.resolve(a.name).to_string()).collect()
    }

    fn render(&self, value: &Value) -> String {
        self.render_value(value)
    }

    fn print(&mut self, line: String) {
        self.output.push(line);
    }

    fn module_file(&self, path: &str) -> Result<String, String> {
        (self.module_file)(path)
    }

    fn module_files(&self, path: &str) -> Result<Vec<String>, String> {
        (self.module_files)(path)
    }

    fn setting(&self, key: &str) -> Option<String> {
        (self.settings)(key)
    }
}

/// `is defined` of a value: null and empty lists are not defined, unknowns stay unknown.
fn defined(value: &Value) -> Value {
    match value {
        Value::Null => Value::Bool(false),
        Value::Unknown => Value::Unknown,
        Value::List(items) if items.is_empty() => Value::Bool(false),
        Value::List(items) if items.iter().all(Value::is_unknown) => Value::Unknown,
        _ => Value::Bool(true),
    }
}

/// The value a slot holds, for messages.
fn old_value(value: &SlotValue) -> Value {
    match value {
        SlotValue::Single(value) => value.clone(),
        SlotValue::List(items) => Value::List(items.clone()),
        SlotValue::Unset => Value::Null,
    }
}

/// Applies a Python format spec (`[[fill]align][sign][0][width][,][.precision][type]`).
fn format_spec(value: &Value, spec: &str, plain: &str, repr: Option<String>) -> Result<String, String> {
    let base = repr.unwrap_or_else(|| plain.to_string());
    if spec.is_empty() {
        return Ok(base);
    }
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut fill = ' ';
    let mut align = None;
    if chars.len() >= 2 && matches!(chars[1], '<' | '>' | '^' | '=') {
        fill = chars[0];
        align = Some(chars[1]);
        i = 2;
    } else if !chars.is_empty() && matches!(chars[0], '<' | '>' | '^' | '=') {
        align = Some(chars[0]);
        i = 1;
    }
    let mut sign = None;
    if i < chars.len() && matches!(chars[i], '+' | '-' | ' ') {
        sign = Some(chars[i]);
        i += 1;
    }
    if i < chars.len() && chars[i] == '0' {
        fill = '0';
        if align.is_none() {
            align = Some('=');
        }
        i += 1;
    }
    let mut width = 0usize;
    while i < chars.len() && chars[i].is_ascii_digit() {
        width = width * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
        i += 1;
    }
    let mut grouping = false;
    if i < chars.len() && (chars[i] == ',' || chars[i] == '_') {
        grouping = true;
        i += 1;
    }
    let mut precision = None;
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let mut p = 0usize;
        while i < chars.len() && chars[i].is_ascii_digit() {
            p = p * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
            i += 1;
        }
        precision = Some(p);
    }
    let kind = chars.get(i).copied();
    if i + 1 < chars.len() {
        return Err(format!("invalid format spec `{spec}`"));
    }
    let mut body = match (kind, value) {
        (Some('d'), Value::Int(n)) => n.abs().to_string(),
        (Some('x'), Value::Int(n)) => format!("{:x}", n.abs()),
        (Some('X'), Value::Int(n)) => format!("{:X}", n.abs()),
        (Some('o'), Value::Int(n)) => format!("{:o}", n.abs()),
        (Some('b'), Value::Int(n)) => format!("{:b}", n.abs()),
        (Some('f' | 'F'), v) if v.as_f64().is_some() => format!("{:.*}", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0).abs()),
        (Some('e'), v) if v.as_f64().is_some() => format!("{:.*e}", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0).abs()),
        (Some('%'), v) if v.as_f64().is_some() => format!("{:.*}%", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0).abs() * 100.0),
        (None, Value::Float(f)) if precision.is_some() => format!("{:.*}", precision.unwrap_or(6), f.abs()),
        (None, Value::Float(f)) => format_float(f.abs()),
        (None, Value::Int(n)) => n.abs().to_string(),
        (None | Some('s'), _) => match precision {
            Some(p) => base.chars().take(p).collect(),
            None => base.clone(),
        },
        (Some(other), v) => return Err(format!("format code `{other}` does not apply to a {}", v.type_name())),
    };
    let numeric = matches!(value, Value::Int(_) | Value::Float(_)) && !matches!(kind, Some('s'));
    if grouping && numeric {
        let (int_part, rest) = match body.find('.') {
            Some(dot) => (body[..dot].to_string(), body[dot..].to_string()),
            None => (body.clone(), String::new()),
        };
        let mut grouped = String::new();
        for (n, c) in int_part.chars().enumerate() {
            if n > 0 && (int_part.len() - n) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        body = grouped + &rest;
    }
    let negative = value.as_f64().is_some_and(|f| f < 0.0) && numeric;
    let sign_text = match (negative, sign) {
        (true, _) => "-",
        (false, Some('+')) if numeric => "+",
        (false, Some(' ')) if numeric => " ",
        _ => "",
    };
    let content_len = sign_text.chars().count() + body.chars().count();
    if content_len >= width {
        return Ok(format!("{sign_text}{body}"));
    }
    let pad = width - content_len;
    let padding: String = std::iter::repeat_n(fill, pad).collect();
    let align = align.unwrap_or(if numeric { '>' } else { '<' });
    Ok(match align {
        '<' => format!("{sign_text}{body}{padding}"),
        '^' => {
            let left: String = std::iter::repeat_n(fill, pad / 2).collect();
            let right: String = std::iter::repeat_n(fill, pad - pad / 2).collect();
            format!("{left}{sign_text}{body}{right}")
        }
        '=' => format!("{sign_text}{padding}{body}"),
        _ => format!("{padding}{sign_text}{body}"),
    })
}
