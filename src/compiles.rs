//! The autonomous server's commands: `cairn compile --server URL -e ENV` asks the server to
//! compile the environment's repository (with `--wait`, follows it to its report), and
//! `cairn reports -e ENV` lists compile reports (one whole with `--id`, diagnostics rendered
//! as the compiler prints them).

use crate::inspect::timestamp;
use crate::remote::{fail, print_json, with_client, Remote};
use cairn_server::records::{CompileRecord, CompileState};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use termcolor::StandardStream;

/// How long `--wait` follows a compile at most.
const WAIT_LIMIT: Duration = Duration::from_secs(3600);

/// `cairn compile --server URL -e ENV [--wait]`.
pub fn request(remote: &Remote, environment: &str, reason: Option<&str>, wait: bool, json: bool, stderr: &mut StandardStream) -> ExitCode {
    let Ok(queued) = with_client(remote, stderr, async |c| c.request_compile(environment, reason).await) else { return ExitCode::FAILURE };
    if !wait {
        if json {
            return print_json(&queued);
        }
        let joined = if queued.trigger_count > 1 { format!(" (joined a queued compile: {} triggers)", queued.trigger_count) } else { String::new() };
        let _ = writeln!(std::io::stdout(), "compile {} queued for {environment}{joined}", queued.id);
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let id = queued.id.clone();
    let finished = with_client(remote, stderr, async |c| {
        let mut delay = Duration::from_millis(100);
        loop {
            let record = c.compile(environment, &id).await?;
            if record.state.finished() || started.elapsed() > WAIT_LIMIT {
                return Ok(record);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    });
    let Ok(record) = finished else { return ExitCode::FAILURE };
    if json {
        let _ = print_json(&record);
    } else {
        print_one(&record);
    }
    match record.state {
        CompileState::Succeeded => ExitCode::SUCCESS,
        CompileState::Failed => ExitCode::FAILURE,
        _ => fail(stderr, format!("compile {} is still {} after {} s", record.id, record.state.as_str(), WAIT_LIMIT.as_secs())),
    }
}

/// `cairn reports -e ENV [--id ID] [--limit N] [--json]`.
pub fn reports(remote: &Remote, environment: &str, id: Option<&str>, limit: usize, json: bool, stderr: &mut StandardStream) -> ExitCode {
    if let Some(id) = id {
        let Ok(record) = with_client(remote, stderr, async |c| c.compile(environment, id).await) else { return ExitCode::FAILURE };
        if json {
            return print_json(&record);
        }
        print_one(&record);
        return ExitCode::SUCCESS;
    }
    let Ok(records) = with_client(remote, stderr, async |c| c.compiles(environment, limit).await) else { return ExitCode::FAILURE };
    if json {
        return print_json(&records);
    }
    let mut out = std::io::stdout();
    if records.is_empty() {
        let _ = writeln!(out, "no compiles in {environment} yet");
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(out, "{:<36}  {:<9}  {:<19}  {:<12}  {:>7}  {:>8}  summary", "id", "state", "queued", "commit", "version", "seconds");
    for record in &records {
        let report = record.report.as_ref();
        let commit = report.and_then(|r| r.commit.as_deref()).map(|c| &c[..c.len().min(12)]).unwrap_or("-");
        let version = report.and_then(|r| r.version).map_or("-".to_string(), |v| v.to_string());
        let seconds = match (record.started_ms, record.finished_ms) {
            (Some(s), Some(f)) => format!("{:.2}", f.saturating_sub(s) as f64 / 1000.0),
            _ => "-".into(),
        };
        let summary = report.map(|r| r.summary.as_str()).unwrap_or("");
        let _ = writeln!(out, "{:<36}  {:<9}  {:<19}  {commit:<12}  {version:>7}  {seconds:>8}  {summary}", record.id, record.state.as_str(), timestamp(record.queued_ms));
    }
    ExitCode::SUCCESS
}

/// One compile in full: its triggers, phases and every diagnostic as rendered.
fn print_one(record: &CompileRecord) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "compile {} of {}: {}", record.id, record.environment, record.state.as_str());
    let _ = writeln!(out, "  queued   {}", timestamp(record.queued_ms));
    if let Some(started) = record.started_ms {
        let _ = writeln!(out, "  started  {} on {}", timestamp(started), record.server.as_deref().unwrap_or("?"));
    }
    if let Some(finished) = record.finished_ms {
        let _ = writeln!(out, "  finished {}", timestamp(finished));
    }
    let kinds: Vec<String> = record.triggers.iter().map(|t| if t.detail.is_empty() { t.kind.as_str().to_string() } else { format!("{} ({})", t.kind.as_str(), t.detail) }).collect();
    let _ = writeln!(out, "  triggers {}: {}", record.trigger_count, kinds.join(", "));
    let Some(report) = &record.report else { return };
    if let Some(commit) = &report.commit {
        let _ = writeln!(out, "  commit   {commit} ({})", report.branch);
    }
    if !report.phases.is_empty() {
        let phases: Vec<String> = report.phases.iter().map(|(name, ms)| format!("{name} {ms} ms")).collect();
        let _ = writeln!(out, "  phases   {}", phases.join(", "));
    }
    let _ = writeln!(out, "  {}", report.summary);
    for diagnostic in &report.diagnostics {
        let _ = writeln!(out);
        let _ = write!(out, "{}", diagnostic.rendered);
    }
}
