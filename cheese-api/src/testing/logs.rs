//! [`Logs`]: what the app logged through `tracing`, captured as text so a
//! test can assert on it.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every `tracing` event of this test binary, `DEBUG` and up, as the plain
/// text lines the default log would print (no colours), from the first
/// [`capture`](Self::capture) on.
///
/// The capture is the process's global subscriber, installed once and shared
/// by every test of the binary (tests run in parallel): look for lines that
/// name your own route or path, not for counts of all lines.
///
/// ```
/// use cheese_api::prelude::*;
/// use cheese_api::testing::{Logs, TestServer};
///
/// #[derive(Default)]
/// struct Faulty;
///
/// #[websocket("/logs/faulty")]
/// impl Faulty {
///     async fn message(&mut self) -> Result<(), String> {
///         Err("the cheese ran out".into())
///     }
/// }
///
/// # #[tokio::main] async fn main() {
/// let logs = Logs::capture();
/// let server = TestServer::start(App::empty().websocket::<Faulty>()).await;
/// let mut client = server.connect("/logs/faulty").await;
/// client.send("brie").await;
/// client.expect_close(1011).await;
/// let line = logs.wait_for(&["/logs/faulty", "hook failed"]).await;
/// assert!(line.contains("the cheese ran out"), "{line}");
/// # }
/// ```
///
/// # Panics
/// [`capture`](Self::capture) panics when the program installed another
/// global `tracing` subscriber before.
#[derive(Clone)]
pub struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs")
            .field("bytes", &self.lock().len())
            .finish()
    }
}

/// Appends what the subscriber writes to the shared buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// How long [`wait_for`](Self::wait_for) waits: 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Starts capturing (once per process; later calls share the capture).
    pub fn capture() -> Logs {
        static TEXT: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
        let text = TEXT.get_or_init(|| {
            let text = Arc::new(Mutex::new(Vec::new()));
            let sink = text.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(move || Sink(sink.clone()))
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect(
                "Logs::capture installs the global tracing subscriber, and the program set one already",
            );
            text
        });
        Logs { text: text.clone() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.text.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    /// The lines captured so far that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// The first line that contains every one of `needles`, waiting up to
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) for it (logs of a
    /// connection's end come after the client saw the close).
    ///
    /// # Panics
    /// When no such line comes in time, with everything captured.
    pub async fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Self::DEFAULT_TIMEOUT;
        loop {
            if let Some(line) = self.lines_with(needles).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} within {:?}; the log:\n{}",
                Self::DEFAULT_TIMEOUT,
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
