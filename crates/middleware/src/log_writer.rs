//! stderr for the logs, buffered as nginx's `access_log … buffer= flush=` is: lines gather in memory and
//! go out together, in one `write`, at most [`FLUSH_INTERVAL`] after the first of them was logged, or at
//! once when [`BUFFER_LIMIT`] bytes wait. A warning or an error goes out at once, with every line logged
//! before it. So a request does not pay a system call for its log line, and nothing is dropped.
//!
//! `tracing-appender`'s non-blocking writer was measured first: its thread is woken for every line, which
//! cost as much as writing the line (`make bench`), so this one wakes its thread once per batch.
//!
//! What waits is written out by [`flush`]: at the end of `run`, before a panic's message, and so before
//! any error the process prints on its way out. A process killed with SIGKILL loses what waits (at most
//! the last [`FLUSH_INTERVAL`]).

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The longest a line waits.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Lines go out as soon as this many bytes wait.
pub const BUFFER_LIMIT: usize = 32 * 1024;

struct Buffer {
    bytes: Vec<u8>,
    /// Where lines go out (stderr; a recorder in the tests).
    out: fn(&[u8]),
}

/// Log lines for stderr, written by a flushing thread in batches so a request never waits on the
/// terminal or the pipe; [`flush`] empties it (at exit, before a panic's message).
pub struct BufferedStderr {
    buffer: Mutex<Buffer>,
    /// Tells the flushing thread that the buffer is no longer empty.
    pending: Condvar,
    /// Whether the flushing thread runs; without it, every line is written at once.
    buffered: bool,
}

fn to_stderr(bytes: &[u8]) {
    // Nowhere to report a failed write to: stderr is where it would go.
    let _ = std::io::stderr().write_all(bytes);
}

static STDERR: OnceLock<BufferedStderr> = OnceLock::new();

/// The process's buffered stderr, its flushing thread started on first use (if the thread cannot be
/// started, every line is written at once instead).
pub fn stderr() -> &'static BufferedStderr {
    STDERR.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(|| {
                if let Some(stderr) = STDERR.get() {
                    stderr.flush_periodically();
                }
            });
        BufferedStderr::new(to_stderr, started.is_ok())
    })
}

/// Writes out whatever waits.
pub fn flush() {
    if let Some(stderr) = STDERR.get() {
        let mut buffer = stderr.lock();
        write_out(&mut buffer);
    }
}

fn write_out(buffer: &mut Buffer) {
    if buffer.bytes.is_empty() {
        return;
    }
    (buffer.out)(&buffer.bytes);
    buffer.bytes.clear();
}

impl BufferedStderr {
    fn new(out: fn(&[u8]), buffered: bool) -> BufferedStderr {
        BufferedStderr {
            buffer: Mutex::new(Buffer {
                bytes: Vec::with_capacity(if buffered { BUFFER_LIMIT } else { 0 }),
                out,
            }),
            pending: Condvar::new(),
            buffered,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut buffer = self.lock();
        let was_empty = buffer.bytes.is_empty();
        buffer.bytes.extend_from_slice(line);
        if urgent || !self.buffered || buffer.bytes.len() >= BUFFER_LIMIT {
            write_out(&mut buffer);
        } else if was_empty {
            self.pending.notify_one();
        }
    }

    /// The flushing thread: asleep while nothing waits; once something does, writes it out
    /// [`FLUSH_INTERVAL`] later, with whatever joined it meanwhile.
    fn flush_periodically(&self) {
        loop {
            let mut buffer = self.lock();
            while buffer.bytes.is_empty() {
                buffer = self.pending.wait(buffer).unwrap_or_else(|e| e.into_inner());
            }
            drop(buffer);
            std::thread::sleep(FLUSH_INTERVAL);
            write_out(&mut self.lock());
        }
    }
}

/// One log event's writer (`tracing-subscriber` formats an event, then writes it whole).
pub struct EventWriter {
    stderr: &'static BufferedStderr,
    urgent: bool,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.stderr.append(bytes, self.urgent);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for &'static BufferedStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            stderr: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        EventWriter {
            stderr: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static WRITTEN: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    fn record(bytes: &[u8]) {
        WRITTEN.with(|w| w.borrow_mut().push(bytes.to_vec()));
    }

    fn written() -> Vec<Vec<u8>> {
        WRITTEN.with(|w| w.borrow_mut().drain(..).collect())
    }

    #[test]
    fn lines_wait_and_go_out_together_with_a_warning() {
        let stderr = BufferedStderr::new(record, true);
        stderr.append(b"INFO one\n", false);
        stderr.append(b"INFO two\n", false);
        assert!(written().is_empty(), "info lines wait");
        stderr.append(b"WARN three\n", true);
        assert_eq!(written(), [b"INFO one\nINFO two\nWARN three\n".to_vec()]);
        assert!(stderr.lock().bytes.is_empty());
    }

    #[test]
    fn a_full_buffer_goes_out() {
        let stderr = BufferedStderr::new(record, true);
        stderr.append(b"INFO one\n", false);
        stderr.append(&vec![b'x'; BUFFER_LIMIT], false);
        let out = written();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 9 + BUFFER_LIMIT);
    }

    #[test]
    fn without_the_thread_every_line_goes_out() {
        let stderr = BufferedStderr::new(record, false);
        stderr.append(b"INFO one\n", false);
        assert_eq!(written(), [b"INFO one\n".to_vec()]);
    }

    #[test]
    fn the_thread_writes_out_what_waits() {
        static OUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
        fn shared(bytes: &[u8]) {
            OUT.lock().unwrap().extend_from_slice(bytes);
        }
        let stderr: &'static BufferedStderr =
            Box::leak(Box::new(BufferedStderr::new(shared, true)));
        std::thread::spawn(|| stderr.flush_periodically());
        stderr.append(b"INFO one\n", false);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while OUT.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written out");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*OUT.lock().unwrap(), b"INFO one\n");
    }
}
