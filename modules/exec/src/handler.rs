//! The `exec::Run` handler: runs `command` when needed (not if `creates` exists, only if
//! `onlyif` succeeds, not if `unless` succeeds), checks its exit code against `returns`, and
//! on an event from a changed dependency runs `reload` (or the command itself). A command that
//! fails makes the resource fail, or, with `skip_on_fail`, be skipped.

use cairn_agent::{Context, Fields, Handler, HandlerError, Io};
use cairn_wire::{Change, ResourceDoc};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct RunHandler;

struct Settings {
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    timeout: Duration,
    returns: Vec<i64>,
}

fn settings(io: &dyn Io, desired: &ResourceDoc) -> Settings {
    let cwd = desired.str_attr("cwd").filter(|c| !c.is_empty()).map(|c| io.resolve(c));
    let mut env: Vec<(String, String)> = desired
        .attr("environment")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
        .unwrap_or_default();
    if let Some(path) = desired.str_attr("path").filter(|p| !p.is_empty()) {
        env.push(("PATH".into(), path.to_string()));
    }
    let timeout = Duration::from_secs(desired.attr("timeout").and_then(Value::as_u64).unwrap_or(300));
    let returns = desired.attr("returns").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_else(|| vec![0]);
    Settings { cwd, env, timeout, returns }
}

impl RunHandler {
    fn succeeds(io: &dyn Io, desired: &ResourceDoc, command: &str) -> Result<bool, HandlerError> {
        let s = settings(io, desired);
        let output = io.run(command, s.cwd.as_deref(), &s.env, s.timeout)?;
        Ok(output.code == Some(0))
    }

    fn execute(io: &dyn Io, desired: &ResourceDoc, command: &str) -> Result<(), HandlerError> {
        let s = settings(io, desired);
        let output = io.run(command, s.cwd.as_deref(), &s.env, s.timeout)?;
        if output.timed_out {
            return Err(HandlerError::new(format!("`{command}` did not finish within {} s", s.timeout.as_secs())));
        }
        match output.code {
            Some(code) if s.returns.contains(&(code as i64)) => Ok(()),
            code => {
                let shown = code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
                let detail = if output.stderr.trim().is_empty() { output.stdout.trim() } else { output.stderr.trim() };
                let message = format!("`{command}` exited with {shown}: {detail}");
                // `skip_on_fail`: reported as skipped instead of failed (as Inmanta's handler).
                if desired.bool_attr("skip_on_fail") {
                    Err(HandlerError::skip(format!("{message} (skip_on_fail)")))
                } else {
                    Err(HandlerError::new(message))
                }
            }
        }
    }
}

impl Handler for RunHandler {
    fn fields(&self) -> &[&str] {
        &[]
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let io = cx.io;
        let mut needed = true;
        if let Some(creates) = desired.str_attr("creates").filter(|c| !c.is_empty()) {
            if io.stat(&io.resolve(creates))?.is_some() {
                needed = false;
            }
        }
        if needed {
            if let Some(onlyif) = desired.str_attr("onlyif").filter(|c| !c.is_empty()) {
                needed = Self::succeeds(io, desired, onlyif)?;
            }
        }
        if needed {
            if let Some(unless) = desired.str_attr("unless").filter(|c| !c.is_empty()) {
                needed = !Self::succeeds(io, desired, unless)?;
            }
        }
        let mut fields = Fields::new();
        fields.insert("needed".into(), Value::Bool(needed));
        Ok(Some(fields))
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        let needed = current.and_then(|c| c.get("needed")).and_then(Value::as_bool).unwrap_or(true);
        if desired.purged() || desired.bool_attr("reload_only") || !needed {
            return Vec::new();
        }
        let command = desired.str_attr("command").unwrap_or_default();
        vec![Change { field: "command".into(), current: Value::Null, desired: Value::from(command) }]
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        Self::execute(cx.io, desired, desired.str_attr("command").unwrap_or_default())
    }

    fn reload(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<bool, HandlerError> {
        let io = cx.io;
        let command = match desired.str_attr("reload").filter(|r| !r.is_empty()) {
            Some(reload) => reload,
            None => desired.str_attr("command").unwrap_or_default(),
        };
        Self::execute(io, desired, command)?;
        Ok(true)
    }

    fn reloads(&self, desired: &ResourceDoc) -> bool {
        !desired.purged()
    }

    fn describe(&self, _cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, _changes: &[Change]) -> String {
        format!("run `{}`", desired.str_attr("command").unwrap_or_default())
    }
}
