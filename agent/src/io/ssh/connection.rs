//! One SSH connection to a target: TCP connect, the host key checked against the target's
//! known-hosts file before anything else is sent, public key authentication, and the SFTP
//! session the file operations share.
//!
//! The host key check is strict: a key that the known-hosts file does not hold for
//! `host` (port 22) or `[host]:port`, or holds with another value, ends the handshake in
//! [`Checker::check_server_key`], before the client sends its user name or key. The error
//! names the offered key's SHA256 fingerprint as `ssh-keygen -l` prints it.

use super::SshTarget;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the SFTP server lives on the usual systems (Debian, Red Hat, Alpine, Arch).
const SFTP_SERVERS: &[&str] = &["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server", "/usr/lib/ssh/sftp-server"];

/// The SSH client's event handler: only the host key check.
pub(super) struct Checker {
    host: String,
    port: u16,
    known_hosts: std::path::PathBuf,
    /// Why the key was refused, for the error the caller sees (russh only says "unknown key").
    verdict: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let refusal = match offered {
            PublicKeyOrCertificate::Certificate(_) => Some("the host offered a certificate, and Cairn checks plain host keys against the known-hosts file only".to_string()),
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                let fingerprint = key.fingerprint(HashAlg::Sha256);
                let algorithm = key.algorithm();
                let name = if self.port == 22 { self.host.clone() } else { format!("[{}]:{}", self.host, self.port) };
                let file = self.known_hosts.display();
                if !self.known_hosts.is_file() {
                    Some(format!("unknown host key {algorithm} {fingerprint} for {name}: the known-hosts file {file} does not exist"))
                } else {
                    match russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
                        Ok(true) => None,
                        Ok(false) => Some(format!("unknown host key {algorithm} {fingerprint} for {name}: not in the known-hosts file {file}")),
                        Err(russh::keys::Error::KeyChanged { line }) => {
                            let line = file_line(&self.known_hosts, line);
                            Some(format!(
                            "HOST KEY CHANGED for {name}: it offered {algorithm} {fingerprint}, and line {line} of {file} holds another key (a man-in-the-middle, or a reinstalled host: check, then correct that line)"
                        ))
                        }
                        Err(error) => Some(format!("cannot check host key {algorithm} {fingerprint} of {name} against {file}: {error}")),
                    }
                }
            }
        };
        match refusal {
            None => Ok(true),
            Some(reason) => {
                *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{reason}; refused before authentication, nothing was sent"));
                Ok(false)
            }
        }
    }
}

/// The line of the known-hosts file that russh calls `entry`: russh counts the lines that
/// are not comments, the user's editor counts them all.
fn file_line(path: &std::path::Path, entry: usize) -> usize {
    let Ok(text) = std::fs::read_to_string(path) else { return entry };
    let mut seen = 0;
    for (index, line) in text.lines().enumerate() {
        if !line.starts_with('#') {
            seen += 1;
            if seen == entry {
                return index + 1;
            }
        }
    }
    entry
}

/// An authenticated connection and its SFTP session.
pub(super) struct Connection {
    pub handle: Handle<Checker>,
    pub sftp: RawSftpSession,
    /// The server supports `posix-rename@openssh.com` (rename over an existing name).
    pub posix_rename: bool,
    /// `lsetstat@openssh.com` (set attributes without following a link).
    pub lsetstat: bool,
    /// `fsync@openssh.com`.
    pub fsync: bool,
}

impl Connection {
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}

fn other(message: String) -> io::Error {
    io::Error::other(message)
}

/// Loads the private key (ed25519, RSA, ECDSA in OpenSSH or PEM form); a passphrase-protected
/// key is refused, agents run unattended. The key's content is never put in an error.
fn load_key(target: &SshTarget) -> io::Result<russh::keys::PrivateKey> {
    let path = &target.key_file;
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(other(format!(
            "the key file {} is protected by a passphrase, which Cairn does not support (agents run unattended): use a key without one, readable only by the agent",
            path.display()
        ))),
        Err(russh::keys::Error::IO(error)) => Err(io::Error::new(error.kind(), format!("cannot read the key file {}: {error}", path.display()))),
        Err(error) => Err(other(format!("the key file {} holds no usable private key: {error}", path.display()))),
    }
}

/// Opens, checks and authenticates a connection, and starts its SFTP session (under `sudo -n`
/// when the target says so). The caller bounds the time it takes.
pub(super) async fn connect(target: &SshTarget, keepalive: Duration, request_timeout: Duration) -> io::Result<Connection> {
    let key = load_key(target)?;
    let config = client::Config {
        keepalive_interval: Some(keepalive),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    };
    let verdict = Arc::new(Mutex::new(None));
    let checker = Checker { host: target.host.clone(), port: target.port, known_hosts: target.known_hosts_file.clone(), verdict: verdict.clone() };
    let socket = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot reach {}:{}: {e}", target.host, target.port)))?;
    let connected = client::connect_stream(Arc::new(config), socket, checker).await;
    let mut handle = match connected {
        Ok(handle) => handle,
        Err(error) => {
            let refused = verdict.lock().unwrap_or_else(|p| p.into_inner()).take();
            return Err(match refused {
                Some(reason) => io::Error::new(io::ErrorKind::PermissionDenied, reason),
                None => other(format!("SSH handshake with {}:{} failed: {error}", target.host, target.port)),
            });
        }
    };
    let hash = if key.algorithm().is_rsa() {
        handle.best_supported_rsa_hash().await.map_err(|e| other(format!("SSH negotiation failed: {e}")))?.flatten()
    } else {
        None
    };
    let auth = handle
        .authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await
        .map_err(|e| other(format!("SSH authentication failed: {e}")))?;
    if !auth.success() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the server refused the key {} for user {}", target.key_file.display(), target.user),
        ));
    }
    let channel = handle.channel_open_session().await.map_err(|e| other(format!("cannot open an SSH channel: {e}")))?;
    if target.sudo {
        let mut script = String::new();
        for path in SFTP_SERVERS {
            script.push_str(&format!("[ -x {path} ] && exec {path}; "));
        }
        script.push_str("echo 'no sftp-server found' >&2; exit 127");
        let command = format!("exec sudo -n -- /bin/sh -c {}", super::command::quote(&script));
        channel.exec(true, command).await.map_err(|e| other(format!("cannot start sftp-server under sudo: {e}")))?;
    } else {
        channel.request_subsystem(true, "sftp").await.map_err(|e| other(format!("the server refused the SFTP subsystem: {e}")))?;
    }
    let config = russh_sftp::client::Config { request_timeout_secs: request_timeout.as_secs().max(1), ..Default::default() };
    let sftp = RawSftpSession::new_with_config(channel.into_stream(), config);
    let version = sftp.init().await.map_err(|e| {
        if target.sudo {
            other(format!("sftp-server did not start under `sudo -n` (does {} have password-less sudo?): {e}", target.user))
        } else {
            other(format!("the SFTP session did not start: {e}"))
        }
    })?;
    let has = |name: &str| version.extensions.contains_key(name);
    Ok(Connection { posix_rename: has("posix-rename@openssh.com"), lsetstat: has("lsetstat@openssh.com"), fsync: has("fsync@openssh.com"), handle, sftp })
}
