//! The chat example in a real browser: `tests/browser/chat_e2e.py` drives two
//! headless Chromium pages through chromedriver (selenium, WebDriver). Both
//! join one room, one sends a message, the other must show it; the receiving
//! page is saved to `target/browser/chat.png`. Then a blank nickname: the
//! page must show "Disconnected (4001: a nickname is required)." (a refused
//! handshake would show only 1006).
//!
//! Then recovery. Alice's browser goes offline (DevTools network emulation:
//! her open connection stays, new ones fail) and she types `/drop`: the
//! server closes her connection with 1012, her page retries with backoff and
//! fails. Bob says three things; alice comes back online, her page
//! reconnects by itself with `since` and must show exactly those three,
//! marked as missed, in order, after a "missed while away" separator. Last,
//! the server restarts (the script prints `restart-server`; this test stops
//! the app, every connection closed with 1001, serves a new one on the same
//! port and answers `restarted`): the history was in memory, so both pages
//! must come back with "history incomplete: reload", and the reload link
//! must start alice's page afresh.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`) and Python's `selenium`. Skipped, loudly, when one
//! is missing, unless `CHEESE_REQUIRE_BROWSER=1` (set by `.ci/run`) makes
//! that a failure.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use cheese_api::ShutdownHandle;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The script's own waits are 15 s each; this only catches a hung browser.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
/// What the script prints to have the server restarted, and the answer it
/// waits for on its stdin.
const RESTART: &str = "restart-server";
const RESTARTED: &str = "restarted";

/// What is missing to run the test, if anything.
fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).is_file() {
            missing.push(format!("{path} (apt-get install chromium chromium-driver)"));
        }
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !selenium {
        missing.push("python3 with selenium (pip install selenium)".to_owned());
    }
    missing
}

/// The chat app on a loopback port, in this process.
struct ChatServer {
    addr: SocketAddr,
    stop: ShutdownHandle,
    running: JoinHandle<std::io::Result<()>>,
}

impl ChatServer {
    fn start(listener: TcpListener) -> ChatServer {
        let app = chat::app();
        ChatServer {
            addr: listener.local_addr().unwrap(),
            stop: app.shutdown_handle(),
            running: tokio::spawn(app.serve(listener)),
        }
    }

    /// Stops the app as a deploy does (every connection closed with 1001,
    /// every `disconnection` run) and serves a new one, with a history of
    /// its own, on the same port.
    async fn restart(self) -> ChatServer {
        self.stop.shutdown();
        self.running.await.unwrap().unwrap();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("rebinding {}: {e}; again in 100 ms", self.addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        ChatServer::start(listener)
    }
}

/// `target/browser/chat.png`, wherever the target directory is.
fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .join("browser")
        .join("chat.png")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_chromium_pages_chat_through_the_chat_example() {
    let missing = missing_tools();
    if !missing.is_empty() {
        let missing = missing.join(", ");
        assert!(
            std::env::var("CHEESE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "CHEESE_REQUIRE_BROWSER=1 but missing: {missing}"
        );
        // Straight to stderr, past libtest's capture, so a skip is never silent.
        let _ = writeln!(std::io::stderr(), "SKIPPED browser test: missing {missing}");
        return;
    }

    let screenshot = screenshot_path();
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&screenshot);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    let server = ChatServer::start(listener);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/chat_e2e.py");
    let started = Instant::now();
    // Its own process group, so that a timeout ends chromedriver and Chromium too.
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&base_url)
        .arg(&screenshot)
        .process_group(0)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let pid = child.id().expect("python3 is running");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).await;
        text
    });
    // Its stdout, line by line, restarting the server when asked to.
    let conversation = async {
        let mut stdout = String::new();
        let mut server = Some(server);
        while let Some(line) = lines.next_line().await.unwrap() {
            stdout.push_str(&line);
            stdout.push('\n');
            if line == RESTART {
                server = Some(server.take().unwrap().restart().await);
                stdin
                    .write_all(format!("{RESTARTED}\n").as_bytes())
                    .await
                    .unwrap();
                stdin.flush().await.unwrap();
            }
        }
        (stdout, child.wait().await.unwrap())
    };
    let (stdout, status) = match tokio::time::timeout(SCRIPT_TIMEOUT, conversation).await {
        Ok(done) => done,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            panic!("chat_e2e.py did not finish within {SCRIPT_TIMEOUT:?}");
        }
    };
    let stderr = stderr.await.unwrap();
    assert!(
        status.success(),
        "chat_e2e.py failed ({status}):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("chat e2e ok"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("blank nickname: Disconnected (4001: a nickname is required)."),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("missed while away: bob's 3 messages, in order"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "{RESTART}\nafter the restart: history incomplete: reload"
        )),
        "{stdout}\n{stderr}"
    );

    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    print!("{stdout}");
    println!(
        "browser chat ok in {:.1?}; screenshot: {}",
        started.elapsed(),
        screenshot.display()
    );
}
