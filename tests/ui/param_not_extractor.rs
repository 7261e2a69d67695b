#![allow(unused_variables, dead_code)]

use cheese_api::axum::extract::FromRequestParts;
use cheese_api::axum::http::request::Parts;
use cheese_api::prelude::*;

#[derive(Default)]
struct Room;

struct Settings {
    verbose: bool,
}

/// A real extractor, but not `Clone`: fine in `connection`, not in `message`.
struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        Ok(Token(String::new()))
    }
}

#[websocket("/room/<name:str>")]
impl Room {
    async fn connection(&mut self, name: String, foo: Vec<String>, token: Token) {}
    async fn message(&mut self, message: Message, settings: Settings, token: Token) {}
}

fn main() {}
