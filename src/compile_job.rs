//! `cairn compile-job`: one compile of the autonomous server, run by the server in a process
//! of its own (`cairn_server::compiles::job` says what it is given). It limits its own
//! address space, fetches the commit, builds (installing the project's modules, compiling,
//! exporting), uploads the version to the server with the compiler token it was given, and
//! prints its report as one line of JSON on stdout. It exits 0 whenever it printed a report,
//! whatever the model did.

use crate::print::CompileArgs;
use cairn_compiler::diagnostic::{render_plain, Diagnostic, Severity};
use cairn_compiler::fs::RealFs;
use cairn_server::client::Client;
use cairn_server::compiles::{git, job};
use cairn_server::records::{CompileDiagnostic, CompileReport};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// The most diagnostics a report carries (the count says how many there were).
const MAX_DIAGNOSTICS: usize = 200;

#[derive(clap::Args, Debug)]
pub struct JobArgs {
    /// The repository.
    #[arg(long)]
    repo: String,
    /// The branch.
    #[arg(long)]
    branch: String,
    /// The checkout folder (made when missing; its untracked files, the modules, stay).
    #[arg(long)]
    checkout: PathBuf,
    /// The server to upload to.
    #[arg(long)]
    server: String,
    /// The environment.
    #[arg(short = 'e', long)]
    environment: String,
    /// Release the version.
    #[arg(long)]
    release: bool,
    /// The address space this process may use, in bytes.
    #[arg(long)]
    memory_limit: Option<u64>,
}

pub fn run(args: &JobArgs, compile: &CompileArgs) -> ExitCode {
    if let Some(limit) = args.memory_limit {
        let limit = rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) };
        if let Err(error) = rustix::process::setrlimit(rustix::process::Resource::As, limit) {
            eprintln!("warning: cannot limit this compile's memory: {error}");
        }
    }
    let report = compile_and_upload(args, compile);
    match serde_json::to_string(&report) {
        Ok(line) => {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write the report: {error}");
            ExitCode::FAILURE
        }
    }
}

fn compile_and_upload(args: &JobArgs, compile: &CompileArgs) -> CompileReport {
    let mut report = CompileReport { branch: args.branch.clone(), ..CompileReport::default() };
    let credentials = job::credentials_from_environment();
    let started = Instant::now();
    let fetched = git::fetch(&args.repo, &args.branch, &args.checkout, &credentials);
    report.phases.insert("fetch".into(), started.elapsed().as_millis() as u64);
    match fetched {
        Ok(commit) => report.commit = Some(commit),
        Err(error) => {
            report.summary = format!("cannot fetch the repository: {error}");
            return report;
        }
    }
    let short = report.commit.as_deref().map(|c| c[..c.len().min(12)].to_string()).unwrap_or_default();
    // The model sees an environment with nothing of the server's: its compile settings, the
    // environment id and name, come on the command line.
    let mut settings = match compile.settings(&args.checkout) {
        Ok(settings) => settings,
        Err(error) => {
            report.summary = format!("commit {short}: {error}");
            return report;
        }
    };
    settings.env_vars.retain(|name, _| matches!(name.as_str(), "PATH" | "HOME" | "LANG"));
    let modules = cairn_pipeline::shipped_modules();
    let building = Instant::now();
    let build = match cairn_pipeline::build(&RealFs, &args.checkout, &modules, &settings) {
        Ok(build) => build,
        Err(error) => {
            report.phases.insert("load".into(), building.elapsed().as_millis() as u64);
            report.summary = format!("commit {short}: the project cannot be loaded: {error}");
            report.diagnostics.push(CompileDiagnostic { severity: "error".into(), message: error.to_string(), rendered: format!("error: {error}"), ..CompileDiagnostic::default() });
            return report;
        }
    };
    let total = building.elapsed();
    report.phases.insert("compile".into(), build.compile_time.as_millis() as u64);
    report.phases.insert("export".into(), build.export_time.as_millis() as u64);
    report.phases.insert("load".into(), total.saturating_sub(build.compile_time + build.export_time).as_millis() as u64);
    for (module, tag) in &build.installed {
        eprintln!("installed module {module} at {tag}");
    }
    if let Some(execution) = &build.compilation.execution {
        for line in &execution.output {
            eprintln!("{line}");
        }
    }
    let sources = &build.compilation.session.sources;
    let mut problems = 0;
    for error in &build.compilation.session.io_errors {
        problems += 1;
        report.diagnostics.push(CompileDiagnostic { severity: "error".into(), message: error.to_string(), rendered: format!("error: {error}"), ..CompileDiagnostic::default() });
    }
    for diagnostic in build.compilation.warnings.iter().chain(&build.diagnostics) {
        if diagnostic.severity == Severity::Error {
            problems += 1;
        }
        if report.diagnostics.len() < MAX_DIAGNOSTICS {
            report.diagnostics.push(structured(diagnostic, sources, &args.checkout));
        }
    }
    if problems > 0 || !build.succeeded() {
        let first = report.diagnostics.iter().find(|d| d.severity == "error");
        let at = first.and_then(|d| Some(format!(" (first: {}:{}: {})", d.file.as_deref()?, d.line?, d.message))).unwrap_or_default();
        report.summary = format!("commit {short} does not compile: {problems} problem{}{at}", if problems == 1 { "" } else { "s" });
        return report;
    }
    let uploading = Instant::now();
    let resources = std::sync::Arc::new(build.documents());
    let count = resources.len();
    let uploaded = upload(args, resources, &build.files());
    report.phases.insert("upload".into(), uploading.elapsed().as_millis() as u64);
    match uploaded {
        Ok((version, released)) => {
            report.success = true;
            report.version = Some(version);
            report.released = released;
            report.summary = format!(
                "commit {short} compiled: version {version}, {count} resource{}{}",
                if count == 1 { "" } else { "s" },
                if released { ", released" } else { " (not released: auto_release is off)" }
            );
        }
        Err(error) => report.summary = format!("commit {short} compiled, but the upload failed: {error}"),
    }
    // The plugin host is stopped; the rest is freed by the exit.
    std::mem::forget(build);
    report
}

fn upload(args: &JobArgs, resources: std::sync::Arc<Vec<cairn_wire::ResourceDoc>>, files: &[(String, Vec<u8>)]) -> Result<(u64, bool), String> {
    let token = std::env::var(job::TOKEN_VARIABLE).ok();
    let client = Client::new(&args.server, token).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let created = runtime.block_on(client.upload_version(&args.environment, resources, files, args.release, sent)).map_err(|e| e.to_string())?;
    Ok((created.version, created.released))
}

/// A diagnostic as a report keeps it.
fn structured(diagnostic: &Diagnostic, sources: &cairn_compiler::source::SourceMap, checkout: &Path) -> CompileDiagnostic {
    let span = diagnostic.primary.span;
    let file = sources.file(span.file);
    let (line, column) = file.map(|f| f.line_col(span.start as usize)).map_or((None, None), |(l, c)| (Some(l as u32), Some(c as u32)));
    CompileDiagnostic {
        severity: match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
        .into(),
        message: diagnostic.message.clone(),
        file: file.map(|_| job::relative(sources.name(span.file), checkout)),
        line,
        column,
        span: file.map(|_| (span.start, span.end)),
        label: diagnostic.primary.message.clone(),
        rendered: render_plain(sources, std::slice::from_ref(diagnostic)),
    }
}
