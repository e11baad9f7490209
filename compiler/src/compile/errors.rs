//! Errors of the compile phases after parsing (loading, declarations, execution), with all
//! their message text. Each carries a primary span and, where known, secondary spans that
//! explain it (the other place a value was set, the statement that froze a list, ...).

use crate::diagnostic::Diagnostic;
use crate::error::Details;
use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct CompileError {
    pub kind: ErrorKind,
    pub span: Span,
    pub related: Vec<(Span, String)>,
    /// A sentence explaining the root cause, where one was found.
    pub cause: Option<String>,
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
    Duplicate { what: &'static str, name: String },
    InheritanceCycle(String),
    InvalidTypedefBase(String),
    InvalidRegex(String),
    NotConstant,
    EmptyIndex,
    TypeMismatch { expected: String, found: String, context: String },
    ConstraintViolation { typedef: String, value: String },
    SetTwice { target: String, old: String, new: String },
    ModifiedAfterFreeze { target: String },
    UpperBoundExceeded { target: String, upper: u32 },
    OptionalNotSet { target: String },
    AttributeNotSet { instance: String, attribute: String },
    TooFewValues { instance: String, attribute: String, lower: u32, count: usize },
    NoImplementation { entity: String },
    IndexCollision { entity: String, key: String },
    NoIndexMatch { entity: String, key: String },
    NoIndexForLookup { entity: String, attributes: String },
    NotAnInstance { found: String, context: String },
    InvalidOperation(String),
    PluginError { plugin: String, message: String },
    InvalidIndexAttribute { entity: String, attribute: String, reason: String },
    IndexAttributeMissing { entity: String, attributes: Vec<(String, bool)> },
    IndexTypeMismatch { entity: String, key: String, existing: String },
    IncompatibleAttribute { entity: String, attribute: String, detail: String },
    RelationRedefined { entity: String, relation: String, parent: String },
    TypedefCycle(String),
    TypedefWithoutSelf(String),
    ConditionalParents,
    DuplicateArgument(String),
    NotBoolean { context: String, found: String },
    Unresolved { what: String },
    KeyNotFound(String),
    InvalidAssignmentTarget,
    ReservedName(String),
    Deprecated(String),
}

impl CompileError {
    pub fn new(kind: ErrorKind, span: Span) -> Self {
        CompileError { kind, span, related: Vec::new(), cause: None }
    }

    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.related.push((span, message.into()));
        self
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn details(&self) -> Details {
        let d = |kind: &'static str, title: String, label: &str| Details {
            kind,
            title,
            label: label.to_string(),
            hint: None,
        };
        let mut details = match &self.kind {
            ErrorKind::ModuleNotFound(name) => d("not-found", format!("could not find module `{name}`"), "imported here"),
            ErrorKind::NamespaceNotFound(name) => d("not-found", format!("could not find namespace `{name}`"), "imported here"),
            ErrorKind::NotImported(ns) => {
                let mut x = d("not-found", format!("namespace `{ns}` is not imported"), "used here");
                x.hint = Some(format!("add `import {ns}` at the top of this file"));
                x
            }
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
            ErrorKind::PythonPlugin { plugin, module } => {
                let mut x = d(
                    "plugin",
                    format!("plugin `{plugin}` is written in Python, which Cairn cannot run"),
                    "called here",
                );
                x.hint = Some(format!(
                    "module `{module}` ships Python plugins; Cairn runs its model but not its plugins: port the plugin or avoid the call"
                ));
                x
            }
            ErrorKind::Duplicate { what, name } => d("duplicate", format!("{what} `{name}` is defined twice"), "second definition"),
            ErrorKind::InheritanceCycle(name) => d("cycle", format!("entity `{name}` inherits from itself"), "in this cycle"),
            ErrorKind::InvalidTypedefBase(name) => {
                d("type", format!("a typedef must be based on a primitive type, not `{name}`"), "not a primitive type")
            }
            ErrorKind::InvalidRegex(message) => d("type", "invalid regular expression".to_string(), message),
            ErrorKind::NotConstant => d("syntax", "a default value must be a constant".to_string(), "not a constant"),
            ErrorKind::EmptyIndex => d("syntax", "an index needs at least one attribute".to_string(), "no attributes"),
            ErrorKind::TypeMismatch { expected, found, context } => {
                d("type", format!("invalid value for {context}: expected {expected}, got {found}"), "wrong type")
            }
            ErrorKind::ConstraintViolation { typedef, value } => {
                d("type", format!("invalid value {value}: does not match the constraint of `{typedef}`"), "violates the typedef")
            }
            ErrorKind::SetTwice { target, old, new } => d(
                "set-twice",
                format!("value set twice for {target}: first {old}, now {new}"),
                "second value set here",
            ),
            ErrorKind::ModifiedAfterFreeze { target } => {
                let mut x = d("modified-after-freeze", format!("{target} modified after freeze"), "written here after it was frozen");
                x.hint = Some(
                    "a list or optional value freezes when something reads it whole (a plugin argument, a condition, `is defined`, a comparison)"
                        .to_string(),
                );
                x
            }
            ErrorKind::UpperBoundExceeded { target, upper } => {
                d("multiplicity", format!("{target} holds at most {upper} value(s)"), "one value too many set here")
            }
            ErrorKind::OptionalNotSet { target } => {
                let mut x = d("optional-not-set", format!("optional value {target} is read but never set"), "read here");
                x.hint = Some("guard the read with `is defined`, or give the relation a value".to_string());
                x
            }
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
            ErrorKind::NoImplementation { entity } => {
                let mut x = d("no-implementation", format!("unable to select implementation for entity `{entity}`"), "instance created here");
                x.hint = Some(format!("add `implement {entity} using std::none` if it needs no implementation"));
                x
            }
            ErrorKind::IndexCollision { entity, key } => {
                d("index-collision", format!("two instances of `{entity}` have the same index key {key}"), "second instance here")
            }
            ErrorKind::NoIndexMatch { entity, key } => {
                d("no-match", format!("no instance of `{entity}` matches {key}"), "lookup never matched")
            }
            ErrorKind::NoIndexForLookup { entity, attributes } => d(
                "no-match",
                format!("no index of `{entity}` covers exactly ({attributes})"),
                "lookup without a matching index",
            ),
            ErrorKind::NotAnInstance { found, context } => {
                d("type", format!("{context} needs an entity instance, got {found}"), "not an instance")
            }
            ErrorKind::InvalidOperation(message) => d("type", message.clone(), "invalid operation"),
            ErrorKind::PluginError { plugin, message } => d("plugin", format!("plugin `{plugin}` failed: {message}"), "called here"),
            ErrorKind::InvalidIndexAttribute { entity, attribute, reason } => {
                let mut x = d("index", format!("an index of `{entity}` cannot use `{attribute}`: {reason}"), "not allowed in an index");
                x.hint = Some("an index holds only attributes and relations that always have exactly one value".to_string());
                x
            }
            ErrorKind::IndexAttributeMissing { entity, attributes } => {
                let names: Vec<String> = attributes
                    .iter()
                    .map(|(name, relation)| format!("{} `{name}`", if *relation { "relation" } else { "attribute" }))
                    .collect();
                let mut x = d(
                    "type",
                    format!("invalid constructor call: {} of `{entity}` {} part of an index but not given", names.join(", "), if names.len() == 1 { "is" } else { "are" }),
                    "index attribute missing",
                );
                x.hint = Some(
                    "a constructor must give every attribute of the entity's indexes (or have a default for it): the index decides whether an instance already exists"
                        .to_string(),
                );
                x
            }
            ErrorKind::IndexTypeMismatch { entity, key, existing } => {
                let mut x = d(
                    "index-collision",
                    format!("cannot construct `{entity}` with index key {key}: the instance with that key is a `{existing}`"),
                    "constructed here",
                );
                x.hint = Some("a constructor only returns an existing instance of exactly the same entity".to_string());
                x
            }
            ErrorKind::IncompatibleAttribute { entity, attribute, detail } => d(
                "duplicate",
                format!("attribute `{attribute}` of `{entity}` conflicts with {detail}"),
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
            ErrorKind::TypedefWithoutSelf(name) => {
                let mut x = d("type", format!("the constraint of typedef `{name}` does not use `self`"), "does not read `self`");
                x.hint = Some("a typedef constraint checks the value through `self`, e.g. `matching self > 0`".to_string());
                x
            }
            ErrorKind::TypedefCycle(name) => d("cycle", format!("typedef `{name}` is based on itself"), "in this cycle"),
            ErrorKind::ConditionalParents => {
                let mut x = d("syntax", "`using parents` cannot be combined with a `when` condition".to_string(), "inherits the parents' implementations");
                x.hint = Some("write a separate `implement ... using parents` without condition".to_string());
                x
            }
            ErrorKind::NotBoolean { context, found } => {
                d("type", format!("{context} must be a boolean, got {found}"), "not a boolean")
            }
            ErrorKind::Unresolved { what } => {
                d("not-set", format!("this statement never ran: it is waiting for {what}"), "waiting here")
            }
            ErrorKind::KeyNotFound(key) => d("key", format!("key {key} not found in dict"), "no such key"),
            ErrorKind::InvalidAssignmentTarget => d("syntax", "cannot assign to this expression".to_string(), "not a variable or attribute"),
            ErrorKind::ReservedName(name) => d("syntax", format!("`{name}` is a reserved name"), "reserved"),
            ErrorKind::Deprecated(message) => d("deprecated", message.clone(), "here"),
        };
        if let Some(cause) = &self.cause {
            details.hint = Some(match details.hint {
                Some(hint) => format!("{cause}\n{hint}"),
                None => cause.clone(),
            });
        }
        details
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut diagnostic = Diagnostic::from_details(self.details(), self.span);
        for (span, message) in &self.related {
            diagnostic = diagnostic.with_secondary(*span, message.clone());
        }
        diagnostic
    }
}
