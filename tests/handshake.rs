//! DESIGN §2: everything before the 101: subprotocols exactly as CheeseAPI,
//! the pre-upgrade `handshake` hook, axum extractors and their rejections,
//! and what `Request` reports.

use axum::http::HeaderMap;
use cheese_api::prelude::*;
use cheese_api::testing::TestServer;
use serde::Deserialize;

#[derive(Default)]
struct Proto;

#[websocket("/proto")]
impl Proto {
    async fn subprotocol(&mut self, request: &Request) -> Option<String> {
        let offered = request.subprotocols();
        if offered.iter().any(|p| p == "bogus") {
            return Some("never-offered".into());
        }
        offered.iter().find(|p| p.starts_with("chat.")).cloned()
    }
    async fn connection(&mut self, request: &Request) {
        let _ = self.send(format!("{:?}", request.subprotocol())).await;
    }
}

#[derive(Default)]
struct NoProtoHook;

#[websocket("/plain")]
impl NoProtoHook {
    async fn connection(&mut self, request: &Request) {
        let _ = self
            .send(format!(
                "{:?} of {:?}",
                request.subprotocol(),
                request.subprotocols()
            ))
            .await;
    }
}

fn proto_app() -> App {
    App::empty().websocket::<Proto>().websocket::<NoProtoHook>()
}

#[tokio::test]
async fn chosen_subprotocol_is_sent_back_and_reported() {
    let server = TestServer::start(proto_app()).await;
    let mut client = server
        .request("/proto")
        .subprotocols(["x", "chat.v2", "chat.v1"])
        .connect()
        .await
        .unwrap();
    assert_eq!(
        client.response_headers()["sec-websocket-protocol"],
        "chat.v2"
    );
    assert_eq!(client.subprotocol(), Some("chat.v2"));
    assert_eq!(client.recv_text().await, r#"Some("chat.v2")"#);
}

#[tokio::test]
async fn hook_may_choose_none() {
    let server = TestServer::start(proto_app()).await;
    // Upgraded (101) with no subprotocol, as a browser accepts.
    accepted_with_no_subprotocol(&server, "/proto", &["x"]).await;
}

/// Connects to `path` offering `offers` and checks the app upgraded with
/// no `Sec-WebSocket-Protocol` in its answer.
async fn accepted_with_no_subprotocol(server: &TestServer, path: &str, offers: &[&str]) {
    let client = server
        .request(path)
        .subprotocols(offers.iter().copied())
        .connect()
        .await
        .unwrap();
    let headers = client.response_headers();
    assert!(
        !headers.contains_key("sec-websocket-protocol"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_subprotocol_the_client_did_not_offer_refuses_with_400() {
    let server = TestServer::start(proto_app()).await;
    let refused = server
        .request("/proto")
        .subprotocols(["bogus"])
        .connect_expect_refused()
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn without_offers_the_hook_does_not_run() {
    let server = TestServer::start(proto_app()).await;
    let mut client = server.connect("/proto").await;
    assert!(!client
        .response_headers()
        .contains_key("sec-websocket-protocol"));
    assert_eq!(client.recv_text().await, "None");
}

#[tokio::test]
async fn a_route_without_the_hook_accepts_offers_with_no_subprotocol() {
    let server = TestServer::start(proto_app()).await;
    accepted_with_no_subprotocol(&server, "/plain", &["a", "b"]).await;
}

#[derive(Deserialize, Clone)]
struct Auth {
    token: String,
}

#[derive(Default)]
struct Secure {
    user: String,
}

#[websocket("/secure")]
impl Secure {
    async fn handshake(&mut self, auth: Query<Auth>) -> Result<(), (StatusCode, &'static str)> {
        match auth.token.as_str() {
            "letmein" => {
                self.user = "alice".into();
                Ok(())
            }
            "banned" => Err((StatusCode::FORBIDDEN, "banned")),
            _ => Err((StatusCode::UNAUTHORIZED, "bad token")),
        }
    }
    async fn connection(&mut self) {
        let _ = self.send(format!("welcome {}", self.user)).await;
    }
}

#[tokio::test]
async fn handshake_hook_refuses_with_its_status() {
    let server = TestServer::start(App::empty().websocket::<Secure>()).await;
    let refused = server.connect_expect_refused("/secure?token=nope").await;
    assert_eq!(refused.status, 401);
    let refused = server.connect_expect_refused("/secure?token=banned").await;
    assert_eq!(refused.status, 403);
    // The extractor's own rejection: a missing query field is 400.
    assert_eq!(server.connect_expect_refused("/secure").await.status, 400);
    let mut client = server.connect("/secure?token=letmein").await;
    assert_eq!(client.recv_text().await, "welcome alice");
}

#[derive(Default)]
struct Extracting;

#[websocket("/ex/<room:str>")]
impl Extracting {
    async fn connection(&mut self, headers: HeaderMap, q: Query<Auth>, room: String) {
        let ua = headers
            .get("x-client")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        let _ = self.send(format!("{room} {ua} {}", q.token)).await;
    }
    async fn message(&mut self, message: String, q: Query<Auth>) {
        // Extracted once before the handshake, given to every call.
        let _ = self.send(format!("{message}/{}", q.token)).await;
    }
}

#[tokio::test]
async fn axum_extractors_are_extracted_once_from_the_upgrade_request() {
    let server = TestServer::start(App::empty().websocket::<Extracting>()).await;
    let mut client = server
        .request("/ex/lobby?token=t1")
        .header("x-client", "test")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.recv_text().await, "lobby test t1");
    for m in ["a", "b"] {
        client.send(m).await;
        assert_eq!(client.recv_text().await, format!("{m}/t1"));
    }
}

#[derive(Default)]
struct Inspect;

#[websocket("/inspect/<id:int>")]
impl Inspect {
    async fn connection(&mut self, request: &Request) {
        let report = serde_json::json!({
            "method": request.method().as_str(),
            "path": request.path(),
            "full_path": request.full_path(),
            "scheme": request.scheme(),
            "args": request.args(),
            "cookies": request.cookies(),
            "client_is_loopback": request.client().map(|c| c.ip().is_loopback()),
            "origin": request.origin(),
            "header": request.header("x-custom"),
            "id": request.param::<i64>("id"),
        });
        let _ = self.send(Json(report)).await;
    }
}

#[tokio::test]
async fn request_reports_what_cheeseapi_offers() {
    let server = TestServer::start(App::empty().websocket::<Inspect>()).await;
    let mut client = server
        .request("/inspect/7?name=caf%C3%A9&x=a+b")
        .header("cookie", "session=abc; theme=dark")
        .header("origin", "http://127.0.0.1")
        .header("x-custom", "yes")
        .connect()
        .await
        .unwrap();
    let got: serde_json::Value = serde_json::from_str(&client.recv_text().await).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "method": "GET",
            "path": "/inspect/7",
            "full_path": "/inspect/7?name=caf%C3%A9&x=a+b",
            "scheme": "ws",
            "args": {"name": "café", "x": "a b"},
            "cookies": {"session": "abc", "theme": "dark"},
            "client_is_loopback": true,
            "origin": "http://127.0.0.1",
            "header": "yes",
            "id": 7,
        })
    );
}

#[derive(Clone)]
struct Greeting(&'static str);

#[derive(Default)]
struct WithState;

#[websocket("/state")]
impl WithState {
    async fn connection(&mut self, greeting: Extension<Greeting>, hub: Hub) {
        let _ = self
            .send(format!("{} ({} open)", greeting.0 .0, hub.connections()))
            .await;
    }
}

#[tokio::test]
async fn app_state_and_the_hub_reach_hooks_as_extractors() {
    let app = App::empty()
        .websocket::<WithState>()
        .extension(Greeting("bonjour"));
    let server = TestServer::start(app).await;
    let mut client = server.connect("/state").await;
    // The hub handle was extracted before the upgrade; by the time
    // `connection` runs this connection is registered in it.
    assert_eq!(client.recv_text().await, "bonjour (1 open)");
}
