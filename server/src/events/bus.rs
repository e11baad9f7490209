//! Tells this server's event readers that there is something new: [`EventBus::latest`] is
//! the last event id this server knows was given. Its own appends advance it at once; a
//! follower task ([`follow`]) advances it from the store's feed (another server's appends,
//! and the events a backend writes itself: a change of primary) and from a slow poll. Readers only use it as a wake-up: what they send, they read from
//! the store, in id order, from the last id they sent.

use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// The most event streams one server serves at once; more get a 503.
pub const MAX_STREAMS: usize = 1024;
/// How often the follower reads the last id, whatever the store's feed says.
const POLL: Duration = Duration::from_secs(1);

pub struct EventBus {
    latest: watch::Sender<u64>,
    /// One permit per open event stream.
    pub streams: Arc<Semaphore>,
    /// Set when the server stops: every event stream ends.
    closing: watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { latest: watch::channel(0).0, streams: Arc::new(Semaphore::new(MAX_STREAMS)), closing: watch::channel(false).0 }
    }
}

impl EventBus {
    /// A receiver of the last id known; it sees a change whenever the id grows.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Notes that ids up to `id` were given.
    pub fn advance(&self, id: u64) {
        self.latest.send_if_modified(|last| {
            if id > *last {
                *last = id;
                true
            } else {
                false
            }
        });
    }

    /// Ends every event stream (the server stops; streams would hold its shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`EventBus::close`] was called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|c| *c).await;
    }
}

/// Keeps `bus` up to date with `store` until `stop` resolves: follows the store's change
/// feed when it has one (started again after a failure), and reads the last id every
/// [`POLL`] in case the feed missed something.
pub async fn follow(bus: Arc<EventBus>, store: Arc<dyn Store>, stop: impl std::future::Future<Output = ()>) {
    let feed = {
        let (bus, store) = (Arc::clone(&bus), Arc::clone(&store));
        async move {
            loop {
                match store.follow_events(&bus.latest).await {
                    Ok(false) => return std::future::pending::<()>().await,
                    Ok(true) => {}
                    Err(error) => tracing::warn!(%error, "the event feed failed; following it again in 1 s"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let poll = async {
        loop {
            match store.event_bounds().await {
                Ok((_, last)) => bus.advance(last),
                Err(error) => tracing::warn!(%error, "cannot read the last event id"),
            }
            tokio::time::sleep(POLL).await;
        }
    };
    tokio::select! {
        _ = feed => {}
        _ = poll => {}
        _ = stop => {}
    }
}

/// Deletes events older than `retention`, now and then every minute, until `stop`.
pub async fn prune(store: Arc<dyn Store>, retention: Duration, stop: impl std::future::Future<Output = ()>) {
    let work = async {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let before = crate::store::now_ms().saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
            match store.prune_events(before).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "pruned events older than the retention"),
                Err(error) => tracing::warn!(%error, "cannot prune events"),
            }
        }
    };
    tokio::select! {
        _ = work => {}
        _ = stop => {}
    }
}
