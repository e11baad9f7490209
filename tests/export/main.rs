//! Export tests: models compiled with the shipped modules, their exported resources checked
//! exactly (ids, fields, requires, hashes), and every export error.

use cairn::{build, modules, Build};
use cairn_compiler::export::write_version_json;
use cairn_compiler::fs::MemFs;
use std::path::Path;

fn export_of(main: &str) -> Build {
    let mut fs = MemFs::new();
    fs.add("/p/project.yml", "name: p\n").add("/p/main.cf", main);
    build(&fs, Path::new("/p"), &modules(), &|_| None).expect("project loads")
}

fn json_of(main: &str) -> String {
    let result = export_of(main);
    assert!(result.succeeded(), "{:#?}", result.diagnostics);
    let mut out = Vec::new();
    write_version_json(&mut out, &result.export.expect("exported").resources, 3).expect("writes");
    String::from_utf8(out).expect("utf-8")
}

const SITE: &str = r#"
import fs
import exec
h = std::Host(name="web1", os=std::linux)
conf = fs::ConfigFile(host=h, path="/etc/app.conf", content="x=1")
fs::Directory(host=h, path="/etc/app", mode=750)
exec::Run(host=h, command="reload app", requires=conf)
"#;

#[test]
fn exports_ids_fields_and_requires_exactly() {
    let json = json_of(SITE);
    let expected = r#"[
  {"id": "exec::Run[web1,command=reload app],v=3", "command": "reload app", "creates": "", "cwd": "", "environment": {}, "onlyif": "", "path": "", "purge_on_delete": false, "purged": false, "receive_events": true, "reload": "", "reload_only": false, "returns": [0], "send_event": true, "skip_on_fail": false, "timeout": 300, "unless": "", "requires": ["fs::File[web1,path=/etc/app.conf],v=3"]},
  {"id": "fs::Directory[web1,path=/etc/app],v=3", "group": null, "mode": 750, "owner": null, "path": "/etc/app", "purge_on_delete": false, "purged": false, "receive_events": true, "send_event": true, "requires": []},
  {"id": "fs::File[web1,path=/etc/app.conf],v=3", "content": "x=1", "content_separator": "\n", "group": "root", "mode": 644, "owner": "root", "path": "/etc/app.conf", "purge_on_delete": false, "purged": false, "receive_events": true, "send_event": true, "requires": []}
]
"#;
    assert_eq!(json, expected);
}

#[test]
fn hashes_are_stable_across_runs_and_argument_order() {
    let first = export_of(SITE).export.expect("export");
    let again = export_of(SITE).export.expect("export");
    let reordered = export_of(
        r#"
import fs
import exec
exec::Run(requires=conf, command="reload app", host=h)
fs::Directory(mode=750, path="/etc/app", host=h)
conf = fs::ConfigFile(content="x=1", path="/etc/app.conf", host=h)
h = std::Host(os=std::linux, name="web1")
"#,
    )
    .export
    .expect("export");
    let hashes = |e: &cairn_compiler::export::Export| e.resources.iter().map(|r| (r.id.clone(), r.hash.clone())).collect::<Vec<_>>();
    assert_eq!(hashes(&first), hashes(&again));
    assert_eq!(hashes(&first), hashes(&reordered));
    let changed = export_of(&SITE.replace("x=1", "x=2")).export.expect("export");
    let file = |e: &cairn_compiler::export::Export| {
        e.resources.iter().find(|r| r.id.starts_with("fs::File")).map(|r| r.hash.clone()).expect("file")
    };
    assert_ne!(file(&first), file(&changed), "a changed field changes the hash");
    let run = |e: &cairn_compiler::export::Export| e.resources.iter().find(|r| r.id.starts_with("exec::Run")).map(|r| r.hash.clone());
    assert_eq!(run(&first), run(&changed), "the hash does not depend on other resources' content");
}

#[test]
fn requires_are_flattened_through_entities_that_are_not_resources() {
    let json = json_of(
        r#"
import fs
import std::testing
h = std::Host(name="h", os=std::linux)
a = fs::File(host=h, path="/a", content="")
b = fs::File(host=h, path="/b", content="")
group = std::Entity(requires=[a, inner])
inner = std::Entity(requires=b)
implement std::Entity using std::none
std::testing::NullResource(name="n", agentname="h", requires=group)
"#,
    );
    assert!(
        json.contains(r#""requires": ["fs::File[h,path=/a],v=3", "fs::File[h,path=/b],v=3"]}"#),
        "{json}"
    );
}

#[test]
fn unmanaged_resources_are_dropped_and_subtypes_export_as_their_resource_type() {
    let result = export_of(
        r#"
import fs
h = std::Host(name="h", os=std::linux)
fs::File(host=h, path="/kept", content="")
fs::File(host=h, path="/dropped", content="", managed=false)
fs::ConfigFile(host=h, path="/conf", content="")
"#,
    );
    let ids: Vec<String> = result.export.expect("export").resources.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, ["fs::File[h,path=/conf]", "fs::File[h,path=/kept]"]);
}

#[test]
fn duplicate_resource_ids_point_at_both_instances() {
    let result = export_of(
        r#"
import fs
h = std::Host(name="h", os=std::linux)
fs::File(host=h, path="/same", content="a")
fs::File(host=h, path="/same", content="b")
"#,
    );
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    let error = &result.diagnostics[0];
    assert_eq!(error.kind, "duplicate");
    assert!(error.message.contains("fs::File[h,path=/same]"), "{}", error.message);
    assert_eq!(error.secondary.len(), 1, "the first instance is shown too");
    assert_ne!(error.primary.span, error.secondary[0].span);
}

#[test]
fn dependency_cycles_are_errors_naming_the_resources() {
    let result = export_of(
        r#"
import std::testing
a = std::testing::NullResource(name="a", agentname="x")
b = std::testing::NullResource(name="b", agentname="x")
c = std::testing::NullResource(name="c", agentname="x")
a.requires += c
b.requires += a
c.requires += b
"#,
    );
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    let error = &result.diagnostics[0];
    assert!(error.message.contains("dependency cycle"), "{}", error.message);
    for name in ["name=a", "name=b", "name=c"] {
        assert!(error.message.contains(name), "{}", error.message);
    }
    assert_eq!(error.secondary.len(), 2);
}

#[test]
fn agent_config_is_handled_by_the_internal_agent() {
    let result = export_of("std::AgentConfig(agentname=\"web1\", uri=\"ssh://root@10.0.0.1\")\n");
    let export = result.export.expect("export");
    assert_eq!(export.resources[0].id, "std::AgentConfig[internal,agentname=web1]");
    assert_eq!(export.agents().into_iter().collect::<Vec<_>>(), ["internal"]);
}
