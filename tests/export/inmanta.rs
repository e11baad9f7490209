//! Cairn against the real Inmanta: every project under `tests/export/inmanta/` is compiled and
//! exported with the shipped modules (version 0, as `inmanta export -j` numbers it), put through
//! the normalisations the reference outputs went through (N1–N4 of
//! `scripts/inmanta-reference.sh`), and compared with the real exporter's `expected.json`
//! field for field (ids, values, requires); the file bodies Cairn keeps (`Export::files`) are
//! compared with `expected-files.json`. A project whose real export fails
//! (`expected-error.txt`) must fail in Cairn too, with an error of the same meaning at the same
//! place ([`FAILURES`]).
//!
//! A project that cannot match yet because of work outside the export (the lexer, std's
//! interface, a language feature) is [`PENDING`], with the reason; its test is ignored, and
//! runs with `cargo test --test export -- --ignored`.

use cairn_compiler::export::write_version_json;
use cairn_compiler::fs::RealFs;
use cairn_pipeline::{build, shipped_modules, CompileSettings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Projects that cannot match yet, and why (none now: each new one says why here, and its
/// test is marked `#[ignore = "pending: ..."]`).
const PENDING: &[(&str, &str)] = &[];

/// Projects whose real export fails: fragments Cairn's error must hold (the meaning of the
/// real message in Cairn's words), and the line of `main.cf` it must point at.
const FAILURES: &[(&str, &[&str], usize)] = &[
    // "Failed to get attribute 'via' for export on 'fs::File'", caused by "[No ip] Cannot
    // serialize a mitogen::Context".
    ("fs-host-without-ip", &["failed to get attribute `via` for export on `fs::File`", "[No ip]", "cannot serialize a mitogen::Context"], 7),
    (
        "fs-purged-directory-live-file",
        &["Directory fs::Directory[app1,path=/opt/legacy] is purged but a resource is trying to deploy something in it: \
           fs::File[app1,path=/opt/legacy/config.ini]"],
        9,
    ),
    // "could not find value content_seperator": fs 1.1.2 cannot export suffix_content.
    ("fs-suffix-content", &["failed to get attribute `hash` for export on `fs::File`", "`suffix_content` cannot be exported", "content_seperator"], 8),
];

fn projects_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/inmanta")
}

fn check(name: &str) {
    let root = projects_root().join(name);
    let result = build(&RealFs, &root, &shipped_modules(), &CompileSettings::default()).expect("the project loads");
    if let Some((_, fragments, line)) = FAILURES.iter().find(|(project, _, _)| *project == name) {
        assert!(root.join("expected-error.txt").is_file(), "{name}: the real export fails, it has an expected-error.txt");
        check_failure(name, &result, fragments, *line);
        return;
    }
    assert!(result.succeeded(), "{name}: the export fails:\n{:#?}", result.diagnostics);
    let export = result.export.as_ref().expect("exported");
    let mut out = Vec::new();
    write_version_json(&mut out, &export.resources, 0).expect("writes");
    let mut got: Value = serde_json::from_slice(&out).expect("Cairn writes JSON");
    normalise(&mut got, &root);
    let expected: Value = read_json(&root.join("expected.json"));
    let differences = compare(&got, &expected);
    assert!(differences.is_empty(), "{name}: Cairn's export differs from Inmanta's:\n{}", differences.join("\n"));
    check_files(name, &root, export, &got);
}

pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// N1 (resources sorted by id), N2 (requires sorted), N4 (the project's path as `<project>`);
/// N3 (keys sorted) holds for every comparison of JSON objects.
pub(crate) fn normalise(export: &mut Value, root: &Path) {
    fn paths(value: &mut Value, project: &str) {
        match value {
            Value::String(text) if text.contains(project) => *text = text.replace(project, "<project>"),
            Value::Array(items) => items.iter_mut().for_each(|item| paths(item, project)),
            Value::Object(map) => map.values_mut().for_each(|item| paths(item, project)),
            _ => {}
        }
    }
    paths(export, &root.display().to_string());
    let Value::Array(resources) = export else { panic!("the export is a list") };
    for resource in resources.iter_mut() {
        if let Some(Value::Array(requires)) = resource.get_mut("requires") {
            requires.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    resources.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
}

/// Every difference between two exports, by resource id and field.
pub(crate) fn compare(got: &Value, expected: &Value) -> Vec<String> {
    let by_id = |export: &Value| -> BTreeMap<String, Value> {
        export
            .as_array()
            .expect("a list of resources")
            .iter()
            .map(|resource| (resource["id"].as_str().expect("an id").to_string(), resource.clone()))
            .collect()
    };
    let (got, expected) = (by_id(got), by_id(expected));
    let mut differences = Vec::new();
    for (id, want) in &expected {
        let Some(have) = got.get(id) else {
            differences.push(format!("  missing {id}"));
            continue;
        };
        let (Value::Object(have), Value::Object(want)) = (have, want) else { continue };
        for key in want.keys().chain(have.keys().filter(|k| !want.contains_key(*k))) {
            let (h, w) = (have.get(key), want.get(key));
            if h != w {
                let show = |v: Option<&Value>| v.map_or_else(|| "(absent)".to_string(), Value::to_string);
                differences.push(format!("  {id} .{key}:\n    cairn:   {}\n    inmanta: {}", show(h), show(w)));
            }
        }
    }
    for id in got.keys().filter(|id| !expected.contains_key(*id)) {
        differences.push(format!("  extra {id}"));
    }
    differences
}

/// The bodies of `expected-files.json` are in Cairn's file store under the same hashes, the
/// resources name them, and Cairn stores nothing else.
pub(crate) fn check_files(name: &str, root: &Path, export: &cairn_compiler::export::Export, got: &Value) {
    let path = root.join("expected-files.json");
    let expected = if path.is_file() { read_json(&path) } else { Value::Array(Vec::new()) };
    let mut wanted: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in expected.as_array().expect("a list of files") {
        let hash = entry["hash"].as_str().expect("a hash").to_string();
        let body = match (entry.get("text"), entry.get("base64")) {
            (Some(Value::String(text)), _) => text.as_bytes().to_vec(),
            (_, Some(Value::String(encoded))) => base64(encoded),
            _ => panic!("{name}: a file entry without text or base64"),
        };
        let id = entry["id"].as_str().expect("an id");
        let named = got.as_array().and_then(|rs| rs.iter().find(|r| r["id"] == id)).and_then(|r| r.get("hash")).and_then(Value::as_str);
        assert_eq!(named, Some(hash.as_str()), "{name}: {id} names the body by its hash");
        wanted.insert(hash, body);
    }
    let have: BTreeMap<&String, String> = export.files.iter().map(|(hash, body)| (hash, String::from_utf8_lossy(body).into_owned())).collect();
    let want: BTreeMap<&String, String> = wanted.iter().map(|(hash, body)| (hash, String::from_utf8_lossy(body).into_owned())).collect();
    assert_eq!(have, want, "{name}: the file store (sha1 -> body)");
    assert!(export.files.iter().all(|(hash, body)| wanted.get(hash) == Some(body)), "{name}: the bodies are byte for byte");
}

/// Standard base64 with padding.
fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|c| *c == byte).expect("base64") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

fn check_failure(name: &str, result: &cairn_pipeline::Build, fragments: &[&str], line: usize) {
    assert!(!result.succeeded(), "{name}: the real export fails, so must Cairn's");
    let sources = &result.compilation.session.sources;
    let main = sources.ids().find(|id| sources.name(*id).ends_with("main.cf"));
    let found = result.diagnostics.iter().find(|d| fragments.iter().all(|f| d.message.contains(f)));
    let Some(diagnostic) = found else {
        panic!("{name}: no error holds {fragments:?}:\n{:#?}", result.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>())
    };
    assert_eq!(Some(diagnostic.primary.span.file), main, "{name}: the error points into main.cf");
    assert_eq!(diagnostic.line(sources), line, "{name}: the error points at line {line} of main.cf");
}

/// Every project folder has a test below.
#[test]
fn every_reference_project_is_checked() {
    let mut names: Vec<String> = std::fs::read_dir(projects_root())
        .expect("the projects")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("project.yml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, TESTED, "add a test for each project (and only for projects)");
    for (pending, _) in PENDING {
        assert!(TESTED.contains(pending), "{pending} is pending but not a project");
    }
}

macro_rules! projects {
    ($($test:ident $(#[$attr:meta])* = $name:literal;)*) => {
        const TESTED: &[&str] = &[$($name),*];
        $(
            #[test]
            $(#[$attr])*
            fn $test() {
                check($name);
            }
        )*
    };
}

projects! {
    apt_package = "apt-package";
    apt_repository = "apt-repository";
    exec_run = "exec-run";
    fs_configfile = "fs-configfile";
    fs_directory_tree = "fs-directory-tree";
    fs_file = "fs-file";
    fs_file_non_ascii = "fs-file-non-ascii";
    fs_host_without_ip = "fs-host-without-ip";
    fs_jsonfile = "fs-jsonfile";
    fs_purged_directory = "fs-purged-directory";
    fs_purged_directory_live_file = "fs-purged-directory-live-file";
    fs_suffix_content = "fs-suffix-content";
    fs_symlink = "fs-symlink";
    fs_via_contexts = "fs-via-contexts";
    install_configure_reload = "install-configure-reload";
    std_nullresource = "std-nullresource";
    std_remote_agent = "std-remote-agent";
    std_template_module = "std-template-module";
}
