//! Compile settings from where an Inmanta user keeps them: the project's `.inmanta` file (an
//! INI file, as Inmanta reads it from the project folder) and `--set KEY=VALUE` on the command
//! line, which wins. Both end as the keys the std plugins read (`stdlib/src/environment.rs`):
//! `environment`, `server_host`, `server_port`, `server_ssl`, `server_ca`, `server_token`.
//!
//! Parsing is pure (text in, map out); the caller reads the files.

use std::collections::BTreeMap;
use std::fmt;

/// Where each INI option of Inmanta's configuration lands: `(section, option, key)`. Inmanta
/// spells options with `-` or `_` alike.
const INI_KEYS: &[(&str, &str, &str)] = &[
    ("config", "environment", "environment"),
    ("compiler_rest_transport", "host", "server_host"),
    ("compiler_rest_transport", "port", "server_port"),
    ("compiler_rest_transport", "ssl", "server_ssl"),
    ("compiler_rest_transport", "ssl_ca_cert_file", "server_ca_file"),
    ("compiler_rest_transport", "token", "server_token"),
];

/// The keys `--set` takes (besides `section.option` spellings of [`INI_KEYS`]).
pub const SETTING_KEYS: &[&str] = &["environment", "environment_name", "server_host", "server_port", "server_ssl", "server_ca", "server_ca_file", "server_token"];

/// A setting that cannot be read, with the line it is on (1-based; 0 for `--set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// The settings an Inmanta configuration file gives. Sections and options Cairn does not use
/// are ignored (the file also configures Inmanta's own tools); a line that is neither a
/// section, an option, a comment nor blank is an error.
pub fn from_inmanta_config(text: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut settings = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<&'static str> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        // An indented line continues the previous option's value (as Python's configparser).
        if line.starts_with([' ', '\t']) && section.is_some() {
            if let Some(key) = last_key {
                if let Some(value) = settings.get_mut(key) {
                    let value: &mut String = value;
                    value.push('\n');
                    value.push_str(trimmed);
                }
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(SettingsError { line: index + 1, message: format!("`{trimmed}` opens a section but does not close it with `]`") });
            };
            section = Some(name.trim().to_string());
            last_key = None;
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(SettingsError { line: index + 1, message: format!("`{trimmed}` is not `option = value`") });
        };
        let (option, value) = (trimmed[..split].trim(), trimmed[split + 1..].trim());
        let Some(section) = &section else {
            return Err(SettingsError { line: index + 1, message: format!("option `{option}` comes before any section") });
        };
        last_key = ini_key(section, option);
        if let Some(key) = last_key {
            settings.insert(key.to_string(), value.to_string());
        }
    }
    Ok(settings)
}

fn ini_key(section: &str, option: &str) -> Option<&'static str> {
    let option = option.to_ascii_lowercase().replace('-', "_");
    INI_KEYS.iter().find(|(s, o, _)| *s == section && *o == option).map(|(_, _, key)| *key)
}

/// Applies one `KEY=VALUE` of the command line: `KEY` one of [`SETTING_KEYS`] or an Inmanta
/// `section.option` (`config.environment`).
pub fn apply_override(settings: &mut BTreeMap<String, String>, assignment: &str) -> Result<(), SettingsError> {
    let fail = |message: String| SettingsError { line: 0, message };
    let Some((key, value)) = assignment.split_once('=') else {
        return Err(fail(format!("`--set {assignment}`: expected KEY=VALUE")));
    };
    let key = key.trim();
    let resolved = match key.split_once('.') {
        Some((section, option)) => ini_key(section, option),
        None => SETTING_KEYS.iter().copied().find(|k| *k == key),
    };
    let Some(resolved) = resolved else {
        return Err(fail(format!("`--set {key}=...`: unknown setting; the settings are {}", SETTING_KEYS.join(", "))));
    };
    settings.insert(resolved.to_string(), value.to_string());
    Ok(())
}

/// The settings of the project at `root`: its `.inmanta` file when it has one, then
/// `overrides` (`KEY=VALUE` each). A CA certificate named by file (`ssl_ca_cert_file`) is read
/// here, as Inmanta's `std::server_ca` reads it, so the compile gets its text.
pub fn project_settings(fs: &dyn cairn_compiler::fs::FileSystem, root: &std::path::Path, overrides: &[String]) -> Result<BTreeMap<String, String>, String> {
    let file = root.join(".inmanta");
    let mut settings = if fs.is_file(&file) {
        let text = fs.read_text(&file).map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        from_inmanta_config(&text).map_err(|error| format!("{}: {error}", file.display()))?
    } else {
        BTreeMap::new()
    };
    for assignment in overrides {
        apply_override(&mut settings, assignment).map_err(|error| error.to_string())?;
    }
    if let Some(ca_file) = settings.get("server_ca_file").cloned() {
        if !settings.contains_key("server_ca") {
            let path = root.join(&ca_file);
            let text = fs.read_text(&path).map_err(|error| format!("the CA certificate {ca_file} (ssl_ca_cert_file) cannot be read: {error}"))?;
            settings.insert("server_ca".into(), text);
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inmanta_file_gives_the_environment_and_the_server() {
        let text = "# made by inmanta\n[config]\nenvironment = 6f3c-01\nstate-dir=/var/lib/inmanta\n\n[compiler_rest_transport]\nhost: orch.example.net\nport = 8443\nssl = true\nssl-ca-cert-file = /etc/ca.pem\ntoken = abc\n[other]\nhost = ignored\n";
        let settings = from_inmanta_config(text).expect("parses");
        let expected: BTreeMap<String, String> = [
            ("environment", "6f3c-01"),
            ("server_host", "orch.example.net"),
            ("server_port", "8443"),
            ("server_ssl", "true"),
            ("server_ca_file", "/etc/ca.pem"),
            ("server_token", "abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(settings, expected);
    }

    #[test]
    fn a_broken_line_is_reported_with_its_number() {
        assert_eq!(from_inmanta_config("[config\n").map_err(|e| e.line), Err(1));
        assert_eq!(from_inmanta_config("[config]\nenvironment 1\n").map_err(|e| e.line), Err(2));
        assert_eq!(from_inmanta_config("environment = 1\n").map_err(|e| e.line), Err(1));
    }

    #[test]
    fn overrides_take_cairn_keys_and_inmanta_spellings() {
        let mut settings = BTreeMap::new();
        apply_override(&mut settings, "environment=e1").expect("set");
        apply_override(&mut settings, "compiler_rest_transport.port=9000").expect("set");
        apply_override(&mut settings, "server_token=a=b").expect("set");
        assert_eq!(settings.get("environment").map(String::as_str), Some("e1"));
        assert_eq!(settings.get("server_port").map(String::as_str), Some("9000"));
        assert_eq!(settings.get("server_token").map(String::as_str), Some("a=b"));
        let error = apply_override(&mut settings, "enviroment=x").expect_err("unknown");
        assert!(error.message.contains("unknown setting"), "{error}");
        assert!(apply_override(&mut settings, "environment").is_err());
    }

    #[test]
    fn project_settings_read_the_file_then_the_overrides() {
        let mut fs = cairn_compiler::fs::MemFs::new();
        fs.add("/p/.inmanta", "[config]\nenvironment = from-file\n[compiler_rest_transport]\nport = 1\nssl_ca_cert_file = ca.pem\n");
        fs.add("/p/ca.pem", "PEM");
        let settings = project_settings(&fs, std::path::Path::new("/p"), &["server_port=2".into()]).expect("reads");
        assert_eq!(settings.get("environment").map(String::as_str), Some("from-file"));
        assert_eq!(settings.get("server_port").map(String::as_str), Some("2"));
        assert_eq!(settings.get("server_ca").map(String::as_str), Some("PEM"));
        let none = project_settings(&fs, std::path::Path::new("/q"), &[]).expect("no file");
        assert!(none.is_empty());
    }
}
