//! One connection to the server: the websocket handshake (the token in `Authorization`),
//! the hello and its answer, then the reader (what the server says: terms, work, dependency
//! states, acknowledgements, files) and the writer (queued frames and heartbeats) until the
//! connection is lost, the server refuses the session, or the process stops. Stopping is
//! clean: no new work starts, the deploys in flight finish and their results are
//! acknowledged, then the process leaves each agent name (a standby takes over at once)
//! and closes.

use super::runner::{self, Work};
use super::shared::{Answer, Frame, Shared, LINK_QUEUE};
use cairn_wire::session::{read_file_frame, AgentMessage, ServerMessage, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How a connection ended.
pub enum Outcome {
    /// The server refused the session (a token of another environment, an unknown
    /// environment, ...): trying again would not help.
    Refused(String),
    /// The connection is gone; `welcomed` when a session was open on it.
    Lost { welcomed: bool, reason: String },
    /// The process stops.
    Stopped,
}

/// The largest frame accepted from the server: work frames are bounded by the protocol,
/// file bodies by the server's upload limit.
const MAX_INCOMING: usize = 600 * 1024 * 1024;
/// Connecting and the hello's answer may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Resources one work may have, at most (a work split over frames is put together in memory).
const MAX_WORK_RESOURCES: usize = 5_000_000;
/// How long a stopping process waits for its deploys in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

fn refused_http(response: &tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>) -> String {
    let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    // The API's errors are `{"error": {"message": ...}}`.
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect());
    format!("HTTP {}: {message}", response.status())
}

/// Runs one connection until it ends.
pub async fn session(shared: &Arc<Shared>, url: &str, mut stop: watch::Receiver<bool>) -> Outcome {
    let lost = |reason: String| Outcome::Lost { welcomed: false, reason };
    let mut request = match url.into_client_request() {
        Ok(request) => request,
        Err(error) => return Outcome::Refused(format!("{url} is not a server address: {error}")),
    };
    if let Some(token) = &shared.config.token {
        match format!("Bearer {token}").parse() {
            Ok(value) => {
                request.headers_mut().insert("authorization", value);
            }
            Err(_) => return Outcome::Refused("the token has characters a header cannot carry".into()),
        }
    }
    let config = WebSocketConfig::default().max_message_size(Some(MAX_INCOMING)).max_frame_size(Some(MAX_INCOMING));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let socket = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => return lost(format!("no answer from {url} within {} s", CONNECT_TIMEOUT.as_secs())),
        Ok(Err(WsError::Http(response))) if matches!(response.status().as_u16(), 400 | 401 | 403 | 404) => return Outcome::Refused(refused_http(&response)),
        Ok(Err(error)) => return lost(format!("cannot connect to {url}: {error}")),
        Ok(Ok((socket, _))) => socket,
    };
    let (mut sink, mut stream) = socket.split();
    let hello = AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
        environment: shared.config.environment.clone(),
        agents: shared.config.names.clone(),
        host: shared.config.host.clone(),
        pid: std::process::id(),
        previous: shared.session(),
    };
    if let Err(error) = sink.send(Message::Text(hello.to_frame().into())).await {
        return lost(format!("cannot say hello: {error}"));
    }
    let heartbeat_ms = match tokio::time::timeout(CONNECT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => match ServerMessage::from_frame(text.as_str()) {
            Ok(ServerMessage::Welcome { session, heartbeat_ms }) => {
                tracing::info!(%session, environment = %shared.config.environment, agents = ?shared.config.names, "session open");
                shared.set_session(&session);
                heartbeat_ms
            }
            Ok(ServerMessage::Refused { reason }) => return Outcome::Refused(reason),
            Ok(other) => return lost(format!("the server answered the hello with {other:?}")),
            Err(error) => return lost(error.to_string()),
        },
        // Closed without a refusal: the server could not take the session now (its store is
        // away, it is stopping); try again.
        Ok(Some(Ok(Message::Close(frame)))) => {
            return lost(frame.map(|f| format!("the server closed the session: {}", f.reason)).unwrap_or_else(|| "the server closed the session".into()))
        }
        Ok(Some(Ok(_))) => return lost("the server answered the hello with an unexpected frame".into()),
        Ok(Some(Err(error))) => return lost(error.to_string()),
        Ok(None) => return lost("the server closed the connection after the hello".into()),
        Err(_) => return lost(format!("no answer to the hello within {} s", CONNECT_TIMEOUT.as_secs())),
    };
    let heartbeat = Duration::from_millis(heartbeat_ms.clamp(50, 60_000));
    let (link, mut queue) = mpsc::channel::<Frame>(LINK_QUEUE);
    shared.connected(link.clone());
    // What the last connection left unanswered.
    let unanswered: Vec<String> = shared
        .unacknowledged()
        .into_iter()
        .chain(shared.requested_files().into_iter().map(|hash| AgentMessage::File { hash }.to_frame()))
        .collect();
    let writer = tokio::spawn(async move {
        for frame in unanswered {
            if sink.send(Message::Text(frame.into())).await.is_err() {
                return;
            }
        }
        let mut beats = tokio::time::interval(heartbeat);
        loop {
            let frame = tokio::select! {
                next = queue.recv() => match next {
                    Some(Frame::Text(text)) => Message::Text(text.into()),
                    Some(Frame::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                },
                _ = beats.tick() => Message::Text(AgentMessage::Heartbeat.to_frame().into()),
            };
            if sink.send(frame).await.is_err() {
                return;
            }
        }
    });
    // The server pings every heartbeat: silence for four of them is a lost server.
    let silence = (heartbeat * 4).max(Duration::from_secs(2));
    let reader = {
        let shared = Arc::clone(shared);
        tokio::spawn(async move { read(&shared, &mut stream, silence).await })
    };
    let mut reader = reader;
    let mut writer = writer;
    let outcome = tokio::select! {
        ended = &mut reader => match ended {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Lost { welcomed: true, reason: "the reader stopped".into() },
        },
        _ = &mut writer => Outcome::Lost { welcomed: true, reason: "the connection failed while sending".into() },
        _ = async { let _ = stop.wait_for(|stop| *stop).await; } => {
            drain(shared, &mut reader).await;
            for agent in &shared.config.names {
                let _ = link.send(Frame::Text(AgentMessage::Leave { agent: agent.clone() }.to_frame())).await;
            }
            let _ = link.send(Frame::Close).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut writer).await;
            Outcome::Stopped
        }
    };
    reader.abort();
    writer.abort();
    shared.disconnected();
    shared.forget_terms();
    shared.cancel(None);
    outcome
}

/// Stops taking work and waits (bounded) for the deploys in flight to finish and their
/// results to be acknowledged, while the connection still reads.
pub async fn drain(shared: &Arc<Shared>, reader: &mut tokio::task::JoinHandle<Outcome>) {
    shared.stopping.store(true, Ordering::SeqCst);
    shared.cancel(None);
    let started = Instant::now();
    while shared.running() && started.elapsed() < DRAIN_TIMEOUT && !reader.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Stream = futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>>;

async fn read(shared: &Arc<Shared>, stream: &mut Stream, silence: Duration) -> Outcome {
    let lost = |reason: String| Outcome::Lost { welcomed: true, reason };
    let mut parts: BTreeMap<String, Work> = BTreeMap::new();
    loop {
        let frame = match tokio::time::timeout(silence, stream.next()).await {
            Err(_) => return lost(format!("nothing from the server for {} s", silence.as_secs_f64())),
            Ok(None) => return lost("the server closed the connection".into()),
            Ok(Some(Err(error))) => return lost(error.to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(bytes) => match read_file_frame(&bytes) {
                Some((hash, body)) => {
                    shared.file_arrived(&hash, Ok(body.to_vec()));
                    continue;
                }
                None => return lost("the server sent a binary frame that is not a file under its hash".into()),
            },
            Message::Close(frame) => return lost(frame.map(|f| format!("closed by the server: {}", f.reason)).unwrap_or_else(|| "closed by the server".into())),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        let message = match ServerMessage::from_frame(text.as_str()) {
            Ok(message) => message,
            Err(error) => return lost(format!("from the server: {error}")),
        };
        match message {
            ServerMessage::Welcome { .. } => {}
            ServerMessage::Refused { reason } => return Outcome::Refused(reason),
            ServerMessage::Primary { agent, epoch } => {
                tracing::info!(%agent, epoch, "primary");
                shared.set_primary(&agent, epoch);
            }
            ServerMessage::Standby { agent, paused } => {
                tracing::info!(%agent, paused, "standby");
                parts.remove(&agent);
                shared.set_standby(&agent);
            }
            ServerMessage::Work { agent, epoch, version, repair, resources, statuses, external, more } => {
                let work = parts.entry(agent.clone()).or_default();
                if work.epoch != epoch || work.version != version || work.agent != agent {
                    *work = Work { agent: agent.clone(), epoch, version, repair, ..Work::default() };
                }
                work.resources.extend(resources);
                work.statuses.extend(statuses);
                work.external.extend(external);
                if work.resources.len() > MAX_WORK_RESOURCES {
                    return lost(format!("work of more than {MAX_WORK_RESOURCES} resources"));
                }
                if !more {
                    if let Some(work) = parts.remove(&agent) {
                        runner::start(shared, work);
                    }
                }
            }
            ServerMessage::DependencyStates { states } => shared.push_states(&states),
            ServerMessage::Ack { seq, fenced, error, .. } => {
                let answer = match (fenced, error) {
                    (true, _) => Answer::Fenced,
                    (false, Some(error)) => Answer::Failed(error),
                    (false, None) => Answer::Stored,
                };
                shared.acknowledge(seq, answer);
            }
            ServerMessage::FileMissing { hash } => shared.file_arrived(&hash, Err(format!("the server has no file with hash {hash}"))),
        }
    }
}
