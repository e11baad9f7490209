//! `fs::File` and `fs::Directory` deployed to a host over SSH: the module's handlers,
//! unchanged, through the agent's `SshIo`, against a real OpenSSH server on a loopback port
//! started by `scripts/test-sshd.sh` (throw-away keys; needs openssh-server and root). The
//! server is this machine, so what the handlers did is checked on the local file system.

use cairn_agent::{deploy, DeployOptions, HandlerRegistry, MemoryPort};
use cairn_wire::{ResourceDoc, ResourceId, ResourceState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[path = "../../../tests/support/sshd.rs"]
mod sshd;
use sshd::Sshd;

fn doc(resource_type: &str, path: &Path, attributes: Vec<(&str, Value)>) -> ResourceDoc {
    let mut map: BTreeMap<String, Value> = attributes.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    map.insert("path".to_string(), Value::from(path.display().to_string()));
    let hash = cairn_wire::digest::sha1_hex(serde_json::to_string(&map).expect("json").as_bytes());
    ResourceDoc {
        id: ResourceId(format!("{resource_type}[remote1,path={}]", path.display())),
        resource_type: resource_type.into(),
        agent: "remote1".into(),
        attributes: map,
        requires: vec![],
        hash,
        undefined: false,
        send_event: false,
        receive_events: false,
    }
}

#[test]
fn fs_files_deploy_over_ssh_and_drift_is_repaired() {
    let sshd = Sshd::start("fs");
    let io = sshd.io();
    let work = sshd.dir.join("managed");
    let port = MemoryPort::new();
    let mut handlers = HandlerRegistry::new();
    for resource in cairn_mod_fs::module().resources {
        if let Some(handler) = resource.handler {
            handlers.register(&resource.decl.name, handler);
        }
    }
    let body = b"managed over ssh\n";
    let hash = port.add_file(body);
    let owner = [("owner", Value::from("root")), ("group", Value::from("root"))];
    let folder = doc("fs::Directory", &work, [vec![("permissions", Value::from(750))], owner.to_vec()].concat());
    let mut file = doc("fs::File", &work.join("motd"), [vec![("hash", Value::from(hash)), ("permissions", Value::from(640))], owner.to_vec()].concat());
    file.requires = vec![folder.id.clone()];
    let resources = vec![folder, file];
    let options = DeployOptions { check_all: true, ..DeployOptions::default() };

    let report = deploy(&port, 1, &resources, &handlers, &io, &options, &mut |_| {}).expect("deploy");
    assert_eq!((report.changed(), report.failed()), (2, 0), "{:#?}", report.results);
    assert_eq!(std::fs::read(work.join("motd")).expect("deployed"), body);
    assert_eq!(std::fs::metadata(work.join("motd")).expect("meta").mode() & 0o7777, 0o640);
    assert_eq!(std::fs::metadata(&work).expect("meta").mode() & 0o7777, 0o750);

    let report = deploy(&port, 2, &resources, &handlers, &io, &options, &mut |_| {}).expect("redeploy");
    assert_eq!((report.changed(), report.unchanged()), (0, 2), "{:#?}", report.results);

    // Drift: content and mode changed behind the agent's back; a repair run puts them back.
    std::fs::write(work.join("motd"), "drifted").expect("drift");
    std::fs::set_permissions(work.join("motd"), std::fs::Permissions::from_mode(0o666)).expect("drift mode");
    let report = deploy(&port, 3, &resources, &handlers, &io, &options, &mut |_| {}).expect("repair");
    assert_eq!(report.changed(), 1, "{:#?}", report.results);
    assert!(report.results.iter().all(|r| r.state == ResourceState::Deployed), "{:#?}", report.results);
    assert_eq!(std::fs::read(work.join("motd")).expect("repaired"), body);
    assert_eq!(std::fs::metadata(work.join("motd")).expect("meta").mode() & 0o7777, 0o640);

    // Purge.
    let mut purged = resources[1].clone();
    purged.attributes.insert("purged".into(), Value::from(true));
    purged.hash.push_str("-purged");
    let report = deploy(&port, 4, &[resources[0].clone(), purged], &handlers, &io, &options, &mut |_| {}).expect("purge");
    assert_eq!(report.failed(), 0, "{:#?}", report.results);
    assert!(!work.join("motd").exists());
}
