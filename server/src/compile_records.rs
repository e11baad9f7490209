//! What the store keeps of the autonomous server's compiles (`docs/autonomous.md`): each
//! compile of an environment's repository, from queued to finished, with the triggers that
//! asked for it and, once finished, its report. The queue and the per-environment lock are
//! these records themselves: at most one compile of an environment is `queued` (later
//! triggers join it) and at most one is `running` (claimed by one server under a lease that
//! it renews), however many servers share the store.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most triggers a compile keeps (the count goes on).
pub const MAX_TRIGGERS_KEPT: usize = 20;

/// What asked for a compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A Git host's webhook (`POST /api/v1/environments/{env}/notify`).
    Webhook,
    /// The poll timer found a new commit on the branch.
    Poll,
    /// A person or a script (`cairn compile --server`, `POST .../compiles`).
    Api,
    /// The environment's repository settings changed.
    Settings,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Webhook => "webhook",
            TriggerKind::Poll => "poll",
            TriggerKind::Api => "api",
            TriggerKind::Settings => "settings",
        }
    }
}

/// One trigger of a compile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What the trigger said: the pushed commit of a webhook, the commit a poll saw, a
    /// person's reason (at most a few hundred characters).
    #[serde(default)]
    pub detail: String,
}

/// Where a compile is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompileState {
    Queued,
    Running,
    /// Finished: compiled, exported and uploaded (and released when the environment says so).
    Succeeded,
    /// Finished without a new version: the report says why.
    Failed,
}

impl CompileState {
    pub fn as_str(self) -> &'static str {
        match self {
            CompileState::Queued => "queued",
            CompileState::Running => "running",
            CompileState::Succeeded => "succeeded",
            CompileState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<CompileState> {
        Some(match text {
            "queued" => CompileState::Queued,
            "running" => CompileState::Running,
            "succeeded" => CompileState::Succeeded,
            "failed" => CompileState::Failed,
            _ => return None,
        })
    }

    pub fn finished(self) -> bool {
        matches!(self, CompileState::Succeeded | CompileState::Failed)
    }
}

/// One compile of an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompileRecord {
    /// Unique in the environment (a UUID).
    pub id: String,
    pub environment: String,
    pub state: CompileState,
    /// The first triggers, oldest first (at most [`MAX_TRIGGERS_KEPT`]).
    pub triggers: Vec<Trigger>,
    /// How many triggers asked for this compile (coalesced while it was queued).
    pub trigger_count: u64,
    /// Milliseconds since the Unix epoch.
    pub queued_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// The server running it (while running, and after).
    pub server: Option<String>,
    /// While running: the claim holds until then unless renewed; a compile whose claim
    /// expired was abandoned (its server died) and is failed by the next claim.
    pub lease_expires_ms: Option<u64>,
    /// Once finished.
    pub report: Option<CompileReport>,
}

impl CompileRecord {
    /// A new queued compile, asked for by `trigger`.
    pub fn queued(id: &str, environment: &str, trigger: &Trigger) -> CompileRecord {
        CompileRecord {
            id: id.to_string(),
            environment: environment.to_string(),
            state: CompileState::Queued,
            triggers: vec![trigger.clone()],
            trigger_count: 1,
            queued_ms: trigger.at_ms,
            started_ms: None,
            finished_ms: None,
            server: None,
            lease_expires_ms: None,
            report: None,
        }
    }

    /// Another trigger joins this queued compile.
    pub fn join(&mut self, trigger: &Trigger) {
        if self.triggers.len() < MAX_TRIGGERS_KEPT {
            self.triggers.push(trigger.clone());
        }
        self.trigger_count += 1;
    }

    /// Claimed by `server` at `now_ms` until `now_ms + ttl_ms`.
    pub fn claim(&mut self, server: &str, now_ms: u64, ttl_ms: u64) {
        self.state = CompileState::Running;
        self.started_ms = Some(now_ms);
        self.server = Some(server.to_string());
        self.lease_expires_ms = Some(now_ms.saturating_add(ttl_ms));
    }

    /// Finished at `now_ms` with `report` (failed unless it says success).
    pub fn finish(&mut self, now_ms: u64, report: CompileReport) {
        self.state = if report.success { CompileState::Succeeded } else { CompileState::Failed };
        self.finished_ms = Some(now_ms);
        self.lease_expires_ms = None;
        self.report = Some(report);
    }

    /// Whether `server` holds this compile's claim (it is running, claimed by `server`).
    pub fn held_by(&self, server: &str) -> bool {
        self.state == CompileState::Running && self.server.as_deref() == Some(server)
    }
}

/// What a finished compile found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompileReport {
    /// The commit compiled (40 hex digits), when the fetch got that far.
    pub commit: Option<String>,
    pub branch: String,
    pub success: bool,
    /// The version uploaded, when it succeeded.
    pub version: Option<u64>,
    /// Whether that version was released.
    pub released: bool,
    /// The version released when the compile finished (a failed compile leaves the last good
    /// one released).
    pub released_version: Option<u64>,
    /// One line for people: what happened, and for a failure why and what stays deployed.
    pub summary: String,
    /// Milliseconds each phase took: `fetch`, `modules`, `compile`, `export`, `upload`.
    #[serde(default)]
    pub phases: BTreeMap<String, u64>,
    /// Every diagnostic of the compile and export, in order.
    #[serde(default)]
    pub diagnostics: Vec<CompileDiagnostic>,
    /// The last lines the compile process wrote to stderr (bounded).
    #[serde(default)]
    pub log: String,
}

/// One diagnostic, rendered as the command line shows it and structured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompileDiagnostic {
    /// `error` or `warning`.
    pub severity: String,
    pub message: String,
    /// The file, relative to the repository's root, when the diagnostic points into one.
    pub file: Option<String>,
    /// 1-based line and column of the primary label's start.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Byte offsets of the primary label in the file: start and end.
    pub span: Option<(u32, u32)>,
    /// The primary label's text.
    #[serde(default)]
    pub label: String,
    /// The diagnostic as `cairn compile` prints it (without colours).
    pub rendered: String,
}
