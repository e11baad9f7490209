//! The agent port over a session: what a deploy of one agent name in one term reads and
//! reports. The states it reads came with the work; intents and results are sent with the
//! term's epoch and wait for the server's acknowledgement (across reconnections, bounded),
//! so that a result the engine counts as reported is stored; file bodies are asked for by
//! hash. An acknowledgement that says `fenced` stops the deploy: another process is the
//! primary now, and nothing more of this term may be written.

use super::shared::{Answer, Shared};
use crate::port::{DeployPort, PortError};
use cairn_wire::session::{AgentMessage, MAX_FRAME_BYTES};
use cairn_wire::{DeployResult, ResourceId, ResourceStatus};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long an intent, results or a file may wait for the server (reconnections included).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Before results the store failed to keep are sent again.
const RESEND_AFTER: Duration = Duration::from_secs(1);

pub struct SessionPort {
    pub shared: Arc<Shared>,
    pub agent: String,
    pub epoch: u64,
    pub statuses: BTreeMap<ResourceId, ResourceStatus>,
    pub cancel: Arc<AtomicBool>,
}

impl SessionPort {
    /// Sends a frame that the server acknowledges and waits for its answer.
    fn acknowledged(&self, seq: u64, frame: String) -> Result<(), PortError> {
        let answers = self.shared.send_acknowledged(seq, frame);
        let started = Instant::now();
        let result = self.wait(seq, &answers, started);
        if result.is_err() {
            self.shared.forget(seq);
        }
        result
    }

    fn wait(&self, seq: u64, answers: &mpsc::Receiver<Answer>, started: Instant) -> Result<(), PortError> {
        loop {
            let left = ANSWER_TIMEOUT.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(PortError(format!("the server did not acknowledge within {} s", ANSWER_TIMEOUT.as_secs())));
            }
            match answers.recv_timeout(left.min(RESEND_AFTER)) {
                Ok(Answer::Stored) => return Ok(()),
                Ok(Answer::Fenced) => {
                    self.cancel.store(true, Ordering::SeqCst);
                    return Err(PortError(format!(
                        "refused: epoch {} of agent `{}` is over (another process is its primary now); this deploy stops",
                        self.epoch, self.agent
                    )));
                }
                Ok(Answer::Failed(message)) => {
                    tracing::warn!(agent = %self.agent, %message, "the server could not store a report; sending it again");
                    std::thread::sleep(RESEND_AFTER);
                    self.shared.resend(seq);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(PortError("the session is gone".into())),
            }
        }
    }

    fn report_batch(&self, results: &[DeployResult]) -> Result<(), PortError> {
        let seq = self.shared.next_seq();
        let frame = AgentMessage::Results { agent: self.agent.clone(), epoch: self.epoch, seq, results: results.to_vec() }.to_frame();
        if frame.len() > MAX_FRAME_BYTES && results.len() > 1 {
            let (first, second) = results.split_at(results.len() / 2);
            self.report_batch(first)?;
            return self.report_batch(second);
        }
        self.acknowledged(seq, frame)
    }
}

impl DeployPort for SessionPort {
    fn statuses(&self, _resources: &[ResourceId]) -> Result<BTreeMap<ResourceId, ResourceStatus>, PortError> {
        Ok(self.statuses.clone())
    }

    fn intend(&self, version: u64, resources: &[ResourceId]) -> Result<(), PortError> {
        // An intent of many resources is split like results are.
        for chunk in resources.chunks(20_000) {
            let seq = self.shared.next_seq();
            let frame = AgentMessage::Intend { agent: self.agent.clone(), epoch: self.epoch, seq, version, resources: chunk.to_vec() }.to_frame();
            self.acknowledged(seq, frame)?;
        }
        Ok(())
    }

    fn file(&self, hash: &str) -> Result<Vec<u8>, PortError> {
        let answers = self.shared.request_file(hash, AgentMessage::File { hash: hash.to_string() }.to_frame());
        match answers.recv_timeout(ANSWER_TIMEOUT) {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(message)) => Err(PortError(message)),
            Err(_) => Err(PortError(format!("the server sent no file with hash {hash} within {} s", ANSWER_TIMEOUT.as_secs()))),
        }
    }

    fn report(&self, results: &[DeployResult]) -> Result<(), PortError> {
        if results.is_empty() {
            return Ok(());
        }
        self.report_batch(results)
    }

    fn facts(&self, facts: &BTreeMap<ResourceId, BTreeMap<String, serde_json::Value>>) -> Result<(), PortError> {
        // Best effort, as the port allows: facts are read again after the next deploy.
        self.shared.send_blocking(AgentMessage::Facts { agent: self.agent.clone(), facts: facts.clone() }.to_frame());
        Ok(())
    }
}
