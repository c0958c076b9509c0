//! Where log lines go: appended to one buffer in memory, written out in batches by a thread
//! of its own.
//!
//! A line costs the thread that logs it a lock and a copy, never a wake-up. A writer thread
//! fed through a channel (tracing-appender's) is woken for nearly every line under load:
//! a futex call and a context switch per request in every service, about 7 % of the
//! machine's CPU in the catalogue benchmark (docs/benchmarks.md). Here the writer thread
//! sleeps until the buffer has something in it, then lets lines gather for a moment and
//! writes them out with one call.
//!
//! Nothing is dropped. Past [`MAX_BUFFERED`] bytes (the reader of stderr has stalled), the
//! thread that logs writes the buffer out itself and so waits, as a direct write would.
//! Dropping the [`Flusher`] writes out every line still buffered.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer thread lets lines gather once the first has arrived: a line waits
/// at most this long to be written.
const GATHER: Duration = Duration::from_millis(10);

/// Bytes buffered before the thread that logs writes them out itself.
const MAX_BUFFERED: usize = 4 * 1024 * 1024;

struct Shared<W> {
    state: Mutex<State>,
    /// Signalled when the first line arrives in an empty buffer, and on close.
    arrived: Condvar,
    /// Held while a batch is written, and taken while the state is still locked, so that
    /// batches reach the output in the order their lines were logged.
    out: Mutex<W>,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    writer_asleep: bool,
    closed: bool,
}

/// Appends log lines to the shared buffer; cheap to clone. With a service name, each JSON
/// line is stamped with it.
pub struct BatchWriter<W> {
    shared: Arc<Shared<W>>,
    stamp: Option<&'static str>,
}

impl<W> Clone for BatchWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            stamp: self.stamp,
        }
    }
}

/// The writer thread; dropping it writes out what is buffered and stops the thread.
pub struct Flusher<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

/// A writer of batches to `out`, and the thread that writes them.
pub fn batch_writer<W: Write + Send + 'static>(
    out: W,
    thread_name: &str,
) -> std::io::Result<(BatchWriter<W>, Flusher<W>)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        arrived: Condvar::new(),
        out: Mutex::new(out),
    });
    let thread = std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared)
        })?;
    Ok((
        BatchWriter {
            shared: shared.clone(),
            stamp: None,
        },
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a line was appended leaves at worst a partial line; logging goes on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_batches<W: Write>(shared: &Shared<W>) {
    let mut batch = Vec::new();
    loop {
        let mut state = lock(&shared.state);
        while state.lines.is_empty() && !state.closed {
            state.writer_asleep = true;
            state = shared
                .arrived
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.writer_asleep = false;
        let closed = state.closed;
        drop(state);
        if !closed {
            std::thread::sleep(GATHER);
        }
        let mut state = lock(&shared.state);
        std::mem::swap(&mut batch, &mut state.lines);
        let closing = state.closed && batch.is_empty();
        let mut out = lock(&shared.out);
        drop(state);
        // A failed write (stderr closed: the supervisor is gone) loses these lines; nothing
        // else can be done with them.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        drop(out);
        batch.clear();
        if closing {
            return;
        }
    }
}

impl<W: Write> BatchWriter<W> {
    /// The same writer, stamping each JSON line with `service`.
    pub fn stamped(mut self, service: &'static str) -> Self {
        self.stamp = Some(service);
        self
    }
}

impl<W: Write> Write for BatchWriter<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut state = lock(&self.shared.state);
        let wake = state.writer_asleep && state.lines.is_empty();
        match (self.stamp, line.split_first()) {
            // The formatter writes each event as one complete line in one call, which is
            // what makes the splice safe.
            (Some(service), Some((b'{', rest))) => {
                state.lines.extend_from_slice(b"{\"service\":\"");
                state.lines.extend_from_slice(service.as_bytes());
                state.lines.extend_from_slice(b"\",");
                state.lines.extend_from_slice(rest);
            }
            _ => state.lines.extend_from_slice(line),
        }
        if state.lines.len() > MAX_BUFFERED {
            let lines = std::mem::take(&mut state.lines);
            let mut out = lock(&self.shared.out);
            drop(state);
            out.write_all(&lines)?;
            out.flush()?;
        } else if wake {
            state.writer_asleep = false;
            drop(state);
            self.shared.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Lines are written out within GATHER; a flush per line would undo the batching.
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for Flusher<W> {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.arrived.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read after the writer is gone.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_and_json_lines_are_stamped() {
        let sink = Sink::default();
        let (writer, flusher) = batch_writer(sink.clone(), "test-log-writer").expect("a thread");
        let mut plain = writer.clone();
        let mut stamped = writer.stamped("users");
        for n in 0..1000 {
            plain
                .write_all(format!("line {n}\n").as_bytes())
                .expect("buffered");
        }
        stamped
            .write_all(b"{\"level\":\"INFO\"}\n")
            .expect("buffered");
        drop(flusher);
        let text = String::from_utf8(lock(&sink.0).clone()).expect("text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1001);
        assert!(
            lines[..1000]
                .iter()
                .enumerate()
                .all(|(n, line)| *line == format!("line {n}"))
        );
        let json: serde_json::Value = serde_json::from_str(lines[1000]).expect("JSON");
        assert_eq!(json["service"], "users");
        assert_eq!(json["level"], "INFO");
    }

    #[test]
    fn a_line_logged_while_the_writer_sleeps_is_written_without_a_flush() {
        let sink = Sink::default();
        let (mut writer, _flusher) =
            batch_writer(sink.clone(), "test-log-writer").expect("a thread");
        writer.write_all(b"first\n").expect("buffered");
        // Wait on the output itself, not a fixed time: the writer thread must get there.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&sink.0).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::yield_now();
        }
        assert_eq!(&*lock(&sink.0), b"first\n");
    }
}
