//! A throw-away sshd for module tests of handlers over SSH (`scripts/test-sshd.sh`: loopback
//! port, throw-away keys; needs openssh-server and root), and an `SshIo` to it. Included by
//! path (`#[path]`) by the tests of the module crates.

use cairn_agent::{SshIo, SshOptions, SshTarget};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-sshd.sh")
}

/// The sshd of `scripts/test-sshd.sh`, stopped by the script (by pid) at drop.
pub struct Sshd {
    pub dir: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Sshd {
    /// Starts one; `name` makes its folder unique to the test binary.
    pub fn start(name: &str) -> Sshd {
        let dir = std::env::temp_dir().join(format!("cairn-{name}-ssh-{}", std::process::id()));
        let output = Command::new("bash").arg(script()).arg("start").arg(&dir).output().expect("scripts/test-sshd.sh");
        assert!(output.status.success(), "sshd did not start: {}", String::from_utf8_lossy(&output.stderr));
        let vars = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Sshd { dir, vars }
    }

    pub fn io(&self) -> SshIo {
        let target = SshTarget {
            user: self.vars["SSHD_USER"].clone(),
            host: "127.0.0.1".into(),
            port: self.vars["SSHD_PORT"].parse().expect("port"),
            key_file: self.vars["SSHD_KEY"].clone().into(),
            known_hosts_file: self.vars["SSHD_KNOWN_HOSTS"].clone().into(),
            sudo: false,
        };
        SshIo::with_options(target, SshOptions { connect_timeout: Duration::from_secs(5), ..SshOptions::default() }).expect("SshIo")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

