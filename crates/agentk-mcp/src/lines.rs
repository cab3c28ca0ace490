//! Newline-delimited frames from a byte stream (the stdio transport's framing), bounded: a line
//! longer than the limit is skipped to its end without being kept, and reported as one
//! [`Line::TooLong`]. Reading in batches ([`LineReader::batch`]) takes what is already
//! buffered after the first line, so a busy stream is decided many frames at a time and a quiet
//! one a frame at a time, without waiting.
//!
//! This is the one piece of the crate that touches `std::io`, and only through [`Read`]: the
//! caller owns the stream.

use std::io::{self, BufRead, BufReader, Read};

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

/// Reads lines of at most `max` bytes from a stream.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: BufReader<R>,
    max: usize,
    /// The 1-based number of the last line read.
    number: u64,
}

/// The read buffer: large enough that a busy stream yields many frames per system call.
const BUFFER: usize = 256 * 1024;

impl<R: Read> LineReader<R> {
    /// A reader of lines of at most `max` bytes (without the newline).
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner: BufReader::with_capacity(BUFFER, inner), max, number: 0 }
    }

    /// The 1-based number of the last line returned (blank lines count).
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// The next non-blank line, waiting for it if need be; `None` at the end of the stream. A
    /// last line without a newline is a line.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            let Some(line) = self.read_one()? else { return Ok(None) };
            match &line {
                Line::Frame(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                _ => return Ok(Some(line)),
            }
        }
    }

    /// Up to `most` lines, each with its line number: waits for the first, then takes only
    /// lines already complete in the buffer (blank ones skipped), so it never waits for more
    /// and holds at most one line beyond the buffer. Empty at the end of the stream.
    pub fn batch(&mut self, most: usize) -> io::Result<Vec<(u64, Line)>> {
        let mut lines = Vec::new();
        let Some(first) = self.next_line()? else { return Ok(lines) };
        lines.push((self.number, first));
        while lines.len() < most && self.inner.buffer().contains(&b'\n') {
            // The line is complete in the buffer: reading it does not wait.
            match self.read_one()? {
                Some(Line::Frame(bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                Some(line) => lines.push((self.number, line)),
                None => break,
            }
        }
        Ok(lines)
    }

    /// One line, blank or not.
    fn read_one(&mut self) -> io::Result<Option<Line>> {
        let mut kept: Vec<u8> = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, end) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (available.get(..at).unwrap_or_default(), Some(at + 1)),
                None => (available, None),
            };
            if !too_long {
                if kept.len() + chunk.len() > self.max.saturating_add(1) {
                    // SECURITY: an oversized line is never held in memory; the rest of it is
                    // skipped as it arrives.
                    too_long = true;
                    kept = Vec::new();
                } else {
                    kept.extend_from_slice(chunk);
                }
            }
            let consumed = end.unwrap_or(available.len());
            self.inner.consume(consumed);
            if end.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if kept.last() == Some(&b'\r') {
            kept.pop();
        }
        if too_long || kept.len() > self.max {
            return Ok(Some(Line::TooLong { max: self.max }));
        }
        Ok(Some(Line::Frame(kept)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!reader.inner.get_ref().asked_past_end, "the batch waited for a line not yet read");
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
}
