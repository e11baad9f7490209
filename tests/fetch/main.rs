//! Installing required modules from real local Git repositories: the newest tag that
//! satisfies the constraint is checked out into the project's `downloadpath`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=Cairn Test", "-c", "user.email=test@cairn.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

fn cairn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn")).args(args).current_dir(dir).env("CAIRN_COLOR", "never").output().expect("cairn runs")
}

/// A repository `webmod` with tags 1.0.0, v1.1.0 and 2.0.0, each setting `webmod::version`.
fn repositories(root: &Path) -> PathBuf {
    let repos = root.join("repos");
    let repo = repos.join("webmod");
    std::fs::create_dir_all(repo.join("model")).expect("mkdir");
    git(&repo, &["init", "-q"]);
    for tag in ["1.0.0", "v1.1.0", "2.0.0"] {
        let version = tag.trim_start_matches('v');
        std::fs::write(repo.join("module.yml"), format!("name: webmod\nversion: {version}\n")).expect("module.yml");
        std::fs::write(repo.join("model/_init.cf"), format!("version = \"{version}\"\n")).expect("model");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", tag]);
        git(&repo, &["tag", tag]);
    }
    repos
}

fn project(name: &str, requires: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-fetch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let repos = repositories(&dir);
    std::fs::write(
        dir.join("project.yml"),
        format!(
            "name: {name}\nmodulepath: libs\ndownloadpath: libs\nrepo:\n  - url: {}/{{}}\n    type: git\nrequires:\n  - {requires}\n",
            repos.display()
        ),
    )
    .expect("project.yml");
    std::fs::write(dir.join("main.cf"), "import webmod\nstd::print(webmod::version)\n").expect("main.cf");
    dir
}

#[test]
fn the_newest_tag_satisfying_the_constraint_is_installed() {
    let dir = project("newest", "webmod>=1.0,<2");
    let output = cairn(&["compile", "."], &dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("1.1.0\n"), "{stdout}");
    let installed = std::fs::read_to_string(dir.join("libs/webmod/module.yml")).expect("installed");
    assert!(installed.contains("version: 1.1.0"), "{installed}");
    // Installed modules are used as they are on the next compile.
    let again = cairn(&["compile", "."], &dir);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("1.1.0\n"));
}

#[test]
fn an_unsatisfiable_constraint_names_the_available_tags() {
    let dir = project("unsatisfiable", "webmod>=3");
    let output = cairn(&["compile", "."], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no tag of module `webmod` satisfies `webmod>=3`"), "{stderr}");
    assert!(stderr.contains("1.0.0, v1.1.0, 2.0.0"), "{stderr}");
    assert!(!dir.join("libs/webmod").exists(), "nothing half-installed is left behind");
}

#[test]
fn a_module_that_no_repository_has_is_a_clear_error() {
    let dir = project("missing", "othermod");
    let output = cairn(&["compile", "."], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot install a required module"), "{stderr}");
}
