//! `spawn_app()`: a real server on 127.0.0.1:0 over a fresh data folder, and a typed client.
//!
//! The backend is the one `OFFCHAIN_TEST_STORE` names (a `store` setting value, default
//! `embedded`), so the same suite runs against every backend the server is built with. On
//! `mongo`, every app gets a database of its own on the test process's MongoDB server
//! (`test_servers::mongo()`) and, as that store requires, a configured signing key: one
//! generated in the app's folder, where the embedded store would have generated it.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use server::RunningServer;
use server::config::{Config, MongoConfig, Store, StoreMode};
use std::path::Path;

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
    let mut config = store_config(dir.path());
    adjust(&mut config);
    configure_test_key(&mut config);
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

/// The configuration of a server on `dir` and on the backend the suite runs against, ready
/// to start: on `mongo`, with a key as [`configure_test_key`] gives it.
pub fn test_config(dir: &Path) -> Config {
    let mut config = store_config(dir);
    configure_test_key(&mut config);
    config
}

/// The defaults on `dir` and the backend the suite runs against: on `mongo`, the database
/// named after `dir` (so a restart on the same folder finds the same store).
fn store_config(dir: &Path) -> Config {
    let mut config = Config::with_data_dir(dir);
    if test_store() == StoreMode::Mongo {
        config.store = Store::Mongo(MongoConfig::new(
            test_servers::mongo().uri.clone(),
            database_of(dir),
        ));
    }
    config
}

/// On `mongo`, which requires a configured key: unless the test configured one (which must
/// then exist, as in production), `<data_dir>/log-signing.key`, generated when missing, where
/// the embedded store would have generated it.
pub fn configure_test_key(config: &mut Config) {
    if matches!(config.store, Store::Mongo(_)) && config.tlog.signing_key.is_none() {
        let default_key = config.data_dir.join(infra::embedded::SIGNING_KEY_FILE_NAME);
        // Private, as the embedded store makes its folder: the key sits in it.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&config.data_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", config.data_dir.display()));
        infra::embedded::load_or_create_signing_seed(&default_key, true)
            .unwrap_or_else(|e| panic!("signing key {}: {}", default_key.display(), e.chain()));
        config.tlog.signing_key = Some(default_key);
    }
}

/// The MongoDB database of the app in `dir`: made once per folder, kept in the folder.
fn database_of(dir: &Path) -> String {
    let marker = dir.join(".test-mongo-database");
    if let Ok(name) = std::fs::read_to_string(&marker) {
        return name;
    }
    let name = test_servers::mongo().database_name("e2e");
    std::fs::write(&marker, &name).unwrap_or_else(|e| panic!("write {}: {e}", marker.display()));
    name
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

/// Says, when the suite runs on another backend, that the calling test checks something
/// only the embedded store has (`what`), and returns whether it said so: the test then
/// returns at once. The note goes to the process's stderr directly (the harness shows
/// captured output only for failing tests), so every run on another backend lists what it
/// did not check there.
pub fn embedded_only(what: &str) -> bool {
    if test_store() == StoreMode::Embedded {
        return false;
    }
    let test = std::thread::current()
        .name()
        .map(|name| format!("{name}: "))
        .unwrap_or_default();
    let line = format!(
        "note: {test}not run on the `{:?}` store: it checks {what}, which only the embedded \
         store has\n",
        test_store()
    );
    let _ignored = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    true
}
