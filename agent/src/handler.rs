//! The handler API. A handler reads the current state of one resource, says what differs from
//! the desired state, and applies the changes; resources that receive events may be reloaded.
//! Handlers do all their IO through [`Io`], so one handler serves local and remote agents,
//! and fetch file bodies through a [`FileSource`]; both come in a [`Context`].

use crate::io::Io;
use cairn_wire::{Change, ResourceDoc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The fields of a resource as a handler sees them.
pub type Fields = BTreeMap<String, Value>;

/// Why a handler could not make a resource match. Usually a failure; a handler may instead
/// ask for the resource to be reported as skipped (as `exec::Run` with `skip_on_fail`), which
/// does not fail the deploy (its dependents are skipped all the same).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerError {
    pub message: String,
    pub skip: bool,
}

impl HandlerError {
    pub fn new(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into(), skip: false }
    }

    pub fn skip(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into(), skip: true }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<std::io::Error> for HandlerError {
    fn from(error: std::io::Error) -> Self {
        HandlerError::new(error.to_string())
    }
}

/// The bodies of files, by the hex SHA-1 of their content: what a version's `hash` fields
/// name. The orchestrator keeps them (its file store) and the agent fetches them through its
/// port.
pub trait FileSource: Send + Sync {
    fn file(&self, hash: &str) -> Result<Vec<u8>, HandlerError>;
}

/// What a handler works with: the machine's IO and the orchestrator's file bodies.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub io: &'a dyn Io,
    pub files: &'a dyn FileSource,
}

/// A file source that has no files (for handlers and tests that need none).
pub struct NoFiles;

impl FileSource for NoFiles {
    fn file(&self, hash: &str) -> Result<Vec<u8>, HandlerError> {
        Err(HandlerError::new(format!("no file store: cannot fetch the file with hash {hash}")))
    }
}

/// Files held in memory, by hash.
#[derive(Default, Clone)]
pub struct MemoryFiles(pub BTreeMap<String, Vec<u8>>);

impl FileSource for MemoryFiles {
    fn file(&self, hash: &str) -> Result<Vec<u8>, HandlerError> {
        self.0.get(hash).cloned().ok_or_else(|| HandlerError::new(format!("the file store has no file with hash {hash}")))
    }
}

pub trait Handler: Send + Sync {
    /// The fields this handler compares; a desired value of `null` means "leave as is".
    fn fields(&self) -> &[&str];

    /// The current state: the managed fields, or `None` when the resource does not exist.
    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError>;

    /// What must change. The default compares [`fields`](Handler::fields) and handles purging.
    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        default_diff(self.fields(), desired, current)
    }

    /// Makes the changes.
    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError>;

    /// Reacts to an event from a changed dependency; returns whether it did something.
    fn reload(&self, _cx: &Context<'_>, _desired: &ResourceDoc) -> Result<bool, HandlerError> {
        Ok(false)
    }

    /// Whether [`reload`](Handler::reload) would do something for this resource (dry runs
    /// predict reloads with it).
    fn reloads(&self, _desired: &ResourceDoc) -> bool {
        false
    }

    /// Values fed back to the compiler.
    fn facts(&self, _cx: &Context<'_>, _desired: &ResourceDoc) -> Result<Fields, HandlerError> {
        Ok(Fields::new())
    }

    /// Checks everything the resource asks for (modes, owners, ...) before anything is read
    /// or changed: a resource that cannot be deployed must fail with nothing touched.
    fn check(&self, _cx: &Context<'_>, _desired: &ResourceDoc) -> Result<(), HandlerError> {
        Ok(())
    }

    /// The changes for a person to read, shown by dry runs and kept in the action log (a
    /// unified diff for text files). It must not reveal what only some users may read: a
    /// handler of secrets shows hashes instead.
    fn describe(&self, _cx: &Context<'_>, _desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> String {
        changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.current, c.desired))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Purging and field-by-field comparison, shared by most handlers.
pub fn default_diff(fields: &[&str], desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
    let purged = desired.purged();
    match (purged, current) {
        (true, None) => Vec::new(),
        (true, Some(_)) => vec![Change { field: "purged".into(), current: Value::Bool(false), desired: Value::Bool(true) }],
        (false, None) => {
            let mut changes = vec![Change { field: "purged".into(), current: Value::Bool(true), desired: Value::Bool(false) }];
            for field in fields {
                if let Some(value) = desired.attr(field).filter(|v| !v.is_null()) {
                    changes.push(Change { field: (*field).into(), current: Value::Null, desired: value.clone() });
                }
            }
            changes
        }
        (false, Some(current)) => fields
            .iter()
            .filter_map(|field| {
                let want = desired.attr(field).filter(|v| !v.is_null())?;
                let have = current.get(*field).cloned().unwrap_or(Value::Null);
                (have != *want).then(|| Change { field: (*field).into(), current: have, desired: want.clone() })
            })
            .collect(),
    }
}

/// Handlers by resource type (`fs::File`, ...).
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: BTreeMap<String, Arc<dyn Handler>>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, resource_type: &str, handler: Arc<dyn Handler>) {
        self.handlers.insert(resource_type.to_string(), handler);
    }

    pub fn get(&self, resource_type: &str) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(resource_type)
    }
}
