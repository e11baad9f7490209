//! The orchestrator. For now: its persistence (the async [`Store`] trait, the embedded SQLite
//! backend and the conformance suite every backend passes) and the embedded mode, which runs
//! the agent's engine in-process through the agent port implemented over the store. The
//! HTTP API, the MongoDB backend and agent sessions build on the same trait.

pub mod conformance;
pub mod embedded;
pub mod records;
pub mod sqlite;
pub mod store;

pub use sqlite::SqliteStore;
pub use store::{Store, StoreError};
