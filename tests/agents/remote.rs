//! `docs/remote.md` run as written: a real sshd (`scripts/test-sshd.sh`) and a real PowerDNS
//! (`scripts/test-pdns.sh`) on loopback ports, a `cairn server` whose agent map sends agent
//! `web1` over SSH and the PowerDNS endpoint to its own server-side agents, the page's `cairn`
//! commands run by a shell with the page's variables set, and the results checked on the
//! "remote" host and through the PowerDNS API. Next to the page: a host that is down and a host
//! whose key is not the known one fail their own resources with the reason, and web1 deploys.

use super::support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs `scripts/NAME start DIR` and reads the `KEY=VALUE` lines it prints.
fn start_script(name: &str, dir: &Path) -> BTreeMap<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name);
    let output = Command::new("bash").arg(&script).arg("start").arg(dir).output().expect("the script runs");
    assert!(output.status.success(), "{name} start: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|word| word.split_once('=').map(|(k, v)| (k.to_string(), v.trim_matches(|c| c == '"' || c == '\'').to_string())))
        .collect()
}

struct Stop(&'static str, PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(self.0);
        let _ = Command::new("bash").arg(script).arg("stop").arg(&self.1).output();
    }
}

/// The `sh` blocks of the page (not those marked `skip`), line by line, and its models.
fn page() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/remote.md")).expect("docs/remote.md");
    let (mut commands, mut models) = (Vec::new(), Vec::new());
    let mut block: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut block {
            None if line.starts_with("```") => block = Some((line.trim_start_matches('`').to_string(), String::new())),
            None => {}
            Some((kind, body)) if line.starts_with("```") => {
                match kind.as_str() {
                    "sh" => commands.extend(body.lines().map(str::to_string).filter(|l| !l.trim().is_empty())),
                    "cf-fragment" => models.push(body.clone()),
                    _ => {}
                }
                block = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    (commands, models)
}

fn project(dir: &Path, main: &str) {
    std::fs::create_dir_all(dir).expect("project");
    std::fs::write(dir.join("project.yml"), "name: remote\n").expect("project.yml");
    std::fs::write(dir.join("main.cf"), main).expect("main.cf");
}

fn states(server: &Server) -> BTreeMap<String, serde_json::Value> {
    let page = server.json("/api/v1/environments/prod/resources?limit=1000");
    page["resources"].as_array().cloned().unwrap_or_default().into_iter().map(|s| (s["resource"].as_str().unwrap_or_default().to_string(), s)).collect()
}

fn state_of(server: &Server, id: &str) -> String {
    states(server).get(id).and_then(|s| s["state"].as_str().map(str::to_string)).unwrap_or_default()
}

/// A GET of the PowerDNS API.
fn pdns_get(api: &str, key: &str, path: &str) -> (u16, serde_json::Value) {
    let address = api.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return (0, serde_json::Value::Null) };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nX-API-Key: {key}\r\n\r\n");
    use std::io::Write;
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, serde_json::Value::Null);
    }
    let (status, body) = read_response(&mut stream);
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn the_remote_page_runs_as_written_over_real_ssh_and_powerdns() {
    let work = temp_dir("remote");
    let sshd = start_script("test-sshd.sh", &work.join("sshd"));
    let _stop_sshd = Stop("test-sshd.sh", work.join("sshd"));
    let pdns = start_script("test-pdns.sh", &work.join("pdns"));
    let _stop_pdns = Stop("test-pdns.sh", work.join("pdns"));
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "5");
    let (commands, models) = page();
    assert_eq!(models.len(), 2, "the page shows a host's model and a zone's");
    let site = work.join("site");
    project(&work.join("remote"), &models[0].replace("/srv/site", &site.display().to_string()));
    project(&work.join("dns"), &models[1]);
    let cairn = PathBuf::from(env!("CARGO_BIN_EXE_cairn"));
    let path = format!("{}:{}", cairn.parent().expect("bin dir").display(), std::env::var("PATH").unwrap_or_default());
    let variables = [
        ("CAIRN_SERVER", server.url()),
        ("CAIRN_TOKEN", ADMIN.to_string()),
        ("WEB1", "127.0.0.1".to_string()),
        ("SSH_PORT", sshd["SSHD_PORT"].clone()),
        ("SSH_USER", sshd["SSHD_USER"].clone()),
        ("SSH_KEY", sshd["SSHD_KEY"].clone()),
        ("KNOWN_HOSTS", sshd["SSHD_KNOWN_HOSTS"].clone()),
        ("PDNS_API", pdns["PDNS_API"].clone()),
        ("PDNS_API_KEY", pdns["PDNS_API_KEY"].clone()),
        ("PATH", path),
    ];
    let file = site.join("index.html");
    let zone_id = format!("pdns::Zone[{},name=example.org.]", pdns["PDNS_API"]);
    for line in &commands {
        let output = Command::new("bash").arg("-c").arg(line).current_dir(&work).envs(variables.iter().map(|(k, v)| (*k, v.as_str()))).output().expect("bash runs");
        assert!(output.status.success(), "`{line}` failed: {}", text(&output));
        if line.starts_with("cairn export remote") {
            wait_until(Duration::from_secs(60), "web1's file deployed over SSH", || state_of(&server, &format!("fs::File[web1,path={}]", file.display())) == "deployed");
            assert_eq!(std::fs::read_to_string(&file).unwrap_or_default(), "Hello from web1\n");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).expect("file").permissions().mode() & 0o777, 0o644);
            // Drift is repaired by a repair run.
            std::fs::write(&file, "changed by hand\n").expect("drift");
            let repaired = Command::new(&cairn).args(["deploy", "-e", "prod", "--full"]).envs(variables.iter().map(|(k, v)| (*k, v.as_str()))).output().expect("runs");
            assert!(repaired.status.success(), "{}", text(&repaired));
            wait_until(Duration::from_secs(60), "the drift repaired over SSH", || std::fs::read_to_string(&file).unwrap_or_default() == "Hello from web1\n");
        }
        if line.starts_with("cairn export dns") {
            wait_until(Duration::from_secs(60), "the zone deployed through the API", || state_of(&server, &zone_id) == "deployed");
            wait_until(Duration::from_secs(60), "every record deployed", || {
                states(&server).iter().filter(|(id, _)| id.starts_with("pdns::Record")).all(|(_, s)| s["state"] == "deployed")
            });
            let (status, zone) = pdns_get(&pdns["PDNS_API"], &pdns["PDNS_API_KEY"], "/api/v1/servers/localhost/zones/example.org.");
            assert_eq!(status, 200, "{zone}");
            let rrsets = zone["rrsets"].as_array().cloned().unwrap_or_default();
            let www = rrsets.iter().find(|r| r["name"] == "www.example.org." && r["type"] == "A").expect("www's A record");
            assert_eq!(www["records"][0]["content"], "192.0.2.10");
            // The serial is kept as the zone's fact.
            wait_until(Duration::from_secs(30), "the zone's serial as a fact", || {
                server.json("/api/v1/environments/prod/facts")["facts"][&zone_id]["serial"].is_u64()
            });
            // The key is a secret: the API never shows it.
            let shown = server.request("GET", "/api/v1/environments/prod", None).1;
            assert!(!shown.contains(&pdns["PDNS_API_KEY"]) && shown.contains("<secret>"), "{shown}");
        }
        if line.starts_with("cairn env unset-agent prod web1") {
            wait_until(Duration::from_secs(30), "no primary for web1", || server.primary_pid("prod", "web1").is_none());
        }
    }
    assert!(!std::fs::read_to_string(&server.log).unwrap_or_default().contains(&pdns["PDNS_API_KEY"]), "the server log never shows the API key");
}

#[test]
fn a_host_that_is_down_or_has_another_key_fails_alone() {
    let work = temp_dir("remote-bad");
    let sshd = start_script("test-sshd.sh", &work.join("sshd"));
    let _stop_sshd = Stop("test-sshd.sh", work.join("sshd"));
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "5");
    let env = [("CAIRN_SERVER", server.url()), ("CAIRN_TOKEN", ADMIN.to_string())];
    assert!(cairn(&["env", "create", "prod"], &work, &env).status.success());
    let port = &sshd["SSHD_PORT"];
    let (key, known) = (sshd["SSHD_KEY"].clone(), sshd["SSHD_KNOWN_HOSTS"].clone());
    // web1 is the real host; web2 a port nobody listens on; web3 the real host with a
    // known-hosts file that holds another key.
    let other = work.join("other_known_hosts");
    let other_key = work.join("otherkey");
    let made = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other_key).status().expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(other_key.with_extension("pub")).expect("public key");
    std::fs::write(&other, format!("[127.0.0.1]:{port} {}\n", public.split_whitespace().take(2).collect::<Vec<_>>().join(" "))).expect("known hosts");
    let closed = free_port();
    for (name, target, known_hosts) in [
        ("web1", format!("ssh://root@127.0.0.1:{port}"), known.clone()),
        ("web2", format!("ssh://root@127.0.0.1:{closed}"), known.clone()),
        ("web3", format!("ssh://root@127.0.0.1:{port}"), other.display().to_string()),
    ] {
        let set = cairn(&["env", "set-agent", "prod", name, &target, "--key", &key, "--known-hosts", &known_hosts, "--autostart"], &work, &env);
        assert!(set.status.success(), "{}", text(&set));
    }
    let mut main = String::from("import fs\nimport mitogen\n");
    for name in ["web1", "web2", "web3"] {
        main.push_str(&format!(
            "{name} = std::Host(name=\"{name}\", os=std::linux, via=mitogen::Local())\nfs::File(host={name}, path=\"{}\", content=\"{name}\\n\")\n",
            work.join(format!("{name}.txt")).display()
        ));
    }
    project(&work.join("fleet"), &main);
    let pushed = cairn(&["export", "fleet", "-e", "prod", "--release"], &work, &env);
    assert!(pushed.status.success(), "{}", text(&pushed));
    let id = |name: &str| format!("fs::File[{name},path={}]", work.join(format!("{name}.txt")).display());
    wait_until(Duration::from_secs(60), "web1 deployed and the others failed", || {
        state_of(&server, &id("web1")) == "deployed" && state_of(&server, &id("web2")) == "failed" && state_of(&server, &id("web3")) == "failed"
    });
    assert_eq!(std::fs::read_to_string(work.join("web1.txt")).unwrap_or_default(), "web1\n");
    assert!(!work.join("web3.txt").exists(), "nothing was done with an unknown host key");
    let message = |name: &str| server.logs("prod", &id(name)).last().and_then(|l| l["message"].as_str().map(str::to_string)).unwrap_or_default();
    assert!(message("web2").contains("127.0.0.1"), "web2 says why: {}", message("web2"));
    let fingerprint = Command::new("ssh-keygen").args(["-l", "-f"]).arg(work.join("sshd/hostkey.pub")).output().expect("ssh-keygen -l");
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout).split_whitespace().nth(1).unwrap_or_default().to_string();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    assert!(message("web3").contains(&fingerprint), "web3 names the host's key: {}", message("web3"));
}
