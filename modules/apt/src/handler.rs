//! The `apt::Package` handler: asks dpkg whether a package is installed, and installs or
//! removes it with apt-get (non-interactive).

use cairn_agent::{Context, Fields, Handler, HandlerError};
use cairn_wire::{Change, ResourceDoc};
use serde_json::Value;
use std::time::Duration;

pub struct PackageHandler;

fn noninteractive() -> Vec<(String, String)> {
    vec![("DEBIAN_FRONTEND".into(), "noninteractive".into())]
}

fn package_name(desired: &ResourceDoc) -> Result<&str, HandlerError> {
    let name = desired.str_attr("name").unwrap_or_default();
    // Names go into a shell command: only Debian's package-name characters are allowed.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c)) {
        return Err(HandlerError::new(format!("invalid package name `{name}`")));
    }
    Ok(name)
}

fn wanted_state(desired: &ResourceDoc) -> &'static str {
    if desired.purged() || desired.str_attr("state") == Some("removed") {
        "removed"
    } else {
        "installed"
    }
}

impl Handler for PackageHandler {
    fn fields(&self) -> &[&str] {
        &["state"]
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let io = cx.io;
        let name = package_name(desired)?;
        let output = io.run(&format!("dpkg-query -W -f='${{Status}}' {name}"), None, &[], Duration::from_secs(60))?;
        let installed = output.code == Some(0) && output.stdout.contains("install ok installed");
        let mut fields = Fields::new();
        fields.insert("state".into(), Value::from(if installed { "installed" } else { "removed" }));
        Ok(Some(fields))
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        let have = current.and_then(|c| c.get("state")).cloned().unwrap_or(Value::from("removed"));
        let want = Value::from(wanted_state(desired));
        if have == want {
            Vec::new()
        } else {
            vec![Change { field: "state".into(), current: have, desired: want }]
        }
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        let io = cx.io;
        let name = package_name(desired)?;
        let command = match wanted_state(desired) {
            "installed" => format!("apt-get install -y --no-install-recommends {name}"),
            _ => format!("apt-get remove -y {name}"),
        };
        let output = io.run(&command, None, &noninteractive(), Duration::from_secs(900))?;
        if output.code == Some(0) {
            Ok(())
        } else {
            Err(HandlerError::new(format!("`{command}` failed: {}", output.stderr.trim())))
        }
    }
}
