//! Environments and tokens in the MongoDB store: `environments` by name (`_id`, the id
//! unique too) and `tokens` by id (`_id`, the token's SHA-256 unique too).
//!
//! Deleting an environment can touch hundreds of thousands of documents, too many for one
//! transaction, so it goes in an order that never shows a partial environment: the
//! environment is marked as being deleted (from then on it is neither listed nor read, and
//! its name cannot be taken again), its tokens go (they stop working at once), then
//! everything else of it, collection by collection, versions before their members and
//! documents, and last the environment document itself. A deletion that stopped half-way
//! is finished by deleting the environment again.

use super::ops::{self, Failure};
use super::schema::{BY_ENVIRONMENT, ENVIRONMENTS, TOKENS};
use super::MongoStore;
use crate::records::{EnvironmentRecord, Role, TokenRecord};
use crate::store::StoreError;
use mongodb::bson::{doc, Bson, Document};
use std::collections::BTreeMap;

/// Environments that are not being deleted.
fn live() -> Document {
    doc! { "deleting": { "$ne": true } }
}

pub(super) async fn create(store: &MongoStore, environment: &EnvironmentRecord) -> Result<(), Failure> {
    let document = doc! {
        "_id": &environment.name,
        "id": &environment.id,
        "created_ms": ops::int(environment.created_ms, "time")?,
        "settings": ops::to_json(&environment.settings)?,
        "deleting": false,
    };
    store.collection(ENVIRONMENTS).insert_one(document).await.map_err(|e| {
        if ops::is_duplicate(&e) {
            Failure::Store(StoreError::Conflict(format!(
                "an environment named {} or with id {} (or one of that name being deleted)",
                environment.name, environment.id
            )))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

fn to_environment(d: &Document) -> Result<EnvironmentRecord, Failure> {
    Ok(EnvironmentRecord {
        id: ops::string(d, "id")?,
        name: ops::string(d, "_id")?,
        created_ms: ops::number(d, "created_ms")?,
        settings: ops::json(d, "settings")?,
    })
}

/// Every environment by name, or the one of that name.
pub(super) async fn list(store: &MongoStore, name: Option<&str>) -> Result<Vec<EnvironmentRecord>, Failure> {
    let mut filter = live();
    if let Some(name) = name {
        filter.insert("_id", name);
    }
    let mut cursor = store.collection(ENVIRONMENTS).find(filter).sort(doc! { "_id": 1 }).await?;
    let mut out = Vec::new();
    while cursor.advance().await? {
        out.push(to_environment(&cursor.deserialize_current()?)?);
    }
    Ok(out)
}

pub(super) async fn set_settings(store: &MongoStore, name: &str, settings: &BTreeMap<String, serde_json::Value>) -> Result<(), Failure> {
    let mut filter = live();
    filter.insert("_id", name);
    let updated = store.collection(ENVIRONMENTS).update_one(filter, doc! { "$set": { "settings": ops::to_json(settings)? } }).await?;
    if updated.matched_count == 0 {
        return Err(Failure::Store(StoreError::NotFound(format!("environment {name}"))));
    }
    Ok(())
}

pub(super) async fn delete(store: &MongoStore, name: &str) -> Result<bool, Failure> {
    let environments = store.collection(ENVIRONMENTS);
    let marked = environments.update_one(doc! { "_id": name }, doc! { "$set": { "deleting": true } }).await?;
    for collection in BY_ENVIRONMENT {
        store.collection(collection).delete_many(doc! { "environment": name }).await?;
    }
    environments.delete_one(doc! { "_id": name }).await?;
    Ok(marked.matched_count > 0)
}

pub(super) async fn create_token(store: &MongoStore, token: &TokenRecord) -> Result<(), Failure> {
    let document = doc! {
        "_id": &token.id,
        "hash": &token.hash,
        "environment": token.environment.as_deref(),
        "role": token.role.as_str(),
        "created_ms": ops::int(token.created_ms, "time")?,
        "expires_ms": token.expires_ms.map(|e| ops::int(e, "time")).transpose()?,
        "description": &token.description,
    };
    store.collection(TOKENS).insert_one(document).await.map_err(|e| {
        if ops::is_duplicate(&e) {
            Failure::Store(StoreError::Conflict(format!("token {} (or its hash)", token.id)))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub(super) async fn token_by_hash(store: &MongoStore, hash: &str) -> Result<Option<TokenRecord>, Failure> {
    let Some(d) = store.collection(TOKENS).find_one(doc! { "hash": hash }).await? else { return Ok(None) };
    let role = d.get_str("role")?;
    let expires_ms = match d.get("expires_ms") {
        None | Some(Bson::Null) => None,
        Some(_) => Some(ops::number(&d, "expires_ms")?),
    };
    Ok(Some(TokenRecord {
        id: ops::string(&d, "_id")?,
        hash: ops::string(&d, "hash")?,
        environment: ops::optional_string(&d, "environment")?,
        role: Role::parse(role).ok_or_else(|| Failure::Store(StoreError::Corrupt(format!("role `{role}`"))))?,
        created_ms: ops::number(&d, "created_ms")?,
        expires_ms,
        description: ops::string(&d, "description")?,
    }))
}
