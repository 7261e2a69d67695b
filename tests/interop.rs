//! Interop: Python's `websockets` client (what CheeseAPI's users know) talks
//! to the hello example. Skipped, loudly, when Python or the package is
//! missing, unless `CHEESE_REQUIRE_PYTHON=1` (set by `.ci/run`) makes that a
//! failure.

#[path = "../examples/hello.rs"]
#[allow(dead_code)]
mod hello;

use cheese_api::App;
use std::process::Command;

fn python_websockets_available() -> bool {
    Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn python_websockets_client_talks_to_the_hello_example() {
    if !python_websockets_available() {
        assert!(
            std::env::var("CHEESE_REQUIRE_PYTHON").is_err(),
            "CHEESE_REQUIRE_PYTHON is set but `python3 -c 'import websockets'` fails"
        );
        eprintln!("SKIPPED python_websockets_client_talks_to_the_hello_example: pip install websockets to run it");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(App::new().serve(listener));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/hello_client.py");
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
