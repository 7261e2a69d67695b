//! DESIGN §2: everything before the 101: subprotocols exactly as CheeseAPI,
//! the pre-upgrade `handshake` hook, axum extractors and their rejections,
//! and what `Request` reports.

mod common;
use common::*;

use axum::http::HeaderMap;
use cheese_api::prelude::*;
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
    let addr = start(proto_app()).await;
    let (mut ws, headers) = connect_full(
        addr,
        "/proto",
        &[("sec-websocket-protocol", "x, chat.v2, chat.v1")],
    )
    .await
    .unwrap();
    assert_eq!(headers.get("sec-websocket-protocol").unwrap(), "chat.v2");
    assert_eq!(recv_text(&mut ws).await, r#"Some("chat.v2")"#);
}

#[tokio::test]
async fn hook_may_choose_none() {
    let addr = start(proto_app()).await;
    let (status, head) = raw_handshake(addr, "/proto", &[("sec-websocket-protocol", "x")]).await;
    assert_eq!(status, 101);
    assert!(!head.contains("sec-websocket-protocol"), "{head}");
}

#[tokio::test]
async fn a_subprotocol_the_client_did_not_offer_refuses_with_400() {
    let addr = start(proto_app()).await;
    assert_eq!(
        connect_with(addr, "/proto", &[("sec-websocket-protocol", "bogus")])
            .await
            .err(),
        Some(400)
    );
}

#[tokio::test]
async fn without_offers_the_hook_does_not_run() {
    let addr = start(proto_app()).await;
    let (mut ws, headers) = connect_full(addr, "/proto", &[]).await.unwrap();
    assert!(headers.get("sec-websocket-protocol").is_none());
    assert_eq!(recv_text(&mut ws).await, "None");
}

#[tokio::test]
async fn a_route_without_the_hook_accepts_offers_with_no_subprotocol() {
    let addr = start(proto_app()).await;
    let (status, head) = raw_handshake(addr, "/plain", &[("sec-websocket-protocol", "a, b")]).await;
    assert_eq!(status, 101);
    assert!(!head.contains("sec-websocket-protocol"), "{head}");
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
    let addr = start(App::empty().websocket::<Secure>()).await;
    assert_eq!(
        connect_with(addr, "/secure?token=nope", &[]).await.err(),
        Some(401)
    );
    assert_eq!(
        connect_with(addr, "/secure?token=banned", &[]).await.err(),
        Some(403)
    );
    // The extractor's own rejection: a missing query field is 400.
    assert_eq!(connect_with(addr, "/secure", &[]).await.err(), Some(400));
    let mut ws = connect(addr, "/secure?token=letmein").await;
    assert_eq!(recv_text(&mut ws).await, "welcome alice");
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
    let addr = start(App::empty().websocket::<Extracting>()).await;
    let mut ws = connect_with(addr, "/ex/lobby?token=t1", &[("x-client", "test")])
        .await
        .unwrap();
    assert_eq!(recv_text(&mut ws).await, "lobby test t1");
    for m in ["a", "b"] {
        send_text(&mut ws, m).await;
        assert_eq!(recv_text(&mut ws).await, format!("{m}/t1"));
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
    let addr = start(App::empty().websocket::<Inspect>()).await;
    let mut ws = connect_with(
        addr,
        "/inspect/7?name=caf%C3%A9&x=a+b",
        &[
            ("cookie", "session=abc; theme=dark"),
            ("origin", "http://127.0.0.1"),
            ("x-custom", "yes"),
        ],
    )
    .await
    .unwrap();
    let got: serde_json::Value = serde_json::from_str(&recv_text(&mut ws).await).unwrap();
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
    let addr = start(app).await;
    let mut ws = connect(addr, "/state").await;
    // The hub handle was extracted before the upgrade; by the time
    // `connection` runs this connection is registered in it.
    assert_eq!(recv_text(&mut ws).await, "bonjour (1 open)");
}
