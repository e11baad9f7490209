//! One agent session: the websocket at `/api/v1/agents/session`. The request carries an
//! agent token (`Authorization: Bearer`); the first frame must be a hello naming the
//! environment and the agent names, which is checked (protocol, environment, the token's
//! environment and role) and answered with a welcome or a refusal. Then the session's frames
//! are read in order: heartbeats, intents and results (written fenced by their epoch, then
//! acknowledged), facts, file requests and leaves; and what the coordinator queues for it
//! is written. Anything that is not a frame of the protocol ends this session only.
//!
//! When the session ends, however it ends, the store ends it too, which releases its leases:
//! a standby takes over at the coordinator's next round.

use super::hub::{send, LocalSession, Observed, Outgoing, OUTGOING_QUEUE};
use crate::http::auth::{new_uuid, Principal};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::records::{Role, SessionRecord};
use crate::store::{now_ms, StoreError};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_wire::session::{file_frame, AgentMessage, ServerMessage, MAX_FRAME_BYTES, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames of a session read and not yet handled, at most (the reader waits beyond).
const QUEUED_FRAMES: usize = 64;
/// Agent names one process may host, at most.
const MAX_AGENTS: usize = 1_000;
/// Frames queued per agent name of a session, beyond [`OUTGOING_QUEUE`].
const FRAMES_PER_AGENT: usize = 4;

/// The websocket upgrade. A request that is not a websocket upgrade is a 400 that says so.
pub async fn connect(
    State(state): State<AppState>,
    principal: Principal,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::BadRequest(format!("this is the agent session endpoint, a websocket: {rejection}")).into_response();
        }
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move { serve(state, principal, socket).await })
}

fn close(reason: &str) -> Message {
    // A close frame's reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code: close_code::POLICY, reason: reason[..end].into() }))
}

/// What a hello asks for, once checked.
struct Hello {
    environment: String,
    agents: Vec<String>,
    host: String,
    pid: u32,
    previous: Option<String>,
}

fn valid_agent_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)
}

/// Why a hello is not answered with a welcome.
enum NotWelcome {
    /// Refused: asking again will not help (the agent stops, with the reason).
    Refused(String),
    /// Not now (the store is away): the session is closed and the agent tries again.
    Later(String),
}

impl From<String> for NotWelcome {
    fn from(reason: String) -> NotWelcome {
        NotWelcome::Refused(reason)
    }
}

impl From<&str> for NotWelcome {
    fn from(reason: &str) -> NotWelcome {
        NotWelcome::Refused(reason.to_string())
    }
}

/// Checks a hello.
async fn check_hello(state: &AppState, principal: &Principal, frame: Option<Result<Message, axum::Error>>) -> Result<Hello, NotWelcome> {
    let text = match frame {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(_)) => return Err("the first frame must be a hello (a JSON text frame)".into()),
        Some(Err(error)) => return Err(format!("not a websocket frame: {error}").into()),
        None => return Err(NotWelcome::Later("the connection closed before a hello".into())),
    };
    let message = AgentMessage::from_frame(text.as_str()).map_err(|e| e.to_string())?;
    let AgentMessage::Hello { protocol, environment, agents, host, pid, previous } = message else {
        return Err("the first frame must be a hello".into());
    };
    if protocol != PROTOCOL_VERSION {
        return Err(format!("this server speaks the session protocol {PROTOCOL_VERSION}, not {protocol}: run an agent of the server's release").into());
    }
    if agents.is_empty() || agents.len() > MAX_AGENTS {
        return Err(format!("a hello names 1 to {MAX_AGENTS} agent names, not {}", agents.len()).into());
    }
    if let Some(bad) = agents.iter().find(|a| !valid_agent_name(a)) {
        return Err(format!("`{}` is not an agent name (1 to 255 characters, no control characters)", bad.escape_debug()).into());
    }
    if host.len() > 255 || host.chars().any(char::is_control) {
        return Err("a host name has at most 255 bytes and no control characters".into());
    }
    // The token first: a token of another environment learns nothing of which exist.
    principal.require(&environment, &[Role::Agent]).map_err(|e| NotWelcome::Refused(e.message()))?;
    match state.store.environment(&environment).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(format!("no environment `{environment}` on this server").into()),
        Err(error) => {
            tracing::error!(%error, "store failure during an agent hello");
            return Err(NotWelcome::Later("the store is not available; try again later".into()));
        }
    }
    let agents: BTreeSet<String> = agents.into_iter().collect();
    Ok(Hello { environment, agents: agents.into_iter().collect(), host, pid, previous })
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// The hello phase: checks the hello and registers the session; `None` when the session was
/// refused or could not be taken now (the agent has been told, and the socket closed).
async fn open(state: &AppState, principal: &Principal, sink: &mut Sink, first: Option<Result<Message, axum::Error>>) -> Option<(Hello, String)> {
    let hello = match check_hello(state, principal, first).await {
        Ok(hello) => hello,
        Err(NotWelcome::Refused(reason)) => {
            tracing::info!(%reason, "agent session refused");
            let _ = sink.send(Message::Text(ServerMessage::Refused { reason: reason.clone() }.to_frame().into())).await;
            let _ = sink.send(close(&reason)).await;
            return None;
        }
        Err(NotWelcome::Later(reason)) => {
            tracing::info!(%reason, "agent session not taken now");
            let _ = sink.send(close(&reason)).await;
            return None;
        }
    };
    let Ok(id) = new_uuid() else {
        let _ = sink.send(close("the server has no randomness for a session id")).await;
        return None;
    };
    end_previous_session(state, &hello).await;
    let now = now_ms();
    let record = SessionRecord {
        id: id.clone(),
        server: state.hub.server_id.clone(),
        host: hello.host.clone(),
        pid: hello.pid,
        agents: hello.agents.clone(),
        connected_ms: now,
        last_heartbeat_ms: now,
    };
    if let Err(error) = state.store.register_session(&hello.environment, &record).await {
        tracing::error!(%error, "cannot register an agent session");
        // Not a refusal: the agent connects again later.
        let _ = sink.send(close("the store is not available; try again later")).await;
        return None;
    }
    Some((hello, id))
}

async fn serve(state: AppState, principal: Principal, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let first = tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await.unwrap_or(None);
    let Some((hello, id)) = open(&state, &principal, &mut sink, first).await else { return };
    let hub = Arc::clone(&state.hub);
    let now = now_ms();
    // Every agent name may be sent its work and its state in one round: the queue holds a
    // few frames per name (a hello names at most MAX_AGENTS), so that a process hosting many
    // names is not taken for one that reads too slowly.
    let (out, mut queue) = mpsc::channel::<Outgoing>(OUTGOING_QUEUE + FRAMES_PER_AGENT * hello.agents.len());
    let closer = Arc::new(Notify::new());
    let heartbeat_ms = (hub.timeout / 4).as_millis().max(50) as u64;
    let _ = out.try_send(Outgoing::Text(ServerMessage::Welcome { session: id.clone(), heartbeat_ms }.to_frame()));
    hub.lock().sessions.insert(
        id.clone(),
        LocalSession {
            environment: hello.environment.clone(),
            agents: hello.agents.iter().cloned().collect(),
            host: hello.host.clone(),
            pid: hello.pid,
            last_heartbeat_ms: now,
            out: out.clone(),
            close: Arc::clone(&closer),
            terms: BTreeMap::new(),
            standby: BTreeMap::new(),
        },
    );
    tracing::info!(environment = %hello.environment, session = %id, host = %hello.host, pid = hello.pid, agents = ?hello.agents, "agent session opened");
    hub.kick.notify_one();
    let session = Session { state: state.clone(), id: id.clone(), environment: hello.environment.clone(), out };
    let ping_every = Duration::from_millis(heartbeat_ms);
    let writer = async {
        let mut pings = tokio::time::interval(ping_every);
        loop {
            tokio::select! {
                next = queue.recv() => match next {
                    Some(Outgoing::Text(text)) => if sink.send(Message::Text(text.into())).await.is_err() { return "the connection failed".to_string() },
                    Some(Outgoing::Binary(bytes)) => if sink.send(Message::Binary(bytes.into())).await.is_err() { return "the connection failed".to_string() },
                    Some(Outgoing::Close(reason)) => {
                        let _ = sink.send(close(&reason)).await;
                        return reason;
                    }
                    None => return "the session ended".to_string(),
                },
                // Lets the agent see that the server is there when there is nothing to say.
                _ = pings.tick() => if sink.send(Message::Ping(Vec::new().into())).await.is_err() { return "the connection failed".to_string() },
            }
        }
    };
    let (writes, mut queued) = mpsc::channel::<AgentMessage>(QUEUED_FRAMES);
    let (session_of_reader, stream, timeout) = (&session, &mut stream, hub.timeout);
    // Owns the sending end of the queue: when it ends, the queue ends after what it holds.
    let reader = async move {
        let session = session_of_reader;
        loop {
            let next = match tokio::time::timeout(timeout, stream.next()).await {
                Ok(next) => next,
                Err(_) => return format!("no heartbeat for {} s", timeout.as_secs_f64()),
            };
            let text = match next {
                None => return "the agent closed the connection".to_string(),
                Some(Err(error)) => return format!("not a websocket frame: {error}"),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) => return "the agent closed the session".to_string(),
                Some(Ok(Message::Binary(_))) => return "an agent sends no binary frames".to_string(),
            };
            let message = match AgentMessage::from_frame(text.as_str()) {
                Ok(message) => message,
                Err(error) => return error.to_string(),
            };
            // Heartbeats are taken at once: they must never wait behind the store writes of
            // the results before them (a slow store would expire a live session).
            let handled = match message {
                AgentMessage::Heartbeat => session.handle(message).await,
                other => match writes.send(other).await {
                    Ok(()) => Ok(()),
                    Err(_) => Err("the session's writer stopped".to_string()),
                },
            };
            if let Err(reason) = handled {
                return reason;
            }
        }
    };
    // Intents, results and the rest, written in the order they came.
    let writer_of_frames = async {
        while let Some(message) = queued.recv().await {
            if let Err(reason) = session.handle(message).await {
                return reason;
            }
        }
        "the session ended".to_string()
    };
    let mut stopping = hub.stopping.subscribe();
    tokio::pin!(writer);
    tokio::pin!(writer_of_frames);
    let reason = tokio::select! {
        reason = &mut writer_of_frames => {
            let _ = session.out.try_send(Outgoing::Close(reason.clone()));
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
            reason
        }
        reason = reader => {
            // What was read is handled (a leave before the close releases its names), then
            // the session says why it ends, when the connection still takes it.
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut writer_of_frames).await;
            let _ = session.out.try_send(Outgoing::Close(reason.clone()));
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
            reason
        }
        reason = &mut writer => reason,
        _ = closer.notified() => "ended by the server".to_string(),
        _ = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => "the server stops".to_string(),
    };
    hub.lock().sessions.remove(&id);
    match state.store.end_session(&hello.environment, &id).await {
        Ok(_) => {}
        Err(error) => tracing::error!(%error, session = %id, "cannot end an agent session in the store: its leases expire instead"),
    }
    tracing::info!(environment = %hello.environment, session = %id, %reason, "agent session closed");
    hub.kick.notify_one();
}

/// A process that connects again names the session it had: when that session is still
/// there (the connection broke, or the server holding it died) and is of the same host and
/// pid, it is ended now, so that its leases go to the new session at once instead of when
/// they expire.
async fn end_previous_session(state: &AppState, hello: &Hello) {
    let Some(previous) = &hello.previous else { return };
    let earlier = match state.store.sessions(&hello.environment, None).await {
        Ok(sessions) => sessions.into_iter().find(|s| &s.id == previous && s.host == hello.host && s.pid == hello.pid),
        Err(error) => {
            tracing::warn!(%error, "cannot read the sessions of a reconnecting agent; its earlier one expires instead");
            return;
        }
    };
    let Some(session) = earlier else { return };
    if let Some(local) = state.hub.lock().sessions.get(&session.id) {
        local.close.notify_one();
    }
    match state.store.end_session(&hello.environment, &session.id).await {
        Ok(_) => tracing::info!(environment = %hello.environment, session = %session.id, "the earlier session of a reconnecting agent ended"),
        Err(error) => tracing::warn!(%error, "cannot end an earlier session; it expires instead"),
    }
}

/// A session's frames, handled in the order they come.
struct Session {
    state: AppState,
    id: String,
    environment: String,
    out: mpsc::Sender<Outgoing>,
}

impl Session {
    fn reply(&self, message: ServerMessage) {
        self.queue(Outgoing::Text(message.to_frame()));
    }

    fn queue(&self, frame: Outgoing) {
        if let Some(session) = self.state.hub.lock().sessions.get(&self.id) {
            send(session, frame);
        }
    }

    /// Whether this session offers `agent`: a session speaks only for its own agent names.
    fn offers(&self, agent: &str) -> bool {
        self.state.hub.lock().sessions.get(&self.id).is_some_and(|s| s.agents.contains(agent))
    }

    /// Whether this session is the primary of `agent` in term `epoch`, as this server told
    /// it. Only then are its intents and results written (and then fenced by the store as
    /// well, for the other servers' grants): a standby, or a process that connected again,
    /// cannot write under a term it does not hold, even one whose number it knows.
    fn holds(&self, agent: &str, epoch: u64) -> bool {
        self.state.hub.lock().sessions.get(&self.id).and_then(|s| s.terms.get(agent)).is_some_and(|t| t.epoch == epoch)
    }

    /// Handles one frame; `Err` ends the session with that reason.
    async fn handle(&self, message: AgentMessage) -> Result<(), String> {
        let store = &self.state.store;
        match message {
            AgentMessage::Hello { .. } => Err("a session says hello once".into()),
            AgentMessage::Heartbeat => {
                let now = now_ms();
                match store.heartbeat(&self.environment, &self.id, now).await {
                    Ok(true) => {
                        if let Some(session) = self.state.hub.lock().sessions.get_mut(&self.id) {
                            session.last_heartbeat_ms = now;
                        }
                        Ok(())
                    }
                    Ok(false) => Err("this session has expired: connect again".into()),
                    // Not fatal: the next heartbeat may be kept.
                    Err(error) => {
                        tracing::warn!(%error, "cannot note a heartbeat");
                        Ok(())
                    }
                }
            }
            AgentMessage::Intend { agent, epoch, seq, version, resources } => {
                if !self.offers(&agent) {
                    return Err(format!("this session does not offer agent `{agent}`"));
                }
                let written = if self.holds(&agent, epoch) {
                    store.mark_deploying_fenced(&self.environment, &agent, epoch, version, &resources).await
                } else {
                    Err(StoreError::Fenced(format!("this session is not the primary of `{agent}` in epoch {epoch}")))
                };
                self.acknowledge(agent, seq, written)
            }
            AgentMessage::Results { agent, epoch, seq, results } => {
                if !self.offers(&agent) {
                    return Err(format!("this session does not offer agent `{agent}`"));
                }
                let written = if self.holds(&agent, epoch) {
                    store.record_fenced(&self.environment, &agent, epoch, &results).await
                } else {
                    Err(StoreError::Fenced(format!("this session is not the primary of `{agent}` in epoch {epoch}")))
                };
                if written.is_ok() {
                    let observed: Vec<Observed<'_>> = results.iter().map(Observed::of_result).collect();
                    self.state.hub.publish(&self.environment, &observed);
                }
                self.acknowledge(agent, seq, written)
            }
            AgentMessage::Facts { agent, facts } => {
                if !self.offers(&agent) {
                    return Err(format!("this session does not offer agent `{agent}`"));
                }
                if let Some(other) = facts.keys().find(|r| r.agent() != agent) {
                    return Err(format!("{other} is not a resource of agent `{agent}`"));
                }
                for (resource, values) in &facts {
                    if let Err(error) = store.set_facts(&self.environment, resource, values).await {
                        tracing::warn!(%error, %resource, "cannot keep facts");
                    }
                }
                Ok(())
            }
            AgentMessage::File { hash } => {
                if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err("a file is asked for by the 40 lower-case hex digits of its SHA-1".into());
                }
                match store.file(&hash).await {
                    Ok(Some(body)) => self.queue(Outgoing::Binary(file_frame(&hash, &body))),
                    Ok(None) => self.reply(ServerMessage::FileMissing { hash }),
                    Err(error) => {
                        tracing::warn!(%error, "cannot read a file for an agent");
                        self.reply(ServerMessage::FileMissing { hash });
                    }
                }
                Ok(())
            }
            AgentMessage::Leave { agent } => {
                let held = {
                    let mut hub = self.state.hub.lock();
                    let Some(session) = hub.sessions.get_mut(&self.id) else { return Ok(()) };
                    session.agents.remove(&agent);
                    session.standby.remove(&agent);
                    session.terms.remove(&agent).is_some()
                };
                if held {
                    if let Err(error) = store.release_lease(&self.environment, &agent, &self.id).await {
                        tracing::warn!(%error, %agent, "cannot release a lease: it expires instead");
                    }
                }
                tracing::info!(environment = %self.environment, session = %self.id, %agent, "agent left");
                self.state.hub.kick.notify_one();
                Ok(())
            }
        }
    }

    /// Answers an intent or results: stored, fenced, or not stored (the agent sends them
    /// again). Results of another agent's resources end the session.
    fn acknowledge(&self, agent: String, seq: u64, written: Result<(), StoreError>) -> Result<(), String> {
        let (fenced, error) = match written {
            Ok(()) => (false, None),
            Err(StoreError::Fenced(message)) => {
                tracing::info!(environment = %self.environment, session = %self.id, %agent, %message, "results of a deposed primary refused");
                (true, None)
            }
            Err(StoreError::Invalid(message)) => return Err(message),
            Err(error) => {
                tracing::error!(%error, "cannot keep an agent's results");
                (false, Some("the store is not available; send them again later".to_string()))
            }
        };
        self.reply(ServerMessage::Ack { agent, seq, fenced, error });
        Ok(())
    }
}
