//! End-to-end tests of the `cairn` binary: exit codes, output, and snapshots of rendered
//! diagnostics (source and output stored together, so a reviewer sees both).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cairn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .env("CAIRN_COLOR", "never")
        .output()
        .expect("cairn runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn snapshot_case(name: &str, source: &str) -> String {
    // One folder per case: tests run in parallel threads.
    let dir = temp_dir(&format!("snap-{name}"));
    std::fs::write(dir.join("main.cf"), source).expect("write source");
    let output = cairn(&["parse", "main.cf"], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    format!("--- main.cf\n{source}\n--- exit {}\n{stderr}", output.status.code().unwrap_or(-1))
}

mod compile_errors;
mod deploy;
mod export;
mod model_files;
mod modules;
mod rendering;

#[test]
fn version_and_help_work() {
    let dir = temp_dir("version");
    let version = cairn(&["--version"], &dir);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("cairn "));
    let help = cairn(&["--help"], &dir);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    assert!(text.contains("compile") && text.contains("parse"), "{text}");
}

#[test]
fn parse_exits_zero_on_a_valid_file_and_one_on_errors() {
    let dir = temp_dir("parse");
    std::fs::write(dir.join("good.cf"), "entity A:\n    string name\nend\n").expect("write");
    std::fs::write(dir.join("bad.cf"), "entity A:\n    string name\n").expect("write");
    assert!(cairn(&["parse", "good.cf"], &dir).status.success());
    let bad = cairn(&["parse", "good.cf", "bad.cf"], &dir);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("bad.cf:2"), "{stderr}");
    let missing = cairn(&["parse", "nope.cf"], &dir);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read nope.cf"));
}

#[test]
fn compile_parses_main_and_every_module_on_the_modulepath() {
    let dir = temp_dir("compile");
    std::fs::create_dir_all(dir.join("libs/web/model/sub")).expect("mkdir");
    std::fs::write(dir.join("project.yml"), "name: demo\nmodulepath: libs\n").expect("write");
    std::fs::write(dir.join("main.cf"), "import web\nimport web::sub::x\nx = web::Server(name=\"a\")\n").expect("write");
    std::fs::write(dir.join("libs/web/module.yml"), "name: web\nversion: 0.1.0\n").expect("write");
    std::fs::write(dir.join("libs/web/model/_init.cf"), "entity Server:\n    string name\nend\nimplement Server using std::none\n").expect("write");
    std::fs::write(dir.join("libs/web/model/sub/_init.cf"), "").expect("write");
    std::fs::write(dir.join("libs/web/model/sub/x.cf"), "entity Broken:\n").expect("write");
    let output = cairn(&["compile", "."], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("x.cf:1"), "the module's broken file is reported: {stderr}");
    std::fs::write(dir.join("libs/web/model/sub/x.cf"), "entity Fixed:\nend\n").expect("write");
    let output = cairn(&["compile"], &dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("compiled demo"), "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn compile_without_project_file_explains() {
    let dir = temp_dir("noproject");
    let output = cairn(&["compile", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("project.yml"));
}
