//! The commands that read what the embedded store keeps: `cairn versions`, `cairn resources`
//! and `cairn log`. Human tables by default, `--json` for scripts. (The same verbs will read a
//! server's store with `--server`.)

use cairn_server::embedded::Embedded;
use cairn_server::Store;
use cairn_wire::{ResourceId, ResourceState};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use termcolor::StandardStream;

/// The project's name (its environment in the store), read from project.yml.
fn environment(project: &Path) -> Result<String, String> {
    cairn_compiler::project::Project::load(&cairn_compiler::fs::RealFs, project).map(|p| p.config.name).map_err(|e| e.to_string())
}

fn open(project: &Path, stderr: &mut StandardStream) -> Option<(Embedded, String)> {
    let environment = match environment(project) {
        Ok(name) => name,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return None;
        }
    };
    match Embedded::open_existing(project) {
        Ok(embedded) => Some((embedded, environment)),
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            None
        }
    }
}

fn fail(stderr: &mut StandardStream, error: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(stderr, "error: {error}");
    ExitCode::FAILURE
}

/// `2026-12-01 10:45:01` (UTC) from milliseconds since the epoch.
pub fn timestamp(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

pub fn versions(project: &Path, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Some((embedded, environment)) = open(project, stderr) else { return ExitCode::FAILURE };
    let store = embedded.store();
    let versions = match embedded.read(store.versions(&environment)) {
        Ok(versions) => versions,
        Err(error) => return fail(stderr, error),
    };
    let mut out = std::io::stdout();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&versions).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(out, "{:>8}  {:<19}  {:>9}", "version", "created (UTC)", "resources");
    for version in &versions {
        let _ = writeln!(out, "{:>8}  {:<19}  {:>9}", version.version, timestamp(version.created_ms), version.resource_count);
    }
    ExitCode::SUCCESS
}

pub fn resources(project: &Path, state: Option<&str>, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let wanted = match state.map(|s| ResourceState::parse(s).ok_or(s)) {
        Some(Err(unknown)) => {
            return fail(
                stderr,
                format!("unknown state `{unknown}` (one of: available, deploying, deployed, failed, skipped, undefined, skipped_for_undefined, unavailable, dry, cancelled, orphaned)"),
            )
        }
        Some(Ok(state)) => Some(state),
        None => None,
    };
    let Some((embedded, environment)) = open(project, stderr) else { return ExitCode::FAILURE };
    let store = embedded.store();
    let statuses = match embedded.read(store.resource_statuses(&environment)) {
        Ok(statuses) => statuses,
        Err(error) => return fail(stderr, error),
    };
    let shown: Vec<_> = statuses.into_values().filter(|s| wanted.is_none_or(|w| s.state == w)).collect();
    let mut out = std::io::stdout();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&shown).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(out, "{:<22} {:>7}  resource", "state", "version");
    for status in &shown {
        let _ = writeln!(out, "{:<22} {:>7}  {}", status.state.as_str(), status.version, status.resource);
    }
    ExitCode::SUCCESS
}

pub fn log(project: &Path, resource: &str, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Some((embedded, environment)) = open(project, stderr) else { return ExitCode::FAILURE };
    // `,v=N` may be given (it is how exports write ids); the log is per resource.
    let id = ResourceId(match resource.rfind("],v=") {
        Some(end) => resource[..=end].to_string(),
        None => resource.to_string(),
    });
    let store = embedded.store();
    let logs = match embedded.read(store.action_logs(&environment, &id)) {
        Ok(logs) => logs,
        Err(error) => return fail(stderr, error),
    };
    if logs.is_empty() {
        let known = embedded.read(store.resource_statuses(&environment)).unwrap_or_default();
        let hint = crate::print::closest(resource, known.keys().map(|k| k.0.as_str()))
            .map(|near| format!("; did you mean `{near}`?"))
            .unwrap_or_default();
        return fail(stderr, format!("no action of `{id}` is logged in {}{hint}", project.display()));
    }
    let mut out = std::io::stdout();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&logs).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    for entry in &logs {
        let _ = writeln!(
            out,
            "{}  version {}  {} -> {}{}",
            timestamp(entry.time_ms),
            entry.version,
            entry.action.as_str(),
            entry.state.as_str(),
            if entry.changed { " (changed)" } else { "" }
        );
        if !entry.message.is_empty() {
            let _ = writeln!(out, "    {}", entry.message);
        }
        for change in &entry.changes {
            let _ = writeln!(out, "    {}: {} -> {}", change.field, change.current, change.desired);
        }
        if let Some(diff) = &entry.diff {
            for line in diff.trim_end().lines() {
                let _ = writeln!(out, "    | {line}");
            }
        }
    }
    ExitCode::SUCCESS
}
