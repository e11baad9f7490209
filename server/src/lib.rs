//! The orchestrator: its persistence (the async [`Store`] trait, its backends — MongoDB
//! for the server, SQLite embedded — and the conformance suite every backend passes), the
//! embedded mode (the agent's engine in-process, through the agent port implemented over
//! the store), the HTTP API ([`http`]) and the sessions of remote agents ([`agents`]), both
//! over the same trait.

pub mod agent_map;
pub mod agents;
pub mod client;
pub mod compile_records;
pub mod compiles;
pub mod conformance;
pub mod embedded;
pub mod events;
pub mod http;
pub mod mongo;
pub mod records;
pub mod run;
pub mod settings;
pub mod validate;
pub mod sqlite;
pub mod store;
#[doc(hidden)]
pub mod testing;

pub use mongo::MongoStore;
pub use sqlite::SqliteStore;
pub use store::{Store, StoreError};

/// The MongoDB store named by a `mongodb://` URI (its path is the database).
pub async fn mongo_store(uri: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(std::sync::Arc::new(MongoStore::connect_uri(uri).await?))
}
