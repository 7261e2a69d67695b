//! The chat example in a real browser: `tests/browser/chat_e2e.py` drives two
//! headless Chromium pages through chromedriver (selenium, WebDriver). Both
//! join one room, one sends a message, the other must show it; the receiving
//! page is saved to `target/browser/chat.png`. Then a blank nickname: the
//! page must show "Disconnected (4001: a nickname is required)." (a refused
//! handshake would show only 1006).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`) and Python's `selenium`. Skipped, loudly, when one
//! is missing, unless `CHEESE_REQUIRE_BROWSER=1` (set by `.ci/run`) makes
//! that a failure.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The script's own waits are 15 s each; this only catches a hung browser.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(chat::app().serve(listener));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/chat_e2e.py");
    let started = Instant::now();
    // Its own process group, so that a timeout ends chromedriver and Chromium too.
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&base_url)
        .arg(&screenshot)
        .process_group(0)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let pid = child.id().expect("python3 is running");
    let out = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            panic!("chat_e2e.py did not finish within {SCRIPT_TIMEOUT:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chat_e2e.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("chat e2e ok"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("blank nickname: Disconnected (4001: a nickname is required)."),
        "{stdout}\n{stderr}"
    );

    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    println!(
        "browser chat ok in {:.1?}; screenshot: {}",
        started.elapsed(),
        screenshot.display()
    );
}
