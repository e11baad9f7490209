//! The `cairn` command line: argument parsing and printing only. The work happens in the
//! library crates: the pipeline (load, install, compile, export) and the server's embedded
//! mode (store the version, deploy it with an in-process agent).

mod deploy;
mod print;

use cairn_compiler::diagnostic::render;
use cairn_compiler::fs::RealFs;
use cairn_compiler::session::ParseSession;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
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
        Command::Compile { project } => print::compile(&project, &mut stderr),
        Command::Parse { files } => parse(&files, &mut stderr),
        Command::Deploy { project, dry_run, full, parallelism } => {
            deploy::run(&project, cairn_agent::DeployOptions { full, dry_run, parallelism }, &mut stderr)
        }
        Command::Export { project, json, number } => print::export_json(&project, &json, number, &mut stderr),
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
