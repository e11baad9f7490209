//! The settings an environment may have, their types and defaults. Unknown names are
//! refused, so a typo never silently does nothing.

use std::collections::BTreeMap;

/// `(name, what it is, check)`.
type Setting = (&'static str, &'static str, fn(&serde_json::Value) -> bool);

const SETTINGS: &[Setting] = &[
    ("repair_interval", "seconds between repair runs (0 turns them off; default 600)", |v| v.as_u64().is_some()),
    ("auto_release", "release every version compiled from the repository (true or false)", |v| v.is_boolean()),
    ("repo_url", "the Git repository the server compiles from", |v| v.as_str().is_some_and(|s| !s.is_empty() && s.len() < 4096)),
    ("repo_branch", "the branch to compile", |v| v.as_str().is_some_and(|s| !s.is_empty() && s.len() < 256)),
    ("poll_interval", "seconds between polls of the repository (0 turns polling off)", |v| v.as_u64().is_some()),
    ("credentials", "the name of credentials in the server's configuration", |v| v.as_str().is_some_and(|s| s.len() < 256)),
    ("agent_map", "agent name to target and options (`cairn env set-agent`)", |v| crate::agent_map::check_value(v).is_ok()),
    ("pdns_api_key", "the API key of the PowerDNS servers this environment manages (secret)", |v| v.as_str().is_some_and(|s| !s.is_empty() && s.len() < 1024)),
    ("webhook_secret", "the shared secret a Git host signs its webhook with (secret; at least 16 characters)", |v| v.as_str().is_some_and(|s| s.len() >= 16 && s.len() < 1024)),
];

/// Settings that are secrets: never shown by the API, handed only to the server-side agents,
/// as the environment variable named here.
pub const SECRETS: &[(&str, &str)] = &[("pdns_api_key", "CAIRN_PDNS_API_KEY")];

/// Secret settings only the server reads: never shown, never handed to anyone.
pub const SERVER_SECRETS: &[&str] = &["webhook_secret"];

/// Every secret setting's name.
fn secret_names() -> impl Iterator<Item = &'static str> {
    SECRETS.iter().map(|(name, _)| *name).chain(SERVER_SECRETS.iter().copied())
}

/// What the API shows instead of a secret's value; writing it back keeps the stored value.
pub const REDACTED: &str = "<secret>";

/// The settings as the API shows them: secrets replaced by [`REDACTED`].
pub fn redacted(settings: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, serde_json::Value> {
    let mut shown = settings.clone();
    for name in secret_names() {
        if let Some(value) = shown.get_mut(name) {
            *value = serde_json::Value::String(REDACTED.into());
        }
    }
    shown
}

/// New settings as written, with every secret given as [`REDACTED`] taken from `stored`
/// (a client that reads, changes and writes back the settings keeps the secrets).
pub fn keep_secrets(mut new: BTreeMap<String, serde_json::Value>, stored: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, serde_json::Value> {
    for name in secret_names() {
        if new.get(name).and_then(serde_json::Value::as_str) == Some(REDACTED) {
            match stored.get(name) {
                Some(value) => {
                    new.insert(name.to_string(), value.clone());
                }
                None => {
                    new.remove(name);
                }
            }
        }
    }
    new
}

/// Checks every setting's name and value.
pub fn check(settings: &BTreeMap<String, serde_json::Value>) -> Result<(), String> {
    for (name, value) in settings {
        match SETTINGS.iter().find(|(known, _, _)| known == name) {
            None => {
                let known: Vec<&str> = SETTINGS.iter().map(|(n, _, _)| *n).collect();
                return Err(format!("unknown setting `{name}` (known: {})", known.join(", ")));
            }
            Some((known, _, _)) if *known == crate::agent_map::SETTING => {
                crate::agent_map::check_value(value).map_err(|e| format!("invalid `{name}`: {e}"))?
            }
            Some((_, meaning, valid)) if !valid(value) => return Err(format!("invalid value {value} for `{name}`: {meaning}")),
            Some(("repo_url", _, _)) => crate::compiles::git::check_url(value.as_str().unwrap_or_default()).map_err(|e| format!("invalid `repo_url`: {e}"))?,
            Some(("repo_branch", _, _)) => crate::compiles::git::check_branch(value.as_str().unwrap_or_default()).map_err(|e| format!("invalid `repo_branch`: {e}"))?,
            Some(_) => {}
        }
    }
    Ok(())
}

/// The repair interval of an environment's settings, in seconds.
pub fn repair_interval(settings: &BTreeMap<String, serde_json::Value>) -> u64 {
    settings.get("repair_interval").and_then(serde_json::Value::as_u64).unwrap_or(600)
}
