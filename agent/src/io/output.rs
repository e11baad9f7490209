//! Bounded capture of a command's output: a command may print gigabytes (or never stop), and
//! its output is shown, logged and stored, so only the head and the tail are kept, with a
//! note of how much was cut.

/// How much of each stream is kept, at most: half from the start, half from the end.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The first and last bytes of a stream, and how many there were in all.
#[derive(Debug, Default)]
pub struct BoundedOutput {
    head: Vec<u8>,
    /// A ring of the last bytes once the head is full; `tail_start` is its oldest byte.
    tail: Vec<u8>,
    tail_start: usize,
    total: u64,
    limit: usize,
}

impl BoundedOutput {
    pub fn new(limit: usize) -> Self {
        BoundedOutput { limit: limit.max(2), ..BoundedOutput::default() }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let half = self.limit / 2;
        if self.head.len() < half {
            let take = bytes.len().min(half - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        let keep = self.limit - half;
        if bytes.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - keep..]);
            self.tail_start = 0;
            return;
        }
        for &byte in bytes {
            if self.tail.len() < keep {
                self.tail.push(byte);
            } else {
                self.tail[self.tail_start] = byte;
                self.tail_start = (self.tail_start + 1) % keep;
            }
        }
    }

    /// Bytes seen in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept text; when bytes were cut, a line in the middle says how many.
    pub fn text(&self) -> String {
        let mut tail = Vec::with_capacity(self.tail.len());
        tail.extend_from_slice(&self.tail[self.tail_start..]);
        tail.extend_from_slice(&self.tail[..self.tail_start]);
        let kept = (self.head.len() + tail.len()) as u64;
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.total > kept {
            out.push_str(&format!("\n[... {} bytes cut: the output had {} bytes in all ...]\n", self.total - kept, self.total));
        }
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let mut output = BoundedOutput::new(16);
        output.push(b"hello ");
        output.push(b"world");
        assert_eq!(output.text(), "hello world");
        assert_eq!(output.total(), 11);
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_says_what_was_cut() {
        let mut output = BoundedOutput::new(8);
        for chunk in [&b"abcd"[..], b"efgh", b"ijkl", b"mn"] {
            output.push(chunk);
        }
        let text = output.text();
        assert!(text.starts_with("abcd"), "{text}");
        assert!(text.ends_with("klmn"), "{text}");
        assert!(text.contains("6 bytes cut: the output had 14 bytes in all"), "{text}");
        let mut big = BoundedOutput::new(OUTPUT_LIMIT);
        big.push(&vec![b'x'; 10 * OUTPUT_LIMIT]);
        assert!(big.text().len() < OUTPUT_LIMIT + 200);
    }
}
