//! End-to-end tests of `cairn deploy` in embedded mode: the real binary, real files, real
//! processes and the real SQLite store under the project's `data/deploy`.

use cairn_server::Store;

/// Opens the project's embedded store and runs `query` on it.
fn with_store<T>(dir: &Path, query: impl AsyncFnOnce(&cairn_server::SqliteStore) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
    let store = cairn_server::SqliteStore::open(&cairn_server::embedded::store_path(dir)).expect("store");
    runtime.block_on(query(&store))
}
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod docs;

fn cairn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .env("CAIRN_COLOR", "never")
        .output()
        .expect("cairn runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A fresh project folder with `main.cf`.
fn project(name: &str, main: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-deploy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("project.yml"), format!("name: {name}\n")).expect("project.yml");
    std::fs::write(dir.join("main.cf"), main).expect("main.cf");
    dir
}

fn deploy(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["deploy", "."];
    args.extend_from_slice(extra);
    cairn(&args, dir)
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const SITE: &str = r#"
import fs
import exec
h = std::Host(name="localhost", os=std::linux, ip="127.0.0.1")
root = fs::Directory(host=h, path="out")
conf = fs::File(host=h, path="out/app.conf", content="port={{ port }}\n", requires=root)
fs::File(host=h, path="out/index.html", content="hello\n", mode=640, requires=root)
fs::Symlink(host=h, src="index.html", dst="out/current", requires=root)
exec::Run(host=h, command="echo started >> out/runs.log", reload="echo reloaded >> out/runs.log",
          creates="out/runs.log", requires=conf)
port = 8080
"#;

#[test]
fn first_deploy_creates_everything_and_a_second_changes_nothing() {
    let dir = project("first", SITE);
    let first = deploy(&dir, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("changed        5"), "{}", text(&first));
    assert_eq!(read(&dir, "out/app.conf"), "port=8080\n");
    assert_eq!(read(&dir, "out/index.html"), "hello\n");
    assert_eq!(std::fs::read_link(dir.join("out/current")).expect("link").to_string_lossy(), "index.html");
    assert_eq!(read(&dir, "out/runs.log"), "started\n", "the command ran once, no reload on top");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(dir.join("out/index.html")).expect("meta").permissions().mode() & 0o777, 0o640);
    let second = deploy(&dir, &[]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("changed        0"), "{}", text(&second));
    assert!(text(&second).contains("unchanged      5"), "{}", text(&second));
    assert_eq!(read(&dir, "out/runs.log"), "started\n");
}

#[test]
fn hand_edits_are_repaired_by_a_deploy_but_not_by_an_incremental_one() {
    let dir = project("repair", SITE);
    assert!(deploy(&dir, &[]).status.success());
    std::fs::write(dir.join("out/index.html"), "tampered\n").expect("edit");
    let incremental = deploy(&dir, &["--incremental"]);
    assert!(text(&incremental).contains("changed        0"), "{}", text(&incremental));
    assert_eq!(read(&dir, "out/index.html"), "tampered\n");
    let plain = deploy(&dir, &[]);
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(text(&plain).contains("changed        1"), "{}", text(&plain));
    assert!(text(&plain).contains("changed       fs::File[localhost,path=out/index.html]"), "{}", text(&plain));
    assert_eq!(read(&dir, "out/index.html"), "hello\n");
    // `--full` is still accepted, and is what a plain deploy does.
    std::fs::write(dir.join("out/index.html"), "tampered again\n").expect("edit");
    assert!(text(&deploy(&dir, &["--full"])).contains("changed        1"));
    assert_eq!(read(&dir, "out/index.html"), "hello\n");
}

#[test]
fn a_config_change_triggers_the_reload() {
    let dir = project("reload", SITE);
    assert!(deploy(&dir, &[]).status.success());
    std::fs::write(dir.join("main.cf"), SITE.replace("port = 8080", "port = 9090")).expect("edit model");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(read(&dir, "out/app.conf"), "port=9090\n");
    assert_eq!(read(&dir, "out/runs.log"), "started\nreloaded\n");
}

#[test]
fn a_failing_command_skips_its_dependents_and_exits_one() {
    let dir = project(
        "failing",
        r#"
import fs
import exec
h = std::Host(name="localhost", os=std::linux, ip="127.0.0.1")
broken = exec::Run(host=h, command="echo no such thing >&2; exit 3")
fs::File(host=h, path="after.txt", content="x", requires=broken)
fs::File(host=h, path="independent.txt", content="y")
"#,
    );
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("exited with 3: no such thing"), "{shown}");
    assert!(shown.contains("skipped       fs::File[localhost,path=after.txt]: its dependency exec::Run"), "{shown}");
    assert!(!dir.join("after.txt").exists());
    assert_eq!(read(&dir, "independent.txt"), "y", "the rest goes on");
}

#[test]
fn skip_on_fail_reports_the_command_as_skipped_and_the_deploy_succeeds() {
    let dir = project(
        "skip_on_fail",
        r#"
import fs
import exec
h = std::Host(name="localhost", os=std::linux, ip="127.0.0.1")
optional = exec::Run(host=h, command="echo not today >&2; exit 4", skip_on_fail=true)
fs::File(host=h, path="after.txt", content="x", requires=optional)
fs::File(host=h, path="independent.txt", content="y")
"#,
    );
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("skipped       exec::Run[localhost,command=echo not today >&2; exit 4]: `echo not today >&2; exit 4` exited with 4: not today (skip_on_fail)"), "{shown}");
    assert!(shown.contains("skipped       fs::File[localhost,path=after.txt]"), "{shown}");
    assert!(!dir.join("after.txt").exists(), "a dependent of a skipped resource is skipped");
    assert_eq!(read(&dir, "independent.txt"), "y");
    assert!(shown.contains("failed         0"), "{shown}");
}

#[test]
fn an_unwritable_location_fails_with_the_os_error_and_the_rest_goes_on() {
    let dir = project(
        "unwritable",
        r#"
import fs
h = std::Host(name="localhost", os=std::linux, ip="127.0.0.1")
fs::File(host=h, path="blocker/inner.txt", content="x")
fs::File(host=h, path="fine.txt", content="ok")
"#,
    );
    // A regular file where a directory should be: no permission trick needed, works as root.
    std::fs::write(dir.join("blocker"), "not a directory").expect("blocker");
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("Not a directory"), "the OS error is shown: {shown}");
    assert_eq!(read(&dir, "fine.txt"), "ok");
    let logs = with_store(&dir, async |store| {
        store.action_logs("unwritable", &cairn_wire::ResourceId("fs::File[localhost,path=blocker/inner.txt]".into())).await
    })
    .expect("logs");
    assert_eq!(logs.len(), 1);
    assert!(logs[0].message.contains("Not a directory"), "{:?}", logs[0]);
}

#[test]
fn dry_run_changes_nothing_and_shows_the_diff() {
    let dir = project("dry", SITE);
    assert!(deploy(&dir, &[]).status.success());
    std::fs::write(dir.join("main.cf"), SITE.replace("hello\\n", "hello world\\n").replace("port = 8080", "port = 9090")).expect("edit model");
    let output = deploy(&dir, &["--dry-run"]);
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("    -port=8080\n    +port=9090"), "a unified diff of a world-readable file is shown: {shown}");
    assert!(shown.contains("would reload  exec::Run[localhost,command=echo started >> out/runs.log]"), "the reload is predicted: {shown}");
    assert!(shown.contains("to change      3"), "{shown}");
    // index.html is 640: its content is not for everyone, only its hashes are shown.
    assert!(!shown.contains("hello world"), "{shown}");
    assert!(shown.contains("content of out/index.html: sha1"), "{shown}");
    assert_eq!(read(&dir, "out/index.html"), "hello\n", "nothing changed");
    let real = deploy(&dir, &[]);
    assert!(text(&real).contains("changed        3"), "the dry run did not count as deployed (two files and a reload): {}", text(&real));
    assert_eq!(read(&dir, "out/index.html"), "hello world\n");
}

#[test]
fn purged_resources_are_removed() {
    let dir = project("purge", SITE);
    assert!(deploy(&dir, &[]).status.success());
    assert!(dir.join("out/index.html").exists());
    let purged = SITE
        .replace(r#"content="hello\n", mode=640"#, r#"content="hello\n", mode=640, purged=true"#)
        .replace(r#"fs::Symlink(host=h, src="index.html", dst="out/current", requires=root)"#, r#"fs::Symlink(host=h, src="index.html", dst="out/current", requires=root, purged=true)"#);
    std::fs::write(dir.join("main.cf"), purged).expect("edit model");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(!dir.join("out/index.html").exists());
    assert!(std::fs::symlink_metadata(dir.join("out/current")).is_err());
}

#[test]
fn a_killed_deploy_resumes_and_never_records_an_undone_deploy() {
    let mut main = String::from("import fs\nimport exec\nh = std::Host(name=\"localhost\", os=std::linux, ip=\"127.0.0.1\")\n");
    main.push_str("d = fs::Directory(host=h, path=\"many\")\n");
    main.push_str("slow = exec::Run(host=h, command=\"sleep 30\", requires=d)\n");
    for i in 0..200 {
        main.push_str(&format!("fs::File(host=h, path=\"many/f{i}.txt\", content=\"{i}\", requires=d)\n"));
    }
    let dir = project("killed", &main);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["deploy", ".", "--parallelism", "2"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until some files exist, then kill hard.
    let started = std::time::Instant::now();
    while std::fs::read_dir(dir.join("many")).map(|d| d.count()).unwrap_or(0) < 20 && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let statuses = with_store(&dir, async |store| store.resource_statuses("killed").await).expect("statuses");
    for (id, status) in &statuses {
        if status.state == cairn_wire::ResourceState::Deployed {
            if let Some(path) = id.0.strip_prefix("fs::File[localhost,path=").and_then(|p| p.strip_suffix(']')) {
                assert!(dir.join(path).exists(), "{id} recorded deployed but absent");
            }
            assert!(!id.0.starts_with("exec::Run"), "the killed command is not recorded as deployed");
        }
    }
    // The next run (with a quick command now) completes everything.
    std::fs::write(dir.join("main.cf"), main.replace("sleep 30", "true")).expect("edit");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    for i in 0..200 {
        assert_eq!(read(&dir, &format!("many/f{i}.txt")), i.to_string());
    }
}

/// 5,000 files whose content says which version of the model wrote them.
fn versioned_files(version: u32) -> String {
    let mut main = String::from("import fs\nh = std::Host(name=\"localhost\", os=std::linux, ip=\"127.0.0.1\")\n");
    main.push_str("d = fs::Directory(host=h, path=\"many\")\n");
    main.push_str(&format!("for i in std::sequence(5000):\n    fs::File(host=h, path=f\"many/f{{i}}.txt\", content=f\"{version}-{{i}}\", requires=d)\nend\n"));
    main
}

/// Every file on disk holds what model `version` says (the disk, not the store, is checked).
fn assert_files_are(dir: &Path, version: u32, moment: &str) {
    let mut wrong = Vec::new();
    for i in 0..5000 {
        let path = format!("many/f{i}.txt");
        let content = std::fs::read_to_string(dir.join(&path)).unwrap_or_else(|e| format!("<{e}>"));
        if content != format!("{version}-{i}") {
            wrong.push(format!("{path}: {content}"));
        }
    }
    assert!(wrong.is_empty(), "after a kill {moment}, {} files differ from the model, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("many"))
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left after a kill {moment}: {leftovers:?}");
}

#[test]
fn a_deploy_killed_at_any_moment_then_reverted_leaves_the_disk_as_the_model_says() {
    let dir = project("kill-revert", &versioned_files(1));
    let first = deploy(&dir, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert_files_are(&dir, 1, "(none)");
    for delay_ms in [150u64, 400, 700, 1000, 1500] {
        std::fs::write(dir.join("main.cf"), versioned_files(2)).expect("model v2");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["deploy", "."])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().expect("reaped");
        // Back to version 1: whatever version 2 managed to write must be undone.
        std::fs::write(dir.join("main.cf"), versioned_files(1)).expect("model v1");
        let revert = deploy(&dir, &[]);
        assert!(revert.status.success(), "{}", text(&revert));
        assert_files_are(&dir, 1, &format!("after {delay_ms} ms"));
        let again = deploy(&dir, &[]);
        assert!(text(&again).contains("changed        0"), "a deploy after the repair changes nothing: {}", text(&again));
    }
    // The project holds thousands of files and the state database: leave no 50 MB behind.
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn apt_packages_install_and_remove_as_root() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    let has_apt = Path::new("/usr/bin/apt-get").exists() && Path::new("/usr/bin/dpkg-query").exists();
    let model = |purged: bool| {
        format!("import apt\nh = std::Host(name=\"localhost\", os=std::linux, ip=\"127.0.0.1\")\napt::Package(host=h, name=\"sl\", purged={purged})\n")
    };
    let dir = project("apt", &model(false));
    let output = deploy(&dir, &[]);
    if !is_root || !has_apt {
        // Without root, apt-get must fail and the failure must be reported, not hidden.
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(text(&output).contains("apt::Package[localhost,name=sl]"), "{}", text(&output));
        return;
    }
    assert!(output.status.success(), "{}", text(&output));
    let installed = Command::new("dpkg-query").args(["-W", "-f=${Status}", "sl"]).output().expect("dpkg-query");
    assert!(String::from_utf8_lossy(&installed.stdout).contains("install ok installed"));
    std::fs::write(dir.join("main.cf"), model(true)).expect("edit");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let removed = Command::new("dpkg-query").args(["-W", "-f=${Status}", "sl"]).output().expect("dpkg-query");
    assert!(!String::from_utf8_lossy(&removed.stdout).contains("install ok installed"));
}
