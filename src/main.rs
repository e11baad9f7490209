//! The `cairn` command line: argument parsing and wiring only. The work happens in the
//! library crates.

use cairn_compiler::compile::plugins::PluginRegistry;
use cairn_compiler::compile::{compile_project, Environment};
use cairn_compiler::diagnostic::render;
use cairn_compiler::fs::RealFs;
use cairn_compiler::session::ParseSession;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use termcolor::{ColorChoice, StandardStream};

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
    }
}

fn compile(root: &std::path::Path, stderr: &mut StandardStream) -> ExitCode {
    let started = Instant::now();
    let mut plugins = PluginRegistry::new();
    cairn_std::register(&mut plugins);
    let builtins = [cairn_std::builtin()];
    let settings = |_: &str| None;
    let env = Environment { builtins: &builtins, plugins: &plugins, settings: &settings };
    let compilation = match compile_project(&RealFs, root, &env) {
        Ok(compilation) => compilation,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    let mut stdout = std::io::stdout();
    if let Some(execution) = &compilation.execution {
        for line in &execution.output {
            let _ = writeln!(stdout, "{line}");
        }
    }
    for error in &compilation.session.io_errors {
        let _ = writeln!(stderr, "error: {error}");
    }
    if let Err(error) = render(stderr, &compilation.session.sources, &compilation.diagnostics) {
        let _ = writeln!(stderr, "error: cannot print diagnostics: {error}");
    }
    let count = compilation.diagnostics.len() + compilation.session.io_errors.len();
    if count > 0 {
        let _ = writeln!(stderr, "error: {count} problem{} found", if count == 1 { "" } else { "s" });
        return ExitCode::FAILURE;
    }
    let _ = writeln!(
        stdout,
        "compiled {}: {} files, {} instances in {:.1} ms",
        compilation.project.config.name,
        compilation.session.files.len(),
        compilation.instance_count(),
        elapsed.as_secs_f64() * 1000.0
    );
    ExitCode::SUCCESS
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
