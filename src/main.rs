//! The `cairn` command line: argument parsing and printing only. The work happens in the
//! library crates: the pipeline (load, install, compile, export) and the server's embedded
//! mode (store the version, deploy it with an in-process agent).

mod agent;
mod compile_job;
mod compiles;
mod deploy;
mod inspect;
mod modules;
mod print;
mod remote;

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
    #[command(flatten)]
    compile: print::CompileArgs,
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
    /// Load a project (project.yml), parse main.cf and every module it imports, compile and
    /// export it, and report all problems. Exits 1 if there are any.
    ///
    /// With `--server URL -e ENV`, ask that server to compile the environment's repository
    /// instead (`--wait`: follow the compile to its report; exit 1 when it failed).
    Compile {
        /// The project folder (holding project.yml and main.cf).
        #[arg(default_value = ".")]
        project: PathBuf,
        #[command(flatten)]
        remote: remote::Remote,
        /// The environment whose repository the server compiles.
        #[arg(short = 'e', long, requires = "server")]
        environment: Option<String>,
        /// Follow the server's compile until it ends, and print its report.
        #[arg(long, requires = "environment")]
        wait: bool,
        /// Why (shown in the report).
        #[arg(long, requires = "environment")]
        reason: Option<String>,
        /// With `--server`: print JSON.
        #[arg(long, requires = "environment")]
        json: bool,
    },
    /// List the compile reports of an environment of a server (the autonomous server
    /// compiling from Git), newest first; `--id` shows one whole, with its diagnostics.
    Reports {
        #[command(flatten)]
        remote: remote::Remote,
        /// The environment.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", required = true)]
        environment: String,
        /// One compile, whole.
        #[arg(long)]
        id: Option<String>,
        /// How many, at most.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One compile of the autonomous server, run by the server itself in a process of its own.
    #[command(hide = true)]
    CompileJob(compile_job::JobArgs),
    /// List the modules the project loads: where each comes from (shipped, a folder on the
    /// module path, or installed in the virtualenv), and which of their plugins and resource
    /// types are native and which run in Python (this starts the plugin host when a module
    /// has Python code).
    Modules {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compile the project and write its resources to a JSON file, in the shape of Inmanta's
    /// `export -j` (ids ending in `,v=N`). Exits 1 if the model has errors.
    ///
    /// With `--server URL -e ENV`, upload the version to that server instead (the file bodies
    /// it lacks first), and print its number; `--release` releases it.
    Export {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Write the resources to this JSON file.
        #[arg(short = 'j', long = "json", required_unless_present = "server", conflicts_with = "server")]
        json: Option<PathBuf>,
        /// Write the file bodies the resources name (by their `hash`) into this folder, one
        /// file per hash. By default a folder beside the JSON file, named after it with
        /// `.files` for its extension (`out.json` → `out.files/`).
        #[arg(long = "files", requires = "json")]
        files: Option<PathBuf>,
        /// The version number written into the ids (`,v=N`). By default the number the
        /// project's embedded store gives this model: its latest version when the model did
        /// not change since, the next one when it did, 1 when nothing was deployed yet.
        #[arg(long = "version-number", conflicts_with = "server")]
        number: Option<u64>,
        #[command(flatten)]
        remote: remote::Remote,
        /// The environment to upload to.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", requires = "server")]
        environment: Option<String>,
        /// Release the uploaded version.
        #[arg(long, requires = "server")]
        release: bool,
    },
    /// Compile the project and make this machine match it, in embedded mode: the version is
    /// stored under `data/deploy` of the project (only when the model changed) and an
    /// in-process agent reads every resource's real state and changes what differs.
    ///
    /// With `--server URL -e ENV`, ask that server's agents to deploy the released version
    /// instead (`--full`: a repair run).
    #[command(after_help = "Exit status: 0 when every resource is as the model says, 1 when the model has errors or a resource failed (or could not be deployed because of an unknown value), 2 on a usage error.")]
    Deploy {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Compare every resource with its real state and show what a deploy would change (a
        /// diff for files, the reloads it would cause); change and store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only deploy the resources whose desired state changed since their last deploy,
        /// trusting that the others are still as deployed: faster, but finds no drift.
        #[arg(long, conflicts_with = "full")]
        incremental: bool,
        /// With `--server`: ask for a repair run (every resource read and compared) instead
        /// of the released version's increment. Locally, what a deploy does by default.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        remote: remote::Remote,
        /// With `--server`: the environment whose agents deploy. The project is not
        /// compiled: the server's released version is deployed. (Not read from
        /// CAIRN_ENVIRONMENT: a plain `cairn deploy` always deploys here.)
        #[arg(short = 'e', long, requires = "server")]
        environment: Option<String>,
        /// How many resources are deployed at the same time, at most.
        #[arg(long, default_value_t = 8, env = "CAIRN_PARALLELISM", value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
        /// How many versions the project's store keeps; older ones are pruned.
        #[arg(long, default_value_t = cairn_server::embedded::DEFAULT_KEEP_VERSIONS, env = "CAIRN_KEEP_VERSIONS")]
        keep_versions: usize,
    },
    /// List the versions stored for the project (or, with `-e ENV`, for an environment of the
    /// server), newest first.
    Versions {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        #[command(flatten)]
        remote: remote::Remote,
        /// The server's environment.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT")]
        environment: Option<String>,
        /// Print JSON (one object per version) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the project's resources (or, with `-e ENV`, those of an environment of the
    /// server) with their last known state.
    Resources {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        #[command(flatten)]
        remote: remote::Remote,
        /// The server's environment.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT")]
        environment: Option<String>,
        /// Only resources in this state (deployed, failed, skipped, orphaned, ...).
        #[arg(long)]
        state: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the orchestrator server: the HTTP API on a store (MongoDB or SQLite). Stops on
    /// SIGTERM or Ctrl-C after finishing the requests in flight.
    Server(cairn_server::run::ServerArgs),
    /// Run an agent process that hosts agent names of an environment (`--name`, repeated),
    /// or change an agent name's election (`pause`, `resume`, `prefer`).
    Agent(agent::AgentCli),
    /// List the agent names of an environment: each one's primary and standbys, and the
    /// latest changes of primary.
    Agents {
        #[command(flatten)]
        remote: remote::Remote,
        /// The environment.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", required = true)]
        environment: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Manage a server's environments.
    Env {
        #[command(subcommand)]
        command: remote::EnvCommand,
    },
    /// Manage a server's tokens.
    Token {
        #[command(subcommand)]
        command: remote::TokenCommand,
    },
    /// Show an environment of a server: its latest and released version, its resources by
    /// state and its agents.
    Status {
        #[command(flatten)]
        remote: remote::Remote,
        /// The environment.
        #[arg(short = 'e', long, env = "CAIRN_ENVIRONMENT", required = true)]
        environment: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the action log of one resource: every deploy, dry run, reload and purge, oldest
    /// first, with what changed.
    Log {
        /// The resource id, e.g. `fs::File[localhost,path=/etc/motd]`.
        resource: String,
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
        Command::Compile { remote, environment: Some(environment), wait, reason, json, .. } => {
            compiles::request(&remote, &environment, reason.as_deref(), wait, json, &mut stderr)
        }
        Command::Compile { project, .. } => print::compile(&project, &cli.compile, &mut stderr),
        Command::Reports { remote, environment, id, limit, json } => compiles::reports(&remote, &environment, id.as_deref(), usize::from(limit), json, &mut stderr),
        Command::CompileJob(args) => compile_job::run(&args, &cli.compile),
        Command::Parse { files } => parse(&files, &mut stderr),
        Command::Modules { project, json } => modules::list(&project, &cli.compile, json, &mut stderr),
        Command::Deploy { remote, environment: Some(environment), full, .. } => agent::deploy(&remote, &environment, full, &mut stderr),
        Command::Deploy { project, dry_run, incremental, full: _, parallelism, keep_versions, .. } => {
            let deploy = cairn_agent::DeployOptions { check_all: !incremental, dry_run, parallelism: usize::from(parallelism), ..cairn_agent::DeployOptions::default() };
            deploy::run(&project, &cli.compile, &cairn_server::embedded::EmbeddedOptions { deploy, keep_versions }, &mut stderr)
        }
        Command::Export { project, json: Some(json), files, number, .. } => print::export_json(&project, &cli.compile, &json, files.as_deref(), number, &mut stderr),
        Command::Export { project, remote, environment, release, .. } => remote::export(&project, &cli.compile, &remote, environment.as_deref(), release, &mut stderr),
        Command::Versions { remote, environment: Some(environment), json, .. } => remote::versions(&remote, &environment, json, &mut stderr),
        Command::Versions { project, json, .. } => inspect::versions(&project, json, &mut stderr),
        Command::Resources { remote, environment: Some(environment), state, json, .. } => {
            remote::resources(&remote, &environment, state.as_deref(), json, &mut stderr)
        }
        Command::Resources { project, state, json, .. } => inspect::resources(&project, state.as_deref(), json, &mut stderr),
        Command::Server(args) => remote::server(args, &mut stderr),
        Command::Agent(cli) => agent::agent(cli, &mut stderr),
        Command::Agents { remote, environment, json } => agent::agents(&remote, &environment, json, &mut stderr),
        Command::Env { command } => remote::env(command, &mut stderr),
        Command::Token { command } => remote::token(command, &mut stderr),
        Command::Status { remote, environment, json } => remote::status(&remote, &environment, json, &mut stderr),
        Command::Log { resource, project, json } => inspect::log(&project, &resource, json, &mut stderr),
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
