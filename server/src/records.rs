//! What the orchestrator stores besides versions and deploy results: environments, tokens,
//! filters for listing resources, dry-run reports, and agents (sessions, the leases that
//! elect each agent name's primary, primary changes). Plain data shared by the store
//! backends, the HTTP API and its client.

pub use crate::compile_records::*;
use cairn_wire::{DeployResult, ResourceState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An environment: one project's versions, resource states, agents and settings. Its name
/// is the key everywhere (API paths, `-e NAME`); its id is a UUID, what `std::environment()`
/// gives a model, as in Inmanta.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentRecord {
    pub id: String,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Settings by name (`repair_interval`, ...), as JSON values.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agent: open sessions, report results and facts, fetch files.
    Agent,
    /// A compiler: upload versions and files, read facts, release.
    Compiler,
    /// A person or a script: read everything, release, trigger deploys and dry runs.
    Api,
    /// Everything, including environments and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Compiler => "compiler",
            Role::Api => "api",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "agent" => Role::Agent,
            "compiler" => Role::Compiler,
            "api" => Role::Api,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// A bearer token as stored: only the SHA-256 of the token, never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// The environment it is for; `None` for every environment.
    pub environment: Option<String>,
    pub role: Role,
    pub created_ms: u64,
    /// After this (milliseconds since the epoch) the token is refused.
    pub expires_ms: Option<u64>,
    #[serde(default)]
    pub description: String,
}

/// Which resources a listing returns; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusFilter {
    pub state: Option<ResourceState>,
    pub agent: Option<String>,
    pub resource_type: Option<String>,
    /// Ids that start with this text.
    pub id_prefix: Option<String>,
}

impl StatusFilter {
    pub fn matches(&self, status: &cairn_wire::ResourceStatus) -> bool {
        self.state.is_none_or(|s| status.state == s)
            && self.agent.as_deref().is_none_or(|a| status.resource.agent() == a)
            && self.resource_type.as_deref().is_none_or(|t| status.resource.resource_type() == t)
            && self.id_prefix.as_deref().is_none_or(|p| status.resource.0.starts_with(p))
    }
}

/// The smallest string greater than every string that starts with `prefix`, if there is one:
/// ids with the prefix are those in `[prefix, end)`. Strings compare by UTF-8 bytes, which is
/// code point order, so the last character that can grow is moved to the next one.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            code => char::from_u32(code + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A dry run of a version: requested, then filled in as agents report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunRecord {
    pub id: String,
    pub version: u64,
    pub created_ms: u64,
    /// What each resource would change, as reported so far (one result per resource; a
    /// later report of a resource replaces the earlier one).
    #[serde(default)]
    pub results: Vec<DeployResult>,
}

/// An agent process's session with a server: what its hello said, and when it was last
/// heard from. A session is live while its heartbeats are recent enough (how recent is the
/// caller's timeout, `--agent-timeout`); one that is not is ended by
/// [`crate::Store::expire_sessions`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionRecord {
    /// The session's id (unique in its environment; a UUID the server gives).
    pub id: String,
    /// The server holding the session's websocket.
    pub server: String,
    /// The agent process: the host it runs on and its process id.
    pub host: String,
    pub pid: u32,
    /// The agent names the process offers to host.
    pub agents: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub connected_ms: u64,
    pub last_heartbeat_ms: u64,
}

/// The lease that makes a session the primary of an agent name: granted to one session at
/// a time, until `expires_ms` unless renewed. Each grant to another session is a new term
/// with a greater `epoch` (1 for the first); results carry it, and those of an older epoch
/// are refused ([`crate::Store::record_fenced`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    pub agent: String,
    pub session_id: String,
    pub epoch: u64,
    /// Milliseconds since the Unix epoch: the lease is live while the time is before this.
    pub expires_ms: u64,
}

impl Lease {
    /// Whether the lease still holds at `now_ms`.
    pub fn live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }
}

/// An agent name of an environment as the election sees it: whether it is paused, which
/// session is preferred as its primary, its lease (if a session holds it, live or expired)
/// and the epoch of its last term (0 if it never had a primary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRecord {
    pub agent: String,
    pub paused: bool,
    pub preferred: Option<String>,
    pub lease: Option<Lease>,
    pub epoch: u64,
}

/// Why the primary of an agent name changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// Granted while nobody held the lease.
    Free,
    /// Granted after the holder's lease expired.
    Expired,
    /// Granted by taking it over from a holder whose lease was live (a preferred session).
    Takeover,
    /// The holder released it.
    Released,
    /// The holder's session ended.
    SessionEnded,
    /// The holder's session stopped heartbeating and was expired.
    SessionExpired,
    /// The agent name was paused.
    Paused,
}

impl ChangeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Free => "free",
            ChangeReason::Expired => "expired",
            ChangeReason::Takeover => "takeover",
            ChangeReason::Released => "released",
            ChangeReason::SessionEnded => "session_ended",
            ChangeReason::SessionExpired => "session_expired",
            ChangeReason::Paused => "paused",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeReason> {
        Some(match text {
            "free" => ChangeReason::Free,
            "expired" => ChangeReason::Expired,
            "takeover" => ChangeReason::Takeover,
            "released" => ChangeReason::Released,
            "session_ended" => ChangeReason::SessionEnded,
            "session_expired" => ChangeReason::SessionExpired,
            "paused" => ChangeReason::Paused,
            _ => return None,
        })
    }
}

/// One change of an agent name's primary: a grant to another session (`to_session` set,
/// `epoch` the new term's) or the holder letting go with nobody taking over (`to_session`
/// none, `epoch` the term that ended).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrimaryChange {
    pub agent: String,
    pub from_session: Option<String>,
    pub to_session: Option<String>,
    pub epoch: u64,
    /// Milliseconds since the Unix epoch (the time the caller gave).
    pub at_ms: u64,
    pub reason: ChangeReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_reasons_read_back() {
        for reason in [
            ChangeReason::Free,
            ChangeReason::Expired,
            ChangeReason::Takeover,
            ChangeReason::Released,
            ChangeReason::SessionEnded,
            ChangeReason::SessionExpired,
            ChangeReason::Paused,
        ] {
            assert_eq!(ChangeReason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).ok(), Some(serde_json::Value::from(reason.as_str())));
        }
    }

    #[test]
    fn prefix_ends_bound_exactly_the_ids_with_the_prefix() {
        assert_eq!(prefix_end("fs::File[").as_deref(), Some("fs::File\\"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end(""), None);
    }
}

/// Deploy and repair runs asked for (through the API or `cairn deploy --server`), as
/// counters that only grow: every server sharing the store sees a request as a counter
/// greater than the one it acted on, and has its primaries run it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRequests {
    pub deploys: u64,
    pub repairs: u64,
}
