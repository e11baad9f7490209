//! The agent session protocol (issue 14): the messages an agent process and the server
//! exchange over one websocket, as JSON text frames, one message per frame. Defined here,
//! below both sides, so that the agent never depends on the server.
//!
//! A session starts with [`AgentMessage::Hello`] and is answered with
//! [`ServerMessage::Welcome`] (or [`ServerMessage::Refused`], after which the server closes
//! it). For each agent name it hosts, the process then learns whether it is the primary
//! (with the lease's epoch) or a standby; only a primary gets [`ServerMessage::Work`], and
//! every result or intent it sends carries the epoch it was given, so that the server can
//! refuse what a deposed primary still sends (the store's fenced writes).
//!
//! Frames are bounded ([`MAX_FRAME_BYTES`]); a frame that is not valid JSON of these shapes
//! ends that session only. Work larger than a frame is sent as several `Work` frames, all
//! but the last with `more` set. File bodies travel as binary frames (see [`file_frame`]),
//! answering [`AgentMessage::File`].

use crate::{DeployResult, ResourceDoc, ResourceId, ResourceState, ResourceStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol's version: a hello of another version is refused with a message that says
/// which one the server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either side accepts. Work is sent in batches that stay below it.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// What an agent process sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// The first message: who this process is and which agent names it hosts. The token
    /// travels in the websocket request's `Authorization` header, never in a message.
    Hello {
        protocol: u32,
        environment: String,
        agents: Vec<String>,
        host: String,
        pid: u32,
        /// The session this process had before its connection broke: it is ended at once
        /// (its leases go to the new session) instead of when it expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    /// Sent every `heartbeat_ms` of the welcome; a session silent for longer than the
    /// server's agent timeout is ended and its leases are given to standbys.
    Heartbeat,
    /// About to change these resources (written before the change, so that a crash
    /// half-way is known), under the lease of `agent` in term `epoch`; answered by an `Ack`
    /// of `seq`.
    Intend { agent: String, epoch: u64, seq: u64, version: u64, resources: Vec<ResourceId> },
    /// Deploy results of `agent`'s resources in term `epoch`, answered by an `Ack` of `seq`.
    Results { agent: String, epoch: u64, seq: u64, results: Vec<DeployResult> },
    /// Values handlers found (`std::getfact`): by resource, then by name.
    Facts { agent: String, facts: BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>> },
    /// The body of a file of the file store by its hex SHA-1: answered by a binary frame
    /// ([`file_frame`]), or by `FileMissing`.
    File { hash: String },
    /// The process stops hosting `agent` (shutdown): its lease can go to a standby now.
    Leave { agent: String },
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The session is open: its id, and how often to send a heartbeat.
    Welcome { session: String, heartbeat_ms: u64 },
    /// The session is refused (unknown environment, a token of another environment, another
    /// protocol version, ...), with the reason; the server closes it.
    Refused { reason: String },
    /// This session is the primary of `agent` in term `epoch`.
    Primary { agent: String, epoch: u64 },
    /// Another session is the primary of `agent` (or the agent is paused): do nothing for
    /// it, and stop what is in flight.
    Standby { agent: String, paused: bool },
    /// Resources of `agent` to deploy (`repair`: compare every one with the real world even
    /// when its desired state did not change), the last known state of each (`statuses`,
    /// what the increment is computed from), and the states of the dependencies that belong
    /// to other agents as they are now. New work of an agent replaces the work in flight.
    /// With `more`, further `Work` frames of the same work follow (the lists are split so
    /// that each frame stays below [`MAX_FRAME_BYTES`]).
    Work {
        agent: String,
        epoch: u64,
        version: u64,
        repair: bool,
        resources: Vec<ResourceDoc>,
        statuses: BTreeMap<ResourceId, ResourceStatus>,
        external: BTreeMap<ResourceId, ResourceState>,
        #[serde(default)]
        more: bool,
    },
    /// States of other agents' resources that this session's work waits for, pushed in
    /// batches as they change (never polled one by one).
    DependencyStates { states: BTreeMap<ResourceId, ResourceState> },
    /// The results (or intent) of `seq` are stored, or were refused: `fenced` when their
    /// epoch is no longer the agent's, `error` when the store could not keep them (the agent
    /// sends them again later).
    Ack {
        agent: String,
        seq: u64,
        fenced: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The file store has no file with this hash.
    FileMissing { hash: String },
}

/// Hex SHA-1 digits that start a file frame.
pub const FILE_HASH_LEN: usize = 40;

/// A binary frame that carries a file body: its 40 hex digits of SHA-1, then the body.
pub fn file_frame(hash: &str, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FILE_HASH_LEN + body.len());
    frame.extend_from_slice(hash.as_bytes());
    frame.extend_from_slice(body);
    frame
}

/// The hash and body of a file frame; `None` when the frame is not one (too short, or not
/// hex digits first) or when the body does not have the hash it is sent under.
pub fn read_file_frame(frame: &[u8]) -> Option<(String, &[u8])> {
    if frame.len() < FILE_HASH_LEN {
        return None;
    }
    let (hash, body) = frame.split_at(FILE_HASH_LEN);
    let hash = std::str::from_utf8(hash).ok()?;
    if !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) || crate::digest::sha1_hex(body) != hash {
        return None;
    }
    Some((hash.to_string(), body))
}

impl AgentMessage {
    /// Reads one frame, refusing frames over [`MAX_FRAME_BYTES`].
    pub fn from_frame(frame: &str) -> Result<AgentMessage, FrameError> {
        from_frame(frame)
    }

    pub fn to_frame(&self) -> String {
        to_frame(self)
    }
}

impl ServerMessage {
    /// Reads one frame, refusing frames over [`MAX_FRAME_BYTES`].
    pub fn from_frame(frame: &str) -> Result<ServerMessage, FrameError> {
        from_frame(frame)
    }

    pub fn to_frame(&self) -> String {
        to_frame(self)
    }
}

/// A frame that is not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLarge { bytes: usize },
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { bytes } => write!(f, "a frame of {bytes} bytes is larger than the {MAX_FRAME_BYTES} bytes a frame may be"),
            FrameError::Malformed(message) => write!(f, "a frame is not a message of the session protocol: {message}"),
        }
    }
}

impl std::error::Error for FrameError {}

fn from_frame<T: serde::de::DeserializeOwned>(frame: &str) -> Result<T, FrameError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { bytes: frame.len() });
    }
    serde_json::from_str(frame).map_err(|error| FrameError::Malformed(error.to_string()))
}

fn to_frame<T: Serialize>(message: &T) -> String {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, ResourceState};

    #[test]
    fn messages_round_trip_as_tagged_json() {
        let hello = AgentMessage::Hello { protocol: PROTOCOL_VERSION, environment: "prod".into(), agents: vec!["web1".into()], host: "h".into(), pid: 7, previous: None };
        let frame = hello.to_frame();
        assert_eq!(frame, r#"{"type":"hello","protocol":1,"environment":"prod","agents":["web1"],"host":"h","pid":7}"#);
        assert_eq!(AgentMessage::from_frame(&frame), Ok(hello));
        let result = DeployResult {
            resource: ResourceId("fs::File[web1,path=/a]".into()),
            version: 3,
            action: Action::Deploy,
            state: ResourceState::Deployed,
            changed: true,
            changes: Vec::new(),
            message: String::new(),
            deployed_hash: Some("h".into()),
            diff: None,
            time_ms: 2,
        };
        let results = AgentMessage::Results { agent: "web1".into(), epoch: 4, seq: 9, results: vec![result] };
        assert_eq!(AgentMessage::from_frame(&results.to_frame()), Ok(results));
        let mut states = BTreeMap::new();
        states.insert(ResourceId("std::testing::NullResource[db,name=x]".into()), ResourceState::Failed);
        let pushed = ServerMessage::DependencyStates { states };
        assert_eq!(ServerMessage::from_frame(&pushed.to_frame()), Ok(pushed));
        assert_eq!(ServerMessage::from_frame(r#"{"type":"heartbeat"}"#).map_err(|_| ()), Err(()), "an agent message is not a server message");
        let ack = ServerMessage::Ack { agent: "web1".into(), seq: 3, fenced: true, error: None };
        assert_eq!(ack.to_frame(), r#"{"type":"ack","agent":"web1","seq":3,"fenced":true}"#);
    }

    #[test]
    fn file_frames_carry_bodies_under_their_hash() {
        let body = b"hello";
        let hash = crate::digest::sha1_hex(body);
        let frame = file_frame(&hash, body);
        assert_eq!(read_file_frame(&frame), Some((hash.clone(), &body[..])));
        let mut wrong = frame.clone();
        wrong.push(b'!');
        assert_eq!(read_file_frame(&wrong), None, "a body that is not its hash's");
        assert_eq!(read_file_frame(b"short"), None);
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(AgentMessage::from_frame("{"), Err(FrameError::Malformed(_))));
        assert!(matches!(AgentMessage::from_frame(r#"{"type":"results","agent":"a"}"#), Err(FrameError::Malformed(_))));
        assert!(matches!(AgentMessage::from_frame(r#"{"type":"nonsense"}"#), Err(FrameError::Malformed(_))));
        let huge = format!("\"{}\"", "x".repeat(MAX_FRAME_BYTES));
        assert!(matches!(AgentMessage::from_frame(&huge), Err(FrameError::TooLarge { .. })));
    }
}
