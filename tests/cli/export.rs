//! `cairn export -j`: the file bodies beside the JSON, named by hash and private; and the
//! compile settings from the project's `.inmanta` file and `--set`, which reach `std::`
//! plugins.

use super::{cairn, temp_dir};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn project(name: &str, main: &str) -> std::path::PathBuf {
    let dir = temp_dir(&format!("export-{name}"));
    std::fs::write(dir.join("project.yml"), "name: site\n").expect("project.yml");
    std::fs::write(dir.join("main.cf"), main).expect("main.cf");
    dir
}

const FILES: &str = r#"import fs
h = std::Host(name="web1", os=std::linux, ip="10.0.0.1")
fs::File(host=h, path="/etc/app.conf", content="x=1")
fs::File(host=h, path="/etc/key", content="secret", mode=600)
fs::File(host=h, path="/etc/same", content="x=1")
"#;

#[test]
fn export_writes_each_file_body_once_beside_the_json_and_privately() {
    let dir = project("bodies", FILES);
    let output = cairn(&["export", "-j", "out.json"], &dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 file bodies to out.files"), "{stdout}");
    let folder = dir.join("out.files");
    assert_eq!(std::fs::metadata(&folder).expect("folder").permissions().mode() & 0o777, 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&folder).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    // sha1("x=1") and sha1("secret").
    assert_eq!(names, ["7caf6056913504f0508c65faf2dc3f94ff65bcfd", "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"]);
    assert_eq!(std::fs::read(folder.join(&names[0])).expect("body"), b"x=1");
    assert_eq!(std::fs::metadata(folder.join(&names[1])).expect("body").mode() & 0o777, 0o600);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out.json")).expect("json")).expect("valid json");
    let hashes: Vec<&str> = json.as_array().expect("a list").iter().filter_map(|r| r.get("hash").and_then(|h| h.as_str())).collect();
    assert_eq!(hashes.len(), 3, "every file names its body by hash: {json}");
    assert!(json.as_array().expect("a list").iter().all(|r| r.get("content").is_none()), "no inline content");

    // Into another folder; a link planted where a body goes is not followed.
    let elsewhere = dir.join("bodies");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let victim = dir.join("victim");
    std::fs::write(&victim, "untouched").expect("victim");
    std::os::unix::fs::symlink(&victim, elsewhere.join("7caf6056913504f0508c65faf2dc3f94ff65bcfd")).expect("link");
    let output = cairn(&["export", "-j", "again.json", "--files", "bodies"], &dir);
    assert!(!output.status.success(), "a link where a body goes is refused");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a regular file"), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "untouched");
}

const SETTINGS: &str = r#"import std::testing
std::print(std::environment())
std::print(std::environment_server())
std::print(std::server_port())
std::print(std::server_ca())
"#;

#[test]
fn compile_settings_come_from_the_inmanta_file_and_the_command_line_wins() {
    let dir = project("settings", SETTINGS);
    let output = cairn(&["compile"], &dir);
    assert!(!output.status.success(), "without an environment std::environment fails");
    std::fs::write(dir.join(".inmanta"), "[config]\nenvironment = 0b5c2a6e\n[compiler_rest_transport]\nhost = orch.example.net\nport = 8443\nssl-ca-cert-file = ca.pem\n").expect(".inmanta");
    std::fs::write(dir.join("ca.pem"), "PEM").expect("ca");
    let output = cairn(&["compile"], &dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().take(4).collect::<Vec<_>>(), ["0b5c2a6e", "orch.example.net", "8443", "PEM"]);
    let output = cairn(&["compile", "--set", "environment=other", "--set", "compiler_rest_transport.port=9000"], &dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().take(3).collect::<Vec<_>>(), ["other", "orch.example.net", "9000"]);
    let output = cairn(&["compile", "--set", "enviroment=x"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown setting"), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(dir.join(".inmanta"), "[config\n").expect(".inmanta");
    let output = cairn(&["compile"], &dir);
    assert!(String::from_utf8_lossy(&output.stderr).contains(".inmanta: line 1"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_file_reference_to_a_project_file_becomes_its_body() {
    let dir = project(
        "reference",
        "import fs\nh = std::Host(name=\"web1\", os=std::linux, ip=\"10.0.0.1\")\nfs::File(host=h, path=\"/etc/a\", content=fs::file(\"/a.bin\"))\nfs::File(host=h, path=\"/etc/b\", content=std::file(\"/a.bin\"))\n",
    );
    std::fs::create_dir(dir.join("files")).expect("files/");
    let body: &[u8] = &[0, 159, 146, 150, 255];
    std::fs::write(dir.join("files/a.bin"), body).expect("binary file");
    let output = cairn(&["export", "-j", "out.json"], &dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let names: Vec<_> = std::fs::read_dir(dir.join("out.files")).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 1, "both plugins refer to the same bytes: {names:?}");
    assert_eq!(std::fs::read(dir.join("out.files").join(&names[0])).expect("body"), body);
}
