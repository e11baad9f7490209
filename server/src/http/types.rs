//! The shapes the API takes and gives that are not stored records: request bodies, pages,
//! diffs, the status summary. The client (`crate::client`) uses the same types.

use crate::records::{EnvironmentRecord, Role};
use cairn_wire::{DeployResult, ResourceDoc, ResourceId, ResourceStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentCreate {
    /// Lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most
    /// 64 characters.
    pub name: String,
    /// Settings to start with (`repo_url`, `repo_branch`, `auto_release`, ...), checked as
    /// `PUT .../settings` checks them.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<EnvironmentRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// The environment the token is for; absent for every environment (admin only).
    #[serde(default)]
    pub environment: Option<String>,
    pub role: Role,
    /// The token is refused this many seconds after it is made.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub id: String,
    /// The token itself: shown once, never stored.
    pub token: String,
    pub environment: Option<String>,
    pub role: Role,
    pub expires_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionUpload {
    pub resources: Vec<ResourceDoc>,
    /// Release it at once.
    #[serde(default)]
    pub release: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionCreated {
    pub version: u64,
    pub resources: usize,
    pub released: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: u64,
    pub created_ms: u64,
    pub resource_count: u64,
    pub digest: String,
    pub released: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionSummary>,
}

/// One page of a version's resources.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionDetail {
    pub version: VersionSummary,
    pub resources: Vec<ResourceDoc>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 10000, default 1000).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangedResource {
    pub id: ResourceId,
    /// The attributes that differ (and `requires`, when it does).
    pub fields: BTreeMap<String, FieldChange>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionDiff {
    pub from: u64,
    pub to: u64,
    pub added: Vec<ResourceId>,
    pub removed: Vec<ResourceId>,
    pub changed: Vec<ChangedResource>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceQuery {
    /// Only resources in this state.
    pub state: Option<String>,
    /// Only resources of this agent.
    pub agent: Option<String>,
    /// Only resources of this type (`fs::File`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub resource_type: Option<String>,
    /// Only ids starting with this.
    pub prefix: Option<String>,
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 10000, default 1000).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourcePage {
    pub resources: Vec<ResourceStatus>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceIdQuery {
    /// The resource id, e.g. `fs::File[web1,path=/etc/motd]`.
    pub id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceDetail {
    pub id: ResourceId,
    /// The desired state in the released version (or the latest, when none is released).
    pub desired: Option<ResourceDoc>,
    /// The version `desired` comes from.
    pub desired_version: Option<u64>,
    pub status: Option<ResourceStatus>,
    pub logs: Vec<DeployResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileHashes {
    pub hashes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MissingFiles {
    pub missing: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Read and compare every resource (a repair), not only the increment.
    #[serde(default)]
    pub full: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub accepted: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunCreate {
    /// The version to compare with the real world; the latest when absent.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DryRunList {
    pub dryruns: Vec<crate::records::DryRunRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsUpdate {
    #[schema(value_type = Object)]
    pub facts: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FactsList {
    /// Facts by resource id.
    #[schema(value_type = Object)]
    pub facts: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// An agent name as the status and `cairn agents` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentStatus {
    pub name: String,
    /// The live session holding the primary role, if any.
    pub primary: Option<AgentProcess>,
    /// The other live sessions that offer the name: they take over when the primary goes.
    pub standby: Vec<AgentProcess>,
    pub paused: bool,
    /// The session chosen to be the primary whenever it is connected.
    pub preferred: Option<String>,
    /// The current (or last) term of a primary.
    pub epoch: u64,
}

/// An agent process's session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentProcess {
    pub session: String,
    pub host: String,
    pub pid: u32,
    /// The server holding its websocket.
    pub server: String,
    /// Milliseconds since the Unix epoch.
    pub last_heartbeat_ms: u64,
}

/// `cairn agents -e ENV --json`: every agent name, and the latest changes of primary.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentStatus>,
    /// Newest first, at most 100.
    pub changes: Vec<crate::records::PrimaryChange>,
}

/// The session to prefer as an agent name's primary: by id, or by the host it runs on
/// (when one live session of that host offers the name). Neither clears the preference.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferRequest {
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
}

/// `cairn status -e ENV --json`: scripts and monitoring rely on this shape.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentStatus {
    pub environment: String,
    pub latest_version: Option<u64>,
    pub released_version: Option<u64>,
    /// Resource counts by state.
    pub resources: BTreeMap<String, u64>,
    pub agents: Vec<AgentStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// A compile asked for through the API (`cairn compile --server`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompileCreate {
    /// Why, for the report (at most 256 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// An environment's compiles, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CompileList {
    pub compiles: Vec<crate::records::CompileRecord>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
pub struct CompileQuery {
    /// At most this many (default 20, at most 1000).
    pub limit: Option<usize>,
}

/// What a webhook call did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotifyAnswer {
    /// Whether a compile is queued (a new one, or one that was queued already and that this
    /// call joined).
    pub queued: bool,
    pub compile: Option<crate::records::CompileRecord>,
    /// Why nothing was queued (a push to another branch).
    pub reason: Option<String>,
}
