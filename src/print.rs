//! Printing a build: the model's own output, every diagnostic, the one-line summary; and the
//! two commands that only build and print (`compile`, `export -j`).

use cairn_compiler::diagnostic::render;
use cairn_compiler::fs::RealFs;
use cairn_pipeline::{Build, CompileSettings, PythonSettings};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use termcolor::StandardStream;

/// What every command that compiles takes (global options).
#[derive(clap::Args, Debug, Clone)]
pub struct CompileArgs {
    /// A compile setting, `KEY=VALUE`, over the project's `.inmanta` file (for the commands
    /// that compile): `environment`, `environment_name`, `server_host`, `server_port`,
    /// `server_ssl`, `server_ca`, `server_ca_file`, `server_token`, or an Inmanta
    /// `section.option` such as `config.environment`. May be repeated.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The virtualenv whose Python runs the modules' Python code and whose installed (v2)
    /// modules are loaded (default: the active `VIRTUAL_ENV`, else the project's `.env`).
    #[arg(long, global = true, env = "CAIRN_VENV", value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// How long one call of a Python plugin may run, in seconds.
    #[arg(long, global = true, env = "CAIRN_PLUGIN_TIMEOUT", default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub plugin_timeout: f64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 86_400.0 => Ok(value),
        _ => Err(format!("`{text}` is not a number of seconds between 0 and 86400")),
    }
}

impl CompileArgs {
    /// The compile settings of a command-line compile: the project's `.inmanta` with `--set`
    /// over it, this process's environment (`std::get_env`, and the plugin host's), and the
    /// virtualenv.
    pub fn settings(&self, root: &Path) -> Result<CompileSettings, String> {
        let settings = cairn_pipeline::settings::project_settings(&RealFs, root, &self.set).map_err(|error| error.to_string())?;
        let venv = self.venv.clone().or_else(|| std::env::var_os("VIRTUAL_ENV").map(PathBuf::from));
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
        let python = PythonSettings {
            venv,
            path: std::env::var_os("PATH"),
            cache,
            call_limit: std::time::Duration::from_secs_f64(self.plugin_timeout),
            // For work on the host itself: its Python code from a folder, not the binary.
            host_dir: std::env::var_os("CAIRN_PYHOST_DIR").map(PathBuf::from),
        };
        Ok(CompileSettings { env_vars: std::env::vars().collect(), settings, python })
    }
}

/// Builds the project (load, install, compile, export); prints the model's output and every
/// problem. `None` when the project could not be loaded or had errors (already reported).
pub fn build_reported(root: &Path, args: &CompileArgs, stderr: &mut StandardStream) -> Option<Build> {
    let modules = cairn_pipeline::shipped_modules();
    let settings = match args.settings(root) {
        Ok(settings) => settings,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            return None;
        }
    };
    let build = match cairn_pipeline::build(&RealFs, root, &modules, &settings) {
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
    for (module, tag) in &build.installed {
        let _ = writeln!(stderr, "installed module {module} at {tag}");
    }
    if let Some(execution) = &build.compilation.execution {
        for line in &execution.output {
            let _ = writeln!(stdout, "{line}");
        }
    }
    for warning in &build.compilation.project.warnings {
        let _ = writeln!(stderr, "warning: {warning}");
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

/// The version number the project's embedded store gives this build: the latest version
/// when it asks for the same, the next one otherwise, 1 when there is no store.
fn embedded_version_number(root: &Path, build: &Build) -> u64 {
    let Ok(embedded) = cairn_server::embedded::Embedded::open_existing(root) else { return 1 };
    let store = embedded.store();
    let environment = &build.compilation.project.config.name;
    let latest = embedded.read(cairn_server::Store::versions(&*store, environment)).ok().and_then(|v| v.into_iter().next());
    match latest {
        Some(latest) if latest.digest == cairn_wire::version_digest(&build.documents()) => latest.version,
        Some(latest) => latest.version + 1,
        None => 1,
    }
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

/// `compiled NAME: I instances, R resources, A agents in T ms (export E ms)`
pub fn summary(build: &Build) -> String {
    let (resources, agents, undefined) = match &build.export {
        Some(export) => (export.resources.len(), export.agents().len(), export.resources.iter().filter(|r| r.undefined).count()),
        None => (0, 0, 0),
    };
    let undefined = if undefined > 0 { format!(" ({undefined} undefined)") } else { String::new() };
    format!(
        "compiled {}: {}, {}{undefined}, {} in {:.0} ms (export {:.0} ms)",
        build.compilation.project.config.name,
        plural(build.compilation.instance_count(), "instance"),
        plural(resources, "resource"),
        plural(agents, "agent"),
        build.compile_time.as_secs_f64() * 1000.0,
        build.export_time.as_secs_f64() * 1000.0
    )
}

/// `1 resource`, `2 resources`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The candidate nearest to `wanted` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    candidates.map(|c| (edit_distance(wanted, c), c)).filter(|(d, _)| *d <= limit).min().map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(current) };
            previous = current;
        }
    }
    row[b.len()]
}

pub fn compile(root: &Path, args: &CompileArgs, stderr: &mut StandardStream) -> ExitCode {
    match build_reported(root, args, stderr) {
        Some(build) => {
            let _ = writeln!(std::io::stdout(), "{}", summary(&build));
            // The process ends now: freeing a large model piece by piece only costs time.
            std::mem::forget(build);
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

pub fn export_json(root: &Path, args: &CompileArgs, out: &Path, files_dir: Option<&Path>, version: Option<u64>, stderr: &mut StandardStream) -> ExitCode {
    let Some(build) = build_reported(root, args, stderr) else { return ExitCode::FAILURE };
    let version = version.unwrap_or_else(|| embedded_version_number(root, &build));
    let resources = build.export.as_ref().map(|e| e.resources.as_slice()).unwrap_or(&[]);
    let files_dir = files_dir.map(Path::to_path_buf).unwrap_or_else(|| out.with_extension("files"));
    let bodies = build.export.as_ref().map(|e| &e.files);
    let written_files = match bodies {
        Some(bodies) if !bodies.is_empty() => match write_file_bodies(&files_dir, bodies) {
            Ok(()) => format!(" and {} to {}", if bodies.len() == 1 { "1 file body".to_string() } else { format!("{} file bodies", bodies.len()) }, files_dir.display()),
            Err(error) => {
                let _ = writeln!(stderr, "error: cannot write the file bodies to {}: {error}", files_dir.display());
                return ExitCode::FAILURE;
            }
        },
        _ => String::new(),
    };
    // `write_version_json` buffers itself (in large chunks): the file needs no `BufWriter`.
    let written = std::fs::File::create(out).and_then(|mut file| cairn_compiler::export::write_version_json(&mut file, resources, version));
    let code = match written {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "{}; wrote version {version} to {}{written_files}", summary(&build), out.display());
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

/// Writes each body as `dir/HASH`. The folder is made private (0700) when it is new and its
/// files are 0600: a body may be a secret. A body already there under its hash is the same
/// content and is kept; nothing is written through a link.
fn write_file_bodies(dir: &Path, bodies: &std::collections::BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dir)?;
            if !meta.is_dir() {
                return Err(std::io::Error::other("it exists and is not a folder"));
            }
        }
        Err(error) => return Err(error),
    }
    let no_follow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    for (hash, body) in bodies {
        // Hashes come from the export (hex digests): never a path of their own.
        if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::other(format!("`{hash}` is not a file hash")));
        }
        let path = dir.join(hash);
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(no_follow).open(&path) {
            Ok(mut file) => std::io::Write::write_all(&mut file, body)?,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                if !std::fs::symlink_metadata(&path)?.is_file() {
                    return Err(std::io::Error::other(format!("{} exists and is not a regular file", path.display())));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
