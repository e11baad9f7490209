//! What every handler shares: the store (wrapped so that changes append events), how
//! requests are authenticated, the counters of `/metrics`, the size limits and the event bus. Cheap to clone (`Arc`s), as axum wants its state.

use super::auth::Auth;
use crate::agents::Hub;
use crate::events::bus::EventBus;
use crate::events::recording::RecordingStore;
use crate::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// The agent sessions this server holds.
    pub hub: Arc<Hub>,
    /// Held while a setting is read, changed and written back (the agent map), so that
    /// changes through this server never lose each other.
    pub settings_lock: Arc<tokio::sync::Mutex<()>>,
    /// Woken when a compile is queued: the compile workers claim it.
    pub compile_kick: Arc<tokio::sync::Notify>,
    /// Wakes this server's event streams when events were given.
    pub events: Arc<EventBus>,
}

impl AppState {
    /// The state over a backend, which it wraps so that every change appends its events.
    pub fn new(backend: Arc<dyn Store>, auth: Auth, limits: Limits) -> AppState {
        let hub = Hub::new(format!("server-{}", std::process::id()), crate::agents::DEFAULT_AGENT_TIMEOUT);
        let events = Arc::new(EventBus::default());
        let store: Arc<dyn Store> = Arc::new(RecordingStore::new(backend, Arc::clone(&events)));
        AppState {
            store,
            auth: Arc::new(auth),
            metrics: Arc::new(Metrics::default()),
            limits,
            hub: Arc::new(hub),
            settings_lock: Arc::default(),
            compile_kick: Arc::default(),
            events,
        }
    }

    /// The same state with another hub (another agent timeout, a server id of its own).
    pub fn with_hub(mut self, hub: Hub) -> AppState {
        self.hub = Arc::new(hub);
        self
    }
}

/// Body size limits, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Any request body.
    pub body: usize,
    /// A version upload or a file body (a 65,000-resource version is tens of megabytes).
    pub upload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { body: 1024 * 1024, upload: 512 * 1024 * 1024 }
    }
}

/// Counters for `/metrics` (Prometheus text format).
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class: 1xx..5xx.
    pub responses: [AtomicU64; 5],
    pub versions_uploaded: AtomicU64,
    pub resources_uploaded: AtomicU64,
}

impl Metrics {
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }
}
