//! The chat example (examples/chat.rs) through the test client: a nickname
//! or room it cannot take is accepted and closed at once with a code from
//! 4000 up and a reason (what a browser can show; a refused handshake shows
//! only 1006), logged by the server; and its start-up log gives the page's
//! URL from the bound address. tests/browser.rs checks the page shows it.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use cheese_api::testing::{Logs, TestServer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn logs() -> Logs {
    Logs::capture()
}

/// The first logged line that contains every one of `needles`, waiting up
/// to 5 s for it.
async fn logged(needles: &[&str]) -> String {
    logs().wait_for(needles).await
}

#[tokio::test]
async fn a_blank_or_missing_nickname_closes_with_4001_and_says_why() {
    logs();
    let server = TestServer::start(chat::app()).await;
    // The page trims the nickname, so a blank one arrives empty.
    for nick in [Some(""), Some("   "), None] {
        let mut request = server.request("/ws/lobby");
        if let Some(nick) = nick {
            request = request.query("nick", nick);
        }
        let client = request.connect().await.unwrap_or_else(|refused| {
            panic!("nick {nick:?}: accepted, then closed, not refused ({refused})")
        });
        assert_eq!(
            client.expect_close(4001).await,
            "a nickname is required",
            "nick {nick:?}"
        );
    }
    let line = logged(&["chat: turned down", "code=4001"]).await;
    assert!(line.contains("a nickname is required"), "{line}");
}

#[tokio::test]
async fn a_nickname_or_room_over_32_characters_closes_with_4002_or_4003() {
    let server = TestServer::start(chat::app()).await;
    // 32 characters of three bytes each: the limit counts characters.
    let longest = "奶".repeat(32);
    let too_long = "奶".repeat(33);
    let encoded = |n| "%E5%A5%B6".repeat(n); // "奶" in a path

    let client = server
        .request(&format!("/ws/{}", encoded(33)))
        .query("nick", "alice")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        client.expect_close(4003).await,
        "a room name is at most 32 characters"
    );

    let client = server
        .request("/ws/lobby")
        .query("nick", &too_long)
        .connect()
        .await
        .unwrap();
    assert_eq!(
        client.expect_close(4002).await,
        "a nickname is at most 32 characters"
    );

    let mut client = server
        .request(&format!("/ws/{}", encoded(32)))
        .query("nick", &longest)
        .connect()
        .await
        .unwrap();
    let joined: serde_json::Value = client.recv_json().await;
    assert_eq!(
        joined,
        serde_json::json!({
            "type": "joined", "room": longest, "nick": longest, "members": 1, "nicks": [longest]
        })
    );
    client.close(1000, "").await;
}

#[tokio::test]
async fn one_turned_down_is_not_announced_to_the_room() {
    let server = TestServer::start(chat::app()).await;
    let mut alice = server
        .request("/ws/lobby")
        .query("nick", "alice")
        .connect()
        .await
        .unwrap();
    let joined: serde_json::Value = alice.recv_json().await;
    assert_eq!(joined["members"], 1);

    let blank = server
        .request("/ws/lobby")
        .query("nick", "")
        .connect()
        .await
        .unwrap();
    blank.expect_close(4001).await;
    // Neither a "joined" nor a "left" for it.
    alice.expect_nothing(Duration::from_millis(300)).await;
    alice.close(1000, "").await;
}

#[tokio::test]
async fn the_start_up_log_gives_the_page_url_from_the_bound_address() {
    logs();
    let app = chat::app().host("127.0.0.1").port(0);
    let stop = app.shutdown_handle();
    let running = tokio::spawn(app.run());

    // Port 0 binds a free port: only the real address can be in the line.
    let line = logged(&["cheese-api serving HTTP routes on http://127.0.0.1:"]).await;
    let url = line[line.find("http://").unwrap()..].trim_end();
    assert!(url.ends_with('/'), "{line}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    assert_ne!(addr, "127.0.0.1:0", "{line}");
    let ws_line = logged(&["cheese-api serving /ws/<room:str> on ws://"]).await;
    assert!(ws_line.ends_with(&format!("ws://{addr}")), "{ws_line}");

    // And the page is there.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("the page within 5 s")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("<title>cheese-api chat</title>"),
        "{response}"
    );

    stop.shutdown();
    running.await.unwrap().unwrap();
}

/// Two chat nodes linked by a backplane (in memory here; Redis in
/// tests/redis.rs): "joined" and "left" count and name the members of both.
#[tokio::test]
async fn joined_and_left_carry_the_members_of_every_node() {
    let link = cheese_api::MemoryBackplane::new();
    let a = TestServer::start(chat::node().backplane(link.clone())).await;
    let b = TestServer::start(chat::node().backplane(link)).await;
    let join = |server: &TestServer, nick: &str| {
        server.request("/ws/fondue").query("nick", nick).connect()
    };

    let mut alice = join(&a, "alice").await.unwrap();
    let joined: serde_json::Value = alice.recv_json().await;
    assert_eq!(
        (joined["members"].clone(), joined["nicks"].clone()),
        (1.into(), serde_json::json!(["alice"]))
    );

    // Bob joins on the other node: both pages hear it with both names.
    let mut bob = join(&b, "bob").await.unwrap();
    for page in [&mut bob, &mut alice] {
        let joined: serde_json::Value = page.recv_json().await;
        assert_eq!(joined["nick"], "bob");
        assert_eq!(joined["members"], 2);
        assert_eq!(joined["nicks"], serde_json::json!(["alice", "bob"]));
    }

    // Alice leaves node A: bob, on node B, hears it with one member left.
    alice.close(1000, "").await;
    let left: serde_json::Value = bob.recv_json().await;
    assert_eq!(left["type"], "left");
    assert_eq!(left["nick"], "alice");
    assert_eq!(left["members"], 1);
    assert_eq!(left["nicks"], serde_json::json!(["bob"]));
    assert_eq!(b.hub().presence_count("fondue").await, Ok(1));
    bob.close(1000, "").await;
}
