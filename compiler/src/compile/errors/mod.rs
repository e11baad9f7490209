//! Everything the compile phases after parsing (loading, declarations, execution) can report,
//! and all of its text: the errors and the warning, the labels of the places that explain
//! them ([`Related`]), the sentences naming a root cause ([`Cause`]), the descriptions of
//! what a message is about (a slot, an instance, a value's type, the context of a check),
//! and the messages the compiler hands to plugins ([`HostError`]).
//!
//! The rest of the compiler builds these values from data and never writes a sentence of its
//! own. Each type's text is produced in one place (its `Display` or `details()`), and a
//! [`CompileError`] or [`CompileWarning`] becomes a [`Diagnostic`] in exactly one `From` impl.

use crate::diagnostic::{Diagnostic, Severity};
use crate::error::Details;
use crate::span::Span;
use std::fmt;

mod subjects;
pub use subjects::*;

/// The kind and the cause are boxed: the executor returns `Result<_, CompileError>` from its
/// hottest paths (every attribute set), and errors are rare, so the error stays small (56
/// bytes) rather than the size of its largest description.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileError {
    pub kind: Box<ErrorKind>,
    pub span: Span,
    /// Secondary places that explain the error (the other place a value was set, the read
    /// that froze a list, ...), in the order they are shown.
    pub related: Vec<(Span, Related)>,
    /// The root cause, where one was found.
    pub cause: Option<Box<Cause>>,
    /// Help to fix it (a near name, where a module was looked for), after the hint.
    pub help: Option<Box<Help>>,
}

/// Help shown after the hint of a [`CompileError`].
#[derive(Clone, Debug, PartialEq)]
pub enum Help {
    /// A known name near the misspelt one.
    DidYouMean(String),
    /// Where a module was looked for: the modulepath folders and the shipped modules, and a
    /// module of a near name if one was found.
    SearchedFor { folders: Vec<String>, shipped: Vec<String>, near: Option<String> },
}

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Help::DidYouMean(name) => write!(f, "did you mean `{name}`?"),
            Help::SearchedFor { folders, shipped, near } => {
                if folders.is_empty() {
                    f.write_str("looked in no modulepath folder (project.yml sets none)")?;
                } else {
                    write!(f, "looked in the modulepath folders {}", folders.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))?;
                }
                write!(f, " and among the modules shipped with Cairn ({})", shipped.join(", "))?;
                if let Some(near) = near {
                    write!(f, "; did you mean `{near}`?")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    ModuleNotFound(String),
    NamespaceNotFound(String),
    NotImported(String),
    TypeNotFound(String),
    EntityNotFound(String),
    ImplementationNotFound(String),
    VariableNotFound(String),
    AttributeNotFound { entity: String, attribute: String },
    PluginNotFound(String),
    PythonPlugin { plugin: String, module: String },
    Duplicate { what: Definition, name: String },
    InheritanceCycle(String),
    /// `entity` lists `parent` more than once after `extends`.
    DuplicateParent { entity: String, parent: String },
    InvalidTypedefBase(String),
    NotConstant,
    EmptyIndex,
    TypeMismatch { expected: Expected, found: Found, context: Context },
    ConstraintViolation { typedef: String, value: String },
    SetTwice { target: Subject, old: String, new: String },
    ModifiedAfterFreeze { target: Subject },
    UpperBoundExceeded { target: Subject, upper: u32 },
    OptionalNotSet { target: Subject },
    AttributeNotSet { instance: InstanceRef, attribute: String },
    TooFewValues { instance: InstanceRef, attribute: String, lower: u32, count: usize },
    NoImplementation { entity: String },
    IndexCollision { entity: String, key: String },
    NoIndexMatch { entity: String, key: String },
    NoIndexForLookup { entity: String, attributes: Vec<String> },
    NotAnInstance { found: Found, context: Context },
    InvalidOperation(Operation),
    PluginError { plugin: String, problem: PluginProblem },
    InvalidIndexAttribute { entity: String, attribute: String, reason: IndexReason },
    /// `(name, is a relation)` of every index attribute not given.
    IndexAttributeMissing { entity: String, attributes: Vec<(String, bool)> },
    IndexTypeMismatch { entity: String, key: String, existing: String },
    IncompatibleAttribute { entity: String, attribute: String, conflict: Conflict },
    RelationRedefined { entity: String, relation: String, parent: String },
    TypedefCycle(String),
    TypedefWithoutSelf(String),
    /// A typedef constraint reads this variable (only `self` is visible there).
    ConstraintVariable(String),
    ConditionalParents,
    DuplicateArgument(String),
    /// A plugin call gives this keyword twice.
    DuplicateKeyword(String),
    NotBoolean { context: Context, found: Found },
    Unresolved(Waiting),
    /// The key as shown in the language (`"name"`, `3`).
    KeyNotFound(String),
    InvalidAssignmentTarget,
    ReservedName(String),
    /// A chain of instances, each created by an implementation of the one before, went past
    /// the limit: the steps it repeats (this constructor's first), how often this
    /// constructor's step came in the chain, how deep the chain is and the limit.
    RunawayChain { cycle: Vec<ChainStep>, repeats: u32, depth: u32, limit: u32 },
    /// The compile reached its instance limit at a `entity` constructor.
    TooManyInstances { entity: String, limit: usize },
}

/// The label of a secondary place of a [`CompileError`].
#[derive(Clone, Debug, PartialEq)]
pub enum Related {
    FirstDefinedHere,
    OneDefinition,
    OtherDefinition,
    InheritedDefinition,
    DeclaredHere,
    AttributeDeclaredHere,
    TypedefDeclaredHere,
    ConditionGivenHere,
    PartOfCycle,
    FirstSetHere,
    /// The first value was the attribute's default.
    FirstSetByDefault,
    FirstValueSetHere,
    SetToNullHere,
    FrozenByRead,
    CompleteAfterThis,
    CouldSetButNeverRan,
    ExistingInstanceCreatedHere,
    FirstInstanceCreatedHere,
    OneIndexFindsThis,
    /// Another index, with this key, finds the instance here.
    OtherIndexFindsThis(String),
    DefaultComesFromHere,
    /// The value whose typedef constraint failed to evaluate.
    ConstraintCheckedHere,
    /// The implementation (by name) in which a runaway chain's constructor runs.
    ChainImplementation(String),
    /// The `for` loop (by its variable) in which a runaway chain's constructor runs.
    ChainLoop(String),
    /// The first instance of a runaway chain.
    ChainStartsHere,
    /// The implementation (by name) in which the constructor runs.
    CreatedInImplementation(String),
}

/// A sentence explaining the root cause of a [`CompileError`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cause {
    WhenConditionWaiting(Waiting),
    StatementWaiting(Waiting),
    /// The defaults of a constructor were set on the existing instance an index found.
    DefaultsOnExisting,
    /// The compiler froze a value for a read before a write that was still to come.
    ForcedFreeze,
    /// The read that froze the value is in the `when` condition that selects
    /// `implementation`, which sets `attribute` itself.
    WhenReadsWhatItSets { implementation: String, attribute: String },
    /// The entities on an inheritance cycle, from the first back to itself.
    InheritanceCycle(Vec<String>),
}

/// Something worth knowing that does not fail the compile.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileWarning {
    pub kind: WarningKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WarningKind {
    /// A loaded module ships Python plugins: its model is used, its plugins cannot run.
    PythonPlugins { module: String },
}

/// The messages the compiler's plugin host gives plugins (which report them as their own
/// failure).
#[derive(Clone, Debug, PartialEq)]
pub enum HostError {
    NoAttribute(String),
    NotAModuleFile(String),
    NotAModuleFolder(String),
    ModuleNotLoaded(String),
    CannotRead { path: String, error: String },
    CannotList { path: String, error: String },
    /// The host cannot list module folders at all.
    ListingUnsupported(String),
    /// A host that keeps no file references (see `PluginHost::file_reference`).
    ReferencesUnsupported(String),
    /// A module path whose `..` climbs out of its folder.
    ClimbsOut(String),
    /// A module path with an absolute part (`web//etc/passwd`).
    AbsolutePart(String),
    /// A module path that resolves (through a symbolic link) outside the module folder it
    /// names: the resolved path and the folder.
    LeadsOutside { target: String, folder: String },
}

impl CompileError {
    pub fn new(kind: ErrorKind, span: Span) -> Self {
        CompileError { kind: Box::new(kind), span, related: Vec::new(), cause: None, help: None }
    }

    /// Adds help; `None` adds nothing (so a failed search for a near name needs no branch).
    pub fn with_help(mut self, help: Option<Help>) -> Self {
        self.help = help.map(Box::new);
        self
    }

    pub fn with_related(mut self, span: Span, related: Related) -> Self {
        self.related.push((span, related));
        self
    }

    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// Whether the run stops at this error: a write proved a freeze the compiler guessed
    /// (because the run was stuck) wrong, so what ran after the guess cannot be trusted; left
    /// running, a model whose `when` condition contradicts its implementation creates
    /// instances without end. Inmanta stops there too.
    pub fn ends_run(&self) -> bool {
        matches!(self.cause.as_deref(), Some(Cause::ForcedFreeze | Cause::WhenReadsWhatItSets { .. }))
    }

    pub fn details(&self) -> Details {
        let d = |kind: &'static str, title: String, label: &str| Details { kind, title, label: label.to_string(), hint: None };
        let hinted = |details: Details, hint: String| Details { hint: Some(hint), ..details };
        let mut details = match &*self.kind {
            ErrorKind::ModuleNotFound(name) => d("not-found", format!("could not find module `{name}`"), "imported here"),
            ErrorKind::NamespaceNotFound(name) => d("not-found", format!("could not find namespace `{name}`"), "imported here"),
            ErrorKind::NotImported(ns) => hinted(
                d("not-found", format!("namespace `{ns}` is not imported"), "used here"),
                format!("add `import {ns}` at the top of this file"),
            ),
            ErrorKind::TypeNotFound(name) => d("not-found", format!("could not find type `{name}`"), "unknown type"),
            ErrorKind::EntityNotFound(name) => d("not-found", format!("could not find entity `{name}`"), "unknown entity"),
            ErrorKind::ImplementationNotFound(name) => {
                d("not-found", format!("could not find implementation `{name}`"), "unknown implementation")
            }
            ErrorKind::VariableNotFound(name) => {
                d("not-found", format!("variable `{name}` not found"), "no variable of this name is assigned in scope")
            }
            ErrorKind::AttributeNotFound { entity, attribute } => d(
                "not-found",
                format!("entity `{entity}` has no attribute or relation `{attribute}`"),
                "unknown attribute",
            ),
            ErrorKind::PluginNotFound(name) => d("not-found", format!("could not find plugin `{name}`"), "unknown plugin"),
            ErrorKind::PythonPlugin { plugin, module } => hinted(
                d("plugin", format!("plugin `{plugin}` is written in Python, which Cairn cannot run"), "called here"),
                format!(
                    "module `{module}` ships Python plugins; Cairn runs its model but not its plugins: port the plugin or avoid the call"
                ),
            ),
            ErrorKind::Duplicate { what, name } => d("duplicate", format!("{what} `{name}` is defined twice"), "second definition"),
            ErrorKind::InheritanceCycle(name) => d("cycle", format!("entity `{name}` inherits from itself"), "in this cycle"),
            ErrorKind::DuplicateParent { entity, parent } => {
                d("duplicate", format!("entity `{entity}` lists parent `{parent}` twice"), "listed again here")
            }
            ErrorKind::InvalidTypedefBase(name) => {
                d("type", format!("a typedef must be based on a primitive type, not `{name}`"), "not a primitive type")
            }
            ErrorKind::NotConstant => d("syntax", "a default value must be a constant".to_string(), "not a constant"),
            ErrorKind::EmptyIndex => d("syntax", "an index needs at least one attribute".to_string(), "no attributes"),
            ErrorKind::TypeMismatch { expected, found, context } => {
                d("type", format!("invalid value for {context}: expected {expected}, got {found}"), "wrong type")
            }
            ErrorKind::ConstraintViolation { typedef, value } => {
                d("type", format!("invalid value {value}: does not match the constraint of `{typedef}`"), "violates the typedef")
            }
            ErrorKind::SetTwice { target, old, new } => {
                d("set-twice", format!("value set twice for {target}: first {old}, now {new}"), "second value set here")
            }
            ErrorKind::ModifiedAfterFreeze { target } => hinted(
                d("modified-after-freeze", format!("{target} modified after freeze"), "written here after it was frozen"),
                "a list or optional value freezes when something reads it whole (a plugin argument, a condition, `is defined`, a comparison)"
                    .to_string(),
            ),
            ErrorKind::UpperBoundExceeded { target, upper } => {
                d("multiplicity", format!("{target} holds at most {upper} value(s)"), "one value too many set here")
            }
            ErrorKind::OptionalNotSet { target } => hinted(
                d("optional-not-set", format!("optional value {target} is read but never set"), "read here"),
                "guard the read with `is defined`, or give the relation a value".to_string(),
            ),
            ErrorKind::AttributeNotSet { instance, attribute } => d(
                "not-set",
                format!("the object {instance} is not complete: attribute `{attribute}` is not set"),
                "instance created here",
            ),
            ErrorKind::TooFewValues { instance, attribute, lower, count } => d(
                "not-set",
                format!(
                    "the object {instance} is not complete: attribute `{attribute}` requires {lower} value{} but only {count} {} set",
                    if *lower == 1 { "" } else { "s" },
                    if *count == 1 { "is" } else { "are" }
                ),
                "instance created here",
            ),
            ErrorKind::NoImplementation { entity } => hinted(
                d("no-implementation", format!("unable to select implementation for entity `{entity}`"), "instance created here"),
                format!("add `implement {entity} using std::none` if it needs no implementation"),
            ),
            ErrorKind::IndexCollision { entity, key } => {
                d("index-collision", format!("two instances of `{entity}` have the same index key {key}"), "second instance here")
            }
            ErrorKind::NoIndexMatch { entity, key } => {
                d("no-match", format!("no instance of `{entity}` matches {key}"), "lookup never matched")
            }
            ErrorKind::NoIndexForLookup { entity, attributes } => d(
                "no-match",
                format!("no index of `{entity}` covers exactly ({})", attributes.join(", ")),
                "lookup without a matching index",
            ),
            ErrorKind::NotAnInstance { found, context } => {
                d("type", format!("{context} needs an entity instance, got {found}"), "not an instance")
            }
            ErrorKind::InvalidOperation(operation) => d("type", operation.to_string(), "invalid operation"),
            ErrorKind::PluginError { plugin, problem: PluginProblem::Explained { message, hint } } => {
                hinted(d("plugin", format!("plugin `{plugin}` failed: {message}"), "called here"), hint.clone())
            }
            ErrorKind::PluginError { plugin, problem } => d("plugin", format!("plugin `{plugin}` failed: {problem}"), "called here"),
            ErrorKind::InvalidIndexAttribute { entity, attribute, reason } => hinted(
                d("index", format!("an index of `{entity}` cannot use `{attribute}`: {reason}"), "not allowed in an index"),
                "an index holds only attributes and relations that always have exactly one value".to_string(),
            ),
            ErrorKind::IndexAttributeMissing { entity, attributes } => {
                let names: Vec<String> = attributes
                    .iter()
                    .map(|(name, relation)| format!("{} `{name}`", if *relation { "relation" } else { "attribute" }))
                    .collect();
                hinted(
                    d(
                        "type",
                        format!(
                            "invalid constructor call: {} of `{entity}` {} part of an index but not given",
                            names.join(", "),
                            if names.len() == 1 { "is" } else { "are" }
                        ),
                        "index attribute missing",
                    ),
                    "a constructor must give every attribute of the entity's indexes (or have a default for it): the index decides whether an instance already exists"
                        .to_string(),
                )
            }
            ErrorKind::IndexTypeMismatch { entity, key, existing } => hinted(
                d(
                    "index-collision",
                    format!("cannot construct `{entity}` with index key {key}: the instance with that key is a `{existing}`"),
                    "constructed here",
                ),
                "a constructor only returns an existing instance of exactly the same entity".to_string(),
            ),
            ErrorKind::IncompatibleAttribute { entity, attribute, conflict } => d(
                "duplicate",
                format!("attribute `{attribute}` of `{entity}` conflicts with {conflict}"),
                "incompatible definition",
            ),
            ErrorKind::RelationRedefined { entity, relation, parent } => d(
                "duplicate",
                format!("relation `{relation}` of `{entity}` is already defined in parent `{parent}`"),
                "defined again here",
            ),
            ErrorKind::DuplicateArgument(name) => {
                d("duplicate", format!("attribute `{name}` is given twice in this constructor"), "given again here")
            }
            ErrorKind::DuplicateKeyword(name) => {
                d("duplicate", format!("keyword argument `{name}` is given twice in this call"), "given again here")
            }
            ErrorKind::TypedefWithoutSelf(name) => hinted(
                d("type", format!("the constraint of typedef `{name}` does not use `self`"), "does not read `self`"),
                "a typedef constraint checks the value through `self`, e.g. `matching self > 0`".to_string(),
            ),
            ErrorKind::ConstraintVariable(name) => hinted(
                d("not-found", format!("a typedef constraint cannot read the variable `{name}`"), "not `self`"),
                "a constraint sees only `self`, the value checked: write the limit into the constraint itself".to_string(),
            ),
            ErrorKind::TypedefCycle(name) => d("cycle", format!("typedef `{name}` is based on itself"), "in this cycle"),
            ErrorKind::ConditionalParents => hinted(
                d(
                    "syntax",
                    "`using parents` cannot be combined with a `when` condition".to_string(),
                    "inherits the parents' implementations",
                ),
                "write a separate `implement ... using parents` without condition".to_string(),
            ),
            ErrorKind::NotBoolean { context, found } => d("type", format!("{context} must be a boolean, got {found}"), "not a boolean"),
            ErrorKind::Unresolved(waiting) => d("not-set", format!("this statement never ran: it is waiting for {waiting}"), "waiting here"),
            ErrorKind::KeyNotFound(key) => d("key", format!("key {key} not found in dict"), "no such key"),
            ErrorKind::InvalidAssignmentTarget => {
                d("syntax", "cannot assign to this expression".to_string(), "not a variable or attribute")
            }
            ErrorKind::ReservedName(name) => d("syntax", format!("`{name}` is a reserved name"), "reserved"),
            ErrorKind::RunawayChain { cycle, repeats, depth, limit } => {
                let title = match cycle.as_slice() {
                    [ChainStep { creator, created, implementation: Some(implementation) }] if creator == created => format!(
                        "runaway construction: each `{creator}` creates another `{created}` in implementation `{implementation}`, a chain {repeats} instances deep when the compiler stopped it"
                    ),
                    [ChainStep { creator, created, implementation: None }] if creator == created => format!(
                        "runaway construction: a `for` over `{creator}` instances creates another `{created}` for each, which the loop then walks too, a chain {repeats} instances deep when the compiler stopped it"
                    ),
                    steps => {
                        let steps: Vec<String> = steps.iter().map(ToString::to_string).collect();
                        format!(
                            "runaway construction: instances keep creating instances ({}), a chain {depth} instances deep when the compiler stopped it, {repeats} of them created by this constructor",
                            steps.join(", then ")
                        )
                    }
                };
                hinted(
                    d("runaway", title, "this constructor would make the chain one too deep"),
                    format!(
                        "an implementation that creates an instance of its own entity, directly or through other instances, or a loop that adds to the list it walks, needs a condition that ends the chain (e.g. `if self.level < 3:`); the compiler stops a chain of instances, each created by an implementation of the one before or by a loop over it, at {limit} deep"
                    ),
                )
            }
            ErrorKind::TooManyInstances { entity, limit } => hinted(
                d(
                    "runaway",
                    format!("the model creates more than {limit} instances: the compiler stopped at this `{entity}`"),
                    "one instance too many",
                ),
                "no model needs this many: most likely instances keep creating instances without end (a loop that extends the list it walks, or instances that each create several others)"
                    .to_string(),
            ),
        };
        if let Some(cause) = &self.cause {
            details.hint = Some(match details.hint {
                Some(hint) => format!("{cause}\n{hint}"),
                None => cause.to_string(),
            });
        }
        if let Some(help) = &self.help {
            details.hint = Some(match details.hint {
                Some(hint) => format!("{hint}\n{help}"),
                None => help.to_string(),
            });
        }
        details
    }
}

/// The one conversion of a compile error into something to render.
impl From<&CompileError> for Diagnostic {
    fn from(error: &CompileError) -> Self {
        let mut diagnostic = Diagnostic::from_details(error.details(), error.span);
        for (span, related) in &error.related {
            diagnostic = diagnostic.with_secondary(*span, related.to_string());
        }
        diagnostic
    }
}

impl CompileWarning {
    pub fn details(&self) -> Details {
        match &self.kind {
            WarningKind::PythonPlugins { module } => Details {
                kind: "python-plugins",
                title: format!("module `{module}` has Python plugins, which Cairn cannot run"),
                label: "its model is loaded; calls to its plugins will fail".to_string(),
                hint: Some("Cairn runs native plugins only; models that call these plugins need a port".to_string()),
            },
        }
    }
}

/// The one conversion of a compile warning into something to render.
impl From<&CompileWarning> for Diagnostic {
    fn from(warning: &CompileWarning) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::from_details(warning.details(), warning.span) }
    }
}

impl fmt::Display for Related {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Related::FirstDefinedHere => f.write_str("first defined here"),
            Related::ConstraintCheckedHere => f.write_str("the value checked against the constraint"),
            Related::OneDefinition => f.write_str("one definition"),
            Related::OtherDefinition => f.write_str("the other definition"),
            Related::InheritedDefinition => f.write_str("inherited definition"),
            Related::DeclaredHere => f.write_str("declared here"),
            Related::AttributeDeclaredHere => f.write_str("attribute declared here"),
            Related::TypedefDeclaredHere => f.write_str("typedef declared here"),
            Related::ConditionGivenHere => f.write_str("condition given here"),
            Related::PartOfCycle => f.write_str("part of the cycle"),
            Related::FirstSetHere => f.write_str("first set here"),
            Related::FirstSetByDefault => f.write_str("first set here, by the default value"),
            Related::FirstValueSetHere => f.write_str("the first value was set here"),
            Related::SetToNullHere => f.write_str("set to null here"),
            Related::FrozenByRead => f.write_str("this read needed the complete value and froze it"),
            Related::CompleteAfterThis => f.write_str("the value was complete after this statement"),
            Related::CouldSetButNeverRan => f.write_str("this statement could set it, but it never ran"),
            Related::ExistingInstanceCreatedHere => f.write_str("the existing instance was created here"),
            Related::FirstInstanceCreatedHere => f.write_str("first instance created here"),
            Related::OneIndexFindsThis => f.write_str("one index finds this instance"),
            Related::OtherIndexFindsThis(key) => write!(f, "index key {key} finds this one"),
            Related::DefaultComesFromHere => f.write_str("the default value comes from here"),
            Related::ChainImplementation(name) => write!(f, "the constructor runs in implementation `{name}`"),
            Related::ChainLoop(variable) => write!(f, "the constructor runs in this loop, once for each `{variable}`"),
            Related::ChainStartsHere => f.write_str("the chain starts with the instance created here"),
            Related::CreatedInImplementation(name) => write!(f, "in implementation `{name}`"),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::WhenConditionWaiting(waiting) => write!(f, "the `when` condition is waiting for {waiting}"),
            Cause::StatementWaiting(waiting) => write!(f, "it is waiting for {waiting}"),
            Cause::DefaultsOnExisting => f.write_str(
                "a constructor that finds an existing instance through an index sets the arguments and the defaults of the other attributes on it",
            ),
            Cause::ForcedFreeze => f.write_str(
                "the read and this write wait on each other: when nothing else could run, the compiler froze the value for the read, and the write came afterwards; the compile stops here, as what ran after that guess cannot be trusted",
            ),
            Cause::WhenReadsWhatItSets { implementation, attribute } => write!(
                f,
                "the `when` condition that selects implementation `{implementation}` reads `{attribute}`, and `{implementation}` sets `{attribute}` itself: when nothing else could run, the compiler decided that `{attribute}` stays unset, ran the implementation, and it set `{attribute}`; the condition contradicts what it selects, so the compile stops here\nset `{attribute}` where it does not depend on its own value (a default, the constructor), or base the condition on another attribute (a boolean)",
            ),
            Cause::InheritanceCycle(entities) => {
                f.write_str("the cycle: ")?;
                for (position, entity) in entities.iter().enumerate() {
                    if position > 0 {
                        f.write_str(" extends ")?;
                    }
                    write!(f, "`{entity}`")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NoAttribute(name) => write!(f, "no attribute `{name}`"),
            HostError::NotAModuleFile(path) => write!(f, "`{path}` does not name a module file (module/path)"),
            HostError::NotAModuleFolder(path) => write!(f, "`{path}` does not name a module folder (module/path)"),
            HostError::ModuleNotLoaded(module) => write!(f, "module `{module}` is not loaded"),
            HostError::CannotRead { path, error } => write!(f, "cannot read {path}: {error}"),
            HostError::CannotList { path, error } => write!(f, "cannot list {path}: {error}"),
            HostError::ListingUnsupported(path) => write!(f, "cannot list `{path}`: this compiler cannot list module folders"),
            HostError::ReferencesUnsupported(path) => write!(f, "cannot refer to `{path}`: this compiler keeps no file references"),
            HostError::ClimbsOut(path) => write!(f, "`{path}` climbs out of its module folder with `..`"),
            HostError::AbsolutePart(path) => write!(f, "`{path}` has an absolute part: a module path is relative to its module folder"),
            HostError::LeadsOutside { target, folder } => {
                write!(f, "it resolves to {target}, outside {folder}: a symbolic link leads out of it")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_labels_render_into_secondary_labels_in_order() {
        let span = Span::default();
        let error = CompileError::new(ErrorKind::NotConstant, span)
            .with_related(span, Related::FirstSetHere)
            .with_related(span, Related::OtherIndexFindsThis("[name=\"a\"]".to_string()));
        let diagnostic = Diagnostic::from(&error);
        let labels: Vec<&str> = diagnostic.secondary.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(labels, ["first set here", "index key [name=\"a\"] finds this one"]);
    }

    #[test]
    fn a_cause_comes_before_the_hint() {
        let error = CompileError::new(ErrorKind::OptionalNotSet { target: Subject::Variable("x".into()) }, Span::default())
            .with_cause(Cause::InheritanceCycle(vec!["a::A".into(), "a::B".into(), "a::A".into()]));
        let hint = error.details().hint.unwrap_or_default();
        assert_eq!(
            hint,
            "the cycle: `a::A` extends `a::B` extends `a::A`\nguard the read with `is defined`, or give the relation a value"
        );
    }

    #[test]
    fn an_error_stays_small() {
        assert!(std::mem::size_of::<CompileError>() <= 64, "{}", std::mem::size_of::<CompileError>());
    }

    #[test]
    fn warnings_are_warnings() {
        let warning = CompileWarning { kind: WarningKind::PythonPlugins { module: "m".into() }, span: Span::default() };
        let diagnostic = Diagnostic::from(&warning);
        assert_eq!(diagnostic.severity, Severity::Warning);
        assert_eq!(diagnostic.kind, "python-plugins");
    }
}
