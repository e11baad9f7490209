//! `exec::Run` deployed to a host over SSH: the module's handler, unchanged, through the
//! agent's `SshIo`, against a real OpenSSH server on a loopback port started by
//! `scripts/test-sshd.sh` (throw-away keys; needs openssh-server and root). The server is this
//! machine, so what the commands did is checked on the local file system.

use cairn_agent::{deploy, DeployOptions, HandlerRegistry, MemoryPort};
use cairn_wire::{ResourceDoc, ResourceId, ResourceState};
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;


#[path = "../../../tests/support/sshd.rs"]
mod sshd;
use sshd::Sshd;

fn run(command: &str, attributes: Value) -> ResourceDoc {
    let mut map: BTreeMap<String, Value> = serde_json::from_value(attributes).expect("attributes");
    map.insert("command".into(), Value::from(command));
    let hash = cairn_wire::digest::sha1_hex(serde_json::to_string(&map).expect("json").as_bytes());
    ResourceDoc {
        id: ResourceId(format!("exec::Run[remote1,command={command}]")),
        resource_type: "exec::Run".into(),
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
fn exec_runs_over_ssh_with_cwd_environment_creates_and_failures() {
    let sshd = Sshd::start("exec");
    let io = sshd.io();
    let work = sshd.dir.join("work");
    std::fs::create_dir_all(&work).expect("work folder");
    let port = MemoryPort::new();
    let mut handlers = HandlerRegistry::new();
    for resource in cairn_mod_exec::module().resources {
        if let Some(handler) = resource.handler {
            handlers.register(&resource.decl.name, handler);
        }
    }
    let marker = work.join("done");
    let resources = vec![
        run(
            "printf '%s in %s' \"$GREETING\" \"$(pwd)\" > done",
            json!({"cwd": work.display().to_string(), "creates": marker.display().to_string(), "environment": {"GREETING": "it's hello"}, "timeout": 10}),
        ),
        run("echo broken >&2; exit 4", json!({"timeout": 10})),
    ];
    let options = DeployOptions { check_all: true, ..DeployOptions::default() };
    let report = deploy(&port, 1, &resources, &handlers, &io, &options, &mut |_| {}).expect("deploy");
    assert_eq!(std::fs::read_to_string(&marker).expect("the command ran"), format!("it's hello in {}", work.display()));
    let failed = &report.results[1];
    assert_eq!(failed.state, ResourceState::Failed, "{failed:#?}");
    assert!(failed.message.contains("exited with 4") && failed.message.contains("broken"), "{}", failed.message);
    assert_eq!(report.results[0].state, ResourceState::Deployed);

    // `creates` exists now: the command does not run again.
    std::fs::write(&marker, "kept").expect("marker");
    let report = deploy(&port, 2, &resources[..1], &handlers, &io, &options, &mut |_| {}).expect("redeploy");
    assert_eq!((report.changed(), report.failed()), (0, 0), "{:#?}", report.results);
    assert_eq!(std::fs::read_to_string(&marker).expect("marker"), "kept");
}
