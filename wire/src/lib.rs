//! Types shared by the compiler's export, the orchestrator's store and the agents: resource
//! ids, resource documents, versions, deploy states and action logs. Small on purpose: every
//! other crate depends on it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A resource id without version: `type[agent,attr=value]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId(pub String);

impl ResourceId {
    /// Splits `type[agent,attr=value]` (an optional `,v=N` suffix is ignored).
    pub fn parse(text: &str) -> Option<ParsedId<'_>> {
        let text = match text.rfind("],v=") {
            Some(end) => &text[..=end],
            None => text,
        };
        let open = text.find('[')?;
        let inner = text.get(open + 1..text.len().checked_sub(1)?)?;
        if !text.ends_with(']') {
            return None;
        }
        let (agent, rest) = inner.split_once(',')?;
        let (attribute, value) = rest.split_once('=')?;
        Some(ParsedId { resource_type: &text[..open], agent, attribute, value })
    }

    pub fn agent(&self) -> &str {
        ResourceId::parse(&self.0).map(|p| p.agent).unwrap_or("")
    }

    pub fn resource_type(&self) -> &str {
        ResourceId::parse(&self.0).map(|p| p.resource_type).unwrap_or("")
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId<'a> {
    pub resource_type: &'a str,
    pub agent: &'a str,
    pub attribute: &'a str,
    pub value: &'a str,
}

/// One resource of a version: what the agent must make true.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceDoc {
    pub id: ResourceId,
    pub resource_type: String,
    pub agent: String,
    /// The exported fields (not `id` nor `requires`).
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub requires: Vec<ResourceId>,
    /// Desired-state hash: equal hashes mean nothing to do.
    pub hash: String,
    /// An attribute was unknown at compile time.
    pub undefined: bool,
    pub send_event: bool,
    pub receive_events: bool,
}

impl ResourceDoc {
    pub fn attr(&self, name: &str) -> Option<&serde_json::Value> {
        self.attributes.get(name)
    }

    pub fn str_attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.as_str())
    }

    pub fn bool_attr(&self, name: &str) -> bool {
        self.attributes.get(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    pub fn purged(&self) -> bool {
        self.bool_attr("purged")
    }
}

/// The states of a resource (as in Inmanta).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    Available,
    Deploying,
    Deployed,
    Failed,
    Skipped,
    Undefined,
    SkippedForUndefined,
    Unavailable,
    Dry,
    Cancelled,
    Orphaned,
}

impl ResourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceState::Available => "available",
            ResourceState::Deploying => "deploying",
            ResourceState::Deployed => "deployed",
            ResourceState::Failed => "failed",
            ResourceState::Skipped => "skipped",
            ResourceState::Undefined => "undefined",
            ResourceState::SkippedForUndefined => "skipped_for_undefined",
            ResourceState::Unavailable => "unavailable",
            ResourceState::Dry => "dry",
            ResourceState::Cancelled => "cancelled",
            ResourceState::Orphaned => "orphaned",
        }
    }

    pub fn parse(text: &str) -> Option<ResourceState> {
        Some(match text {
            "available" => ResourceState::Available,
            "deploying" => ResourceState::Deploying,
            "deployed" => ResourceState::Deployed,
            "failed" => ResourceState::Failed,
            "skipped" => ResourceState::Skipped,
            "undefined" => ResourceState::Undefined,
            "skipped_for_undefined" => ResourceState::SkippedForUndefined,
            "unavailable" => ResourceState::Unavailable,
            "dry" => ResourceState::Dry,
            "cancelled" => ResourceState::Cancelled,
            "orphaned" => ResourceState::Orphaned,
            _ => return None,
        })
    }
}

/// One change a handler made (or, in a dry run, would make).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub current: serde_json::Value,
    pub desired: serde_json::Value,
}

/// A logged deploy action of one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionLog {
    pub resource: ResourceId,
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `deploy`, `dryrun`, `reload`, `purge`.
    pub action: String,
    pub state: ResourceState,
    pub changes: Vec<Change>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_into_their_parts() {
        let parsed = ResourceId::parse("fs::File[web1,path=/etc/a=b],v=3").expect("parses");
        assert_eq!(parsed.resource_type, "fs::File");
        assert_eq!(parsed.agent, "web1");
        assert_eq!(parsed.attribute, "path");
        assert_eq!(parsed.value, "/etc/a=b");
        assert!(ResourceId::parse("nonsense").is_none());
    }

    #[test]
    fn states_round_trip() {
        for state in [ResourceState::Deployed, ResourceState::SkippedForUndefined, ResourceState::Orphaned] {
            assert_eq!(ResourceState::parse(state.as_str()), Some(state));
        }
    }
}
