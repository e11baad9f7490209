//! The event stream end to end: `GET /api/v1/events` read with a plain HTTP/1.1 client (a
//! socket, the chunked body decoded by hand) from one server while another server on the
//! same SecantusDB takes the uploads and the first agent process, through a deploy, a
//! failover to a standby on the other server and a second deploy. Every expected event must
//! arrive once and in order, and a reader that drops its connection and reconnects with
//! `Last-Event-ID` must miss none.

use crate::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENV: &str = "prod";

#[derive(Clone, Debug, PartialEq)]
struct Received {
    id: u64,
    kind: String,
    data: serde_json::Value,
}

/// A reader of the stream on its own thread, until stopped.
struct Reader {
    events: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Reader {
    fn start(port: u16, query: &str, last_event_id: Option<u64>) -> Reader {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopping) = (Arc::clone(&events), Arc::clone(&stop));
        let request = format!(
            "GET /api/v1/events{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\nAccept: text/event-stream\r\n{}\r\n",
            last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default()
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || -> Result<(), String> {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            stream.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
            stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
            let mut reader = BufReader::new(stream);
            let mut status = String::new();
            read_line(&mut reader, &mut status, &stopping)?;
            if !status.contains(" 200 ") {
                return Err(format!("the stream answered {status}"));
            }
            let mut chunked = false;
            loop {
                let mut header = String::new();
                read_line(&mut reader, &mut header, &stopping)?;
                if header.trim().is_empty() {
                    break;
                }
                if header.to_ascii_lowercase().starts_with("transfer-encoding:") && header.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
            let _ = ready_tx.send(());
            let mut text = String::new();
            loop {
                let bytes = if chunked {
                    let mut size = String::new();
                    read_line(&mut reader, &mut size, &stopping)?;
                    let size = usize::from_str_radix(size.trim(), 16).map_err(|_| format!("bad chunk size {size:?}"))?;
                    if size == 0 {
                        return Ok(());
                    }
                    let mut chunk = vec![0u8; size + 2];
                    read_exact(&mut reader, &mut chunk, &stopping)?;
                    chunk.truncate(size);
                    chunk
                } else {
                    let mut line = String::new();
                    read_line(&mut reader, &mut line, &stopping)?;
                    line.into_bytes()
                };
                text.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if let Some(event) = parse(&block) {
                        sink.lock().map_err(|e| e.to_string())?.push(event);
                    }
                }
            }
        });
        // The request is in before the caller changes anything (a stream without
        // Last-Event-ID starts at the next event).
        let _ = ready_rx.recv_timeout(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(200));
        Reader { events, stop, thread: Some(thread) }
    }

    fn received(&self) -> Vec<Received> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn stop(mut self) -> Vec<Received> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) | Ok(Err(_)) => {}
                Err(_) => panic!("the reader panicked"),
            }
        }
        self.received()
    }
}

/// Reads a line, retrying on the socket's read timeout until stopped.
fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String, stop: &AtomicBool) -> Result<(), String> {
    loop {
        match reader.read_line(line) {
            Ok(0) => return Err("the stream ended".into()),
            Ok(_) if line.ends_with('\n') => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return Err("stopped".into());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn read_exact(reader: &mut BufReader<TcpStream>, buffer: &mut [u8], stop: &AtomicBool) -> Result<(), String> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => return Err("the stream ended".into()),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return Err("stopped".into());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn parse(block: &str) -> Option<Received> {
    let (mut id, mut kind, mut data) = (None, String::from("message"), String::new());
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("event:") {
            kind = value.trim().to_string();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() {
        return None; // a keep-alive comment
    }
    let data: serde_json::Value = serde_json::from_str(&data).ok()?;
    Some(Received { id: id.unwrap_or(0), kind, data })
}

fn model(work: &std::path::Path, content: &str, count: usize) -> String {
    let mut main = String::from("import fs\nhost = std::Host(name=\"web\", os=std::linux, ip=\"127.0.0.1\")\n");
    for i in 0..count {
        main.push_str(&format!("fs::File(host=host, path=\"{}\", content=\"{content} {i}\\n\", mode=644)\n", work.join(format!("out-{i}")).display()));
    }
    main
}

fn position(events: &[Received], what: &str, matches: impl Fn(&Received) -> bool) -> usize {
    let found: Vec<usize> = events.iter().enumerate().filter(|(_, e)| matches(e)).map(|(i, _)| i).collect();
    assert_eq!(found.len(), 1, "{what}: expected once, found {} times in\n{events:#?}", found.len());
    found[0]
}

#[test]
fn the_event_stream_follows_a_deploy_and_a_failover_across_servers_and_resumes_without_a_gap() {
    let work = temp_dir("events");
    let mongo = Secantus::start(&work);
    let one = Server::start(&work, "server-1", &mongo.uri("cairn_events"), "2");
    let two = Server::start(&work, "server-2", &mongo.uri("cairn_events"), "2");
    let token = environment(&one, &work);
    // The first reader, on server 2, from now on; everything else goes through server 1.
    let first_reader = Reader::start(two.port, &format!("?environment={ENV}"), None);
    let first = Agent::start(&work, "agent-a", &one, &token, &["-e", ENV, "--name", "web"]);
    wait_until(Duration::from_secs(30), "a primary for web", || one.primary_pid(ENV, "web") == Some(first.pid));
    let count = 5;
    release(&one, &work, &model(&work, "one", count));
    wait_until(Duration::from_secs(60), "version 1 deployed", || one.count(ENV, "deployed") == count as u64);
    // The stream has seen the deploy end, then the reader drops its connection.
    wait_until(Duration::from_secs(20), "the reader seeing every result of version 1", || {
        first_reader.received().iter().filter(|e| e.kind == "resource.state" && e.data["data"]["state"] == "deployed").count() == count
    });
    let before = first_reader.stop();
    let last_seen = before.last().map(|e| e.id).expect("events were read");

    // While nobody reads: a standby on server 2, then the primary dies (a failover) and a
    // second version is deployed by the standby.
    let second = Agent::start(&work, "agent-b", &two, &token, &["-e", ENV, "--name", "web"]);
    wait_until(Duration::from_secs(30), "the standby's session", || {
        one.json(&format!("/api/v1/environments/{ENV}/agents"))["agents"][0]["standby"].as_array().is_some_and(|s| s.len() == 1)
    });
    let mut first = first;
    first.kill_hard();
    wait_until(Duration::from_secs(30), "the standby becoming primary", || one.primary_pid(ENV, "web") == Some(second.pid));
    release(&one, &work, &model(&work, "two", count));
    wait_until(Duration::from_secs(60), "version 2 deployed", || {
        (0..count).all(|i| std::fs::read_to_string(work.join(format!("out-{i}"))).ok() == Some(format!("two {i}\n")))
    });
    wait_until(Duration::from_secs(30), "every result of version 2 stored", || {
        let states = one.json(&format!("/api/v1/environments/{ENV}/resources"));
        states["resources"].as_array().is_some_and(|r| r.len() == count && r.iter().all(|s| s["state"] == "deployed" && s["version"] == 2))
    });

    // Reconnected with Last-Event-ID: what happened meanwhile, then live.
    let second_reader = Reader::start(two.port, &format!("?environment={ENV}"), Some(last_seen));
    wait_until(Duration::from_secs(20), "the reader catching up on version 2", || {
        second_reader.received().iter().filter(|e| e.kind == "resource.state" && e.data["data"]["state"] == "deployed" && e.data["data"]["version"] == 2).count() == count
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = second_reader.stop();
    let mut joined = before.clone();
    joined.extend(after.clone());

    // The whole log, read again from the start on server 1: the two connections together
    // saw exactly what it holds from the first event read, once each and in order.
    let full_reader = Reader::start(one.port, &format!("?environment={ENV}"), Some(0));
    let last_joined = joined.last().map(|e| e.id).unwrap_or(0);
    wait_until(Duration::from_secs(20), "the replay reaching the last event read", || full_reader.received().iter().any(|e| e.id >= last_joined));
    let full: Vec<Received> = full_reader.stop().into_iter().filter(|e| e.id >= joined[0].id && e.id <= last_joined).collect();
    let ids: Vec<u64> = joined.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids are not increasing (a duplicate or a reordering): {ids:?}");
    assert_eq!(joined, full, "the reconnected stream missed or repeated events");
    assert!(joined.iter().all(|e| e.data["environment"] == ENV && e.data["id"] == e.id && e.data["kind"] == e.kind.as_str()));

    // What was expected, once each and in order.
    let session_of = |pid: u32| -> String {
        let up = joined.iter().find(|e| e.kind == "agent.up" && e.data["data"]["pid"] == pid).unwrap_or_else(|| panic!("no agent.up of pid {pid} in {joined:#?}"));
        up.data["data"]["session"].as_str().unwrap_or_default().to_string()
    };
    let (session_a, session_b) = (session_of(first.pid), session_of(second.pid));
    let at = |what: &str, matches: &dyn Fn(&serde_json::Value) -> bool, kind: &str| position(&joined, what, |e| e.kind == kind && matches(&e.data["data"]));
    let up_a = at("agent a up", &|d| d["session"] == session_a.as_str(), "agent.up");
    let primary_a = at("a primary", &|d| d["to_session"] == session_a.as_str(), "agent.primary");
    let uploaded_1 = at("version 1 uploaded", &|d| d["version"] == 1, "version.uploaded");
    let released_1 = at("version 1 released", &|d| d["version"] == 1, "version.released");
    let up_b = at("agent b up", &|d| d["session"] == session_b.as_str(), "agent.up");
    // Killed, its connection closes: the session ends (or, had the socket stayed open,
    // expires), and its lease goes with it.
    let down_a = at("agent a down", &|d| d["session"] == session_a.as_str() && (d["reason"] == "ended" || d["reason"] == "expired"), "agent.down");
    let a_deposed = at("a no longer primary", &|d| d["from_session"] == session_a.as_str() && d["to_session"].is_null(), "agent.primary");
    let primary_b = at("b primary", &|d| d["to_session"] == session_b.as_str(), "agent.primary");
    let uploaded_2 = at("version 2 uploaded", &|d| d["version"] == 2, "version.uploaded");
    let released_2 = at("version 2 released", &|d| d["version"] == 2, "version.released");
    assert!(up_a < primary_a && uploaded_1 < released_1, "{joined:#?}");
    assert!(released_1 < up_b && up_b < down_a.min(a_deposed) && down_a.max(a_deposed) < primary_b, "{joined:#?}");
    assert!(primary_b < released_2 && uploaded_2 < released_2, "{joined:#?}");
    let mut deployed: BTreeMap<(String, u64), Vec<usize>> = BTreeMap::new();
    let mut deploying: BTreeMap<(String, u64), Vec<usize>> = BTreeMap::new();
    for (i, e) in joined.iter().enumerate().filter(|(_, e)| e.kind == "resource.state") {
        let key = (e.data["data"]["resource"].as_str().unwrap_or_default().to_string(), e.data["data"]["version"].as_u64().unwrap_or(0));
        match e.data["data"]["state"].as_str() {
            Some("deployed") => deployed.entry(key).or_default().push(i),
            Some("deploying") => deploying.entry(key).or_default().push(i),
            other => panic!("unexpected state {other:?} in {e:?}"),
        }
    }
    let resources: BTreeSet<&String> = deployed.keys().map(|(r, _)| r).collect();
    assert_eq!(resources.len(), count, "{deployed:#?}");
    for version in [1u64, 2] {
        for resource in &resources {
            let key = ((*resource).clone(), version);
            let done = deployed.get(&key).unwrap_or_else(|| panic!("{resource} v{version} never deployed: {joined:#?}"));
            assert_eq!(done.len(), 1, "{resource} v{version} deployed {} times", done.len());
            let started = deploying.get(&key).map(|s| s.as_slice()).unwrap_or_default();
            assert_eq!(started.len(), 1, "{resource} v{version} marked deploying {} times", started.len());
            assert!(started[0] < done[0], "{resource} v{version}: deployed before deploying");
            let (released, primary) = if version == 1 { (released_1, primary_a) } else { (released_2, primary_b) };
            assert!(done[0] > released && done[0] > primary, "{resource} v{version} deployed before its release or its primary");
        }
    }
}

#[test]
fn the_event_stream_refuses_what_it_must() {
    let work = temp_dir("events-refusals");
    let server = Server::start(&work, "server", &format!("sqlite:{}", work.join("state.db").display()), "10");
    let agent_token = environment(&server, &work);
    let ask = |path: &str, headers: &str| -> u16 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n").expect("write");
        let mut status = String::new();
        BufReader::new(stream).read_line(&mut status).expect("status line");
        status.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let admin = format!("Authorization: Bearer {ADMIN}\r\n");
    let agent = format!("Authorization: Bearer {agent_token}\r\n");
    assert_eq!(ask("/api/v1/events", ""), 401, "no token");
    assert_eq!(ask("/api/v1/events?environment=prod", "Authorization: Bearer cairn_wrong\r\n"), 401);
    assert_eq!(ask("/api/v1/events?environment=nowhere", &admin), 404);
    assert_eq!(ask("/api/v1/events?kind=resource.stat", &admin), 400, "a kind that does not exist");
    assert_eq!(ask("/api/v1/events", &format!("{admin}Last-Event-ID: yesterday\r\n")), 400);
    assert_eq!(ask("/api/v1/events?environment=other", &agent), 403, "another environment's events");
    assert_eq!(ask("/api/v1/events", &agent), 200, "an agent token reads its own environment's");
}
