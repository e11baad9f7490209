//! A client of the orchestrator's API, for the command line (and scripts written in Rust):
//! one method per endpoint it uses, errors as one clear line with the HTTP status. Version
//! uploads are streamed: the JSON body is written in chunks as it is sent, so a 65,000-
//! resource version is never held twice in memory.

use crate::http::types::{
    Accepted, AgentList, AgentStatus, DeployRequest, EnvironmentCreate, PreferRequest, EnvironmentList, EnvironmentStatus, FileHashes, MissingFiles, ResourcePage, TokenCreate, TokenCreated, VersionCreated,
    VersionList,
};
use crate::records::EnvironmentRecord;
use bytes::Bytes;
use cairn_wire::ResourceDoc;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

#[derive(Debug)]
pub enum ClientError {
    /// The server could not be reached.
    Connect(String),
    /// The server answered with an error.
    Http { status: u16, reason: String, message: String },
    /// The answer was not what the API returns.
    Decode(String),
    /// What the caller asked is not possible (a bad URL, ...).
    Invalid(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(message) => write!(f, "cannot reach the server: {message}"),
            ClientError::Http { status, reason, message } => write!(f, "the server answered {status} {reason}: {message}"),
            ClientError::Decode(message) => write!(f, "unexpected answer from the server: {message}"),
            ClientError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ClientError {}

/// Resources serialised per chunk of a streamed upload.
const UPLOAD_CHUNK: usize = 500;

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// The text of a connection error with its causes (reqwest's own message says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Client {
    /// A client of the server at `server` (`http://HOST:PORT`).
    pub fn new(server: &str, token: Option<String>) -> Result<Client, ClientError> {
        let base = server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Invalid(format!("the server address must start with http:// or https://, not `{server}`")));
        }
        // TLS with ring; installing it again (another client, another crate) changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .https_only(base.starts_with("https://"))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| ClientError::Invalid(chain(&e)))?;
        Ok(Client { base, token, http })
    }

    fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Connect(chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(500).collect());
        Err(ClientError::Http { status: status.as_u16(), reason: status.canonical_reason().unwrap_or("").to_string(), message })
    }

    async fn json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let response = self.send(request).await?;
        let bytes = response.bytes().await.map_err(|e| ClientError::Connect(chain(&e)))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn with_json<T: serde::Serialize>(request: reqwest::RequestBuilder, body: &T) -> Result<reqwest::RequestBuilder, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok(request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body))
    }

    pub async fn create_environment(&self, name: &str) -> Result<EnvironmentRecord, ClientError> {
        self.create_environment_with(name, &std::collections::BTreeMap::new()).await
    }

    /// Creates an environment with settings to start with (its repository, ...).
    pub async fn create_environment_with(&self, name: &str, settings: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<EnvironmentRecord, ClientError> {
        let body = EnvironmentCreate { name: name.to_string(), settings: settings.clone() };
        let request = Self::with_json(self.builder(Method::POST, "/api/v1/environments"), &body)?;
        self.json(request).await
    }

    /// Asks for a compile of the environment's repository (it joins one queued already).
    pub async fn request_compile(&self, environment: &str, reason: Option<&str>) -> Result<crate::records::CompileRecord, ClientError> {
        let body = crate::http::types::CompileCreate { reason: reason.map(str::to_string) };
        let request = Self::with_json(self.builder(Method::POST, &format!("/api/v1/environments/{}/compiles", encode(environment))), &body)?;
        self.json(request).await
    }

    /// The environment's compiles, newest first.
    pub async fn compiles(&self, environment: &str, limit: usize) -> Result<Vec<crate::records::CompileRecord>, ClientError> {
        let path = format!("/api/v1/environments/{}/compiles?limit={limit}", encode(environment));
        Ok(self.json::<crate::http::types::CompileList>(self.builder(Method::GET, &path)).await?.compiles)
    }

    pub async fn compile(&self, environment: &str, id: &str) -> Result<crate::records::CompileRecord, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/compiles/{}", encode(environment), encode(id)))).await
    }

    pub async fn environments(&self) -> Result<Vec<EnvironmentRecord>, ClientError> {
        Ok(self.json::<EnvironmentList>(self.builder(Method::GET, "/api/v1/environments")).await?.environments)
    }

    pub async fn create_token(&self, token: &TokenCreate) -> Result<TokenCreated, ClientError> {
        self.json(Self::with_json(self.builder(Method::POST, "/api/v1/tokens"), token)?).await
    }

    pub async fn status(&self, environment: &str) -> Result<EnvironmentStatus, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/status", encode(environment)))).await
    }

    pub async fn versions(&self, environment: &str) -> Result<VersionList, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/versions", encode(environment)))).await
    }

    /// One page of resource states; `state` filters.
    pub async fn resources(&self, environment: &str, state: Option<&str>, after: Option<&str>, limit: usize) -> Result<ResourcePage, ClientError> {
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(state) = state {
            query.push(("state", state.to_string()));
        }
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/resources", encode(environment))).query(&query)).await
    }

    /// Every agent name, its primary and standbys, and the latest changes of primary.
    pub async fn agents(&self, environment: &str) -> Result<AgentList, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/agents", encode(environment)))).await
    }

    /// Pauses (or resumes) an agent name.
    pub async fn pause_agent(&self, environment: &str, agent: &str, paused: bool) -> Result<AgentStatus, ClientError> {
        let what = if paused { "pause" } else { "resume" };
        let request = self.builder(Method::POST, &format!("/api/v1/environments/{}/agents/{}/{what}", encode(environment), encode(agent)));
        self.json(request).await
    }

    /// Chooses (or clears) the preferred primary of an agent name.
    pub async fn prefer_agent(&self, environment: &str, agent: &str, choice: &PreferRequest) -> Result<AgentStatus, ClientError> {
        let request = self.builder(Method::POST, &format!("/api/v1/environments/{}/agents/{}/prefer", encode(environment), encode(agent)));
        self.json(Self::with_json(request, choice)?).await
    }

    pub async fn environment(&self, environment: &str) -> Result<EnvironmentRecord, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}", encode(environment)))).await
    }

    /// Replaces the environment's settings (secrets given as the API shows them are kept).
    pub async fn set_settings(&self, environment: &str, settings: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<EnvironmentRecord, ClientError> {
        let request = self.builder(Method::PUT, &format!("/api/v1/environments/{}/settings", encode(environment)));
        let body = crate::http::types::SettingsUpdate { settings: settings.clone() };
        self.json(Self::with_json(request, &body)?).await
    }

    /// The environment's agent map.
    pub async fn agent_map(&self, environment: &str) -> Result<crate::http::agent_map::AgentMapBody, ClientError> {
        self.json(self.builder(Method::GET, &format!("/api/v1/environments/{}/agent-map", encode(environment)))).await
    }

    /// Sets (or, with `None`, removes) an agent's entry of the agent map.
    pub async fn set_agent_target(
        &self,
        environment: &str,
        agent: &str,
        entry: Option<&crate::agent_map::AgentMapEntry>,
    ) -> Result<crate::http::agent_map::AgentMapBody, ClientError> {
        let path = format!("/api/v1/environments/{}/agent-map/{}", encode(environment), encode(agent));
        match entry {
            Some(entry) => self.json(Self::with_json(self.builder(Method::PUT, &path), entry)?).await,
            None => self.json(self.builder(Method::DELETE, &path)).await,
        }
    }

    /// Asks the primaries for a deploy of the released version (`full`: a repair run).
    pub async fn request_deploy(&self, environment: &str, full: bool) -> Result<Accepted, ClientError> {
        let request = self.builder(Method::POST, &format!("/api/v1/environments/{}/deploy", encode(environment)));
        self.json(Self::with_json(request, &DeployRequest { full })?).await
    }

    /// Of `hashes`, those the server's file store lacks.
    pub async fn missing_files(&self, hashes: &[String]) -> Result<Vec<String>, ClientError> {
        let request = Self::with_json(self.builder(Method::POST, "/api/v1/files/missing"), &FileHashes { hashes: hashes.to_vec() })?;
        Ok(self.json::<MissingFiles>(request).await?.missing)
    }

    pub async fn put_file(&self, hash: &str, body: Vec<u8>) -> Result<(), ClientError> {
        let request = self.builder(Method::PUT, &format!("/api/v1/files/{hash}")).header(reqwest::header::CONTENT_TYPE, "application/octet-stream").body(body);
        let response = self.send(request).await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::CREATED => Ok(()),
            other => Err(ClientError::Decode(format!("unexpected status {other}"))),
        }
    }

    /// Uploads the file bodies the server lacks, then the version (streamed); returns what
    /// the server stored. `sent` counts the bytes of the version body.
    pub async fn upload_version(
        &self,
        environment: &str,
        resources: std::sync::Arc<Vec<ResourceDoc>>,
        files: &[(String, Vec<u8>)],
        release: bool,
        sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<VersionCreated, ClientError> {
        let hashes: Vec<String> = files.iter().map(|(h, _)| h.clone()).collect();
        if !hashes.is_empty() {
            let missing: std::collections::BTreeSet<String> = self.missing_files(&hashes).await?.into_iter().collect();
            for (hash, body) in files.iter().filter(|(h, _)| missing.contains(h)) {
                self.put_file(hash, body.clone()).await?;
            }
        }
        let chunks = resources.len().div_ceil(UPLOAD_CHUNK);
        let stream = futures_util::stream::iter(0..=chunks + 1).map(move |index| -> Result<Bytes, std::io::Error> {
            let bytes = if index == 0 {
                b"{\"resources\":[".to_vec()
            } else if index <= chunks {
                let start = (index - 1) * UPLOAD_CHUNK;
                let end = (start + UPLOAD_CHUNK).min(resources.len());
                let mut out = Vec::new();
                for (i, resource) in resources[start..end].iter().enumerate() {
                    if start + i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, resource).map_err(std::io::Error::other)?;
                }
                out
            } else {
                format!("],\"release\":{release}}}").into_bytes()
            };
            sent.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(Bytes::from(bytes))
        });
        let request = self
            .builder(Method::POST, &format!("/api/v1/environments/{}/versions", encode(environment)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap_stream(stream));
        self.json(request).await
    }
}

use futures_util::StreamExt;

/// Percent-encodes a path segment.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
