//! Who is asking: bearer tokens scoped to an environment (or all) and a role. The store
//! keeps only the SHA-256 of each token; the bootstrap admin token of `--admin-token` is
//! never stored, only its hash kept in memory and compared in constant time. With
//! `--insecure-no-auth` every request is an admin.
//!
//! A request without a usable token is 401; a token that may not do what it asks (another
//! environment, a weaker role) is 403.

use super::error::ApiError;
use super::state::AppState;
use crate::records::{Role, TokenRecord};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_wire::digest::{hex as to_hex, sha256};

/// How requests are authenticated.
pub enum Auth {
    /// `--insecure-no-auth`: everyone is an admin.
    Disabled,
    /// Tokens from the store, and the bootstrap admin token's hash if one was given.
    Tokens { admin: Option<[u8; 32]> },
}

impl Auth {
    pub fn new(admin_token: Option<&str>, insecure: bool) -> Auth {
        if insecure {
            Auth::Disabled
        } else {
            Auth::Tokens { admin: admin_token.map(|t| sha256(t.as_bytes())) }
        }
    }
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub role: Role,
    /// `None`: every environment.
    pub environment: Option<String>,
}

impl Principal {
    /// Allows the request when the caller is an admin, or holds one of `roles` for
    /// `environment`.
    pub fn require(&self, environment: &str, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin && self.environment.is_none() {
            return Ok(());
        }
        if let Some(own) = &self.environment {
            if own != environment {
                return Err(ApiError::Forbidden(format!("this token is for environment `{own}`, not `{environment}`")));
            }
        }
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a token of role `{}` may not do this; it needs {}",
                self.role.as_str(),
                roles.iter().map(|r| format!("`{}`", r.as_str())).collect::<Vec<_>>().join(" or ")
            )))
        }
    }

    /// Allows the request only for an admin of every environment.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin && self.environment.is_none() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("only an admin token of every environment may do this".into()))
        }
    }
}

/// Any role of an environment may read it.
pub const ANY_ROLE: &[Role] = &[Role::Agent, Role::Compiler, Role::Api, Role::Admin];

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random token (256 bits from the OS) and the record that keeps its hash.
pub fn new_token(environment: Option<String>, role: Role, expires_ms: Option<u64>, description: String) -> std::io::Result<(String, TokenRecord)> {
    let secret = random_bytes::<32>()?;
    let token = format!("cairn_{}", to_hex(&secret));
    let id = to_hex(&random_bytes::<8>()?);
    let record = TokenRecord {
        id,
        hash: token_hash(&token),
        environment,
        role,
        created_ms: crate::sqlite::now_ms(),
        expires_ms,
        description,
    };
    Ok((token, record))
}

/// The hex SHA-256 under which a token is stored.
pub fn token_hash(token: &str) -> String {
    to_hex(&sha256(token.as_bytes()))
}

/// Bytes from the OS's random source.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A random (version 4) UUID.
pub fn new_uuid() -> std::io::Result<String> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = to_hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await
    }
}

/// The caller a request's headers name (as the extractor of [`Principal`] does).
pub async fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Principal, ApiError> {
    {
        let admin = match &*state.auth {
            Auth::Disabled => return Ok(Principal { role: Role::Admin, environment: None }),
            Auth::Tokens { admin } => *admin,
        };
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("no token: send `Authorization: Bearer TOKEN`".into()))?;
        let text = header.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
        let token = text
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer TOKEN`".into()))?;
        let digest = sha256(token.as_bytes());
        if admin.is_some_and(|a| constant_time_eq(&a, &digest)) {
            return Ok(Principal { role: Role::Admin, environment: None });
        }
        let record = state
            .store
            .token_by_hash(&to_hex(&digest))
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
        if record.expires_ms.is_some_and(|expires| expires <= crate::sqlite::now_ms()) {
            return Err(ApiError::Unauthorized("this token has expired".into()));
        }
        Ok(Principal { role: record.role, environment: record.environment })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_environments_are_checked() {
        let api = Principal { role: Role::Api, environment: Some("prod".into()) };
        assert!(api.require("prod", &[Role::Api]).is_ok());
        assert!(matches!(api.require("test", &[Role::Api]), Err(ApiError::Forbidden(_))));
        assert!(matches!(api.require("prod", &[Role::Compiler]), Err(ApiError::Forbidden(_))));
        assert!(matches!(api.require_admin(), Err(ApiError::Forbidden(_))));
        let env_admin = Principal { role: Role::Admin, environment: Some("prod".into()) };
        assert!(env_admin.require("prod", &[Role::Agent]).is_ok());
        assert!(env_admin.require("test", &[Role::Agent]).is_err());
        assert!(env_admin.require_admin().is_err());
        let admin = Principal { role: Role::Admin, environment: None };
        assert!(admin.require("anything", &[Role::Agent]).is_ok() && admin.require_admin().is_ok());
    }

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let (one, record) = new_token(None, Role::Api, None, String::new()).expect("token");
        let (two, _) = new_token(None, Role::Api, None, String::new()).expect("token");
        assert_ne!(one, two);
        assert!(one.starts_with("cairn_") && one.len() == 6 + 64);
        assert_eq!(record.hash, token_hash(&one));
        assert!(!record.hash.contains(&one[6..]));
        let uuid = new_uuid().expect("uuid");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}
