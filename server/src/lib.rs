//! The orchestrator. For now: its persistence (the async [`Store`] trait, the embedded SQLite
//! backend and the conformance suite every backend passes) and the embedded mode, which runs
//! the agent's engine in-process through the agent port implemented over the store. The
//! HTTP API, the MongoDB backend and agent sessions build on the same trait.

pub mod client;
pub mod conformance;
pub mod embedded;
pub mod http;
pub mod records;
pub mod run;
pub mod settings;
pub mod validate;
pub mod sqlite;
pub mod store;

pub use sqlite::SqliteStore;
pub use store::{Store, StoreError};

/// The MongoDB store, once its backend is in (the server-mongo branch).
pub async fn mongo_store(_uri: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Err(StoreError::Backend("this build has no MongoDB backend yet".into()))
}
