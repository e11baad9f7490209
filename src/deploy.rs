//! `cairn deploy`: build the project, hand the version to the embedded orchestrator, show
//! progress while its in-process agent deploys, and print what happened: one line per
//! resource that changed, failed, was skipped or left the model (the way Terraform and Puppet
//! list them), then the counts.

use crate::print::{build_reported, CompileArgs, plural, summary};
use cairn_server::embedded::{Deployed, Embedded, EmbeddedOptions, ProjectLock};
use cairn_wire::{Action, DeployResult, ResourceState};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use termcolor::StandardStream;

static EMPTY: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();

pub fn run(root: &Path, args: &CompileArgs, options: &EmbeddedOptions, stderr: &mut StandardStream) -> ExitCode {
    // Before compiling: a second deploy of the project waits for nothing and says who runs.
    // (No project, no lock: the build says what is missing, and nothing is created.)
    let _lock = match root.join("project.yml").is_file().then(|| ProjectLock::take(root)) {
        Some(Ok(lock)) => Some(lock),
        Some(Err(error)) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    let Some(build) = build_reported(root, args, stderr) else { return ExitCode::FAILURE };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", summary(&build));
    if build.export.is_none() {
        return ExitCode::FAILURE;
    }
    let resources = build.documents();
    let environment = build.compilation.project.config.name.clone();
    let embedded = match Embedded::open(root) {
        Ok(embedded) => embedded,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(resources.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let modules = cairn_pipeline::shipped_modules();
    let io = cairn_agent::LocalIo::new(root);
    let mut on_result = |result: &DeployResult| {
        progress.inc(1);
        if result.action != Action::Untouched {
            progress.set_message(result.resource.to_string());
        }
    };
    let started = std::time::Instant::now();
    let deployed = embedded.deploy(&environment, &resources, build.export.as_ref().map(|e| &e.files).unwrap_or(&EMPTY), &modules.handlers, &io, options, &mut on_result);
    let took = started.elapsed();
    progress.finish_and_clear();
    let deployed = match deployed {
        Ok(deployed) => deployed,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _ = print_report(&mut stdout, &environment, &deployed, options.deploy.dry_run, took);
    // The process ends now: freeing the build piece by piece only costs time.
    std::mem::forget(build);
    let report = &deployed.report;
    // Skipped resources fail the deploy only through their cause: a failed resource, or an
    // unknown value. A command with `skip_on_fail` (and what depends on it) does not.
    let undefined = report.results.iter().filter(|r| matches!(r.state, ResourceState::Undefined | ResourceState::SkippedForUndefined)).count();
    if report.failed() > 0 || undefined > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// What happened to one resource, in a word, or `None` when nothing did (not listed).
fn verb(result: &DeployResult, dry_run: bool) -> Option<&'static str> {
    let purge = result.changes.iter().find(|c| c.field == "purged");
    let created = purge.is_some_and(|c| c.desired == serde_json::Value::Bool(false));
    let removed = purge.is_some_and(|c| c.desired == serde_json::Value::Bool(true));
    let reload = result.action == Action::Reload || result.changes.iter().any(|c| c.field == "reload");
    Some(match result.state {
        ResourceState::Failed => "failed",
        ResourceState::Skipped | ResourceState::SkippedForUndefined => "skipped",
        ResourceState::Undefined => "undefined",
        _ if !result.changed => return None,
        _ if dry_run && created => "would create",
        _ if dry_run && removed => "would remove",
        _ if dry_run && reload => "would reload",
        _ if dry_run => "would change",
        _ if created => "created",
        _ if removed => "removed",
        _ if reload => "reloaded",
        _ => "changed",
    })
}

fn print_report(out: &mut dyn Write, environment: &str, deployed: &Deployed, dry_run: bool, took: std::time::Duration) -> std::io::Result<()> {
    let report = &deployed.report;
    for result in &report.results {
        let Some(verb) = verb(result, dry_run) else { continue };
        if result.message.is_empty() {
            writeln!(out, "{verb:<13} {}", result.resource)?;
        } else {
            writeln!(out, "{verb:<13} {}: {}", result.resource, result.message)?;
        }
        if dry_run {
            if let Some(diff) = &result.diff {
                for line in diff.trim_end().lines() {
                    writeln!(out, "    {line}")?;
                }
            }
        }
    }
    for orphan in &deployed.orphans {
        let verb = if dry_run { "would orphan" } else { "orphaned" };
        let what = match (orphan.purged, dry_run) {
            (true, true) => "no longer in the model: would be removed (purge_on_delete)",
            (true, false) => "no longer in the model: removed (purge_on_delete)",
            (false, _) => "no longer in the model: left in place (set purge_on_delete = true to remove such resources)",
        };
        writeln!(out, "{verb:<13} {}: {what}", orphan.resource)?;
    }
    let total = report.results.len() - deployed.orphans.iter().filter(|o| o.purged).count();
    let stored = match (dry_run, deployed.stored) {
        (true, _) => " (dry run: nothing changed, nothing stored)",
        (false, true) => "",
        (false, false) => " (the model did not change: no new version stored)",
    };
    let failed = report.failed();
    let headline = if dry_run {
        format!("dry run of version {} of {environment}", deployed.version)
    } else if failed > 0 {
        format!("deploy of version {} of {environment} failed for {}", deployed.version, plural(failed, "resource"))
    } else {
        format!("deployed version {} of {environment}", deployed.version)
    };
    writeln!(out, "{headline}: {} in {:.2} s{stored}", plural(total, "resource"), took.as_secs_f64())?;
    writeln!(out, "  {:<10}{:>6}", if dry_run { "to change" } else { "changed" }, report.changed())?;
    writeln!(out, "  {:<10}{:>6}", "unchanged", report.unchanged())?;
    writeln!(out, "  {:<10}{:>6}", "failed", failed)?;
    writeln!(out, "  {:<10}{:>6}", "skipped", report.skipped())?;
    if !deployed.orphans.is_empty() {
        writeln!(out, "  {:<10}{:>6}", "orphaned", deployed.orphans.len())?;
    }
    Ok(())
}
