//! What `cairn deploy` and the inspection verbs print, as a Puppet, Terraform or Inmanta user
//! expects it: drift found by a plain deploy and by a dry run, every changed resource named,
//! no new version for an unchanged model, orphans reported, and what the store keeps. Real
//! runs of the binary; timings and paths are masked in the snapshots.

use super::{cairn, temp_dir};
use std::path::Path;

const SITE: &str = r#"import fs
import exec
h = std::Host(name="localhost", os=std::linux, ip="127.0.0.1")
root = fs::Directory(host=h, path="out")
conf = fs::File(host=h, path="out/app.conf", content="port={{ port }}\n", requires=root)
fs::File(host=h, path="out/index.html", content="hello\n", requires=root)
fs::Symlink(host=h, src="index.html", dst="out/current", requires=root)
exec::Run(host=h, command="echo started >> out/runs.log", reload="echo reloaded >> out/runs.log", creates="out/runs.log", requires=conf)
port = 8080
"#;

fn site(name: &str, main: &str) -> std::path::PathBuf {
    let dir = temp_dir(&format!("deploy-{name}"));
    std::fs::write(dir.join("project.yml"), "name: site\n").expect("project.yml");
    std::fs::write(dir.join("main.cf"), main).expect("main.cf");
    dir
}

/// The output with what changes from run to run masked: durations and times.
fn masked(dir: &Path, args: &[&str]) -> String {
    let output = cairn(args, dir);
    let text = format!("{}{}--- exit {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr), output.status.code().unwrap_or(-1));
    let durations = regex_lite(&text);
    durations.replace(&dir.display().to_string(), "<project>")
}

/// Masks `N ms`, `N.NN s` and `YYYY-MM-DD HH:MM:SS` without a regex dependency.
fn regex_lite(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut words: Vec<String> = Vec::new();
        let parts: Vec<&str> = line.split(' ').collect();
        for (i, part) in parts.iter().enumerate() {
            let next = parts.get(i + 1).map(|n| n.trim_end_matches(['\n', ')', ';', ','])).unwrap_or("");
            let number = !part.is_empty() && part.chars().all(|c| c.is_ascii_digit() || c == '.');
            let is_date = part.len() == 10 && part.chars().filter(|c| *c == '-').count() == 2 && part.chars().all(|c| c.is_ascii_digit() || c == '-');
            let is_time = part.trim_end().len() == 8 && part.trim_end().chars().filter(|c| *c == ':').count() == 2;
            if number && (next == "ms" || next == "s") {
                words.push("<n>".into());
            } else if is_date {
                words.push("<date>".into());
            } else if is_time && words.last().is_some_and(|w| w == "<date>") {
                words.push(format!("<time>{}", &part[part.trim_end().len()..]));
            } else {
                words.push((*part).to_string());
            }
        }
        out.push_str(&words.join(" "));
    }
    out
}

#[test]
fn a_first_deploy_names_every_resource_it_creates() {
    let dir = site("first", SITE);
    insta::assert_snapshot!(masked(&dir, &["deploy"]));
}

#[test]
fn a_deploy_finds_drift_and_a_dry_run_shows_it_first() {
    let dir = site("drift", SITE);
    assert!(cairn(&["deploy"], &dir).status.success());
    std::fs::write(dir.join("out/index.html"), "edited by hand\n").expect("edit");
    std::fs::remove_file(dir.join("out/current")).expect("remove link");
    let dry = masked(&dir, &["deploy", "--dry-run"]);
    let incremental = masked(&dir, &["deploy", "--incremental", "--dry-run"]);
    let repair = masked(&dir, &["deploy"]);
    let again = masked(&dir, &["deploy"]);
    insta::assert_snapshot!(format!("--- cairn deploy --dry-run\n{dry}\n--- cairn deploy --incremental --dry-run\n{incremental}\n--- cairn deploy\n{repair}\n--- cairn deploy (again)\n{again}"));
}

#[test]
fn a_dry_run_predicts_the_reload_and_stores_nothing() {
    let dir = site("reload", SITE);
    assert!(cairn(&["deploy"], &dir).status.success());
    std::fs::write(dir.join("main.cf"), SITE.replace("port = 8080", "port = 9090")).expect("edit model");
    let dry = masked(&dir, &["deploy", "--dry-run"]);
    let versions_after_dry_run = masked(&dir, &["versions"]);
    let real = masked(&dir, &["deploy"]);
    insta::assert_snapshot!(format!("--- cairn deploy --dry-run\n{dry}\n--- cairn versions\n{versions_after_dry_run}\n--- cairn deploy\n{real}"));
    assert_eq!(std::fs::read_to_string(dir.join("out/runs.log")).expect("log"), "started\nreloaded\n");
}

#[test]
fn an_unchanged_model_stores_no_new_version_and_export_numbers_as_the_store_does() {
    let dir = site("versions", SITE);
    assert!(cairn(&["deploy"], &dir).status.success());
    let second = masked(&dir, &["deploy"]);
    assert!(second.contains("no new version stored"), "{second}");
    std::fs::write(dir.join("main.cf"), SITE.replace("port = 8080", "port = 9090")).expect("edit model");
    assert!(cairn(&["deploy"], &dir).status.success());
    let versions = masked(&dir, &["versions"]);
    assert_eq!(versions.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).count(), 2, "{versions}");
    insta::assert_snapshot!(versions);
    assert!(cairn(&["export", "-j", "out.json"], &dir).status.success());
    let exported = std::fs::read_to_string(dir.join("out.json")).expect("json");
    assert!(exported.contains(",v=2\""), "an unchanged model exports the stored version's number: {exported}");
    std::fs::write(dir.join("main.cf"), SITE.replace("port = 8080", "port = 7070")).expect("edit model");
    assert!(cairn(&["export", "-j", "out.json"], &dir).status.success());
    assert!(std::fs::read_to_string(dir.join("out.json")).expect("json").contains(",v=3\""), "a changed model exports the next number");
}

#[test]
fn the_store_keeps_a_bounded_number_of_versions() {
    let dir = site("retention", SITE);
    for port in 1..=6 {
        let output = cairn(&["deploy", "--keep-versions", "3"], &dir);
        assert!(output.status.success());
        std::fs::write(dir.join("main.cf"), SITE.replace("port = 8080", &format!("port = {port}"))).expect("edit model");
    }
    let versions = masked(&dir, &["versions", "--json"]);
    let numbers: Vec<u64> = serde_json::from_str::<Vec<serde_json::Value>>(versions.split("--- exit").next().unwrap_or_default())
        .expect("json")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, vec![6, 5, 4]);
}

#[test]
fn a_resource_removed_from_the_model_is_reported_orphaned_or_purged() {
    let main = SITE.replace(r#"fs::File(host=h, path="out/index.html", content="hello\n", requires=root)"#, r#"fs::File(host=h, path="out/index.html", content="hello\n", requires=root)
fs::File(host=h, path="out/old.txt", content="old\n", requires=root)
fs::File(host=h, path="out/temp.txt", content="temp\n", requires=root, purge_on_delete=true)"#);
    let dir = site("orphans", &main);
    assert!(cairn(&["deploy"], &dir).status.success());
    std::fs::write(dir.join("main.cf"), SITE).expect("edit model");
    let dry = masked(&dir, &["deploy", "--dry-run"]);
    let real = masked(&dir, &["deploy"]);
    let after = masked(&dir, &["deploy"]);
    let orphaned = masked(&dir, &["resources", "--state", "orphaned"]);
    insta::assert_snapshot!(format!("--- cairn deploy --dry-run\n{dry}\n--- cairn deploy\n{real}\n--- cairn deploy (again)\n{after}\n--- cairn resources --state orphaned\n{orphaned}"));
    assert!(dir.join("out/old.txt").exists(), "an orphan without purge_on_delete is left in place");
    assert!(!dir.join("out/temp.txt").exists(), "an orphan with purge_on_delete is removed");
}

#[test]
fn the_inspection_verbs_show_what_the_store_keeps() {
    let dir = site("inspect", SITE);
    assert!(cairn(&["deploy"], &dir).status.success());
    std::fs::write(dir.join("main.cf"), SITE.replace("hello\\n", "hello world\\n")).expect("edit model");
    assert!(cairn(&["deploy"], &dir).status.success());
    let resources = masked(&dir, &["resources"]);
    let log = masked(&dir, &["log", "fs::File[localhost,path=out/index.html]"]);
    let typo = masked(&dir, &["log", "fs::File[localhost,path=out/index.htm]"]);
    let bad_state = masked(&dir, &["resources", "--state", "green"]);
    insta::assert_snapshot!(format!("--- cairn resources\n{resources}\n--- cairn log\n{log}\n--- cairn log (typo)\n{typo}\n--- cairn resources --state green\n{bad_state}"));
    let json = cairn(&["log", "fs::File[localhost,path=out/index.html],v=2", "--json"], &dir);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json log");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["version"], 2);
    let empty = temp_dir("deploy-never");
    std::fs::write(empty.join("project.yml"), "name: never\n").expect("project.yml");
    let none = masked(&empty, &["versions"]);
    assert!(none.contains("no deploy has run here yet"), "{none}");
}
