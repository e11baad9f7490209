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
];

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
            Some(_) => {}
        }
    }
    Ok(())
}

/// The repair interval of an environment's settings, in seconds.
pub fn repair_interval(settings: &BTreeMap<String, serde_json::Value>) -> u64 {
    settings.get("repair_interval").and_then(serde_json::Value::as_u64).unwrap_or(600)
}
