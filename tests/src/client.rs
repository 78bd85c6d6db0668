//! A small JSON client that keeps a bearer token, for tests that speak HTTP.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct Session {
    base: String,
    token: Option<String>,
    client: Client,
}

/// Status and parsed body (`Value::Null` when the body is empty or not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Response {
    /// The stable error code of a 4xx/5xx body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Session {
    pub fn new(base: &str, token: Option<String>) -> Session {
        Session { base: base.to_owned(), token, client: Client::new() }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::PATCH, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(self.request(Method::DELETE, path)).await
    }
}
