//! `crate = "..."` for a renamed dependency: here cheese-api is the
//! dev-dependency `renamed_cheese`, and no crate called `cheese_api` exists,
//! so this file compiles only if every path the attribute generates goes
//! through `crate = "renamed_cheese"`. The test then serves the handler and
//! talks to it, through the glue those paths make up.

use renamed_cheese::prelude::*;
use renamed_cheese::testing::TestServer;

#[derive(Default)]
struct Echo {
    id: i64,
}

#[websocket("/echo/<id:int>", crate = "renamed_cheese", max_size = 1024)]
impl Echo {
    async fn connection(&mut self, id: i64, request: &Request) {
        self.id = id;
        let _ = self.send(format!("{id} at {}", request.path())).await;
    }

    async fn message(&mut self, message: Message, id: i64) {
        let _ = self
            .send(format!("{id}: {}", message.as_text().unwrap_or("")))
            .await;
    }
}

#[test]
fn no_cheese_api_in_scope() {
    // The point of the file: the runtime is only reachable by its new name.
    let _ = renamed_cheese::Limits::DEFAULT;
    assert_eq!(Echo::PATH, "/echo/<id:int>");
    assert_eq!(Echo::LIMITS.max_size, Some(1024));
    assert!(App::new().paths().contains(&"/echo/<id:int>"));
}

#[tokio::test]
async fn a_renamed_dependency_serves() {
    let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    let mut client = server.connect("/echo/42").await;
    assert_eq!(client.recv_text().await, "42 at /echo/42");
    client.send("hello").await;
    assert_eq!(client.recv_text().await, "42: hello");
    client.close(1000, "").await;
    server.shutdown().await;
}
