//! A guest's stdout and stderr. Python's `print`, a JS `console.log` that
//! the SDK did not route, a C `printf`, a Rust panic message: each whole
//! line goes to the host's log under the plugin's name (stdout at info,
//! stderr at warn). The last lines a call wrote to stderr are kept, so that
//! a failed call's error carries them: a Python traceback or a JS stack is
//! what a plugin's author needs in `kubectl describe plugin`, not the
//! host's view of the trap.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::controller::Level;

/// Where a guest's lines go: the plugin's log.
pub(crate) type LogSink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// Lines of stderr kept for a failed call's error.
const TAIL_LINES: usize = 30;
/// Bytes of stderr kept for a failed call's error.
const TAIL_BYTES: usize = 4096;
/// A line longer than this is logged in pieces.
const LINE_BYTES: usize = 8192;

/// The two output streams of one instance and the tail of its stderr.
#[derive(Clone)]
pub(crate) struct GuestStdio {
    shared: Arc<Mutex<Shared>>,
    log: LogSink,
}

#[derive(Default)]
struct Shared {
    /// Bytes of a line not ended yet, per stream (0: stdout, 1: stderr).
    partial: [Vec<u8>; 2],
    /// The last lines written to stderr since the call began.
    tail: VecDeque<String>,
    tail_bytes: usize,
}

impl GuestStdio {
    pub(crate) fn new(log: LogSink) -> Self {
        Self {
            shared: Arc::default(),
            log,
        }
    }

    pub(crate) fn stdout(&self) -> GuestStream {
        GuestStream {
            stdio: self.clone(),
            stderr: false,
        }
    }

    pub(crate) fn stderr(&self) -> GuestStream {
        GuestStream {
            stdio: self.clone(),
            stderr: true,
        }
    }

    /// Forgets the stderr tail: a call begins.
    pub(crate) fn begin_call(&self) {
        let mut shared = self.shared.lock().expect("guest stdio");
        shared.tail.clear();
        shared.tail_bytes = 0;
    }

    /// What the call wrote to stderr last (lines not ended yet included,
    /// and logged now), or nothing.
    pub(crate) fn take_tail(&self) -> Option<String> {
        for stderr in [false, true] {
            let rest = std::mem::take(
                &mut self.shared.lock().expect("guest stdio").partial[stderr as usize],
            );
            if !rest.is_empty() {
                self.line(stderr, &rest);
            }
        }
        let mut shared = self.shared.lock().expect("guest stdio");
        shared.tail_bytes = 0;
        let lines: Vec<String> = shared.tail.drain(..).collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    fn write(&self, stderr: bool, mut bytes: &[u8]) {
        let mut complete = Vec::new();
        {
            let mut shared = self.shared.lock().expect("guest stdio");
            let partial = &mut shared.partial[stderr as usize];
            while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
                partial.extend_from_slice(&bytes[..end]);
                complete.push(std::mem::take(partial));
                bytes = &bytes[end + 1..];
            }
            partial.extend_from_slice(bytes);
            if partial.len() >= LINE_BYTES {
                complete.push(std::mem::take(partial));
            }
        }
        for line in complete {
            self.line(stderr, &line);
        }
    }

    /// Logs one line and, from stderr, keeps it in the tail.
    fn line(&self, stderr: bool, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if stderr {
            (self.log)(Level::Warn, text);
            let mut shared = self.shared.lock().expect("guest stdio");
            let kept: String = text.chars().take(TAIL_BYTES).collect();
            shared.tail_bytes += kept.len() + 1;
            shared.tail.push_back(kept);
            while shared.tail.len() > TAIL_LINES
                || (shared.tail_bytes > TAIL_BYTES && shared.tail.len() > 1)
            {
                if let Some(dropped) = shared.tail.pop_front() {
                    shared.tail_bytes -= dropped.len() + 1;
                }
            }
        } else {
            (self.log)(Level::Info, text);
        }
    }
}

/// One of an instance's output streams, as WASI sees it.
pub(crate) struct GuestStream {
    stdio: GuestStdio,
    stderr: bool,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(GuestStream {
            stdio: self.stdio.clone(),
            stderr: self.stderr,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestStream {
            stdio: self.stdio.clone(),
            stderr: self.stderr,
        })
    }
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.stdio.write(self.stderr, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.stdio.write(self.stderr, bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Arc<Mutex<Vec<(Level, String)>>>;

    /// A log that records its lines.
    fn recording() -> (LogSink, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let sink: LogSink =
            Arc::new(move |level, line: &str| kept.lock().unwrap().push((level, line.to_string())));
        (sink, lines)
    }

    #[test]
    fn lines_are_logged_whole_and_stderr_keeps_its_tail() {
        let (sink, log) = recording();
        let stdio = GuestStdio::new(sink);
        stdio.begin_call();
        stdio.write(false, b"hello ");
        stdio.write(false, b"world\nsecond");
        stdio.write(
            true,
            b"Traceback (most recent call last):\n  File \"app.py\"\nValueError: bad",
        );
        assert_eq!(
            stdio.take_tail().as_deref(),
            Some("Traceback (most recent call last):\n  File \"app.py\"\nValueError: bad")
        );
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                (Level::Info, "hello world".to_string()),
                (
                    Level::Warn,
                    "Traceback (most recent call last):".to_string()
                ),
                (Level::Warn, "  File \"app.py\"".to_string()),
                (Level::Info, "second".to_string()),
                (Level::Warn, "ValueError: bad".to_string()),
            ]
        );
        stdio.begin_call();
        assert_eq!(stdio.take_tail(), None, "a new call starts with no tail");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_its_bounds() {
        let stdio = GuestStdio::new(recording().0);
        stdio.begin_call();
        for i in 0..100 {
            stdio.write(true, format!("line {i}\n").as_bytes());
        }
        let tail = stdio.take_tail().unwrap();
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.ends_with("line 99"));
        stdio.write(true, &vec![b'x'; 3 * TAIL_BYTES]);
        stdio.write(true, b"\nlast\n");
        let tail = stdio.take_tail().unwrap();
        assert!(tail.len() <= TAIL_BYTES + 16, "{}", tail.len());
        assert!(tail.ends_with("last"));
    }
}
