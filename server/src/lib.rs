//! The orchestrator. For now: its persistence, the [`Store`] trait, and the embedded SQLite
//! backend that `cairn deploy` uses. (The MongoDB backend, the HTTP API and agent sessions
//! build on the same trait.)

pub mod store;
pub mod sqlite;

pub use sqlite::SqliteStore;
pub use store::{DeployRecord, ResourceStatus, Store, StoreError};
