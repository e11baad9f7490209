//! Deploy safety, tried as an attacker and as an unlucky operator would: links planted at
//! managed paths, files readable for a moment, commands that never end or flood their
//! output, secrets in logs, invalid attributes, leftovers, two deploys at once and broken
//! stores. The real binary, real files and processes (as root in CI).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary under test; `CAIRN_BIN` points the suite at another build (to show that the
/// checks fail on a binary without the fixes).
fn binary() -> PathBuf {
    std::env::var_os("CAIRN_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cairn")))
}

fn cairn(args: &[&str], dir: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("CAIRN_COLOR", "never")
        .output()
        .expect("cairn runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn project(name: &str, main: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-safety-{}-{name}", std::process::id()));
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

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("stat").permissions().mode() & 0o7777
}

const HOST: &str = "import fs\nimport exec\nh = std::Host(name=\"localhost\", os=std::linux, ip=\"127.0.0.1\")\nd = fs::Directory(host=h, path=\"out\")\n";

fn file_model(extra: &str) -> String {
    format!("{HOST}{extra}\n")
}

fn logs_of(dir: &Path, environment: &str, id: &str) -> Vec<cairn_wire::DeployResult> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
    let store = cairn_server::SqliteStore::open(&cairn_server::embedded::store_path(dir)).expect("store");
    runtime.block_on(cairn_server::Store::action_logs(&store, environment, &cairn_wire::ResourceId(id.into()))).expect("logs")
}

#[test]
fn a_link_planted_at_a_managed_path_or_its_old_temp_name_is_never_followed() {
    let dir = project("links", &file_model(r#"fs::File(host=h, path="out/secret", content="new\n", mode=600, requires=d)"#));
    std::fs::create_dir_all(dir.join("out")).expect("out");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // The name the old code wrote through, and the target itself.
    std::os::unix::fs::symlink(&victim, dir.join("out/.secret.cairn-tmp")).expect("plant");
    std::os::unix::fs::symlink(&victim, dir.join("out/secret")).expect("plant");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "precious\n", "the link's target was written");
    assert_eq!(mode(&victim), 0o644, "the link's target was chmodded");
    let written = dir.join("out/secret");
    assert!(std::fs::symlink_metadata(&written).expect("stat").file_type().is_file(), "the link is replaced by a file");
    assert_eq!(std::fs::read_to_string(&written).expect("read"), "new\n");
    assert_eq!(mode(&written), 0o600);
}

#[test]
fn a_file_is_never_visible_with_wider_permissions_than_asked() {
    let model = |n: usize| file_model(&format!(r#"fs::File(host=h, path="out/key", content="key {n}\n", mode=600, requires=d)"#));
    let dir = project("atomic-mode", &model(0));
    std::fs::create_dir_all(dir.join("out")).expect("out");
    let watched = dir.join("out/key");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let watched = watched.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let mut looks = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(metadata) = std::fs::symlink_metadata(&watched) {
                    seen.insert(metadata.mode() & 0o7777);
                    looks += 1;
                }
            }
            (seen, looks)
        })
    };
    for n in 0..40 {
        std::fs::write(dir.join("main.cf"), model(n)).expect("model");
        let output = deploy(&dir, &[]);
        assert!(output.status.success(), "{}", text(&output));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, looks) = watcher.join().expect("watcher");
    assert!(looks > 100, "the watcher looked {looks} times");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0o600], "the file was visible with another mode");
}

#[test]
fn a_command_timeout_kills_its_whole_group_and_bounds_every_wait() {
    let marker = format!("8{}", std::process::id() % 1000);
    let model = file_model(&format!(
        r#"exec::Run(host=h, command="sleep {marker} & sleep {marker}", timeout=1)
exec::Run(host=h, command="tail -f /dev/null", timeout=1)
exec::Run(host=h, command="sleep 30 & echo started")"#
    ));
    let dir = project("timeout", &model);
    let started = Instant::now();
    let output = deploy(&dir, &[]);
    let took = started.elapsed();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(took < Duration::from_secs(7), "the deploy took {took:?}: {shown}");
    assert_eq!(shown.matches("did not finish within 1 s").count(), 2, "{shown}");
    // A background process that keeps the output open does not hold the deploy.
    assert!(shown.contains("changed        2"), "the folder and the command that left a process behind: {shown}");
    std::thread::sleep(Duration::from_millis(200));
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.trim() == format!("sleep {marker}"))
        .collect();
    assert!(survivors.is_empty(), "processes of the timed-out command survived: {survivors:?}");
}

#[test]
fn a_flood_of_output_is_kept_to_its_head_and_tail() {
    let dir = project("flood", &file_model(r#"exec::Run(host=h, command="head -c 50000000 /dev/zero | tr '\\0' x; echo; echo the-end; exit 3")"#));
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{}", &shown[..shown.len().min(2000)]);
    assert!(shown.len() < 200 * 1024, "{} bytes printed", shown.len());
    let logs = logs_of(&dir, "flood", "exec::Run[localhost,command=head -c 50000000 /dev/zero | tr '\\0' x; echo; echo the-end; exit 3]");
    assert_eq!(logs.len(), 1);
    assert!(logs[0].message.len() < 100 * 1024, "{} bytes stored", logs[0].message.len());
    assert!(logs[0].message.contains("the-end"), "the tail of the output is kept: {}", &logs[0].message[..200.min(logs[0].message.len())]);
}

#[test]
fn the_store_is_private_and_the_log_keeps_no_private_content() {
    let model = |secret: &str| file_model(&format!(r#"fs::File(host=h, path="out/private", content="{secret}\n", mode=600, requires=d)
fs::File(host=h, path="out/public", content="{secret}\n", requires=d)"#));
    let dir = project("private", &model("TOPSECRET-one"));
    assert!(deploy(&dir, &[]).status.success());
    std::fs::write(dir.join("main.cf"), model("TOPSECRET-two")).expect("model");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(mode(&dir.join("data/deploy")), 0o700);
    assert_eq!(mode(&dir.join("data/deploy/state.db")), 0o600);
    for entry in std::fs::read_dir(dir.join("data/deploy")).expect("list").flatten() {
        assert_eq!(mode(&entry.path()) & 0o077, 0, "{} is readable by others", entry.path().display());
    }
    let private = logs_of(&dir, "private", "fs::File[localhost,path=out/private]");
    assert_eq!(private.len(), 2);
    for log in &private {
        let shown = format!("{:?} {:?} {}", log.changes, log.diff, log.message);
        assert!(!shown.contains("TOPSECRET"), "a private file's content is in the log: {shown}");
    }
    assert!(private[1].diff.as_deref().unwrap_or_default().contains("sha1"), "{:?}", private[1].diff);
    let public = logs_of(&dir, "private", "fs::File[localhost,path=out/public]");
    assert!(public[1].diff.as_deref().unwrap_or_default().contains("+TOPSECRET-two"), "a public file's diff is kept: {:?}", public[1].diff);
}

#[test]
fn a_dry_run_never_reads_through_a_link_at_the_target() {
    let dir = project("dry-link", &file_model(r#"fs::File(host=h, path="out/config", content="mine\n", requires=d)"#));
    std::fs::create_dir_all(dir.join("out")).expect("out");
    let victim = dir.join("shadow");
    std::fs::write(&victim, "root:SECRET-HASH:19000\n").expect("victim");
    std::os::unix::fs::symlink(&victim, dir.join("out/config")).expect("plant");
    let output = deploy(&dir, &["--dry-run"]);
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(!shown.contains("SECRET-HASH"), "the dry run showed what the link points to: {shown}");
}

#[test]
fn invalid_attributes_fail_the_resource_before_anything_is_written() {
    let dir = project(
        "validate",
        &file_model(r#"fs::File(host=h, path="out/owned", content="x\n", owner="no-such-user-cairn", requires=d)
fs::File(host=h, path="out/grouped", content="x\n", group="no-such-group-cairn", requires=d)"#),
    );
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("unknown user `no-such-user-cairn`"), "{shown}");
    assert!(shown.contains("unknown group `no-such-group-cairn`"), "{shown}");
    assert!(!dir.join("out/owned").exists(), "the content was written before the owner was checked");
    assert!(!dir.join("out/grouped").exists());
}

#[test]
fn a_mode_outside_0_to_7777_is_a_compile_error() {
    let dir = project("bad-mode", &file_model(r#"fs::File(host=h, path="out/f", content="x\n", mode=77777777, requires=d)"#));
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("main.cf"), "the error points at the model: {shown}");
    assert!(!dir.join("out").exists(), "nothing was deployed");
}

#[test]
fn stale_temporary_files_are_removed() {
    let dir = project("stale", &file_model(r#"fs::File(host=h, path="out/f.txt", content="x\n", requires=d)"#));
    std::fs::create_dir_all(dir.join("out")).expect("out");
    let stale = dir.join("out/.f.txt.cairn-tmp-00000000deadbeef");
    std::fs::write(&stale, vec![b'x'; 1 << 20]).expect("stale");
    let output = deploy(&dir, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(!stale.exists(), "a temporary file left by a killed deploy stays");
    let names: Vec<String> = std::fs::read_dir(dir.join("out")).expect("list").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["f.txt"]);
}

#[test]
fn a_second_deploy_of_a_project_is_refused_and_told_who_holds_it() {
    let dir = project("busy", &file_model(r#"exec::Run(host=h, command="sleep 3")"#));
    let mut first = Command::new(binary())
        .args(["deploy", "."])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let lock = dir.join("data/deploy/lock");
    let started = Instant::now();
    while std::fs::read_to_string(&lock).map(|t| t.is_empty()).unwrap_or(true) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = deploy(&dir, &[]);
    let shown = text(&second);
    assert_eq!(second.status.code(), Some(1), "{shown}");
    assert!(shown.contains("is busy") && shown.contains(&format!("pid {}", first.id())), "{shown}");
    assert!(first.wait().expect("first").success());
    let third = deploy(&dir, &[]);
    assert!(third.status.success(), "the lock is released: {}", text(&third));
}

#[test]
fn an_empty_or_corrupt_store_is_refused_with_its_path() {
    let dir = project("broken-store", &file_model(r#"fs::File(host=h, path="out/f", content="x\n", requires=d)"#));
    std::fs::create_dir_all(dir.join("data/deploy")).expect("folder");
    std::fs::write(dir.join("data/deploy/state.db"), "").expect("empty");
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("state.db is empty") && shown.contains("to start over, remove"), "{shown}");
    std::fs::write(dir.join("data/deploy/state.db"), vec![b'#'; 8192]).expect("garbage");
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("data/deploy/state.db"), "the message names the file: {shown}");
}

#[test]
fn a_missing_working_folder_is_named() {
    let dir = project("cwd", &file_model(r#"exec::Run(host=h, command="true", cwd="/nonexistent/cairn-folder")"#));
    let output = deploy(&dir, &[]);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("/nonexistent/cairn-folder does not exist"), "{shown}");
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_crash() {
    let cases = [
        ("lists", format!("x = {}{}\n", "[".repeat(7000), "]".repeat(7000))),
        ("dicts", format!("x = {}1{}\n", "{\"a\": ".repeat(10000), "}".repeat(10000))),
        ("nots", format!("x = {}true\n", "not ".repeat(10000))),
        ("ifs", format!("{}y = 1\n{}", "if true:\n".repeat(10000), "end\n".repeat(10000))),
        ("fors", format!("{}y = 1\n{}", "for i in [1]:\n".repeat(10000), "end\n".repeat(10000))),
        ("sum", format!("x = {}\n", vec!["1"; 8000].join(" + "))),
        ("chain", format!("x = a{}\n", ".b".repeat(10000))),
        // An attribute default is checked for being a constant while it is parsed.
        ("default", format!("entity A:\n    list x = {}{}\nend\n", "[".repeat(200_000), "]".repeat(200_000))),
        ("default-dict", format!("entity A:\n    dict x = {}1{}\nend\n", "{\"a\": ".repeat(100_000), "}".repeat(100_000))),
    ];
    for (name, main) in cases {
        let dir = project(&format!("deep-{name}"), &main);
        let output = cairn(&["compile", "."], &dir);
        let shown = text(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", &shown[..shown.len().min(500)]);
        assert!(shown.contains("error[too-deep]"), "{name}: {}", &shown[..shown.len().min(500)]);
        assert!(shown.contains("main.cf:1") || shown.contains("main.cf:"), "{name}: the error points at the file");
    }
}
