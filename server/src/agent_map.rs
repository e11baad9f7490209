//! An environment's agent map: which agent names run where, and which the server starts
//! itself (server-side agents). An entry is `local:` (on the server's machine), an SSH
//! target `ssh://USER@HOST:PORT` with the key and known-hosts files (paths on the server; the
//! files themselves are never stored), or an API endpoint `https://...` for a vendor module
//! whose agent name is the endpoint. It is kept in the environment's settings as
//! `agent_map`, checked as a whole whenever it is written.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The name of the setting that holds the map.
pub const SETTING: &str = "agent_map";

/// One entry of the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMapEntry {
    /// `local:`, `ssh://USER@HOST:PORT` or `https://...` (`http://` for a loopback endpoint).
    pub target: String,
    /// The private key for an SSH target (an absolute path on the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The known-hosts file the SSH target's host key is checked against (an absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// Run commands and file changes on the SSH target through `sudo -n`.
    #[serde(default)]
    pub sudo: bool,
    /// The server starts and supervises an agent process for this name.
    #[serde(default)]
    pub autostart: bool,
}

/// Where an agent acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Local,
    Ssh { user: String, host: String, port: u16 },
    Api { url: String },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local:"),
            Target::Ssh { user, host, port } if host.contains(':') => write!(f, "ssh://{user}@[{host}]:{port}"),
            Target::Ssh { user, host, port } => write!(f, "ssh://{user}@{host}:{port}"),
            Target::Api { url } => f.write_str(url),
        }
    }
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        if text == "local:" {
            return Ok(Target::Local);
        }
        if let Some(rest) = text.strip_prefix("ssh://") {
            let bad = || format!("`{text}` is not `ssh://USER@HOST:PORT`");
            let (user, address) = rest.split_once('@').ok_or_else(bad)?;
            let (host, port) = match address.strip_prefix('[') {
                Some(bracketed) => {
                    let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
                    (host, after.strip_prefix(':').unwrap_or("22"))
                }
                None => match address.rsplit_once(':') {
                    Some((host, port)) => (host, port),
                    None => (address, "22"),
                },
            };
            let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
            let fine = |s: &str, extra: &str| !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
            if !fine(user, "._-") || !fine(host, ".-:") {
                return Err(bad());
            }
            return Ok(Target::Ssh { user: user.to_string(), host: host.to_string(), port });
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("`{text}` is not a URL"));
            }
            return Ok(Target::Api { url: text.to_string() });
        }
        Err(format!("`{text}` is not a target: write `local:`, `ssh://USER@HOST:PORT` or an `https://` API endpoint"))
    }
}

impl AgentMapEntry {
    /// Checks the entry: a target that parses, and for SSH absolute paths of the key and the
    /// known-hosts file (host keys are always checked: there is no "accept any key").
    pub fn check(&self) -> Result<Target, String> {
        let target = Target::parse(&self.target)?;
        let absolute = |what: &str, path: &Option<String>| match path {
            Some(path) if path.starts_with('/') && path.len() < 4096 && !path.contains('\0') => Ok(()),
            Some(path) => Err(format!("the {what} must be an absolute path on the server, not `{path}`")),
            None => Err(format!("an SSH target needs a {what} (--{})", if what == "key file" { "key" } else { "known-hosts" })),
        };
        match &target {
            Target::Ssh { .. } => {
                absolute("key file", &self.key)?;
                absolute("known-hosts file", &self.known_hosts)?;
            }
            _ if self.key.is_some() || self.known_hosts.is_some() || self.sudo => {
                return Err(format!("`--key`, `--known-hosts` and `--sudo` are for SSH targets, not `{}`", self.target));
            }
            _ => {}
        }
        Ok(target)
    }
}

/// The map as stored: agent name to entry.
pub type AgentMap = BTreeMap<String, AgentMapEntry>;

/// The agent map of an environment's settings (empty when it has none).
pub fn from_settings(settings: &BTreeMap<String, serde_json::Value>) -> AgentMap {
    settings.get(SETTING).and_then(|value| serde_json::from_value(value.clone()).ok()).unwrap_or_default()
}

/// Whether a value is a valid agent map (the settings check).
pub fn check_value(value: &serde_json::Value) -> Result<(), String> {
    let map: AgentMap = serde_json::from_value(value.clone()).map_err(|e| format!("not an agent map: {e}"))?;
    for (name, entry) in &map {
        check_name(name)?;
        entry.check().map_err(|e| format!("agent `{name}`: {e}"))?;
    }
    Ok(())
}

pub fn check_name(agent: &str) -> Result<(), String> {
    if agent.is_empty() || agent.len() > 255 || agent.chars().any(char::is_control) {
        return Err("an agent name has 1 to 255 characters, none of them control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str) -> AgentMapEntry {
        AgentMapEntry { target: target.into(), key: None, known_hosts: None, sudo: false, autostart: false }
    }

    #[test]
    fn targets_parse_and_print_back() {
        for text in ["local:", "ssh://deploy@10.0.0.5:2222", "ssh://root@[::1]:22", "https://dns.example.com:8081"] {
            assert_eq!(Target::parse(text).expect(text).to_string(), text);
        }
        assert_eq!(Target::parse("ssh://u@h").expect("default port"), Target::Ssh { user: "u".into(), host: "h".into(), port: 22 });
        for bad in ["ssh://nouser", "ssh://u@h:0", "ssh://u@h:x", "ssh://u;rm@h:22", "ftp://x", "", "http://a b"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_entries_need_absolute_key_and_known_hosts() {
        let mut ssh = entry("ssh://u@h:22");
        assert!(ssh.check().expect_err("no key").contains("key file"));
        ssh.key = Some("/etc/cairn/id".into());
        assert!(ssh.check().expect_err("no known hosts").contains("known-hosts"));
        ssh.known_hosts = Some("relative/known_hosts".into());
        assert!(ssh.check().expect_err("relative").contains("absolute"));
        ssh.known_hosts = Some("/etc/cairn/known_hosts".into());
        assert!(ssh.check().is_ok());
        let mut local = entry("local:");
        local.sudo = true;
        assert!(local.check().is_err(), "sudo is for SSH");
    }

    #[test]
    fn the_setting_is_checked_as_a_whole() {
        assert!(check_value(&serde_json::json!({"a": {"target": "local:", "autostart": true}})).is_ok());
        assert!(check_value(&serde_json::json!({"a": {"target": "nowhere"}})).is_err());
        assert!(check_value(&serde_json::json!({"a": {"target": "local:", "extra": 1}})).is_err());
        assert!(check_value(&serde_json::json!(["local:"])).is_err());
    }
}
