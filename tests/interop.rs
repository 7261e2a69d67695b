//! Interop: Python's `websockets` client (what CheeseAPI's users know) talks
//! to the hello example. Skipped, loudly, when Python or the package is
//! missing, unless `CHEESE_REQUIRE_PYTHON=1` (set by `.ci/run`) makes that a
//! failure.

#[path = "../examples/hello.rs"]
#[allow(dead_code)]
mod hello;

use cheese_api::App;
use std::io::Write;
use std::process::Command;

/// What to install to run the test, if anything. The probe's own output (a
/// Python traceback) is kept: it would hide the SKIPPED line.
fn missing_python_websockets() -> Option<&'static str> {
    match Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
    {
        Err(_) => Some("python3 (apt-get install python3), then pip install websockets"),
        Ok(out) if !out.status.success() => Some("pip install websockets"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_websockets_client_talks_to_the_hello_example() {
    if let Some(install) = missing_python_websockets() {
        assert!(
            std::env::var("CHEESE_REQUIRE_PYTHON").is_err(),
            "CHEESE_REQUIRE_PYTHON is set but `python3 -c 'import websockets'` fails: {install}"
        );
        // Straight to stderr, past libtest's capture, so a skip is never silent.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED interop test (Python's websockets client): {install} to run it"
        );
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(App::new().serve(listener));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/hello_client.py");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .output(),
    )
    .await
    .expect("python client finished in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("interop ok"), "{stdout}");
}
