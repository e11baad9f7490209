//! Commands over SSH: the remote command line (working folder, environment, `sudo -n`, a
//! remote `timeout` as a backstop), and the channel read with bounded output and a deadline
//! after which the command is signalled and its channel closed.
//!
//! The login shell of the target user runs the line sshd receives, so it must be a POSIX
//! shell; the command itself always runs under `/bin/sh -c`, as [`crate::io::LocalIo`] runs it.

use super::connection::Connection;
use crate::io::output::{BoundedOutput, OUTPUT_LIMIT};
use crate::io::CommandOutput;
use russh::ChannelMsg;
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// How long the output of a finished (or killed) command is still read: a background process
/// that keeps the channel open must not hold the deploy (as in `LocalIo`).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// A word for a POSIX shell: single-quoted, with embedded quotes closed and escaped.
pub(crate) fn quote(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for c in word.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The line sent to sshd for `command`.
pub(super) fn command_line(command: &str, cwd: Option<&Path>, env: &[(String, String)], timeout: Duration, sudo: bool) -> io::Result<String> {
    let mut script = String::new();
    if let Some(cwd) = cwd {
        let cwd = cwd.to_str().ok_or_else(|| io::Error::other(format!("the working folder {} is not UTF-8", cwd.display())))?;
        script.push_str(&format!("cd {} || {{ echo 'the working folder does not exist' >&2; exit 126; }}; ", quote(cwd)));
    }
    for (key, value) in env {
        if !is_name(key) {
            return Err(io::Error::other(format!("{key:?} is not a valid environment variable name")));
        }
        script.push_str(&format!("{key}={}; export {key}; ", quote(value)));
    }
    // The remote `timeout` (GNU coreutils, BusyBox) kills the command's whole process group a
    // second after the client gave up, in case the channel's close does not reach it.
    let backstop = timeout.as_secs_f64() + 1.0;
    let quoted = quote(command);
    script.push_str(&format!(
        "if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL {backstop:.3} /bin/sh -c {quoted}; else exec /bin/sh -c {quoted}; fi"
    ));
    Ok(if sudo { format!("exec sudo -n -- /bin/sh -c {}", quote(&script)) } else { script })
}

/// Runs `line` on a new channel of `connection`.
pub(super) async fn run(connection: &Connection, line: String, timeout: Duration) -> io::Result<CommandOutput> {
    let mut channel = connection.handle.channel_open_session().await.map_err(|e| io::Error::other(format!("cannot open an SSH channel: {e}")))?;
    channel.exec(true, line).await.map_err(|e| io::Error::other(format!("cannot start the command: {e}")))?;
    let mut stdout = BoundedOutput::new(OUTPUT_LIMIT);
    let mut stderr = BoundedOutput::new(OUTPUT_LIMIT);
    let mut code: Option<i32> = None;
    let mut exited = false;
    let mut timed_out = false;
    let mut complete = false;
    let mut deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, channel.wait()).await {
            Ok(Some(ChannelMsg::Data { data })) => stdout.push(&data),
            Ok(Some(ChannelMsg::ExtendedData { data, ext: 1 })) => stderr.push(&data),
            Ok(Some(ChannelMsg::ExitStatus { exit_status })) => {
                code = i32::try_from(exit_status).ok();
                if !exited {
                    exited = true;
                    deadline = deadline.min(Instant::now() + OUTPUT_GRACE);
                }
            }
            Ok(Some(ChannelMsg::ExitSignal { .. })) => {
                code = None;
                if !exited {
                    exited = true;
                    deadline = deadline.min(Instant::now() + OUTPUT_GRACE);
                }
            }
            Ok(Some(ChannelMsg::Failure)) if !exited => {
                return Err(io::Error::other("the server refused to run the command"));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                complete = true;
                break;
            }
            Err(_) => {
                if !exited {
                    timed_out = true;
                    let _ = channel.signal(russh::Sig::KILL).await;
                }
                let _ = channel.close().await;
                break;
            }
        }
    }
    if !exited && !timed_out {
        // The channel closed without an exit status: the connection dropped.
        if connection.is_closed() {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the SSH connection dropped while the command ran"));
        }
    }
    let unfinished = "[output not complete: a process the command started still holds it open]";
    let text = |output: BoundedOutput| if complete || timed_out { output.text() } else { format!("{}\n{unfinished}", output.text()) };
    Ok(CommandOutput { code: if timed_out { None } else { code }, stdout: text(stdout), stderr: text(stderr), timed_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_specials() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME"), "'it'\\''s $HOME'");
    }

    #[test]
    fn environment_names_are_checked() {
        let env = vec![("BAD NAME".to_string(), "x".to_string())];
        assert!(command_line("true", None, &env, Duration::from_secs(1), false).is_err());
        let env = vec![("GOOD_1".to_string(), "x'y".to_string())];
        let line = command_line("echo", Some(Path::new("/tmp")), &env, Duration::from_secs(1), true).unwrap_or_default();
        assert!(line.starts_with("exec sudo -n -- /bin/sh -c "), "{line}");
    }
}
