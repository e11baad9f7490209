//! The executor: runs the lowered program order-free and deterministically.
//!
//! Every variable and attribute is a [`Slot`] in one arena. A statement runs as a task; when
//! it reads a slot that has no value yet it is parked on that slot and re-run when the slot
//! changes (side effects already done in an earlier run, constructors and plugin calls, are
//! replayed from the task's memo, so a re-run never does them twice). Nothing scans: a value
//! arriving wakes exactly the tasks parked on it. A constructor does not wait for the value of
//! a plain attribute argument: it constructs, and a task of its own ([`LateArg`]) sets the
//! attribute once the value is known, as Inmanta does.
//!
//! Lists (relations of upper bound > 1, list attributes) fill gradually; a read that needs the
//! whole list waits for it to freeze. A list freezes when it reaches its upper bound, or, once
//! no task can run, when no live task may still write an attribute of that name (a counter
//! per attribute name, kept up to date as tasks start and finish); if every candidate still
//! has possible writers the compile is stuck and the best candidate (fewest possible writers,
//! then oldest) is frozen. At the end, completeness is checked and what never ran is
//! explained.
//!
//! A model can be made to run for ever: an implementation that constructs an instance of its
//! own entity, or entities whose implementations create each other, grow without end. Two
//! [`Limits`] stop that: every instance knows which instance's implementation created it and
//! how many such generations lie above it, and a chain deeper than `max_chain_depth` is an
//! error at the constructor (naming the cycle it repeats); and no compile creates more than
//! `max_instances` instances (a runaway that grows wide rather than deep), which halts the
//! run. Both cost a comparison per new instance.
//!
//! This file holds the data (slots, instances, scopes, tasks) and the task loop; the work
//! is split by concept: `eval` (expressions), `fspec` (f-string format specs), `read` and
//! `write` (slots), `construct`, `types`, `freeze`, `implement` (which implementations an
//! instance runs, and their scopes), `plugin_calls` and `finish` (the final checks).

use super::arena::Arena;
use super::errors::{Cause, ChainStep, CompileError, Context, ErrorKind, Expected, Found, HostError, InstanceRef, Operation, PluginProblem, Related, Subject, Waiting};
use super::ir::{Block, BlockId, IrClause, IrExpr, IrKind, IrPart, IrStmt, Target};
use super::model::{AttrDef, AttrKind, EntityId, ImplId, ImplementId, IndexId, Model, Type, TypedefConstraint};
use super::plugins::{PluginCtx, PluginFailure, PluginHost, PluginRegistry, WaitToken, FILE_REFERENCE_PREFIX};
use super::value::{format_float, Dict, InstanceId, KeyPart, Value};
use crate::ast::BinOp;
use crate::intern::{Interner, Symbol};
use crate::lexer::CmpOp;
use crate::source::SourceMap;
use crate::span::Span;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

mod construct;
mod copy;
mod eval;
mod finish;
mod freeze;
mod fspec;
mod implement;
mod plugin_calls;
mod read;
mod types;
mod write;

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
    /// How many instances lie above this one in the chain of "created by an implementation
    /// of" (or "by a `for` loop over"): 0 for an instance created outside any implementation
    /// or loop over instances.
    depth: u32,
    /// The instance whose implementation (or the `for` loop over which) created this one
    /// ([`NO_CREATOR`] when none) and the [`Origin`], packed ([`LOOP_ORIGIN`] marks a loop's
    /// block): the chain a runaway error describes.
    created_by: u32,
    created_in: u32,
}

/// `Instance::created_by` and `created_in` of an instance created outside implementations.
const NO_CREATOR: u32 = u32::MAX;
/// The bit of `Instance::created_in` that marks a loop body's block rather than an
/// implementation.
const LOOP_ORIGIN: u32 = 1 << 31;

/// What created an instance in a chain: an implementation of the creator instance, or the
/// body of a `for` over instances, run for the creator (a loop that extends the list it walks
/// grows such a chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Implementation(ImplId),
    Loop(BlockId),
}

impl Origin {
    fn pack(self) -> u32 {
        match self {
            Origin::Implementation(id) => id.0,
            Origin::Loop(block) => block.0 | LOOP_ORIGIN,
        }
    }

    fn unpack(packed: u32) -> Origin {
        if packed & LOOP_ORIGIN != 0 {
            Origin::Loop(BlockId(packed & !LOOP_ORIGIN))
        } else {
            Origin::Implementation(ImplId(packed))
        }
    }
}

impl Instance {
    pub fn slot(&self, attr: u32) -> SlotId {
        SlotId(self.first_slot + attr)
    }

    /// The instance whose implementation (or loop) created this one, and what created it.
    fn creator(&self) -> Option<(InstanceId, Origin)> {
        (self.created_by != NO_CREATOR).then_some((InstanceId(self.created_by), Origin::unpack(self.created_in)))
    }
}

/// The bounds of one compile that stop a runaway model (see the module documentation);
/// the embedder may set them (tests set them low).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most instances one compile creates; reaching it halts the run.
    pub max_instances: usize,
    /// The deepest chain of instances each created by an implementation of the one before.
    /// A legitimate model nests a handful deep; only recursion goes deeper.
    pub max_chain_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_instances: 10_000_000, max_chain_depth: 10_000 }
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
    /// A constructor argument whose value was not known when the instance was constructed.
    LateArg(Rc<LateArg>),
    /// A relation assigned from another, element by element ([`RelationCopy`]); `consumed`
    /// elements of the source are passed on.
    Copy { copy: Rc<copy::RelationCopy>, consumed: u32 },
}


/// A constructor argument set after construction (as Inmanta does): the instance exists as
/// soon as its index attributes and relations are known, and a plain attribute whose value
/// arrives later is set by a task of its own. Only pure expressions (no constructor, plugin
/// call or lookup inside, so nothing to replay) of single-valued, non-index attributes are
/// deferred this way.
struct LateArg {
    instance: InstanceId,
    attr: u32,
    value: IrExpr,
    span: Span,
    scope: ScopeId,
    /// What the constructing statement may write: the argument's task counts as a writer of
    /// the same names.
    may_write: Rc<[u32]>,
}

/// A statement (or implementation selection, or gradual loop) to run. Kept to 40 bytes:
/// what it may write and its span follow from its kind ([`Executor::task_may_write`],
/// [`Executor::task_span`]), and what a parked task waits for is kept aside in
/// `Executor::waits`.
struct Task {
    kind: TaskKind,
    /// Results of constructors and plugin calls already done, replayed on a re-run; boxed
    /// because most tasks never have any.
    memo: Option<Box<Vec<Value>>>,
    done: bool,
    /// Has an entry in `Executor::waits`.
    parked: bool,
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
    pub stats: ExecStats,
    /// The module files that `std::file`/`fs::file` referred to, by the reference text the
    /// plugin returned (`imp-module-source:file://module/files/name`): their bytes, for the
    /// export to hash and store.
    pub file_references: BTreeMap<String, Vec<u8>>,
}

/// The executor's counters, always kept (they cost a few additions); the embedder decides
/// whether to show them (`cairn` prints them when `CAIRN_EXEC_STATS` is set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    pub slots: usize,
    pub scopes: usize,
    pub tasks: usize,
    /// Task runs, re-runs of parked tasks included.
    pub task_runs: u64,
    /// How often the queue ran dry and freezing was considered.
    pub freeze_rounds: u64,
    pub instances: usize,
    /// Size in bytes of one slot and one task (the layouts a large model multiplies).
    pub slot_size: usize,
    pub task_size: usize,
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
    foreign: Option<&'a dyn crate::compile::plugins::ForeignPlugins>,
    /// Names of relations with an upper bound above one, in any entity: only an assignment
    /// from one of these can be a gradual copy ([`copy`]).
    list_relation_names: FxHashSet<Symbol>,
    interner: &'a Interner,
    sources: &'a SourceMap,
    name_ids: &'a FxHashMap<Symbol, u32>,
    settings: &'a dyn Fn(&str) -> Option<String>,
    env_vars: &'a dyn Fn(&str) -> Option<String>,
    module_file: &'a dyn Fn(&str) -> Result<String, String>,
    module_files: &'a dyn Fn(&str) -> Result<Vec<String>, String>,
    module_file_bytes: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
    file_references: BTreeMap<String, Vec<u8>>,
    slots: Arena<Slot>,
    instances: Vec<Instance>,
    scopes: Arena<Scope>,
    tasks: Arena<Task>,
    queue: VecDeque<TaskId>,
    waiters: FxHashMap<SlotId, Vec<TaskId>>,
    freeze_waiters: FxHashMap<SlotId, Vec<TaskId>>,
    /// Slots that readers wait to see frozen, grouped by the pending-writer counter that
    /// decides when they are safe to freeze (see `freeze::freeze_something`).
    freeze_candidates: BTreeMap<u32, BTreeSet<SlotId>>,
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
    /// The task running now.
    current_task: TaskId,
    plugin_wait: Option<Wait>,
    /// Where the running statement's `self` comes from (resolved only when a plugin asks).
    current_self: CurrentSelf,
    /// Root scopes of implementation bodies, to the instance they implement (`self` of
    /// plugin calls such as `std::template`, the creator of instances constructed there) and
    /// the implementation.
    impl_scopes: FxHashMap<ScopeId, (InstanceId, ImplId)>,
    limits: Limits,
    /// A limit was reached: no task runs any more and the final checks are skipped (what is
    /// missing is the limit's doing).
    halted: bool,
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
    /// How often the queue ran dry and freezing was considered (see [`ExecStats`]).
    freeze_rounds: u64,
    /// What each parked task waits for.
    waits: FxHashMap<TaskId, Wait>,
    /// The instances whose relation arguments are being evaluated, innermost last: a
    /// constructor there takes the last one as its `lhs_inverse` index attribute. With a
    /// symbol (`x.rel = ...` statements), only a constructor whose `lhs_inverse` is that
    /// inverse of `rel` takes it.
    lhs_owners: Vec<(InstanceId, Option<Symbol>)>,
}

pub struct ExecInput<'a> {
    pub model: &'a Model,
    pub blocks: &'a [Block],
    pub plugins: &'a PluginRegistry,
    /// Runs the plugins of modules' Python code (none: such a call is an error when it runs).
    pub foreign: Option<&'a dyn crate::compile::plugins::ForeignPlugins>,
    pub interner: &'a Interner,
    pub sources: &'a SourceMap,
    pub name_ids: &'a FxHashMap<Symbol, u32>,
    pub settings: &'a dyn Fn(&str) -> Option<String>,
    /// The process environment variables the compile may read (`std::get_env`), as given by
    /// the embedder.
    pub env_vars: &'a dyn Fn(&str) -> Option<String>,
    pub module_file: &'a dyn Fn(&str) -> Result<String, String>,
    /// Lists the regular files of a module folder (`module/rest`), for `std::list_files`.
    pub module_files: &'a dyn Fn(&str) -> Result<Vec<String>, String>,
    /// Reads a module file (`module/folder/rest`) as bytes, for file references.
    pub module_file_bytes: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
    pub limits: Limits,
}

pub fn execute(input: ExecInput<'_>) -> Execution {
    let mut executor = Executor {
        model: input.model,
        blocks: input.blocks,
        plugins: input.plugins,
        foreign: input.foreign,
        list_relation_names: input.model.entities.iter().flat_map(|e| e.attrs.iter()).filter(|a| a.is_relation() && a.is_multi()).map(|a| a.name).collect(),
        interner: input.interner,
        sources: input.sources,
        name_ids: input.name_ids,
        settings: input.settings,
        env_vars: input.env_vars,
        module_file: input.module_file,
        module_files: input.module_files,
        module_file_bytes: input.module_file_bytes,
        file_references: BTreeMap::new(),
        slots: Arena::new(),
        instances: Vec::new(),
        scopes: Arena::new(),
        tasks: Arena::new(),
        queue: VecDeque::new(),
        waiters: FxHashMap::default(),
        freeze_waiters: FxHashMap::default(),
        freeze_candidates: BTreeMap::new(),
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
        current_task: TaskId(0),
        plugin_wait: None,
        current_self: CurrentSelf::None,
        impl_scopes: FxHashMap::default(),
        limits: input.limits,
        halted: false,
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
        freeze_rounds: 0,
        waits: FxHashMap::default(),
        lhs_owners: Vec::new(),
    };
    executor.run();
    let stats = ExecStats {
        slots: executor.slots.len(),
        scopes: executor.scopes.len(),
        tasks: executor.tasks.len(),
        task_runs: executor.tasks_run,
        freeze_rounds: executor.freeze_rounds,
        instances: executor.instances.len(),
        slot_size: std::mem::size_of::<Slot>(),
        task_size: std::mem::size_of::<Task>(),
    };
    Execution {
        instances: executor.instances,
        slots: executor.slots,
        errors: executor.errors,
        output: executor.output,
        stats,
        file_references: executor.file_references,
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
                if self.halted {
                    return;
                }
            }
            self.freeze_rounds += 1;
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

    fn new_task(&mut self, kind: TaskKind) -> TaskId {
        let may_write = self.task_may_write(&kind);
        for &name in may_write.iter() {
            self.pending[name as usize] += 1;
        }
        let id = TaskId(self.tasks.len() as u32);
        self.tasks.push(Task { kind, memo: None, done: false, parked: false });
        self.queue.push_back(id);
        id
    }

    /// The attribute names (dense ids) a task may write, itself or through what it starts.
    fn task_may_write(&self, kind: &TaskKind) -> Rc<[u32]> {
        match *kind {
            TaskKind::Stmt { block, index, .. } => {
                let info = &self.blocks[block.index()];
                info.stmt_may_write.get(index as usize).cloned().unwrap_or_else(|| info.may_write.clone())
            }
            TaskKind::ForEach { block, index, .. } => match &self.blocks[block.index()].stmts[index as usize] {
                IrStmt::For { body, .. } => self.blocks[body.index()].may_write.clone(),
                _ => Rc::from([]),
            },
            TaskKind::Select { implement, .. } => self.implement_may_write[implement.index()].clone().unwrap_or_else(|| Rc::from([])),
            TaskKind::LateArg(ref late) => late.may_write.clone(),
            TaskKind::Copy { ref copy, .. } => copy.may_write.clone(),
        }
    }

    /// Where a task comes from: its statement, or the instance whose implementations it selects.
    fn task_span(&self, kind: &TaskKind) -> Span {
        match *kind {
            TaskKind::Stmt { block, index, .. } | TaskKind::ForEach { block, index, .. } => self.blocks[block.index()].stmts[index as usize].span(),
            TaskKind::Select { instance, .. } => self.instances[instance.0 as usize].span,
            TaskKind::LateArg(ref late) => late.span,
            TaskKind::Copy { ref copy, .. } => copy.span,
        }
    }

    /// What a parked task waits for (for the final explanations).
    fn task_wait(&self, id: usize) -> Option<&Wait> {
        if self.tasks[id].parked {
            self.waits.get(&TaskId(id as u32))
        } else {
            None
        }
    }

    fn unpark(&mut self, id: TaskId) {
        let task = &mut self.tasks[id.0 as usize];
        if task.parked {
            task.parked = false;
            self.waits.remove(&id);
        }
    }

    fn complete(&mut self, id: TaskId) {
        let task = &mut self.tasks[id.0 as usize];
        if task.done {
            return;
        }
        task.done = true;
        task.memo = None;
        self.unpark(id);
        let may_write = self.task_may_write(&self.tasks[id.0 as usize].kind);
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
                self.add_freeze_candidate(*slot);
            }
            Wait::Index(index, key) => self.index_waiters[index.index()].entry((**key).clone()).or_default().push(id),
        }
        self.tasks[id.0 as usize].parked = true;
        self.waits.insert(id, wait);
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
        for index in 0..info.stmts.len() {
            self.new_task(TaskKind::Stmt { block, index: index as u32, scope });
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
        let parked = task.parked;
        if parked {
            self.unpark(id);
        }
        let task = &mut self.tasks[id.0 as usize];
        self.tasks_run += 1;
        self.memo = task.memo.take().map(|memo| *memo).unwrap_or_default();
        self.memo_pos = 0;
        self.current_task = id;
        let result = match task.kind {
            TaskKind::LateArg(ref late) => {
                let late = late.clone();
                self.run_late_arg(&late)
            }
            TaskKind::Stmt { block, index, scope } => self.run_stmt(block, index, scope),
            TaskKind::Select { instance, implement } => self.run_select(instance, implement),
            TaskKind::ForEach { block, index, scope, list, consumed } => self.run_foreach(id, block, index, scope, list, consumed),
            TaskKind::Copy { ref copy, consumed } => {
                let copy = copy.clone();
                self.run_copy(id, &copy, consumed)
            }
        };
        let memo = std::mem::take(&mut self.memo);
        self.tasks[id.0 as usize].memo = if memo.is_empty() { None } else { Some(Box::new(memo)) };
        match result {
            Ok(true) => self.complete(id),
            Ok(false) => {}
            Err(Halt::Wait(wait)) => self.park(id, wait),
            Err(Halt::Error(error)) => {
                self.halted |= error.ends_run();
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
            IrStmt::Assign { target, value, span } | IrStmt::Extend { target, value, span } => {
                let extend = matches!(stmt, IrStmt::Extend { .. });
                if self.copy_gradually(target, value, scope, *span)? {
                    return Ok(true);
                }
                let value = self.eval_assigned(target, value, scope)?;
                self.assign(target, value, scope, *span, extend)?;
            }
            IrStmt::Expr(expr) => {
                self.eval(expr, scope)?;
            }
            IrStmt::If { cond, then, otherwise, span } => {
                let value = self.eval(cond, scope)?;
                if value.is_unknown() {
                    return Ok(true);
                }
                if self.condition(&value, Context::IfCondition, cond.span)? {
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
                            self.new_task(TaskKind::ForEach { block, index, scope, list, consumed: 0 });
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
                            ErrorKind::InvalidOperation(Operation::ForOver(self.show_type(&other))),
                            iterable.span,
                        )
                    }
                }
            }
        }
        Ok(true)
    }

    fn run_late_arg(&mut self, late: &LateArg) -> Eval<bool> {
        self.current_self = CurrentSelf::Scope(late.scope);
        let value = self.eval(&late.value, late.scope)?;
        self.set_attr(late.instance, late.attr, value, late.span, false)?;
        Ok(true)
    }

    /// The value of an assignment; a constructor in it that may take the assigned instance
    /// as the inverse of the relation (see `lower_assigned`) is given it.
    fn eval_assigned(&mut self, target: &Target, value: &IrExpr, scope: ScopeId) -> Eval<Value> {
        let Target::Attr { base, name, .. } = target else { return self.eval(value, scope) };
        if !takes_owner(value) {
            return self.eval(value, scope);
        }
        let Value::Instance(owner) = self.eval(base, scope)? else { return self.eval(value, scope) };
        let entity = self.model.entity(self.instances[owner.0 as usize].entity);
        let inverse = match entity.attr(*name) {
            Some((_, AttrDef { kind: AttrKind::Relation { inverse: Some(inverse), .. }, .. })) => *inverse,
            _ => return self.eval(value, scope),
        };
        self.lhs_owners.push((owner, Some(inverse)));
        let result = self.eval(value, scope);
        self.lhs_owners.pop();
        result
    }

    fn run_foreach(&mut self, id: TaskId, block: BlockId, index: u32, scope: ScopeId, list: SlotId, consumed: u32) -> Eval<bool> {
        let IrStmt::For { body, span, .. } = &self.blocks[block.index()].stmts[index as usize] else { return Ok(true) };
        let (body, span) = (*body, *span);
        let items: Vec<Value> = match &self.slots[list.0 as usize].value {
            SlotValue::List(items) => items.get(consumed as usize..).map(<[Value]>::to_vec).unwrap_or_default(),
            SlotValue::Single(Value::List(items)) => items.get(consumed as usize..).map(<[Value]>::to_vec).unwrap_or_default(),
            SlotValue::Single(Value::Unknown) | SlotValue::Unset => Vec::new(),
            // A nullable list attribute set to null is no list to walk (as in Inmanta).
            SlotValue::Single(other) => {
                return fail(
                    ErrorKind::InvalidOperation(Operation::ForOver(self.show_type(other))),
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
            self.add_freeze_candidate(list);
            Err(Halt::Wait(Wait::Change(list)))
        }
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

/// Whether a constructor in `value` (or in a list literal) takes its owner as an index attribute.
fn takes_owner(value: &IrExpr) -> bool {
    match &value.kind {
        IrKind::Construct { lhs_inverse, .. } => lhs_inverse.is_some(),
        IrKind::List(items) => items.iter().any(takes_owner),
        IrKind::Conditional { then, otherwise, .. } => takes_owner(then) || takes_owner(otherwise),
        _ => false,
    }
}
