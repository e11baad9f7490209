//! Export tests: models compiled with the shipped modules, their exported resources checked
//! exactly (ids, fields, requires, hashes, file bodies), every export error, and (in
//! [`inmanta`]) Cairn's exports of the reference projects against the real Inmanta's.

mod inmanta;
mod python;

use cairn_compiler::export::{write_version_json, Export};
use cairn_compiler::fs::{MemFs, RealFs};
use cairn_pipeline::{build, resource_docs, shipped_modules, Build, CompileSettings};
use std::path::Path;

fn export_of(main: &str) -> Build {
    let mut fs = MemFs::new();
    fs.add("/p/project.yml", "name: p\n").add("/p/main.cf", main);
    build(&fs, Path::new("/p"), &shipped_modules(), &CompileSettings::default()).expect("project loads")
}

fn exported(main: &str) -> Export {
    let result = export_of(main);
    assert!(result.succeeded(), "{:#?}", result.diagnostics);
    result.export.expect("exported")
}

fn json_of(main: &str) -> String {
    let mut out = Vec::new();
    write_version_json(&mut out, &exported(main).resources, 3).expect("writes");
    String::from_utf8(out).expect("utf-8")
}

fn ids(export: &Export) -> Vec<&str> {
    export.resources.iter().map(|r| r.id.as_str()).collect()
}

const SITE: &str = r#"
import fs
import exec
import mitogen
h = std::Host(name="web1", os=std::linux, via=mitogen::Local())
conf = fs::ConfigFile(host=h, path="/etc/app.conf", content="x=1")
fs::Directory(host=h, path="/etc/app", mode=750)
exec::Run(host=h, command="reload app", requires=conf)
"#;

#[test]
fn exports_ids_fields_and_requires_exactly() {
    let json = json_of(SITE);
    let via = r#""via": {"method_name": "local", "name": ""}"#;
    let expected = format!(
        r#"[
  {{"id": "exec::Run[web1,command=reload app],v=3", "command": "reload app", "creates": "", "cwd": "", "environment": {{}}, "onlyif": "", "path": "", "purge_on_delete": false, "purged": false, "receive_events": true, "reload": "", "reload_only": false, "returns": [0], "send_event": true, "skip_on_fail": false, "timeout": 300, "unless": "", {via}, "requires": ["fs::File[web1,path=/etc/app.conf]"], "version": 3}},
  {{"id": "fs::Directory[web1,path=/etc/app],v=3", "group": null, "owner": null, "path": "/etc/app", "permissions": 750, "purge_on_delete": false, "purged": false, "receive_events": true, "send_event": true, {via}, "requires": [], "version": 3}},
  {{"id": "fs::File[web1,path=/etc/app.conf],v=3", "group": "root", "hash": "7caf6056913504f0508c65faf2dc3f94ff65bcfd", "owner": "root", "path": "/etc/app.conf", "permissions": 644, "purge_on_delete": false, "purged": false, "receive_events": true, "send_event": true, {via}, "requires": [], "version": 3}}
]
"#
    );
    assert_eq!(json, expected);
}

#[test]
fn file_bodies_are_kept_by_their_hash() {
    let export = exported(
        r#"
import fs
import mitogen
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::File(host=h, path="/a", content="x=1")
fs::File(host=h, path="/b", content="x=1")
fs::File(host=h, path="/c", content="body", prefix_content=[fs::Content(value="zz"), fs::Content(value="second", sorting_key="b"), fs::Content(value="first", sorting_key="a")], content_separator="|")
fs::Directory(host=h, path="/d")
"#,
    );
    let hash = |id: &str| match export.resources.iter().find(|r| r.id == id).and_then(|r| r.attribute("hash")) {
        Some(cairn_compiler::export::JsonValue::Str(hash)) => hash.clone(),
        other => panic!("{id}: {other:?}"),
    };
    assert_eq!(hash("fs::File[h,path=/a]"), "7caf6056913504f0508c65faf2dc3f94ff65bcfd");
    assert_eq!(hash("fs::File[h,path=/a]"), hash("fs::File[h,path=/b]"), "one body, one hash");
    let bodies: Vec<(&str, &[u8])> = export.files.iter().map(|(h, b)| (h.as_str(), &b[..])).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(export.files[&hash("fs::File[h,path=/a]")], b"x=1");
    // Sorted by key (the value when there is none), joined, then the separator and the content.
    assert_eq!(export.files[&hash("fs::File[h,path=/c]")], b"first|second|zz|body");
}

#[test]
fn fs_file_refers_to_the_bytes_of_a_module_file() {
    let dir = std::env::temp_dir().join(format!("cairn-export-{}-file-ref", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("libs/web/model")).expect("mkdir");
    std::fs::create_dir_all(dir.join("libs/web/files")).expect("mkdir");
    std::fs::write(dir.join("project.yml"), "name: p\nmodulepath: libs\n").expect("write");
    std::fs::write(dir.join("libs/web/module.yml"), "name: web\nversion: 1.0.0\n").expect("write");
    std::fs::write(dir.join("libs/web/model/_init.cf"), "").expect("write");
    let icon: &[u8] = &[0, 0, 1, 0, 0xff, 0xfe, 0x80, 0x81];
    std::fs::write(dir.join("libs/web/files/favicon.ico"), icon).expect("write");
    std::fs::write(dir.join("libs/web/files/robots.txt"), "User-agent: *\n").expect("write");
    std::fs::write(
        dir.join("main.cf"),
        r#"import fs
import web
import mitogen
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::File(host=h, path="/icon", content=fs::file("web/favicon.ico"))
fs::File(host=h, path="/robots", content=fs::source("web/robots.txt"))
n = std::count(fs::list_files("web"))
std::print(f"{n} files")
"#,
    )
    .expect("write");
    let result = build(&RealFs, &dir, &shipped_modules(), &CompileSettings::default()).expect("loads");
    assert!(result.succeeded(), "{:#?}", result.diagnostics);
    assert_eq!(result.compilation.execution.as_ref().map(|e| e.output.clone()), Some(vec!["2 files".to_string()]));
    let export = result.export.expect("exported");
    let bodies: Vec<&[u8]> = export.files.values().map(|b| &b[..]).collect();
    assert!(bodies.contains(&icon), "the bytes of the binary file: {bodies:?}");
    assert!(bodies.contains(&&b"User-agent: *\n"[..]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hashes_are_stable_across_runs_and_argument_order() {
    let first = exported(SITE);
    let again = exported(SITE);
    let reordered = exported(
        r#"
import fs
import exec
import mitogen
exec::Run(requires=conf, command="reload app", host=h)
fs::Directory(mode=750, path="/etc/app", host=h)
conf = fs::ConfigFile(content="x=1", path="/etc/app.conf", host=h)
h = std::Host(os=std::linux, name="web1", via=mitogen::Local())
"#,
    );
    let hashes = |e: &Export| e.resources.iter().map(|r| (r.id.clone(), r.hash.clone())).collect::<Vec<_>>();
    assert_eq!(hashes(&first), hashes(&again));
    assert_eq!(hashes(&first), hashes(&reordered));
    let changed = exported(&SITE.replace("x=1", "x=2"));
    let file = |e: &Export| e.resources.iter().find(|r| r.id.starts_with("fs::File")).map(|r| r.hash.clone()).expect("file");
    assert_ne!(file(&first), file(&changed), "a changed body changes the hash");
    let run = |e: &Export| e.resources.iter().find(|r| r.id.starts_with("exec::Run")).map(|r| r.hash.clone());
    assert_eq!(run(&first), run(&changed), "the hash does not depend on other resources' content");
}

#[test]
fn requires_on_entities_that_are_not_resources_are_dropped() {
    let json = json_of(
        r#"
import std::testing
entity Group:
end
implement Group using std::none
a = std::testing::NullResource(name="a", agentname="h")
b = std::testing::NullResource(name="b", agentname="h")
group = Group(requires=[a, b])
std::testing::NullResource(name="n", agentname="h", requires=[group, a])
"#,
    );
    assert!(json.contains(r#""name": "n", "purge_on_delete": false, "purged": false, "receive_events": true, "send_event": true, "value": "", "requires": ["std::testing::NullResource[h,name=a]"], "version": 3}"#), "{json}");
}

#[test]
fn unmanaged_resources_are_left_out_and_subtypes_export_as_their_resource_type() {
    let export = exported(
        r#"
import fs
import mitogen
import std::testing
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::File(host=h, path="/kept", content="")
fs::ConfigFile(host=h, path="/conf", content="")
dropped = std::testing::NullResource(name="dropped", managed=false)
std::testing::NullResource(name="kept", requires=dropped)
"#,
    );
    assert_eq!(
        ids(&export),
        ["fs::File[h,path=/conf]", "fs::File[h,path=/kept]", "std::testing::NullResource[internal,name=kept]"]
    );
    assert!(export.resources[2].requires.is_empty(), "an unmanaged resource is not required either");
}

#[test]
fn the_fs_dependency_manager_orders_directories_and_what_is_inside() {
    let export = exported(
        r#"
import fs
import mitogen
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::Directory(host=h, path="/srv")
fs::Directory(host=h, path="/srv/www/")
fs::File(host=h, path="/srv/www/./index.html", content="")
fs::Directory(host=h, path="/old", purged=true)
fs::Symlink(host=h, src="/old/target", dst="/srv/link", purged=true)
"#,
    );
    let requires = |id: &str| export.resources.iter().find(|r| r.id == id).map(|r| r.requires.clone()).expect(id);
    assert_eq!(requires("fs::File[h,path=/srv/www/./index.html]"), ["fs::Directory[h,path=/srv/www/]", "fs::Directory[h,path=/srv]"]);
    assert_eq!(requires("fs::Directory[h,path=/srv/www/]"), ["fs::Directory[h,path=/srv]"]);
    assert_eq!(requires("fs::Directory[h,path=/old]"), ["fs::Symlink[h,dst=/srv/link]"], "a purged directory goes after");
    assert_eq!(requires("fs::Symlink[h,dst=/srv/link]"), ["fs::Directory[h,path=/srv]"]);
}

#[test]
fn a_purged_directory_with_a_live_file_inside_refuses_the_version() {
    let result = export_of(
        r#"
import fs
import mitogen
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::Directory(host=h, path="/old", purged=true)
fs::File(host=h, path="/old/f", content="")
"#,
    );
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    let error = &result.diagnostics[0];
    assert_eq!(error.kind, "export");
    assert_eq!(
        error.message,
        "Directory fs::Directory[h,path=/old] is purged but a resource is trying to deploy something in it: fs::File[h,path=/old/f] \
         (dependency manager `fs::dir_before_file`)"
    );
    assert_eq!(error.secondary.len(), 1, "the directory is shown too");
}

#[test]
fn via_comes_from_the_resource_the_host_or_the_hosts_address() {
    let export = exported(
        r#"
import fs
import exec
import apt
import mitogen
jump = mitogen::Ssh(name="jump", hostname="192.0.2.1", port=2222, compression=false)
h = std::Host(name="h", os=std::linux, ip="192.0.2.10", remote_user="root", remote_port=22)
u = std::Host(name="u", os=std::linux, ip="192.0.2.11", remote_user="app", remote_port=2200)
v = std::Host(name="v", os=std::linux, via=mitogen::Sudo(via=jump))
fs::File(host=h, path="/own", content="", via=mitogen::Local(python_path=["/usr/bin/python3"]))
exec::Run(host=h, command="derived")
apt::Package(host=u, name="sudo-wrapped")
fs::Directory(host=v, path="/from-host")
"#,
    );
    let via = |id: &str| {
        let resource = export.resources.iter().find(|r| r.id == id).expect(id);
        let mut out = String::new();
        resource.attribute("via").expect("via").write(&mut out);
        out
    };
    assert_eq!(via("fs::File[h,path=/own]"), r#"{"method_name": "local", "name": "", "python_path": ["/usr/bin/python3"]}"#);
    let ssh_args = r#""ssh_args": ["-o", "UserKnownHostsFile=/dev/null", "-o", "PasswordAuthentication=no"]"#;
    assert_eq!(
        via("exec::Run[h,command=derived]"),
        format!(r#"{{"check_host_keys": "ignore", "hostname": "192.0.2.10", "method_name": "ssh", "name": "h", "port": 22, "python_path": ["python"], {ssh_args}, "username": "root"}}"#)
    );
    assert_eq!(
        via("apt::Package[u,name=sudo-wrapped]"),
        format!(r#"{{"method_name": "sudo", "name": "", "via": {{"check_host_keys": "ignore", "hostname": "192.0.2.11", "method_name": "ssh", "name": "u", "port": 2200, "python_path": ["python"], {ssh_args}, "username": "app"}}}}"#)
    );
    assert_eq!(
        via("fs::Directory[v,path=/from-host]"),
        r#"{"method_name": "sudo", "name": "", "via": {"compression": false, "hostname": "192.0.2.1", "method_name": "ssh", "name": "jump", "port": 2222}}"#
    );
}

#[test]
fn a_host_without_ip_or_via_cannot_export_its_resources() {
    let result = export_of("import fs\nh = std::Host(name=\"web1\", os=std::linux)\nfs::File(host=h, path=\"/etc/motd\", content=\"\")\n");
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    let error = &result.diagnostics[0];
    assert_eq!(error.kind, "export");
    assert!(error.message.starts_with("failed to get attribute `via` for export on `fs::File`: [No ip]"), "{}", error.message);
    assert!(error.message.contains("host `web1`"), "{}", error.message);
}

#[test]
fn a_resource_entity_no_module_declares_is_not_exported() {
    // As Inmanta: only entities with a resource declaration are exported; the others are left
    // out without a word (checked with inmanta-core 14.0.0: an empty export, SUCCESS).
    let result = export_of("entity Thing extends std::PurgeableResource:\n    string name\nend\nimplement Thing using std::none\nThing(name=\"x\")\n");
    assert!(result.diagnostics.is_empty(), "{:#?}", result.diagnostics);
    assert!(result.export.as_ref().expect("exported").resources.is_empty());
}

#[test]
fn duplicate_resource_ids_point_at_both_instances() {
    // Two documents whose uri (path, then `:discriminator`) is the same.
    let result = export_of(
        r#"
import fs
import mitogen
h = std::Host(name="h", os=std::linux, via=mitogen::Local())
fs::JsonFile(host=h, path="/a:b")
fs::JsonFile(host=h, path="/a", resource_discriminator="b")
"#,
    );
    assert_eq!(result.diagnostics.len(), 1, "{:#?}", result.diagnostics);
    let error = &result.diagnostics[0];
    assert_eq!(error.kind, "duplicate");
    assert!(error.message.contains("fs::JsonFile[h,uri=/a:b]"), "{}", error.message);
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
fn agent_config_is_handled_by_the_internal_agent_when_started() {
    let export = exported(
        "std::AgentConfig(agentname=\"web1\", uri=\"ssh://root@10.0.0.1\", autostart=true)\nstd::AgentConfig(agentname=\"off\")\n",
    );
    assert_eq!(ids(&export), ["std::AgentConfig[internal,agentname=web1]"], "autostart = false is left out");
    assert_eq!(export.agents().into_iter().collect::<Vec<_>>(), ["internal"]);
    let fields: Vec<&str> = export.resources[0].attributes.iter().map(|(name, _)| &**name).collect();
    assert_eq!(fields, ["agentname", "autostart", "purge_on_delete", "purged", "receive_events", "send_event", "uri"]);
}

#[test]
fn documents_carry_the_exported_fields_and_the_bodies_stay_in_the_file_store() {
    let export = exported(SITE);
    let docs = resource_docs(&export);
    let file = docs.iter().find(|d| d.id.0 == "fs::File[web1,path=/etc/app.conf]").expect("the file");
    let exported = export.resources.iter().find(|r| r.id == file.id.0).expect("exported");
    let names: Vec<&str> = file.attributes.keys().map(String::as_str).collect();
    let exported_names: Vec<&str> = exported.attributes.iter().map(|(k, _)| &**k).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(names, exported_names, "a document holds the exported fields, no more");
    assert_eq!(file.attr("permissions"), Some(&serde_json::json!(644)));
    assert_eq!(file.attr("content"), None, "the body is not inline");
    assert_eq!(file.attr("mode"), None);
    let hash = file.str_attr("hash").expect("a hash");
    assert_eq!(hash, "7caf6056913504f0508c65faf2dc3f94ff65bcfd");
    assert_eq!(export.files.get(hash).map(Vec::as_slice), Some(&b"x=1"[..]), "the body the hash names is in the export's files");
    let directory = docs.iter().find(|d| d.resource_type == "fs::Directory").expect("the directory");
    assert_eq!(directory.attr("permissions"), Some(&serde_json::json!(750)));
}
