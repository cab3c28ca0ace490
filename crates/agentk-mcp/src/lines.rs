//! Newline-delimited frames from a byte stream (the stdio transport's framing), bounded: a line
//! longer than the limit is skipped to its end without being kept, and reported as one
//! [`Line::TooLong`]. Blank lines are skipped.
//!
//! [`Framer`] is the framing itself, sans-IO: bytes go in as they arrive, complete lines come
//! out. [`LineReader`] is a blocking reader over it (for `agentk mcp-lines` and `mcp-server`);
//! the live transports feed a `Framer` from their own asynchronous reads. Either way a batch is
//! what one read completed, so a busy stream is decided many frames at a time and a quiet one a
//! frame at a time, without waiting.

use std::collections::VecDeque;
use std::io::{self, Read};

/// One line of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A frame: the line without its newline (and without a `\r` before it).
    Frame(Vec<u8>),
    /// A line longer than the limit; nothing of it was kept.
    TooLong {
        /// The limit it exceeded, in bytes.
        max: usize,
    },
}

/// Splits bytes into lines of at most `max` bytes, holding at most one partial line of at most
/// `max + 1` bytes between calls.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    partial: Vec<u8>,
    /// The current line is over the limit: the rest of it is dropped as it arrives.
    discarding: bool,
    /// Whether any byte of the current line has arrived.
    started: bool,
    /// The 1-based number of the last line ended (blank lines count).
    number: u64,
}

impl Framer {
    /// A framer of lines of at most `max` bytes (without the newline).
    pub fn new(max: usize) -> Self {
        Framer { max, partial: Vec::new(), discarding: false, started: false, number: 0 }
    }

    /// Takes the bytes that arrived; appends every line they complete (with its number) to
    /// `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<(u64, Line)>) {
        while let Some(at) = bytes.iter().position(|&b| b == b'\n') {
            self.take(bytes.get(..at).unwrap_or_default());
            self.end_line(out);
            bytes = bytes.get(at + 1..).unwrap_or_default();
        }
        self.take(bytes);
    }

    /// The end of the stream: a last line without a newline is a line.
    pub fn finish(&mut self, out: &mut Vec<(u64, Line)>) {
        if self.started {
            self.end_line(out);
        }
    }

    /// The 1-based number of the last line ended.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    fn take(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.started = true;
        if self.discarding {
            return;
        }
        if self.partial.len() + chunk.len() > self.max.saturating_add(1) {
            // SECURITY: an oversized line is never held in memory; the rest of it is skipped
            // as it arrives.
            self.discarding = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    fn end_line(&mut self, out: &mut Vec<(u64, Line)>) {
        self.number += 1;
        let mut line = std::mem::take(&mut self.partial);
        let discarded = std::mem::replace(&mut self.discarding, false);
        self.started = false;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if discarded || line.len() > self.max {
            out.push((self.number, Line::TooLong { max: self.max }));
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            out.push((self.number, Line::Frame(line)));
        }
    }
}

/// Reads lines of at most `max` bytes from a blocking stream.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    framer: Framer,
    ready: VecDeque<(u64, Line)>,
    buffer: Vec<u8>,
    ended: bool,
}

/// The read buffer: large enough that a busy stream yields many frames per system call.
const BUFFER: usize = 256 * 1024;

impl<R: Read> LineReader<R> {
    /// A reader of lines of at most `max` bytes (without the newline).
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner, framer: Framer::new(max), ready: VecDeque::new(), buffer: vec![0; BUFFER], ended: false }
    }

    /// The 1-based number of the last line read (blank lines count).
    pub fn line_number(&self) -> u64 {
        self.framer.line_number()
    }

    /// The next non-blank line, waiting for it if need be; `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        Ok(self.batch(1)?.pop().map(|(_, line)| line))
    }

    /// Up to `most` lines, each with its line number: waits until a read completes at least
    /// one, never for more. Empty at the end of the stream.
    pub fn batch(&mut self, most: usize) -> io::Result<Vec<(u64, Line)>> {
        while self.ready.is_empty() && !self.ended {
            let mut lines = Vec::new();
            match self.inner.read(&mut self.buffer) {
                Ok(0) => {
                    self.ended = true;
                    self.framer.finish(&mut lines);
                }
                Ok(n) => self.framer.feed(self.buffer.get(..n).unwrap_or_default(), &mut lines),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.ready.extend(lines);
        }
        let take = most.max(1).min(self.ready.len());
        Ok(self.ready.drain(..take).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Just;

    fn all(input: &[u8], max: usize) -> Vec<(u64, Line)> {
        let mut reader = LineReader::new(input, max);
        let mut lines = Vec::new();
        loop {
            let batch = reader.batch(3).unwrap_or_default();
            if batch.is_empty() {
                return lines;
            }
            assert!(batch.len() <= 3);
            lines.extend(batch);
        }
    }

    #[test]
    fn lines_are_split_bounded_and_numbered() {
        let lines = all(b"a\r\n\n  \nbbbbbbbbbbbbbbbbbbbb\nccc\nlast", 4);
        assert_eq!(
            lines,
            vec![
                (1, Line::Frame(b"a".to_vec())),
                (4, Line::TooLong { max: 4 }),
                (5, Line::Frame(b"ccc".to_vec())),
                (6, Line::Frame(b"last".to_vec())),
            ]
        );
    }

    /// A reader that gives its bytes a few at a time and says when asked for more than it has,
    /// as a pipe would block.
    struct Trickle {
        chunks: Vec<Vec<u8>>,
        asked_past_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.chunks.is_empty() {
                self.asked_past_end = true;
                return Ok(0);
            }
            let chunk = self.chunks.remove(0);
            let n = chunk.len().min(buf.len());
            buf.get_mut(..n).unwrap_or_default().copy_from_slice(chunk.get(..n).unwrap_or_default());
            Ok(n)
        }
    }

    #[test]
    fn a_batch_never_waits_past_what_is_buffered() {
        // The first read brings a frame, blank lines and the start of another frame: the batch
        // is the first frame alone, without asking the stream for more.
        let mut reader =
            LineReader::new(Trickle { chunks: vec![b"{}\n\n\n{\"par".to_vec()], asked_past_end: false }, 1024);
        let batch = reader.batch(8).unwrap_or_default();
        assert_eq!(batch, vec![(1, Line::Frame(b"{}".to_vec()))]);
        assert!(!reader.inner.asked_past_end, "the batch waited for a line not yet read");
    }

    #[test]
    fn a_line_at_the_limit_is_kept_one_over_is_not() {
        assert_eq!(all(b"abcd\nabcde\n", 4), vec![(1, Line::Frame(b"abcd".to_vec())), (2, Line::TooLong { max: 4 })]);
    }

    #[test]
    fn an_oversized_line_larger_than_the_buffer_is_skipped_whole() {
        let mut input = vec![b'x'; BUFFER * 3];
        input.extend_from_slice(b"\n{}\n");
        assert_eq!(all(&input, 16), vec![(1, Line::TooLong { max: 16 }), (2, Line::Frame(b"{}".to_vec()))]);
    }

    proptest::proptest! {
        /// However the bytes arrive, the lines are the same.
        #[test]
        fn lines_do_not_depend_on_how_the_bytes_arrive(
            input in proptest::collection::vec(proptest::prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'x'), Just(b'y')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..12),
            max in 0usize..12,
        ) {
            let whole = {
                let mut framer = Framer::new(max);
                let mut out = Vec::new();
                framer.feed(&input, &mut out);
                framer.finish(&mut out);
                out
            };
            let mut framer = Framer::new(max);
            let mut out = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut at = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                framer.feed(input.get(at..cut).unwrap_or_default(), &mut out);
                at = cut;
            }
            framer.finish(&mut out);
            proptest::prop_assert_eq!(&out, &whole);
            for (_, line) in &whole {
                if let Line::Frame(bytes) = line {
                    proptest::prop_assert!(bytes.len() <= max && !bytes.contains(&b'\n'));
                }
            }
        }
    }
}
