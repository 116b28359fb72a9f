//! `spawn_app()`: a real server on 127.0.0.1:0 over a fresh data folder, and a typed client.
//!
//! The backend is the one `OFFCHAIN_TEST_STORE` names (a `store` setting value, default
//! `embedded`), so the same suite runs against every backend the server is built with.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use server::RunningServer;
use server::config::{Config, StoreMode};
use tempfile::TempDir;

/// A running server, its data folder, and an HTTP client pointed at it.
pub struct TestApp {
    pub server: Option<RunningServer>,
    pub dir: TempDir,
    pub base: String,
    pub client: reqwest::Client,
}

/// Starts a server on a new, empty data folder.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    spawn_app_in(dir, |_| {}).await
}

/// Starts a server on `dir`, letting the test adjust the configuration.
pub async fn spawn_app_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::with_data_dir(dir.path());
    config.store = test_store();
    adjust(&mut config);
    let server = server::start(config)
        .await
        .unwrap_or_else(|e| panic!("server start: {}", e.chain()));
    let base = format!("http://{}", server.addr());
    TestApp {
        server: Some(server),
        dir,
        base,
        client: reqwest::Client::new(),
    }
}

/// The environment variable naming the backend the suite runs against.
pub const TEST_STORE_ENV: &str = "OFFCHAIN_TEST_STORE";

/// The backend the suite runs against: `OFFCHAIN_TEST_STORE`, parsed as the `store` setting
/// is, or `embedded` when unset.
pub fn test_store() -> StoreMode {
    match std::env::var(TEST_STORE_ENV) {
        Ok(name) => serde_json::from_value(Value::String(name.clone()))
            .unwrap_or_else(|e| panic!("{TEST_STORE_ENV}={name}: {e}")),
        Err(std::env::VarError::NotPresent) => StoreMode::Embedded,
        Err(e) => panic!("{TEST_STORE_ENV}: {e}"),
    }
}

/// An answer: status, headers and the JSON body (Null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape of an error with `code` and `status`, and returns it.
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status of {:#}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:#}",
            self.body
        );
        assert_eq!(self.body["code"], json!(code), "{:#}", self.body);
        assert_eq!(self.body["status"], json!(status));
        for field in ["type", "title", "detail", "request_id"] {
            assert!(
                self.body[field].is_string(),
                "problem field `{field}` missing in {:#}",
                self.body
            );
        }
        assert_eq!(
            self.header("x-request-id"),
            self.body["request_id"].as_str()
        );
        &self.body
    }

    /// The JSON pointers named in `errors`, sorted.
    pub fn error_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["path"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(request: RequestBuilder) -> Answer {
        let response: Response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        Self::send(self.request(Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        Self::send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value, if_match: Option<&str>) -> Answer {
        let mut request = self.request(Method::PUT, path).json(body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        Self::send(request).await
    }

    pub async fn patch(&self, path: &str, merge_patch: &Value, if_match: Option<&str>) -> Answer {
        let mut request = self
            .request(Method::PATCH, path)
            .header("content-type", "application/merge-patch+json")
            .body(merge_patch.to_string());
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        Self::send(request).await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> Answer {
        let mut request = self.request(Method::DELETE, path);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        Self::send(request).await
    }

    /// Creates a collection, asserting success.
    pub async fn create_collection(&self, name: &str, schema: Option<Value>) -> Value {
        let mut body = json!({"name": name});
        if let Some(schema) = schema {
            body["schema"] = schema;
        }
        let answer = self.post_json("/v1/collections", &body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:#}", answer.body);
        answer.body
    }

    /// Creates a document, asserting success.
    pub async fn create_document(&self, collection: &str, id: &str, data: Value) -> Answer {
        let path = format!("/v1/collections/{collection}/documents");
        let answer = self
            .post_json(&path, &json!({"id": id, "data": data}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:#}", answer.body);
        answer
    }

    /// Stops the server and waits for the data folder to be released.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.unwrap_or_else(|e| panic!("stop: {e}"));
        }
    }

    /// Stops and starts a new server on the same folder.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        spawn_app_in(self.dir, |_| {}).await
    }
}
