//! The `cairn` command line: argument parsing and wiring only. The work happens in the
//! library crates.

use cairn_compiler::diagnostic::render;
use cairn_compiler::fs::RealFs;
use cairn_compiler::session::ParseSession;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use termcolor::{ColorChoice, StandardStream};

/// A compile allocates and frees millions of small values (strings, lists, keys); mimalloc
/// serves them several times faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cairn: compile configuration models (Inmanta `.cf` language) and make the world match.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, propagate_version = true)]
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, env = "CAIRN_COLOR")]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load a project (project.yml), parse main.cf and every module on its modulepath, and
    /// report all problems. Exits 1 if there are any.
    Compile {
        /// The project folder (holding project.yml and main.cf).
        #[arg(default_value = ".")]
        project: PathBuf,
    },
    /// Compile and export the project's resources. With `-j FILE`, write the version as a
    /// JSON list of resources (the shape of Inmanta's `export -j`) instead of uploading it.
    Export {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Write the resources to this JSON file.
        #[arg(short = 'j', long = "json", required = true)]
        json: PathBuf,
        /// The version number written into the ids (`,v=N`).
        #[arg(long = "version-number", default_value_t = 1)]
        number: u64,
    },
    /// Compile the project and deploy it here, in embedded mode: the version is stored under
    /// `data/deploy` of the project and an in-process agent makes every resource true.
    /// Exits 1 if any resource failed.
    Deploy {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Show what would change (a diff for files) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deploy every resource, not only those whose desired state changed (a repair).
        #[arg(long)]
        full: bool,
        /// Resources deployed at the same time.
        #[arg(long, default_value_t = 8, env = "CAIRN_PARALLELISM")]
        parallelism: usize,
    },
    /// Parse the given .cf files on their own and report their problems (for editors and
    /// scripts). Exits 1 if there are any.
    Parse {
        /// The files to parse.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let choice = match cli.color {
        Color::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => ColorChoice::Auto,
        Color::Auto | Color::Never => ColorChoice::Never,
        Color::Always => ColorChoice::Always,
    };
    let mut stderr = StandardStream::stderr(choice);
    match cli.command {
        Command::Compile { project } => compile(&project, &mut stderr),
        Command::Parse { files } => parse(&files, &mut stderr),
        Command::Deploy { project, dry_run, full, parallelism } => {
            deploy(&project, cairn_agent::DeployOptions { full, dry_run, parallelism }, &mut stderr)
        }
        Command::Export { project, json, number } => export_json(&project, &json, number, &mut stderr),
    }
}

/// Compiles and exports; prints the model's output and every problem. `None` when the
/// project could not be loaded or had errors (already reported).
fn build_reported(root: &Path, stderr: &mut StandardStream) -> Option<cairn::Build> {
    let modules = cairn::modules();
    // The model sees the real process environment through `std::get_env`.
    let env_vars = |name: &str| std::env::var(name).ok();
    let build = match cairn::build(&RealFs, root, &modules, &env_vars) {
        Ok(build) => build,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return None;
        }
    };
    if std::env::var_os("CAIRN_EXEC_STATS").is_some() {
        print_exec_stats(&build.compilation);
    }
    let mut stdout = std::io::stdout();
    if let Some(execution) = &build.compilation.execution {
        for line in &execution.output {
            let _ = writeln!(stdout, "{line}");
        }
    }
    for error in &build.compilation.session.io_errors {
        let _ = writeln!(stderr, "error: {error}");
    }
    let _ = render(stderr, &build.compilation.session.sources, &build.compilation.warnings);
    if let Err(error) = render(stderr, &build.compilation.session.sources, &build.diagnostics) {
        let _ = writeln!(stderr, "error: cannot print diagnostics: {error}");
    }
    let count = build.diagnostics.len() + build.compilation.session.io_errors.len();
    if count > 0 {
        let _ = writeln!(stderr, "error: {count} problem{} found", if count == 1 { "" } else { "s" });
        return None;
    }
    Some(build)
}

/// The executor's counters and the phase timings, for `CAIRN_EXEC_STATS` (only when the
/// compile got as far as executing).
fn print_exec_stats(compilation: &cairn_compiler::compile::Compilation) {
    let Some(execution) = &compilation.execution else { return };
    let s = execution.stats;
    eprintln!(
        "slots {} scopes {} tasks {} runs {} freeze rounds {} instances {} slot size {} task size {}",
        s.slots, s.scopes, s.tasks, s.task_runs, s.freeze_rounds, s.instances, s.slot_size, s.task_size
    );
    let t = compilation.timings;
    eprintln!("timings: parse {:?} declarations {:?} execute {:?}", t.parse, t.declarations, t.execute);
}

fn summary(build: &cairn::Build) -> String {
    let (resources, agents, undefined) = match &build.export {
        Some(export) => (export.resources.len(), export.agents().len(), export.resources.iter().filter(|r| r.undefined).count()),
        None => (0, 0, 0),
    };
    let undefined = if undefined > 0 { format!(" ({undefined} undefined)") } else { String::new() };
    format!(
        "compiled {}: {} instances, {} resources{undefined}, {} agent{} in {:.0} ms (export {:.0} ms)",
        build.compilation.project.config.name,
        build.compilation.instance_count(),
        resources,
        agents,
        if agents == 1 { "" } else { "s" },
        build.compile_time.as_secs_f64() * 1000.0,
        build.export_time.as_secs_f64() * 1000.0
    )
}

fn compile(root: &Path, stderr: &mut StandardStream) -> ExitCode {
    match build_reported(root, stderr) {
        Some(build) => {
            let _ = writeln!(std::io::stdout(), "{}", summary(&build));
            // The process ends now: freeing a large model piece by piece only costs time.
            std::mem::forget(build);
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

fn export_json(root: &Path, out: &Path, version: u64, stderr: &mut StandardStream) -> ExitCode {
    let Some(build) = build_reported(root, stderr) else { return ExitCode::FAILURE };
    let resources = build.export.as_ref().map(|e| e.resources.as_slice()).unwrap_or(&[]);
    // `write_version_json` buffers itself (in large chunks): the file needs no `BufWriter`.
    let written = std::fs::File::create(out).and_then(|mut file| cairn_compiler::export::write_version_json(&mut file, resources, version));
    let code = match written {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "{}; wrote version {version} to {}", summary(&build), out.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(stderr, "error: cannot write {}: {error}", out.display());
            ExitCode::FAILURE
        }
    };
    // The process ends now: freeing a large model piece by piece only costs time.
    std::mem::forget(build);
    code
}

fn deploy(root: &Path, options: cairn_agent::DeployOptions, stderr: &mut StandardStream) -> ExitCode {
    use cairn_server::Store;
    let Some(build) = build_reported(root, stderr) else { return ExitCode::FAILURE };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", summary(&build));
    let Some(export) = &build.export else { return ExitCode::FAILURE };
    let resources = cairn::resource_docs(export);
    let store = match cairn_server::SqliteStore::open(&cairn::deploy_store_path(root)) {
        Ok(store) => store,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let environment = build.compilation.project.config.name.clone();
    let version = match store.create_version(&environment, &resources) {
        Ok(version) => version,
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
    let handlers = cairn::handlers();
    let io = cairn_agent::LocalIo::new(root);
    let mut on_outcome = |outcome: &cairn_agent::Outcome| {
        progress.inc(1);
        if !outcome.unchanged_skip {
            progress.set_message(outcome.resource.to_string());
        }
    };
    let deploy_started = std::time::Instant::now();
    let report = cairn_agent::deploy(&store, &environment, version, &resources, &handlers, &io, &options, &mut on_outcome);
    let deploy_time = deploy_started.elapsed();
    progress.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if options.dry_run {
        for outcome in report.outcomes.iter().filter(|o| o.changed) {
            let _ = writeln!(stdout, "--- {} would change:", outcome.resource);
            if let Some(preview) = &outcome.preview {
                let _ = writeln!(stdout, "{}", preview.trim_end());
            }
        }
    }
    for outcome in &report.outcomes {
        if matches!(outcome.state, cairn_wire::ResourceState::Failed | cairn_wire::ResourceState::Skipped) {
            let _ = writeln!(stdout, "{:8} {}: {}", outcome.state.as_str(), outcome.resource, outcome.message);
        }
    }
    let verb = if options.dry_run { "dry run of" } else { "deployed" };
    let _ = writeln!(
        stdout,
        "{verb} version {version} of {environment}: {} resources in {:.2} s",
        report.outcomes.len(),
        deploy_time.as_secs_f64()
    );
    let _ = writeln!(stdout, "  {:<10}{:>6}", if options.dry_run { "to change" } else { "changed" }, report.changed());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "unchanged", report.unchanged());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "failed", report.failed());
    let _ = writeln!(stdout, "  {:<10}{:>6}", "skipped", report.skipped());
    // Skipped resources fail the deploy only through their cause: a failed resource, or an
    // unknown value. A command with `skip_on_fail` (and what depends on it) does not.
    let undefined = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.state, cairn_wire::ResourceState::Undefined | cairn_wire::ResourceState::SkippedForUndefined))
        .count();
    if report.failed() > 0 || undefined > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse(files: &[PathBuf], stderr: &mut StandardStream) -> ExitCode {
    let mut session = ParseSession::new();
    for path in files {
        session.add_file(&RealFs, "__config__", path);
    }
    session.finish();
    exit(report(&session, stderr))
}

/// Prints every problem of the session; true when there were none.
fn report(session: &ParseSession, stderr: &mut StandardStream) -> bool {
    for error in &session.io_errors {
        let _ = writeln!(stderr, "error: {error}");
    }
    if let Err(error) = render(stderr, &session.sources, &session.diagnostics) {
        let _ = writeln!(stderr, "error: cannot print diagnostics: {error}");
    }
    let count = session.diagnostics.len() + session.io_errors.len();
    if count > 0 {
        let _ = writeln!(stderr, "error: {count} problem{} found", if count == 1 { "" } else { "s" });
    }
    count == 0
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
