//! `GET /api/v1/events`: the event log as server-sent events. Each event is sent as
//! `id: N`, `event: KIND` and `data: {the event as JSON}`. A stream starts after the id of
//! `Last-Event-ID` (or `?after=`), replaying what the store kept since; without one it
//! starts with the next event. When events after that id were pruned (the retention) it
//! starts with an `event: gap`, whose data names the first id still kept.
//!
//! The stream reads the store, never a copy in memory: it asks for the events after the
//! last id it sent whenever the bus says a larger id was given, so it sends each event once,
//! in id order, whichever server wrote it. A token of any role reads its environment's
//! events; an admin of every environment reads all of them, or one with `?environment=`.

use super::auth::{Principal, ANY_ROLE};
use super::environments::existing;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::state::AppState;
use crate::events::bus::EventBus;
use crate::events::{Event, KindSelector};
use crate::store::Store;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit};
use utoipa::IntoParams;

/// The most events one read of the store takes.
const PAGE: usize = 500;
/// A comment line is sent this often when nothing else is, so that proxies keep the
/// connection and a reader notices a dead server.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this environment's events (a token of one environment gets only its own).
    pub environment: Option<String>,
    /// Only these kinds, comma-separated: a kind (`resource.state`) or a group (`agent`).
    pub kind: Option<String>,
    /// Start after this event id (as the `Last-Event-ID` header does; the header wins).
    pub after: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "the id of the last event received: the stream starts after it")),
    responses((status = 200, description = "a stream of server-sent events (`text/event-stream`)", content_type = "text/event-stream", body = Event),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("token" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let environment = match (&query.environment, &principal.environment) {
        (Some(asked), _) => {
            principal.require(asked, ANY_ROLE)?;
            existing(&state, asked).await?;
            Some(asked.clone())
        }
        (None, Some(own)) => {
            principal.require(own, ANY_ROLE)?;
            Some(own.clone())
        }
        (None, None) => None,
    };
    let kinds = KindSelector::parse(query.kind.as_deref()).map_err(ApiError::BadRequest)?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event id (a whole number)".into()))?,
        ),
        None => query.after,
    };
    let permit = Arc::clone(&state.events.streams)
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable("this server serves as many event streams as it may; try another server or later".into()))?;
    let latest = state.events.subscribe();
    let (first, last) = state.store.event_bounds().await?;
    let mut pending = VecDeque::new();
    let cursor = match resume {
        Some(after) => {
            let pruned = match first {
                Some(first) => first > after.saturating_add(1),
                None => last > after,
            };
            if pruned {
                pending.push_back(gap(after, first.unwrap_or(last.saturating_add(1))));
            }
            after
        }
        None => last,
    };
    let follower = Follower {
        store: Arc::clone(&state.store),
        bus: Arc::clone(&state.events),
        latest,
        environment,
        kinds,
        cursor,
        pending,
        _permit: permit,
    };
    Ok(Sse::new(futures_util::stream::unfold(follower, |mut follower| async move { follower.next().await.map(|event| (Ok(event), follower)) }))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn gap(after: u64, first: u64) -> SseEvent {
    let data = serde_json::json!({ "after": after, "first": first, "message": "events after this id were pruned (the server's retention); reload" });
    SseEvent::default().event("gap").data(data.to_string())
}

fn to_sse(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(event.id.to_string()).event(event.kind.clone()).data(data)
}

/// One stream's place in the log.
struct Follower {
    store: Arc<dyn Store>,
    bus: Arc<EventBus>,
    latest: watch::Receiver<u64>,
    environment: Option<String>,
    kinds: KindSelector,
    /// The last id read (sent, or skipped by the filters).
    cursor: u64,
    /// Read and not sent yet.
    pending: VecDeque<SseEvent>,
    _permit: OwnedSemaphorePermit,
}

impl Follower {
    /// The next event to send; `None` ends the stream (the server stops, or the store
    /// failed: the reader reconnects with its last id).
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            // Every id up to `known` was given and is readable (the store's promise): when the
            // read finds none of ours, the cursor may move to it.
            let known = *self.latest.borrow_and_update();
            let events = match self.store.events(self.cursor, self.environment.as_deref(), PAGE).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "an event stream cannot read the store; it ends");
                    return None;
                }
            };
            match events.last() {
                Some(last) => self.cursor = last.id,
                None => self.cursor = self.cursor.max(known),
            }
            let read = events.len();
            self.pending.extend(events.iter().filter(|e| self.kinds.matches(&e.kind)).map(to_sse));
            if read == PAGE || !self.pending.is_empty() {
                continue;
            }
            let cursor = self.cursor;
            tokio::select! {
                changed = self.latest.wait_for(|id| *id > cursor) => if changed.is_err() { return None },
                _ = self.bus.closed() => return None,
            }
        }
    }
}
