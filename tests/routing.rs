//! DESIGN §2 Routes and App: CheeseAPI's `<name:type>` syntax, specificity,
//! 404/426, registration with `App::new` (inventory) and `App::empty()`,
//! and dropping into an existing axum app.

mod common;
use common::*;

use cheese_api::prelude::*;

#[derive(Default)]
struct ById;

#[websocket("/item/<id:int>")]
impl ById {
    async fn connection(&mut self, id: i64) {
        let _ = self.send(format!("int {id}")).await;
    }
}

#[derive(Default)]
struct ByName;

#[websocket("/item/<name:str>")]
impl ByName {
    async fn connection(&mut self, name: String) {
        let _ = self.send(format!("str {name}")).await;
    }
}

#[derive(Default)]
struct ByFloat;

#[websocket("/item/<x:float>")]
impl ByFloat {
    async fn connection(&mut self, x: f64) {
        let _ = self.send(format!("float {x}")).await;
    }
}

#[derive(Default)]
struct ByUuid;

#[websocket("/item/<u:uuid>")]
impl ByUuid {
    async fn connection(&mut self, u: String) {
        let _ = self.send(format!("uuid {u}")).await;
    }
}

#[derive(Default)]
struct OnlyInt;

#[websocket("/only/<n:int>/tail")]
impl OnlyInt {
    async fn connection(&mut self, n: u8) {
        let _ = self.send(format!("u8 {n}")).await;
    }
}

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn connection(&mut self) {
        let _ = self.send("chat").await;
    }
}

#[derive(Default)]
struct Slug;

#[websocket("/page/<slug:slug>")]
impl Slug {
    async fn connection(&mut self, slug: String) {
        let _ = self.send(format!("slug {slug}")).await;
    }
}

fn app() -> App {
    // Registration order must not matter: the most specific type wins.
    App::empty()
        .websocket::<ByName>()
        .websocket::<ById>()
        .websocket::<ByFloat>()
        .websocket::<ByUuid>()
        .websocket::<OnlyInt>()
        .websocket::<Chat>()
        .pattern("slug", |s| {
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .websocket::<Slug>()
}

async fn greeting(addr: std::net::SocketAddr, path: &str) -> String {
    let mut ws = connect(addr, path).await;
    recv_text(&mut ws).await
}

#[tokio::test]
async fn typed_segments_pick_the_most_specific_route() {
    let addr = start(app()).await;
    assert_eq!(greeting(addr, "/item/42").await, "int 42");
    assert_eq!(greeting(addr, "/item/-3").await, "int -3");
    assert_eq!(greeting(addr, "/item/4.5").await, "float 4.5");
    assert_eq!(greeting(addr, "/item/cheddar").await, "str cheddar");
    assert_eq!(
        greeting(addr, "/item/67e55044-10b1-426f-9247-bb680e5fe0c8").await,
        "uuid 67e55044-10b1-426f-9247-bb680e5fe0c8"
    );
    assert_eq!(greeting(addr, "/page/aged-gouda").await, "slug aged-gouda");
}

#[tokio::test]
async fn a_segment_that_does_not_fit_its_type_is_404() {
    let addr = start(app()).await;
    assert_eq!(
        connect_with(addr, "/only/abc/tail", &[]).await.err(),
        Some(404)
    );
    assert_eq!(
        connect_with(addr, "/page/Not_A_Slug", &[]).await.err(),
        Some(404)
    );
    // Fits `int` but not the parameter's type (u8): also 404.
    assert_eq!(
        connect_with(addr, "/only/300/tail", &[]).await.err(),
        Some(404)
    );
    assert_eq!(greeting(addr, "/only/200/tail").await, "u8 200");
    assert_eq!(connect_with(addr, "/nowhere", &[]).await.err(), Some(404));
    assert_eq!(connect_with(addr, "/item/1/2", &[]).await.err(), Some(404));
}

#[tokio::test]
async fn trailing_slash_matches() {
    let addr = start(app()).await;
    assert_eq!(greeting(addr, "/chat/").await, "chat");
    assert_eq!(greeting(addr, "/item/7/").await, "int 7");
}

#[tokio::test]
async fn plain_http_on_a_websocket_route_is_426_not_a_hang() {
    let addr = start(app()).await;
    let (status, body) = http_get(addr, "/chat").await;
    assert_eq!(status, 426);
    assert!(body.contains("WebSocket route"), "{body}");
    assert_eq!(http_get(addr, "/nowhere").await.0, 404);
}

#[tokio::test]
async fn app_new_serves_every_registered_handler() {
    let app = App::new();
    let mut paths = app.paths();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "/chat",
            "/item/<id:int>",
            "/item/<name:str>",
            "/item/<u:uuid>",
            "/item/<x:float>",
            "/only/<n:int>/tail",
            "/page/<slug:slug>"
        ]
    );
    let addr = start(app.pattern("slug", |_| true)).await;
    assert_eq!(greeting(addr, "/item/9").await, "int 9");
}

#[tokio::test]
async fn router_drops_into_an_axum_app_and_merge_serves_http_routes() {
    use axum::routing::get;
    // 1. app.router() merged into the user's own axum app.
    let router = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(App::empty().websocket::<Chat>().router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(http_get(addr, "/health").await, (200, "ok".to_owned()));
    assert_eq!(greeting(addr, "/chat").await, "chat");
    // 2. app.merge(router): HTTP routes served beside by App::serve.
    let app = App::empty()
        .websocket::<Chat>()
        .merge(axum::Router::new().route("/hi", get(|| async { "hello" })));
    let addr = start(app).await;
    assert_eq!(http_get(addr, "/hi").await, (200, "hello".to_owned()));
    assert_eq!(greeting(addr, "/chat").await, "chat");
}
