//! Types shared by the compiler's export, the orchestrator's store and the agents: resource
//! ids, resource documents, deploy states, and the deploy result (one record: what an agent
//! reports, what the store logs). Small on purpose: every other crate depends on it, and it
//! depends on nothing of Cairn's.

pub mod digest;
pub mod session;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A resource id without version: `type[agent,attr=value]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "fs::File[web1,path=/etc/motd]"))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

    /// What to deploy for this resource once the model no longer has it, when it has
    /// `purge_on_delete` (and is not a purge already): the same resource, purged, requiring
    /// nothing, under a hash of its own.
    pub fn purge_on_delete(&self) -> Option<ResourceDoc> {
        if !self.bool_attr("purge_on_delete") || self.purged() {
            return None;
        }
        let mut purge = self.clone();
        purge.attributes.insert("purged".into(), serde_json::Value::Bool(true));
        purge.requires.clear();
        purge.hash = format!("{}-purged", self.hash);
        Some(purge)
    }
}

/// The states of a resource (as in Inmanta).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub field: String,
    pub current: serde_json::Value,
    pub desired: serde_json::Value,
}

/// What the agent did with a resource in one deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// Read, compared and (where something differed) changed.
    Deploy,
    /// Read and compared only: a dry run.
    Dryrun,
    /// Nothing differed, but a dependency that sends events changed: reloaded.
    Reload,
    /// Removed (`purged = true`).
    Purge,
    /// Not in the increment: the last deploy already made this desired state true, so the
    /// agent neither read nor changed anything. Never logged.
    Untouched,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Dryrun => "dryrun",
            Action::Reload => "reload",
            Action::Purge => "purge",
            Action::Untouched => "untouched",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "deploy" => Action::Deploy,
            "dryrun" => Action::Dryrun,
            "reload" => Action::Reload,
            "purge" => Action::Purge,
            "untouched" => Action::Untouched,
            _ => return None,
        })
    }
}

/// The outcome of one resource in one deploy: what the agent reports, what the store keeps
/// as the resource's state and in its action log, and what the command line prints. One
/// record for all three, so nothing is lost or renamed between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployResult {
    pub resource: ResourceId,
    pub version: u64,
    pub action: Action,
    pub state: ResourceState,
    /// Something was changed (or, in a dry run, would be); a reload counts.
    pub changed: bool,
    pub changes: Vec<Change>,
    pub message: String,
    /// The desired-state hash that is now true on the target: set when the deploy
    /// succeeded, `None` otherwise (and for dry runs).
    pub deployed_hash: Option<String>,
    /// What changed (or, in a dry run, would change), for a person to read: a unified diff
    /// for a text file that everyone may read, only hashes for any other file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

impl DeployResult {
    /// Whether the resource ended in a state that counts as done (deployed, or checked by
    /// a dry run).
    pub fn succeeded(&self) -> bool {
        matches!(self.state, ResourceState::Deployed | ResourceState::Dry)
    }
}

/// What the store keeps about a version besides its resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub resource_count: u64,
    /// [`version_digest`] of its resources: two versions with the same digest ask for the
    /// same thing.
    pub digest: String,
}

/// A digest of what a version asks for: its resources' ids, desired-state hashes and
/// requires, in any order. Equal digests mean there is nothing new to store or deploy.
pub fn version_digest(resources: &[ResourceDoc]) -> String {
    let mut lines: Vec<String> = resources
        .iter()
        .map(|r| {
            let mut requires: Vec<&str> = r.requires.iter().map(|q| q.0.as_str()).collect();
            requires.sort_unstable();
            format!("{}\t{}\t{}\t{}\n", r.id, r.hash, u8::from(r.undefined), requires.join(","))
        })
        .collect();
    lines.sort_unstable();
    digest::sha1_hex(lines.concat().as_bytes())
}

/// The last known state of a resource, as an agent needs it to compute its increment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceStatus {
    pub resource: ResourceId,
    pub state: ResourceState,
    /// The desired-state hash the last successful deploy made true.
    pub deployed_hash: Option<String>,
    pub version: u64,
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
        for action in [Action::Deploy, Action::Dryrun, Action::Reload, Action::Purge, Action::Untouched] {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
    }
}
