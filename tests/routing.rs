//! DESIGN §2 Routes and App: CheeseAPI's `<name:type>` syntax, specificity,
//! 404/426, registration with `App::new` (inventory) and `App::empty()`,
//! and dropping into an existing axum app.

use cheese_api::prelude::*;
use cheese_api::testing::TestServer;

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

async fn greeting(server: &TestServer, path: &str) -> String {
    server.connect(path).await.recv_text().await
}

/// The status the app refuses a handshake to `path` with.
async fn refusal(server: &TestServer, path: &str) -> u16 {
    server.connect_expect_refused(path).await.status
}

#[tokio::test]
async fn typed_segments_pick_the_most_specific_route() {
    let server = TestServer::start(app()).await;
    assert_eq!(greeting(&server, "/item/42").await, "int 42");
    assert_eq!(greeting(&server, "/item/-3").await, "int -3");
    assert_eq!(greeting(&server, "/item/4.5").await, "float 4.5");
    assert_eq!(greeting(&server, "/item/cheddar").await, "str cheddar");
    assert_eq!(
        greeting(&server, "/item/67e55044-10b1-426f-9247-bb680e5fe0c8").await,
        "uuid 67e55044-10b1-426f-9247-bb680e5fe0c8"
    );
    assert_eq!(
        greeting(&server, "/page/aged-gouda").await,
        "slug aged-gouda"
    );
}

#[tokio::test]
async fn a_segment_that_does_not_fit_its_type_is_404() {
    let server = TestServer::start(app()).await;
    assert_eq!(refusal(&server, "/only/abc/tail").await, 404);
    assert_eq!(refusal(&server, "/page/Not_A_Slug").await, 404);
    // Fits `int` but not the parameter's type (u8): also 404.
    assert_eq!(refusal(&server, "/only/300/tail").await, 404);
    assert_eq!(greeting(&server, "/only/200/tail").await, "u8 200");
    assert_eq!(refusal(&server, "/nowhere").await, 404);
    assert_eq!(refusal(&server, "/item/1/2").await, 404);
}

#[tokio::test]
async fn trailing_slash_matches() {
    let server = TestServer::start(app()).await;
    assert_eq!(greeting(&server, "/chat/").await, "chat");
    assert_eq!(greeting(&server, "/item/7/").await, "int 7");
}

#[tokio::test]
async fn plain_http_on_a_websocket_route_is_426_not_a_hang() {
    let server = TestServer::start(app()).await;
    let response = server.get("/chat").await;
    assert_eq!(response.status, 426);
    assert!(response.body.contains("WebSocket route"), "{response:?}");
    assert_eq!(server.get("/nowhere").await.status, 404);
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
    let server = TestServer::start(app.pattern("slug", |_| true)).await;
    assert_eq!(greeting(&server, "/item/9").await, "int 9");
}

#[tokio::test]
async fn router_drops_into_an_axum_app_and_merge_serves_http_routes() {
    use axum::routing::get;
    // 1. app.router() merged into the user's own axum app.
    let router = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(App::empty().websocket::<Chat>().router());
    let server = TestServer::start_router(router).await; // served by axum::serve
    let health = server.get("/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    assert_eq!(greeting(&server, "/chat").await, "chat");
    // 2. app.merge(router): HTTP routes served beside by App::serve.
    let app = App::empty()
        .websocket::<Chat>()
        .merge(axum::Router::new().route("/hi", get(|| async { "hello" })));
    let server = TestServer::start(app).await;
    let hi = server.get("/hi").await;
    assert_eq!((hi.status, hi.body.as_str()), (200, "hello"));
    assert_eq!(greeting(&server, "/chat").await, "chat");
}
