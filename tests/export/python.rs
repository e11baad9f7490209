//! Cairn against the real Inmanta on modules with Python code: every project under
//! `tests/export/python/` uses published v2 modules (ip, net, yaml, ssh, rest, files,
//! kubernetes, user) installed in a virtualenv without inmanta-core (the test command makes it
//! from `scripts/python-modules-requirements.txt` and names it in `CAIRN_TEST_MODULES_VENV`).
//! Cairn runs their Python plugins and resource declarations through its plugin host, and the
//! export is compared with the real `inmanta export -j` (`scripts/python-reference.sh`) field
//! for field, as `inmanta.rs` does for the shipped modules. A project whose real export fails
//! must fail with an error of the same meaning ([`FAILURES`]).

use super::inmanta::{check_files, compare, normalise, read_json};
use cairn_compiler::export::write_version_json;
use cairn_compiler::fs::RealFs;
use cairn_pipeline::{build, shipped_modules, CompileSettings, PythonSettings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Projects whose real export fails: fragments one of Cairn's errors must hold, and the file
/// (its name's end) and line it must point at.
const FAILURES: &[(&str, &[&str], &str, usize)] = &[
    ("files-host-without-via", &["via", "files::TextFile", "[No ip] Cannot serialize a mitogen::Context"], "main.cf", 0),
    ("ip-invalid-address", &["192.168.1.256", "does not match the constraint of `ip::ip`"], "main.cf", 6),
    ("ip-plugin-argument-type", &["web1.example.com", "does not match the constraint of `ip::cidr_v10`"], "main.cf", 7),
    ("kubernetes-cross-cluster", &["PluginException", "not member of the same cluster"], "_init.cf", 123),
    ("net-invalid-mac", &["52-54-00-12-34-56"], "main.cf", 7),
    ("net-invalid-vlan", &["4096"], "main.cf", 10),
    ("yaml-invalid", &["yaml::loads", "while parsing a flow sequence"], "main.cf", 6),
];

fn projects_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/python")
}

fn venv() -> PathBuf {
    let venv = std::env::var_os("CAIRN_TEST_MODULES_VENV").map(PathBuf::from).expect(
        "CAIRN_TEST_MODULES_VENV names the virtualenv with the published modules: run `bash scripts/test.sh`, which makes it",
    );
    assert!(venv.join("bin/python").exists(), "{} is not a virtualenv", venv.display());
    venv
}

pub(crate) fn settings(venv: PathBuf) -> CompileSettings {
    let cache = std::env::temp_dir().join(format!("cairn-test-cache-{}", std::process::id()));
    let python = PythonSettings { venv: Some(venv), path: std::env::var_os("PATH"), cache: Some(cache), call_limit: Duration::from_secs(60), host_dir: None };
    CompileSettings { python, ..CompileSettings::default() }
}

fn check(name: &str) {
    let root = projects_root().join(name);
    let result = build(&RealFs, &root, &shipped_modules(), &settings(venv())).expect("the project loads");
    if let Some((_, fragments, file, line)) = FAILURES.iter().find(|(project, ..)| *project == name) {
        assert!(root.join("EXPECT_FAILURE").is_file(), "{name}: listed as failing, it has EXPECT_FAILURE");
        assert!(!result.succeeded(), "{name}: the real export fails, so must Cairn's");
        let sources = &result.compilation.session.sources;
        let found = result.diagnostics.iter().find(|d| {
            let text = format!("{} {}", d.message, d.hint.as_deref().unwrap_or_default());
            fragments.iter().all(|f| text.contains(f))
        });
        let Some(diagnostic) = found else {
            panic!("{name}: no error holds {fragments:?}:\n{:#?}", result.diagnostics.iter().map(|d| (&d.message, &d.hint)).collect::<Vec<_>>())
        };
        assert!(sources.name(diagnostic.primary.span.file).ends_with(file), "{name}: the error points into {file}: {diagnostic:#?}");
        if *line > 0 {
            assert_eq!(diagnostic.line(sources), *line, "{name}: the error points at line {line}");
        }
        return;
    }
    assert!(!root.join("EXPECT_FAILURE").exists(), "{name}: the real export fails: list it in FAILURES");
    assert!(result.succeeded(), "{name}: the export fails:\n{:#?}", result.diagnostics);
    // net has no Python of its own and std's plugins are native: net-interfaces never starts it.
    assert_eq!(result.python.started(), name != "net-interfaces", "{name}: the plugin host ran only where Python was needed");
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

/// Every project folder has a test below.
#[test]
fn every_python_reference_project_is_checked() {
    let mut names: Vec<String> = std::fs::read_dir(projects_root())
        .expect("the projects")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("project.yml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, TESTED, "add a test for each project (and only for projects)");
}

macro_rules! projects {
    ($($test:ident = $name:literal;)*) => {
        const TESTED: &[&str] = &[$($name),*];
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*
    };
}

projects! {
    files_host_json = "files-host-json";
    files_host_without_via = "files-host-without-via";
    files_readme = "files-readme";
    ip_invalid_address = "ip-invalid-address";
    ip_plugin_argument_type = "ip-plugin-argument-type";
    ip_plugins = "ip-plugins";
    kubernetes_app = "kubernetes-app";
    kubernetes_cross_cluster = "kubernetes-cross-cluster";
    net_interfaces = "net-interfaces";
    net_invalid_mac = "net-invalid-mac";
    net_invalid_vlan = "net-invalid-vlan";
    rest_call = "rest-call";
    ssh_authorized_keys = "ssh-authorized-keys";
    user_group = "user-group";
    yaml_invalid = "yaml-invalid";
    yaml_load = "yaml-load";
}
