//! The event log: every change the orchestrator makes (a version uploaded, released or
//! deleted; a compile started or finished; a resource's state; an agent process up or down;
//! an agent name's primary) is an [`Event`], numbered in one sequence over every environment
//! and every server sharing the store, and kept by the store for the retention the server is
//! given. `GET /api/v1/events` (`http/events.rs`) serves them as server-sent events, so a
//! reader that reconnects with `Last-Event-ID` misses none.
//!
//! Who writes them: [`recording::RecordingStore`] wraps the store and appends the events of
//! each change after the change succeeded, batched by one appender task per server
//! ([`bus`]); a change of primary is written by the backend itself, in the transaction that
//! changes the lease. [`bus::EventBus`] tells the readers of this server that there is
//! something new: its own appends at once, another server's through the store's change
//! feed (MongoDB change streams) or a poll.

pub mod bus;
pub mod recording;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One stored event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Its place in the one sequence of every event (from 1; only grows).
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub environment: String,
    /// `version.uploaded`, `version.released`, `version.deleted`, `compile.started`,
    /// `compile.finished`, `resource.state`, `agent.up`, `agent.down` or `agent.primary`.
    pub kind: String,
    /// What happened; its fields depend on the kind (see `docs/events.md`).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An event to append (the store numbers it).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub time_ms: u64,
    pub environment: String,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(environment: &str, kind: EventKind, data: serde_json::Value) -> NewEvent {
        NewEvent { time_ms: crate::store::now_ms(), environment: environment.to_string(), kind, data }
    }
}

/// The kinds of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    VersionUploaded,
    VersionReleased,
    VersionDeleted,
    CompileStarted,
    CompileFinished,
    ResourceState,
    AgentUp,
    AgentDown,
    PrimaryChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::VersionUploaded,
        EventKind::VersionReleased,
        EventKind::VersionDeleted,
        EventKind::CompileStarted,
        EventKind::CompileFinished,
        EventKind::ResourceState,
        EventKind::AgentUp,
        EventKind::AgentDown,
        EventKind::PrimaryChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::VersionUploaded => "version.uploaded",
            EventKind::VersionReleased => "version.released",
            EventKind::VersionDeleted => "version.deleted",
            EventKind::CompileStarted => "compile.started",
            EventKind::CompileFinished => "compile.finished",
            EventKind::ResourceState => "resource.state",
            EventKind::AgentUp => "agent.up",
            EventKind::AgentDown => "agent.down",
            EventKind::PrimaryChanged => "agent.primary",
        }
    }
}

/// Which kinds a reader asked for: `kind=resource.state,agent` takes that kind and every
/// kind of the `agent` group; no selector takes every kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindSelector {
    selectors: Vec<String>,
}

impl KindSelector {
    /// Parses a comma-separated list; an item that names no kind nor group is refused with
    /// a message, so that a typo does not silently select nothing.
    pub fn parse(text: Option<&str>) -> Result<KindSelector, String> {
        let mut selectors = Vec::new();
        for item in text.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let known = EventKind::ALL.iter().any(|k| k.as_str() == item || k.as_str().split('.').next() == Some(item));
            if !known {
                let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(format!("unknown event kind `{item}`; the kinds are {} (or a group before the dot)", kinds.join(", ")));
            }
            selectors.push(item.to_string());
        }
        Ok(KindSelector { selectors })
    }

    pub fn matches(&self, kind: &str) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s == kind || kind.split('.').next() == Some(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_selected_by_name_or_group() {
        let all = KindSelector::parse(None).expect("none");
        assert!(EventKind::ALL.iter().all(|k| all.matches(k.as_str())));
        let some = KindSelector::parse(Some("resource.state, agent")).expect("some");
        assert!(some.matches("resource.state") && some.matches("agent.up") && some.matches("agent.primary"));
        assert!(!some.matches("version.released") && !some.matches("compile.started"));
        let error = KindSelector::parse(Some("resource.stat")).expect_err("typo");
        assert!(error.contains("`resource.stat`"), "{error}");
    }
}
