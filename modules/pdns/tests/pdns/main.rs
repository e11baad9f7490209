//! The pdns module against a real PowerDNS authoritative server (Debian's `pdns-server` with
//! the sqlite3 backend), started by each test on free loopback ports in a folder of its own
//! and stopped by its pid (see `../shared/spec/test-servers.md`). Models are compiled with
//! the module and deployed by the agent's engine; the server is checked through its API and,
//! when `dig` is installed, over DNS.
//!
//! Needs `/usr/sbin/pdns_server` and `sqlite3` (`apt-get install -y pdns-server
//! pdns-backend-sqlite3 sqlite3`, and `dnsutils` for `dig`); the tests fail, saying so, when
//! they are missing.

use cairn_agent::{deploy, Context, DeployOptions, LocalIo, MemoryPort, NoFiles};
use cairn_compiler::fs::MemFs;
use cairn_mod_pdns::api::{KeySource, Secret};
use cairn_pipeline::{build, CompileSettings, ModuleSet};
use cairn_wire::{Action, DeployResult, ResourceDoc, ResourceState};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running pdns_server; stopped (by pid) and its folder removed when dropped.
struct Pdns {
    child: Child,
    dir: PathBuf,
    api: String,
    dns_port: u16,
    key: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Pdns {
    fn start() -> Pdns {
        assert!(Path::new("/usr/sbin/pdns_server").exists(), "pdns_server is missing: apt-get install -y pdns-server pdns-backend-sqlite3 sqlite3");
        let stamp = format!("{}-{:?}", std::process::id(), Instant::now());
        let unique: String = stamp.chars().filter(char::is_ascii_alphanumeric).collect();
        let dir = std::env::temp_dir().join(format!("cairn-pdns-test-{unique}"));
        std::fs::create_dir_all(&dir).expect("test folder");
        let schema = std::fs::File::open("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql").expect("the sqlite3 schema of pdns");
        let status = Command::new("sqlite3").arg(dir.join("pdns.sqlite3")).stdin(schema).status().expect("sqlite3 runs");
        assert!(status.success(), "sqlite3 failed to create the database");
        let key: String = format!("k{}{:x}", unique, std::process::id());
        let (dns_port, api_port) = (free_port(), free_port());
        let conf = format!(
            "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address=127.0.0.1\nlocal-port={dns_port}\napi=yes\napi-key={key}\n\
             webserver=yes\nwebserver-address=127.0.0.1\nwebserver-port={api_port}\nwebserver-allow-from=127.0.0.1\n\
             socket-dir={dir}\ndaemon=no\nguardian=no\ndisable-syslog=yes\nsecurity-poll-suffix=\n",
            db = dir.join("pdns.sqlite3").display(),
            dir = dir.display()
        );
        std::fs::write(dir.join("pdns.conf"), conf).expect("pdns.conf");
        let log = std::fs::File::create(dir.join("pdns.log")).expect("log file");
        let child = Command::new("/usr/sbin/pdns_server")
            .arg(format!("--config-dir={}", dir.display()))
            .arg("--daemon=no")
            .arg("--guardian=no")
            .arg(format!("--socket-dir={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("pdns_server starts");
        let mut server = Pdns { child, dir, api: format!("http://127.0.0.1:{api_port}"), dns_port, key };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if server.request("GET", "/api/v1/servers/localhost", None).map(|(status, _)| status == 200).unwrap_or(false) {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server.dir.join("pdns.log")).unwrap_or_default();
                panic!("pdns_server exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "the PowerDNS API did not answer within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// A plain HTTP/1.0 request to the API (independent of the module's client).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, Value)> {
        let address = self.api.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.key,
            body.len()
        )?;
        let mut answer = Vec::new();
        stream.take(64 * 1024 * 1024).read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer);
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let payload = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok((status, serde_json::from_str(payload).unwrap_or(Value::Null)))
    }

    fn zone(&self, name: &str) -> Option<Value> {
        let (status, zone) = self.request("GET", &format!("/api/v1/servers/localhost/zones/{name}"), None).expect("GET zone");
        (status == 200).then_some(zone)
    }

    /// The contents of a record set (sorted), `None` when absent.
    fn rrset(&self, zone: &str, name: &str, kind: &str) -> Option<(i64, Vec<String>)> {
        let zone = self.zone(zone)?;
        let set = zone["rrsets"].as_array()?.iter().find(|s| s["name"] == name && s["type"] == kind)?.clone();
        let mut records: Vec<String> = set["records"].as_array()?.iter().filter_map(|r| r["content"].as_str().map(str::to_string)).collect();
        records.sort();
        Some((set["ttl"].as_i64().unwrap_or(0), records))
    }

    /// Changes a record set behind Cairn's back.
    fn patch(&self, zone: &str, rrset: Value) {
        let (status, body) = self.request("PATCH", &format!("/api/v1/servers/localhost/zones/{zone}"), Some(&json!({ "rrsets": [rrset] }))).expect("PATCH");
        assert_eq!(status, 204, "{body}");
    }

    /// What `dig` answers for `name`/`kind` over DNS (`None` when dig is not installed).
    fn dig(&self, name: &str, kind: &str) -> Option<Vec<String>> {
        if !Path::new("/usr/bin/dig").exists() {
            return None;
        }
        let output = Command::new("/usr/bin/dig")
            .args(["@127.0.0.1", "-p", &self.dns_port.to_string(), "+short", "+time=3", "+tries=2", name, kind])
            .output()
            .expect("dig runs");
        let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect();
        lines.sort();
        Some(lines)
    }

    fn keys(&self) -> KeySource {
        KeySource::Fixed(Secret::new(self.key.clone()))
    }
}

impl Drop for Pdns {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn modules(keys: KeySource) -> ModuleSet {
    ModuleSet::new(vec![cairn_std::module(), cairn_mod_pdns::module_with_keys(keys)])
}

/// The model compiled and exported: its resources, or the export's error messages.
fn compile(modules: &ModuleSet, main: &str) -> Result<Vec<ResourceDoc>, String> {
    let mut fs = MemFs::new();
    fs.add("/p/project.yml", "name: p\n").add("/p/main.cf", main);
    let built = build(&fs, Path::new("/p"), modules, &CompileSettings::default()).expect("project loads");
    if !built.succeeded() {
        return Err(built.diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n"));
    }
    Ok(built.documents())
}

fn docs(modules: &ModuleSet, main: &str) -> Vec<ResourceDoc> {
    compile(modules, main).unwrap_or_else(|e| panic!("the model does not export: {e}"))
}

struct Run {
    results: Vec<DeployResult>,
}

impl Run {
    fn of(&self, id: &str) -> &DeployResult {
        self.results.iter().find(|r| r.resource.0 == id).unwrap_or_else(|| panic!("no result for {id}: {:#?}", self.results))
    }

    fn changed(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.results.iter().filter(|r| r.changed).map(|r| r.resource.0.as_str()).collect();
        ids.sort();
        ids
    }

    fn all_ok(&self) {
        for result in &self.results {
            assert!(result.succeeded(), "{} is {:?}: {}", result.resource, result.state, result.message);
        }
    }
}

fn run(server: &Pdns, port: &MemoryPort, modules: &ModuleSet, resources: &[ResourceDoc], options: DeployOptions) -> Run {
    let io = LocalIo::new(std::env::temp_dir());
    let report = deploy(port, 1, resources, &modules.handlers, &io, &options, &mut |_| {}).expect("deploy");
    // The key never shows in what the agent reports.
    for result in &report.results {
        let text = serde_json::to_string(result).expect("json");
        assert!(!text.contains(&server.key), "the API key is in the result of {}", result.resource);
    }
    Run { results: report.results }
}

fn full() -> DeployOptions {
    DeployOptions { check_all: true, ..DeployOptions::default() }
}

fn dry() -> DeployOptions {
    DeployOptions { dry_run: true, check_all: true, ..DeployOptions::default() }
}

fn site(api: &str, www: &str, extra: &str) -> String {
    format!(
        r#"
import pdns
zone = pdns::Zone(name="example.org", api="{api}", nameservers=["ns1.example.org", "ns2.example.org."], ttl=600)
pdns::Record(zone=zone, name="www", type="A", records=["{www}", "192.0.2.11"])
pdns::Record(zone=zone, name="@", type="MX", records=["10 mail.example.org."], ttl=300)
pdns::Record(zone=zone, name="mail.example.org.", type="A", records=["192.0.2.25"])
pdns::Record(zone=zone, name="ns1", type="A", records=["192.0.2.53"])
pdns::Record(zone=zone, name="info", type="TXT", records=["\"hello world\""])
pdns::Record(zone=zone, name="alias", type="cname", records=["www.example.org."])
{extra}
"#
    )
}

fn zone_id(server: &Pdns) -> String {
    format!("pdns::Zone[{},name=example.org.]", server.api)
}

fn record_id(server: &Pdns, name: &str, kind: &str) -> String {
    format!("pdns::Record[{},id=example.org.:{name}:{kind}]", server.api)
}

#[test]
fn export_shapes() {
    let set = modules(KeySource::Fixed(Secret::new("unused")));
    let resources = docs(&set, &site("http://127.0.0.1:8081/", "192.0.2.10", ""));
    let zone = resources.iter().find(|r| r.resource_type == "pdns::Zone").expect("a zone");
    assert_eq!(zone.id.0, "pdns::Zone[http://127.0.0.1:8081,name=example.org.]");
    assert_eq!(zone.agent, "http://127.0.0.1:8081");
    assert_eq!(zone.attr("nameservers"), Some(&json!(["ns1.example.org.", "ns2.example.org."])));
    assert_eq!(zone.attr("kind"), Some(&json!("Native")));
    let www = resources.iter().find(|r| r.id.0 == "pdns::Record[http://127.0.0.1:8081,id=example.org.:www.example.org.:A]").expect("www");
    assert_eq!(www.attr("name"), Some(&json!("www.example.org.")));
    assert_eq!(www.attr("zone"), Some(&json!("example.org.")));
    assert_eq!(www.attr("ttl"), Some(&json!(600)), "a record without a ttl takes its zone's");
    assert_eq!(www.attr("records"), Some(&json!(["192.0.2.10", "192.0.2.11"])));
    assert!(www.attr("id").is_none(), "the id is not a field of its own");
    assert_eq!(www.requires, vec![zone.id.clone()]);
    let mx = resources.iter().find(|r| r.id.0.ends_with("id=example.org.:example.org.:MX]")).expect("the apex MX");
    assert_eq!(mx.attr("ttl"), Some(&json!(300)));
    assert!(resources.iter().any(|r| r.id.0.ends_with("id=example.org.:alias.example.org.:CNAME]")), "types are upper case");

    let outside = compile(&set, r#"
import pdns
zone = pdns::Zone(name="example.org", api="http://127.0.0.1:8081")
pdns::Record(zone=zone, name="www.example.com.", type="A", records=["192.0.2.1"])
"#);
    let message = outside.expect_err("a name out of its zone does not export");
    assert!(message.contains("is not in the zone example.org."), "{message}");
    let bad = compile(&set, r#"
import pdns
zone = pdns::Zone(name="exa mple.org", api="http://127.0.0.1:8081")
"#);
    assert!(bad.expect_err("a bad zone name does not export").contains("is not a valid DNS name"));
    let agent = compile(&set, r#"
import pdns
zone = pdns::Zone(name="example.org", api="127.0.0.1:8081")
"#);
    assert!(agent.expect_err("an endpoint without scheme does not export").contains("is not a PowerDNS API endpoint"));
}

#[test]
fn shipped_with_cairn() {
    let resources = docs(&cairn_pipeline::shipped_modules(), &site("http://127.0.0.1:8081", "192.0.2.10", ""));
    assert_eq!(resources.len(), 7);
    assert!(resources.iter().any(|r| r.id.0 == "pdns::Zone[http://127.0.0.1:8081,name=example.org.]"));
}

#[test]
fn deploy_redeploy_drift_and_purge() {
    let server = Pdns::start();
    let set = modules(server.keys());
    let port = MemoryPort::new();
    let resources = docs(&set, &site(&server.api, "192.0.2.10", ""));
    assert_eq!(resources.len(), 7);

    // First deploy: everything created.
    let first = run(&server, &port, &set, &resources, full());
    first.all_ok();
    assert_eq!(first.changed().len(), 7, "{:#?}", first.results);
    let zone = server.zone("example.org.").expect("the zone exists");
    assert_eq!(zone["kind"], "Native");
    assert_eq!(server.rrset("example.org.", "example.org.", "NS"), Some((600, vec!["ns1.example.org.".into(), "ns2.example.org.".into()])));
    assert_eq!(server.rrset("example.org.", "www.example.org.", "A"), Some((600, vec!["192.0.2.10".into(), "192.0.2.11".into()])));
    assert_eq!(server.rrset("example.org.", "example.org.", "MX"), Some((300, vec!["10 mail.example.org.".into()])));
    assert_eq!(server.rrset("example.org.", "info.example.org.", "TXT"), Some((600, vec!["\"hello world\"".into()])));
    if let Some(answer) = server.dig("www.example.org", "A") {
        assert_eq!(answer, vec!["192.0.2.10", "192.0.2.11"]);
        assert_eq!(server.dig("alias.example.org", "CNAME"), Some(vec!["www.example.org.".to_string()]));
        assert_eq!(server.dig("example.org", "MX"), Some(vec!["10 mail.example.org.".to_string()]));
    }

    // The serial is a fact of the zone.
    let zone_doc = resources.iter().find(|r| r.resource_type == "pdns::Zone").expect("zone");
    let handler = set.handlers.get("pdns::Zone").expect("zone handler");
    let io = LocalIo::new(std::env::temp_dir());
    let cx = Context { io: &io, files: &NoFiles };
    let facts = handler.facts(&cx, zone_doc).expect("facts");
    assert_eq!(facts.get("serial"), Some(&zone["serial"]), "{facts:?}");

    // Redeploy, reading and comparing everything: nothing to change.
    let again = run(&server, &port, &set, &resources, full());
    again.all_ok();
    assert_eq!(again.changed(), Vec::<&str>::new(), "{:#?}", again.results);
    assert_eq!(server.zone("example.org.").expect("zone")["serial"], zone["serial"], "a no-change deploy writes nothing");
    // An incremental redeploy does not even read.
    let increment = run(&server, &port, &set, &resources, DeployOptions::default());
    assert!(increment.results.iter().all(|r| r.action == Action::Untouched && !r.changed), "{:#?}", increment.results);

    // Drift behind Cairn's back: a changed record, a removed one, changed nameservers.
    server.patch("example.org.", json!({"name": "www.example.org.", "type": "A", "ttl": 60, "changetype": "REPLACE",
        "records": [{"content": "203.0.113.66", "disabled": false}]}));
    server.patch("example.org.", json!({"name": "info.example.org.", "type": "TXT", "changetype": "DELETE"}));
    server.patch("example.org.", json!({"name": "example.org.", "type": "NS", "ttl": 600, "changetype": "REPLACE",
        "records": [{"content": "ns1.example.org.", "disabled": false}]}));
    // A dry run sees exactly that, and changes nothing.
    let seen = run(&server, &port, &set, &resources, dry());
    assert!(seen.results.iter().all(|r| r.state == ResourceState::Dry), "{:#?}", seen.results);
    let mut expected = [zone_id(&server), record_id(&server, "info.example.org.", "TXT"), record_id(&server, "www.example.org.", "A")];
    expected.sort();
    assert_eq!(seen.changed(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    let www = seen.of(&record_id(&server, "www.example.org.", "A"));
    let fields: Vec<&str> = www.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["records", "ttl"], "only what differs: {:#?}", www.changes);
    let zone_change = seen.of(&zone_id(&server));
    assert_eq!(zone_change.changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["nameservers"]);
    assert_eq!(server.rrset("example.org.", "www.example.org.", "A"), Some((60, vec!["203.0.113.66".into()])));
    // The repair run puts it back.
    let repair = run(&server, &port, &set, &resources, full());
    repair.all_ok();
    assert_eq!(repair.changed(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(server.rrset("example.org.", "www.example.org.", "A"), Some((600, vec!["192.0.2.10".into(), "192.0.2.11".into()])));
    assert_eq!(server.rrset("example.org.", "info.example.org.", "TXT"), Some((600, vec!["\"hello world\"".into()])));
    assert_eq!(server.rrset("example.org.", "example.org.", "NS").map(|s| s.1.len()), Some(2));
    if let Some(answer) = server.dig("www.example.org", "A") {
        assert_eq!(answer, vec!["192.0.2.10", "192.0.2.11"]);
    }
    let later = handler.facts(&cx, zone_doc).expect("facts");
    assert!(later["serial"].as_u64() > facts["serial"].as_u64(), "the serial moved on: {facts:?} -> {later:?}");

    // An update changes only the record that differs.
    let changed = docs(&set, &site(&server.api, "192.0.2.12", ""));
    let update = run(&server, &port, &set, &changed, full());
    update.all_ok();
    assert_eq!(update.changed(), vec![record_id(&server, "www.example.org.", "A").as_str()]);
    assert_eq!(server.rrset("example.org.", "www.example.org.", "A"), Some((600, vec!["192.0.2.11".into(), "192.0.2.12".into()])));

    // Purge a record, then the zone.
    let purged = docs(&set, &site(&server.api, "192.0.2.12", "").replace(r#"type="TXT", records=["\"hello world\""])"#, r#"type="TXT", records=["\"hello world\""], purged=true)"#));
    let purge = run(&server, &port, &set, &purged, full());
    purge.all_ok();
    assert_eq!(purge.changed(), vec![record_id(&server, "info.example.org.", "TXT").as_str()]);
    assert_eq!(server.rrset("example.org.", "info.example.org.", "TXT"), None);
    if let Some(answer) = server.dig("info.example.org", "TXT") {
        assert!(answer.is_empty(), "{answer:?}");
    }
    let again = run(&server, &port, &set, &purged, full());
    assert_eq!(again.changed(), Vec::<&str>::new(), "purging what is gone changes nothing");

    let gone = docs(&set, &format!(
        r#"
import pdns
zone = pdns::Zone(name="example.org", api="{}", purged=true)
pdns::Record(zone=zone, name="www", type="A", records=["192.0.2.12"], purged=true)
"#,
        server.api
    ));
    let www = gone.iter().find(|r| r.resource_type == "pdns::Record").expect("record");
    assert!(www.requires.is_empty(), "a record removed with its zone goes first");
    let zone_gone = gone.iter().find(|r| r.resource_type == "pdns::Zone").expect("zone");
    assert_eq!(zone_gone.requires, vec![www.id.clone()]);
    let removal = run(&server, &port, &set, &gone, full());
    removal.all_ok();
    assert_eq!(removal.of(&zone_id(&server)).changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["purged"]);
    assert!(server.zone("example.org.").is_none(), "the zone is deleted");
    assert!(handler.facts(&cx, zone_doc).expect("facts").is_empty(), "no serial for a zone that is gone");
    let none = run(&server, &port, &set, &gone, full());
    none.all_ok();
    assert_eq!(none.changed(), Vec::<&str>::new());
}

#[test]
fn zone_settings_change_alone() {
    let server = Pdns::start();
    let set = modules(server.keys());
    let port = MemoryPort::new();
    let model = |kind: &str, soa: &str, ttl: u32, ns: &str| {
        format!(
            r#"
import pdns
zone = pdns::Zone(name="example.net", api="{}", kind="{kind}", soa_edit_api="{soa}", ttl={ttl}, nameservers=[{ns}])
pdns::Record(zone=zone, name="www", type="A", records=["192.0.2.80"], ttl=60)
secondary = pdns::Zone(name="secondary.example", api="{}", kind="Slave", masters=["192.0.2.53", "192.0.2.54"])
"#,
            server.api, server.api
        )
    };
    let zone_id = format!("pdns::Zone[{},name=example.net.]", server.api);
    let first = run(&server, &port, &set, &docs(&set, &model("Native", "DEFAULT", 3600, r#""ns1.example.net""#)), full());
    first.all_ok();
    let secondary = server.zone("secondary.example.").expect("the secondary zone");
    assert_eq!(secondary["kind"], "Slave");
    assert_eq!(secondary["masters"], json!(["192.0.2.53", "192.0.2.54"]));

    let changed = run(&server, &port, &set, &docs(&set, &model("Master", "INCREASE", 3600, r#""ns1.example.net""#)), full());
    changed.all_ok();
    assert_eq!(changed.changed(), vec![zone_id.as_str()], "{:#?}", changed.results);
    let fields: Vec<&str> = changed.of(&zone_id).changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["kind", "soa_edit_api"]);
    let zone = server.zone("example.net.").expect("zone");
    assert_eq!((zone["kind"].as_str(), zone["soa_edit_api"].as_str()), (Some("Master"), Some("INCREASE")));

    // The zone's TTL: the apex NS set follows; a record with its own TTL does not.
    let ttl = run(&server, &port, &set, &docs(&set, &model("Master", "INCREASE", 900, r#""ns1.example.net", "ns2.example.net""#)), full());
    ttl.all_ok();
    assert_eq!(ttl.changed(), vec![zone_id.as_str()]);
    assert_eq!(server.rrset("example.net.", "example.net.", "NS"), Some((900, vec!["ns1.example.net.".into(), "ns2.example.net.".into()])));
    assert_eq!(server.rrset("example.net.", "www.example.net.", "A"), Some((60, vec!["192.0.2.80".into()])));

    // No nameservers: the apex NS set goes.
    let none = run(&server, &port, &set, &docs(&set, &model("Master", "INCREASE", 900, "")), full());
    none.all_ok();
    assert_eq!(server.rrset("example.net.", "example.net.", "NS"), None);
    let again = run(&server, &port, &set, &docs(&set, &model("Master", "INCREASE", 900, "")), full());
    assert_eq!(again.changed(), Vec::<&str>::new(), "{:#?}", again.results);
}

#[test]
fn dry_run_changes_nothing() {
    let server = Pdns::start();
    let set = modules(server.keys());
    let port = MemoryPort::new();
    let resources = docs(&set, &site(&server.api, "192.0.2.10", ""));
    let seen = run(&server, &port, &set, &resources, dry());
    assert!(seen.results.iter().all(|r| r.state == ResourceState::Dry && r.changed), "{:#?}", seen.results);
    let www = seen.of(&record_id(&server, "www.example.org.", "A"));
    assert_eq!(www.changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["purged", "records", "ttl"]);
    assert!(www.diff.as_deref().unwrap_or_default().contains("192.0.2.10"), "{:?}", www.diff);
    assert!(server.zone("example.org.").is_none(), "a dry run creates nothing");
}

#[test]
fn a_bad_record_fails_alone() {
    let server = Pdns::start();
    let set = modules(server.keys());
    let port = MemoryPort::new();
    let extra = r#"
pdns::Record(zone=zone, name="bad", type="AX", records=["192.0.2.1"])
pdns::Record(zone=zone, name="worse", type="A", records=["192.0.2.x"])
pdns::Record(zone=zone, name="v6", type="AAAA", records=["2001:DB8::1"])
"#;
    let resources = docs(&set, &site(&server.api, "192.0.2.10", extra));
    let first = run(&server, &port, &set, &resources, full());
    let bad_type = first.of(&record_id(&server, "bad.example.org.", "AX"));
    assert_eq!(bad_type.state, ResourceState::Failed);
    assert!(bad_type.message.contains("422") && bad_type.message.contains("unknown type given"), "{}", bad_type.message);
    let bad_content = first.of(&record_id(&server, "worse.example.org.", "A"));
    assert_eq!(bad_content.state, ResourceState::Failed);
    assert!(bad_content.message.contains("unable to parse IP address"), "{}", bad_content.message);
    let uncanonical = first.of(&record_id(&server, "v6.example.org.", "AAAA"));
    assert_eq!(uncanonical.state, ResourceState::Failed);
    assert!(uncanonical.message.contains("2001:db8::1"), "PowerDNS's own form is named: {}", uncanonical.message);
    // Everything else deployed.
    for result in &first.results {
        if ![&bad_type.resource, &bad_content.resource, &uncanonical.resource].contains(&&result.resource) {
            assert_eq!(result.state, ResourceState::Deployed, "{}: {}", result.resource, result.message);
        }
    }
    assert_eq!(server.rrset("example.org.", "www.example.org.", "A").map(|s| s.1.len()), Some(2));
    assert_eq!(server.rrset("example.org.", "bad.example.org.", "AX"), None);
    assert_eq!(server.rrset("example.org.", "worse.example.org.", "A"), None);
    if let Some(answer) = server.dig("mail.example.org", "A") {
        assert_eq!(answer, vec!["192.0.2.25"]);
    }

    // A document that did not come from the export is checked before anything is sent.
    let mut outside = resources.iter().find(|r| r.id.0.contains("id=example.org.:www.")).expect("www").clone();
    outside.attributes.insert("name".into(), json!("www.example.com."));
    outside.id.0 = outside.id.0.replace("www.example.org.", "www.example.com.");
    outside.hash = "other".into();
    outside.requires.clear();
    let refused = run(&server, &port, &set, &[outside], full());
    let message = &refused.results[0].message;
    assert_eq!(refused.results[0].state, ResourceState::Failed);
    assert!(message.contains("is not in the zone example.org."), "{message}");
}

#[test]
fn the_api_key_comes_from_the_agent() {
    let server = Pdns::start();
    // A wrong key: refused, said so, and the key is not in the message.
    let wrong = modules(KeySource::Fixed(Secret::new("not-the-key-0123")));
    let port = MemoryPort::new();
    let resources = docs(&wrong, &site(&server.api, "192.0.2.10", ""));
    let refused = run(&server, &port, &wrong, &resources, full());
    let zone = refused.of(&zone_id(&server));
    assert_eq!(zone.state, ResourceState::Failed);
    assert!(zone.message.contains("401") && zone.message.contains("API key was refused"), "{}", zone.message);
    assert!(!zone.message.contains("not-the-key-0123"));
    assert!(refused.results.iter().filter(|r| r.resource != zone.resource).all(|r| r.state == ResourceState::Skipped), "{:#?}", refused.results);

    // From the agent's environment: the variable, else the file it names.
    let from_env = modules(KeySource::Environment);
    let key_file = server.dir.join("api-key");
    std::fs::write(&key_file, format!("{}\n", server.key)).expect("key file");
    // The only test that touches these variables.
    std::env::remove_var(cairn_mod_pdns::api::KEY_VARIABLE);
    std::env::remove_var(cairn_mod_pdns::api::KEY_FILE_VARIABLE);
    let missing = run(&server, &port, &from_env, &resources, full());
    let message = &missing.of(&zone_id(&server)).message;
    assert!(message.contains("CAIRN_PDNS_API_KEY"), "{message}");
    std::env::set_var(cairn_mod_pdns::api::KEY_FILE_VARIABLE, &key_file);
    let deployed = run(&server, &port, &from_env, &resources, full());
    std::env::remove_var(cairn_mod_pdns::api::KEY_FILE_VARIABLE);
    deployed.all_ok();
    assert!(server.zone("example.org.").is_some());
    std::env::set_var(cairn_mod_pdns::api::KEY_VARIABLE, &server.key);
    let again = run(&server, &port, &from_env, &resources, full());
    std::env::remove_var(cairn_mod_pdns::api::KEY_VARIABLE);
    again.all_ok();
    assert_eq!(again.changed(), Vec::<&str>::new());
}

#[test]
fn an_unreachable_endpoint_fails_with_the_reason() {
    let set = modules(KeySource::Fixed(Secret::new("some-key-value")));
    let port = MemoryPort::new();
    let api = format!("http://127.0.0.1:{}", free_port());
    let resources = docs(&set, &site(&api, "192.0.2.10", ""));
    let io = LocalIo::new(std::env::temp_dir());
    let started = Instant::now();
    let report = deploy(&port, 1, &resources, &set.handlers, &io, &full(), &mut |_| {}).expect("deploy");
    assert!(started.elapsed() < Duration::from_secs(30));
    let zone = report.results.iter().find(|r| r.resource.0.starts_with("pdns::Zone")).expect("zone");
    assert_eq!(zone.state, ResourceState::Failed);
    assert!(zone.message.contains("cannot connect"), "{}", zone.message);

    // https speaks TLS: a listener that does not (a plain HTTP socket here) fails the
    // handshake, with the reason, and the key never crosses in clear.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let address = plain.local_addr().expect("address");
    let answering = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = plain.accept() {
            let mut first = [0u8; 1];
            let _ = stream.read(&mut first);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            // A TLS ClientHello starts with the handshake record type 0x16.
            return first[0];
        }
        0
    });
    let tls = docs(&set, &site(&format!("https://{address}"), "192.0.2.10", ""));
    let report = deploy(&port, 2, &tls, &set.handlers, &io, &full(), &mut |_| {}).expect("deploy");
    let zone = report.results.iter().find(|r| r.resource.0.starts_with("pdns::Zone")).expect("zone");
    assert_eq!(zone.state, ResourceState::Failed);
    assert!(zone.message.contains(&format!("https://{address}")), "{}", zone.message);
    assert!(!zone.message.contains("some-key-value"));
    assert_eq!(answering.join().expect("listener thread"), 0x16, "the client opened with a TLS handshake");
}
