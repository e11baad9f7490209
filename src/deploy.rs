//! `cairn deploy`: build the project, hand the version to the embedded orchestrator, show
//! progress while its in-process agent deploys, and print what happened.

use crate::print::{build_reported, summary};
use cairn_agent::DeployOptions;
use cairn_server::embedded::{Embedded, ProjectLock};
use cairn_wire::{Action, DeployResult, ResourceState};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use termcolor::StandardStream;

pub fn run(root: &Path, options: DeployOptions, stderr: &mut StandardStream) -> ExitCode {
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
    let Some(build) = build_reported(root, stderr) else { return ExitCode::FAILURE };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", summary(&build));
    if build.export.is_none() {
        return ExitCode::FAILURE;
    }
    let resources = build.documents();
    let environment = build.compilation.project.config.name.clone();
    let fail = |stderr: &mut StandardStream, error: &dyn std::fmt::Display| {
        let _ = writeln!(stderr, "error: {error}");
        ExitCode::FAILURE
    };
    let embedded = match Embedded::open(root) {
        Ok(embedded) => embedded,
        Err(error) => return fail(stderr, &error),
    };
    let version = match embedded.create_version(&environment, &resources) {
        Ok(version) => version,
        Err(error) => return fail(stderr, &error),
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
    let deploy_started = std::time::Instant::now();
    let report = embedded.deploy(&environment, version, &resources, &modules.handlers, &io, &options, &mut on_result);
    let deploy_time = deploy_started.elapsed();
    progress.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => return fail(stderr, &error),
    };
    if options.dry_run {
        for result in report.results.iter().filter(|r| r.changed) {
            let _ = writeln!(stdout, "--- {} would change:", result.resource);
            if let Some(diff) = &result.diff {
                let _ = writeln!(stdout, "{}", diff.trim_end());
            }
        }
    }
    for result in &report.results {
        if matches!(result.state, ResourceState::Failed | ResourceState::Skipped) {
            let _ = writeln!(stdout, "{:8} {}: {}", result.state.as_str(), result.resource, result.message);
        }
    }
    let verb = if options.dry_run { "dry run of" } else { "deployed" };
    let _ = writeln!(
        stdout,
        "{verb} version {version} of {environment}: {} resources in {:.2} s",
        report.results.len(),
        deploy_time.as_secs_f64()
    );
    let _ = writeln!(stdout, "  {:<10}{:>6}", if options.dry_run { "to change" } else { "changed" }, report.changed());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "unchanged", report.unchanged());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "failed", report.failed());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "skipped", report.skipped());
    // Skipped resources fail the deploy only through their cause: a failed resource, or an
    // unknown value. A command with `skip_on_fail` (and what depends on it) does not.
    let undefined = report.results.iter().filter(|r| matches!(r.state, ResourceState::Undefined | ResourceState::SkippedForUndefined)).count();
    // The process ends now: freeing the build piece by piece only costs time.
    std::mem::forget(build);
    if report.failed() > 0 || undefined > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
