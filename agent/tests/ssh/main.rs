//! `SshIo` against a real OpenSSH server (Debian's openssh-server) on a loopback port, with
//! throw-away host and user keys made by `ssh-keygen` for each test. Nothing is mocked: the
//! files the tests write over SSH are checked on this machine's file system (the server is
//! local), and the server's log shows what it saw.
//!
//! Needs `/usr/sbin/sshd` and `ssh-keygen` (`apt-get install -y openssh-server`); the tests
//! fail with that said when they are missing. Run as root (sshd and chown need it).

use cairn_agent::{FileAttrs, FileKind, Io, SshIo, SshOptions, SshTarget};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder removed at drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cairn-ssh-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keygen(kind: &str, path: &Path, passphrase: &str) {
    let mut command = Command::new("ssh-keygen");
    command.args(["-q", "-t", kind, "-N", passphrase, "-C", "cairn-test", "-f"]).arg(path);
    if kind == "rsa" {
        command.args(["-b", "2048"]);
    }
    let status = command.stdin(Stdio::null()).status().expect("ssh-keygen (apt-get install -y openssh-server)");
    assert!(status.success(), "ssh-keygen failed");
}

/// `SHA256:...` of a public key file, as `ssh-keygen -l` prints it.
fn fingerprint(public: &Path) -> String {
    let output = Command::new("ssh-keygen").arg("-l").arg("-f").arg(public).output().expect("ssh-keygen -l");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split_whitespace().nth(1).expect("fingerprint field").to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A running sshd with its keys; stopped by pid at drop.
struct Sshd {
    dir: Scratch,
    port: u16,
    child: Option<Child>,
    user_key: PathBuf,
    known_hosts: PathBuf,
    host_public: PathBuf,
    log: PathBuf,
}

impl Sshd {
    fn start() -> Sshd {
        assert!(Path::new("/usr/sbin/sshd").exists(), "/usr/sbin/sshd is missing: apt-get install -y openssh-server");
        let dir = Scratch::new("sshd");
        let d = dir.0.clone();
        keygen("ed25519", &d.join("hostkey"), "");
        keygen("ed25519", &d.join("userkey"), "");
        keygen("rsa", &d.join("userkey_rsa"), "");
        let mut authorized = std::fs::read_to_string(d.join("userkey.pub")).expect("user key");
        authorized.push_str(&std::fs::read_to_string(d.join("userkey_rsa.pub")).expect("rsa user key"));
        std::fs::write(d.join("authorized_keys"), authorized).expect("authorized_keys");
        std::fs::set_permissions(d.join("authorized_keys"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let port = free_port();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PermitRootLogin prohibit-password\nSubsystem sftp /usr/lib/openssh/sftp-server\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let log = d.join("sshd.log");
        let log_file = std::fs::File::create(&log).expect("log");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .args(["-D", "-e"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("sshd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "sshd did not listen: {}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(20));
        }
        let host_public = d.join("hostkey.pub");
        let known_hosts = d.join("known_hosts");
        let line = std::fs::read_to_string(&host_public).expect("host key");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {line}")).expect("known_hosts");
        Sshd { user_key: d.join("userkey"), dir, port, child: Some(child), known_hosts, host_public, log }
    }

    fn target(&self) -> SshTarget {
        SshTarget {
            user: "root".into(),
            host: "127.0.0.1".into(),
            port: self.port,
            key_file: self.user_key.clone(),
            known_hosts_file: self.known_hosts.clone(),
            sudo: false,
        }
    }

    fn io(&self) -> SshIo {
        SshIo::with_options(self.target(), options()).expect("SshIo")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the per-connection processes of this sshd (its children), not the listener:
    /// every open connection drops.
    fn drop_connections(&self) {
        let Some(child) = &self.child else { return };
        let parent = child.id();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // The fields after the command name (in parentheses): state, ppid, ...
            let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest.to_string()) else { continue };
            let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = &self.dir;
    }
}

fn options() -> SshOptions {
    SshOptions { connect_timeout: Duration::from_secs(5), call_timeout: Duration::from_secs(20), keepalive: Duration::from_secs(5) }
}

fn attrs(mode: u32) -> FileAttrs {
    FileAttrs { mode, uid: None, gid: None }
}

#[test]
fn files_are_written_read_and_changed_over_sftp() {
    let sshd = Sshd::start();
    let io = sshd.io();
    let work = Scratch::new("files");
    let file = work.0.join("motd");
    assert_eq!(io.stat(&file).expect("stat"), None);
    assert_eq!(io.read_file(&file, 1024).expect("read"), None);

    io.write_file(&file, b"hello over ssh\n", &FileAttrs { mode: 0o640, uid: Some(1234), gid: Some(2345) }).expect("write");
    io.flush().expect("flush");
    let local = std::fs::symlink_metadata(&file).expect("written");
    assert_eq!(local.mode() & 0o7777, 0o640);
    assert_eq!((local.uid(), local.gid()), (1234, 2345));
    assert_eq!(std::fs::read(&file).expect("content"), b"hello over ssh\n");
    assert_eq!(io.read_file(&file, 1024).expect("read").as_deref(), Some(&b"hello over ssh\n"[..]));
    let stat = io.stat(&file).expect("stat").expect("present");
    assert_eq!((stat.kind, stat.mode, stat.uid, stat.gid, stat.size), (FileKind::File, 0o640, 1234, 2345, 15));

    io.set_mode(&file, 0o4755).expect("mode");
    assert_eq!(std::fs::symlink_metadata(&file).expect("meta").mode() & 0o7777, 0o4755);
    io.chown(&file, Some(7), None).expect("chown uid only");
    let meta = std::fs::symlink_metadata(&file).expect("meta");
    assert_eq!((meta.uid(), meta.gid()), (7, 2345));
    io.chown(&file, None, Some(8)).expect("chown gid only");
    assert_eq!(std::fs::symlink_metadata(&file).expect("meta").gid(), 8);

    // A second write replaces the first; no temporary file is left.
    io.write_file(&file, b"second", &attrs(0o600)).expect("rewrite");
    assert_eq!(std::fs::read(&file).expect("content"), b"second");
    let names: Vec<String> = std::fs::read_dir(&work.0).expect("list").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["motd".to_string()]);

    // Folders: missing parents made, mode exact, removal.
    let nested = work.0.join("a/b/c");
    io.create_dir(&nested, 0o750).expect("create_dir");
    assert_eq!(std::fs::symlink_metadata(&nested).expect("dir").mode() & 0o7777, 0o750);
    assert_eq!(io.stat(&nested).expect("stat").map(|s| s.kind), Some(FileKind::Directory));
    io.create_dir(&nested, 0o700).expect("create_dir again sets the mode");
    assert_eq!(std::fs::symlink_metadata(&nested).expect("dir").mode() & 0o7777, 0o700);
    io.remove_dir(&nested).expect("remove_dir");
    assert!(!nested.exists());

    // Links: made with the target given, stat reports where they point.
    let link = work.0.join("link");
    io.symlink("motd", &link).expect("symlink");
    assert_eq!(std::fs::read_link(&link).expect("a link"), PathBuf::from("motd"));
    let stat = io.stat(&link).expect("stat").expect("present");
    assert_eq!((stat.kind, stat.target.as_deref()), (FileKind::Symlink, Some("motd")));
    io.remove_file(&link).expect("remove link");
    io.remove_file(&file).expect("remove file");
    assert!(!file.exists() && std::fs::symlink_metadata(&link).is_err());
    let error = io.remove_file(&file).expect_err("absent");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains(&format!("root@127.0.0.1:{}", sshd.port)), "{error}");

    // Accounts through read_file of /etc/passwd and /etc/group.
    assert_eq!(io.user_id("root").expect("passwd"), Some(0));
    assert_eq!(io.group_id("root").expect("group"), Some(0));
    assert_eq!(io.user_name(0).expect("passwd").as_deref(), Some("root"));
    assert_eq!(io.user_id("no-such-user-here").expect("passwd"), None);
}

#[test]
fn links_are_replaced_never_followed_and_reads_are_bounded() {
    let sshd = Sshd::start();
    let io = sshd.io();
    let work = Scratch::new("links");
    let victim = work.0.join("victim");
    std::fs::write(&victim, "precious").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let path = work.0.join("managed");
    std::os::unix::fs::symlink(&victim, &path).expect("planted link");

    let error = io.read_file(&path, 1024).expect_err("a link is not read");
    assert!(error.to_string().contains("symbolic link"), "{error}");
    let refused = io.set_mode(&path, 0o666);
    assert_eq!(std::fs::metadata(&victim).expect("victim").mode() & 0o777, 0o600, "set_mode went through the link ({refused:?})");
    let _ = io.chown(&path, Some(4321), Some(4321));
    assert_eq!(std::fs::metadata(&victim).expect("victim").uid(), 0, "chown went through the link");

    io.write_file(&path, b"managed content", &attrs(0o644)).expect("write over a link");
    assert!(std::fs::symlink_metadata(&path).expect("path").file_type().is_file(), "the link was replaced by a file");
    assert_eq!(std::fs::read(&path).expect("content"), b"managed content");
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious", "the link was followed");

    // Over the limit: refused, with the size said.
    let big = work.0.join("big");
    std::fs::write(&big, vec![b'x'; 10_000]).expect("big");
    let error = io.read_file(&big, 9_999).expect_err("over the limit");
    assert!(error.to_string().contains("larger than 9999 bytes"), "{error}");
    assert_eq!(io.read_file(&big, 10_000).expect("at the limit").map(|c| c.len()), Some(10_000));

    // A FIFO is never opened (it would block the SFTP server).
    let fifo = work.0.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let error = io.read_file(&fifo, 1024).expect_err("a FIFO is refused");
    assert!(error.to_string().contains("not a regular file"), "{error}");
    assert_eq!(io.stat(&fifo).expect("stat").map(|s| s.kind), Some(FileKind::Other));
}

#[test]
fn a_write_is_atomic_under_a_concurrent_reader() {
    let sshd = Sshd::start();
    let io = sshd.io();
    let work = Scratch::new("atomic");
    let path = work.0.join("data");
    let old = vec![b'a'; 3 * 1024 * 1024];
    let new = vec![b'b'; 5 * 1024 * 1024 + 17];
    std::fs::write(&path, &old).expect("old content");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut content = Vec::new();
                std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut content)).expect("the name is always there");
                assert!(content == old || content == new, "a partial file was visible ({} bytes)", content.len());
                reads += 1;
            }
            reads
        });
        io.write_file(&path, &new, &attrs(0o644)).expect("write");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().expect("reader")
    });
    assert!(seen > 0);
    assert_eq!(std::fs::read(&path).expect("content"), new);
    assert_eq!(io.read_file(&path, 64 * 1024 * 1024).expect("read back").map(|c| c.len()), Some(new.len()));
}

#[test]
fn commands_report_code_output_and_time_out() {
    let sshd = Sshd::start();
    let io = sshd.io();
    let work = Scratch::new("run");
    let output = io.run("echo out; echo err >&2; exit 3", None, &[], Duration::from_secs(10)).expect("run");
    assert_eq!((output.code, output.stdout.as_str(), output.stderr.as_str(), output.timed_out), (Some(3), "out\n", "err\n", false));

    let env = vec![("GREETING".to_string(), "it's \"quoted\" $HOME `x`".to_string())];
    let output = io.run("pwd; printf '%s' \"$GREETING\"", Some(&work.0), &env, Duration::from_secs(10)).expect("run");
    assert_eq!(output.stdout, format!("{}\nit's \"quoted\" $HOME `x`", work.0.display()));
    assert_eq!(output.code, Some(0));

    let error = io.run("true", Some(&work.0.join("absent")), &[], Duration::from_secs(10)).expect("run");
    assert_eq!(error.code, Some(126), "{error:?}");
    assert!(error.stderr.contains("working folder"), "{error:?}");

    // Output is bounded like LocalIo's.
    let output = io.run("head -c 1000000 /dev/zero | tr '\\0' x", None, &[], Duration::from_secs(10)).expect("run");
    assert!(output.stdout.len() < 70_000 && output.stdout.contains("bytes cut"), "{}", output.stdout.len());

    // A timeout ends the command and the process it started.
    let marker = work.0.join("survived");
    let started = Instant::now();
    let command = format!("sleep 3 && touch {}", marker.display());
    let output = io.run(&command, None, &[], Duration::from_millis(500)).expect("run");
    assert!(output.timed_out && output.code.is_none(), "{output:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "the command went on after its timeout");

    // Several threads share the connection.
    std::thread::scope(|scope| {
        for t in 0..6 {
            let io = &io;
            let work = &work;
            scope.spawn(move || {
                for i in 0..10 {
                    let path = work.0.join(format!("f{t}-{i}"));
                    io.write_file(&path, format!("{t}/{i}").as_bytes(), &attrs(0o644)).expect("parallel write");
                    let output = io.run(&format!("cat {}", path.display()), None, &[], Duration::from_secs(10)).expect("parallel run");
                    assert_eq!(output.stdout, format!("{t}/{i}"));
                }
            });
        }
    });
    let connections = sshd.log().matches("Accepted publickey").count();
    assert_eq!(connections, 1, "one pooled connection: {}", sshd.log());
}

#[test]
fn an_unknown_or_changed_host_key_is_refused_before_anything_is_sent() {
    let sshd = Sshd::start();
    let expected = fingerprint(&sshd.host_public);
    let work = Scratch::new("hostkey");
    let marker = work.0.join("ran");
    let command = format!("touch {}", marker.display());

    // Unknown: the known-hosts file has no line for [127.0.0.1]:PORT.
    let mut target = sshd.target();
    target.known_hosts_file = work.0.join("empty_known_hosts");
    std::fs::write(&target.known_hosts_file, "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDzd6m6fO3l1vGZ1Dk5hQ4a9Xv2ZB6hRSZb1A6iQZm2v\n").expect("known_hosts");
    let io = SshIo::with_options(target, options()).expect("io");
    let error = io.run(&command, None, &[], Duration::from_secs(5)).expect_err("unknown key");
    let text = error.to_string();
    assert!(text.contains(&expected) && text.contains("unknown host key"), "{text} (expected {expected})");
    let error = io.stat(&work.0).expect_err("every call fails");
    assert!(error.to_string().contains(&expected), "{error}");

    // Changed: the file holds another key for this host and port.
    let other = work.0.join("otherkey");
    keygen("ed25519", &other, "");
    let line = std::fs::read_to_string(other.with_extension("pub")).expect("other key");
    let mut target = sshd.target();
    target.known_hosts_file = work.0.join("changed_known_hosts");
    std::fs::write(&target.known_hosts_file, format!("# comment\n[127.0.0.1]:{} {line}", sshd.port)).expect("known_hosts");
    let io = SshIo::with_options(target, options()).expect("io");
    let error = io.write_file(&work.0.join("f"), b"x", &attrs(0o644)).expect_err("changed key");
    let text = error.to_string();
    assert!(text.contains(&expected) && text.contains("CHANGED") && text.contains("line 2"), "{text}");

    std::thread::sleep(Duration::from_millis(200));
    let log = sshd.log();
    println!("sshd log after the refused connections:\n{log}");
    assert!(!marker.exists() && !work.0.join("f").exists(), "something ran");
    assert!(!log.contains("publickey") && !log.contains("Accepted") && !log.contains("Failed"), "the server saw an authentication attempt:\n{log}");
    assert!(log.contains("Connection closed by") || log.contains("Connection reset") || log.contains("disconnected"), "{log}");

    // Hashed entries (ssh-keygen -H) are understood.
    let hashed = work.0.join("hashed_known_hosts");
    std::fs::copy(&sshd.known_hosts, &hashed).expect("copy");
    assert!(Command::new("ssh-keygen").arg("-H").arg("-f").arg(&hashed).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("ssh-keygen -H").success());
    assert!(std::fs::read_to_string(&hashed).expect("hashed").starts_with("|1|"));
    let mut target = sshd.target();
    target.known_hosts_file = hashed;
    let io = SshIo::with_options(target, options()).expect("io");
    assert_eq!(io.run("echo ok", None, &[], Duration::from_secs(5)).expect("hashed entry").stdout, "ok\n");
}

#[test]
fn an_unreachable_target_fails_with_its_reason_and_another_keeps_working() {
    let sshd = Sshd::start();
    let good = sshd.io();
    let mut down = sshd.target();
    down.port = free_port();
    let down = SshIo::with_options(down, options()).expect("io");
    std::thread::scope(|scope| {
        let failing = scope.spawn(|| down.stat(Path::new("/")).expect_err("nothing listens"));
        let working = scope.spawn(|| good.run("echo up", None, &[], Duration::from_secs(5)).expect("the reachable target"));
        let error = failing.join().expect("thread");
        assert!(error.to_string().contains("cannot reach 127.0.0.1") && error.to_string().to_lowercase().contains("refused"), "{error}");
        assert_eq!(working.join().expect("thread").stdout, "up\n");
    });
    // Retried with a backoff: an immediate second call fails at once, saying when it retries.
    let started = Instant::now();
    let error = down.stat(Path::new("/")).expect_err("still down");
    assert!(error.to_string().contains("next attempt in"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(good.stat(Path::new("/")).expect("stat").is_some());
}

#[test]
fn a_dropped_connection_is_made_again() {
    let sshd = Sshd::start();
    let io = sshd.io();
    assert_eq!(io.run("echo one", None, &[], Duration::from_secs(5)).expect("first").stdout, "one\n");
    sshd.drop_connections();
    std::thread::sleep(Duration::from_millis(300));
    let mut failures = 0;
    let output = loop {
        match io.run("echo two", None, &[], Duration::from_secs(5)) {
            Ok(output) => break output,
            Err(error) => {
                failures += 1;
                assert!(failures < 2, "not reconnected: {error}");
            }
        }
    };
    assert_eq!(output.stdout, "two\n");
    assert!(io.stat(Path::new("/etc")).expect("stat after reconnect").is_some());
    assert_eq!(sshd.log().matches("Accepted publickey").count(), 2);
}

#[test]
fn keys_rsa_works_and_a_passphrase_is_a_clear_error() {
    let sshd = Sshd::start();
    let mut target = sshd.target();
    target.key_file = sshd.dir.0.join("userkey_rsa");
    let io = SshIo::with_options(target, options()).expect("io");
    assert_eq!(io.run("echo rsa", None, &[], Duration::from_secs(5)).expect("RSA key").stdout, "rsa\n");

    let locked = sshd.dir.0.join("locked");
    keygen("ed25519", &locked, "a passphrase");
    let mut target = sshd.target();
    target.key_file = locked;
    let io = SshIo::with_options(target, options()).expect("io");
    let error = io.connect().expect_err("a passphrase-protected key");
    assert!(error.to_string().contains("passphrase"), "{error}");

    let mut target = sshd.target();
    target.key_file = sshd.dir.0.join("no-such-key");
    let io = SshIo::with_options(target, options()).expect("io");
    let error = io.connect().expect_err("a missing key");
    assert!(error.to_string().contains("cannot read the key file"), "{error}");
}

#[test]
fn targets_parse_from_urls() {
    let target = SshTarget::from_url("ssh://deploy@web1.example:2222", "/k", "/kh", true).expect("url");
    assert_eq!((target.user.as_str(), target.host.as_str(), target.port, target.sudo), ("deploy", "web1.example", 2222, true));
    assert_eq!(SshTarget::from_url("ssh://root@[::1]", "/k", "/kh", false).expect("ipv6").port, 22);
    assert!(SshTarget::from_url("ssh://host:22", "/k", "/kh", false).is_err());
}

/// A user with password-less sudo (made once on this machine: `useradd`, a sudoers.d file).
fn sudo_user() -> &'static str {
    const USER: &str = "cairn-ssh-sudo";
    assert!(Path::new("/usr/bin/sudo").exists(), "sudo is missing: apt-get install -y sudo");
    let exists = Command::new("id").arg(USER).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("id").success();
    if !exists {
        let made = Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]).status().expect("useradd");
        // Tests may race to make it: it exists afterwards either way.
        assert!(made.success() || Command::new("id").arg(USER).status().expect("id").success(), "useradd {USER}");
    }
    // A usable shadow entry, or sshd refuses the login with UsePAM no.
    assert!(Command::new("usermod").args(["-p", "*", USER]).status().expect("usermod").success());
    let sudoers = Path::new("/etc/sudoers.d/cairn-ssh-test");
    std::fs::write(sudoers, format!("{USER} ALL=(ALL) NOPASSWD: ALL\n")).expect("sudoers.d");
    std::fs::set_permissions(sudoers, std::fs::Permissions::from_mode(0o440)).expect("chmod sudoers");
    USER
}

#[test]
fn sudo_runs_commands_and_file_operations_as_root() {
    let sshd = Sshd::start();
    let user = sudo_user();
    let work = Scratch::new("sudo");
    std::fs::set_permissions(&work.0, std::fs::Permissions::from_mode(0o700)).expect("root-only folder");
    let secret = work.0.join("secret");
    std::fs::write(&secret, "root only").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let mut target = sshd.target();
    target.user = user.to_string();
    let plain = SshIo::with_options(target.clone(), options()).expect("io");
    let output = plain.run("id -un", None, &[], Duration::from_secs(5)).expect("run as the user");
    assert_eq!(output.stdout, format!("{user}\n"));
    let error = plain.write_file(&work.0.join("f"), b"x", &attrs(0o644)).expect_err("not root without sudo");
    assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied, "{error}");

    target.sudo = true;
    let root = SshIo::with_options(target, options()).expect("io");
    let env = vec![("WHO".to_string(), "kept".to_string())];
    let output = root.run("id -u; echo $WHO; pwd", Some(&work.0), &env, Duration::from_secs(5)).expect("run under sudo");
    assert_eq!(output.stdout, format!("0\nkept\n{}\n", work.0.display()), "{output:?}");
    assert_eq!(root.read_file(&secret, 1024).expect("read under sudo").as_deref(), Some(&b"root only"[..]));
    root.write_file(&work.0.join("f"), b"as root", &FileAttrs { mode: 0o600, uid: Some(0), gid: Some(0) }).expect("write under sudo");
    let meta = std::fs::metadata(work.0.join("f")).expect("written");
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    root.chown(&work.0.join("f"), Some(4242), None).expect("chown under sudo");
    assert_eq!(std::fs::metadata(work.0.join("f")).expect("meta").uid(), 4242);
    root.create_dir(&work.0.join("d/e"), 0o700).expect("create_dir under sudo");
    assert_eq!(root.stat(&work.0.join("d/e")).expect("stat").map(|s| (s.kind, s.uid)), Some((FileKind::Directory, 0)));
    root.flush().expect("flush under sudo");
}

/// Not a benchmark (that is the script), a floor: 300 small files written and read
/// back by 8 threads on one connection, with the rate printed (`--nocapture`).
#[test]
fn many_small_files_share_one_connection() {
    let sshd = Sshd::start();
    let io = sshd.io();
    let work = Scratch::new("many");
    io.connect().expect("connect");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (io, work) = (&io, &work);
            scope.spawn(move || {
                for i in 0..300 / 8 + 1 {
                    let path = work.0.join(format!("{t}-{i}"));
                    assert_eq!(io.read_file(&path, 1024).expect("read"), None);
                    io.write_file(&path, format!("file {t} {i}\n").as_bytes(), &attrs(0o644)).expect("write");
                    assert!(io.stat(&path).expect("stat").is_some());
                }
            });
        }
    });
    io.flush().expect("flush");
    let elapsed = started.elapsed();
    let files = 8 * (300 / 8 + 1);
    println!("{files} files (read, write, stat each) in {:.2} s: {:.0} files/s", elapsed.as_secs_f64(), files as f64 / elapsed.as_secs_f64());
    assert_eq!(std::fs::read_dir(&work.0).expect("list").count(), files);
    assert_eq!(sshd.log().matches("Accepted publickey").count(), 1);
}
