//! The Docker engine's API, spoken directly over its socket: no `docker` CLI is needed
//! (or trusted) by `msa audit image --engine` and `msa audit engine`.
//!
//! The endpoint is `DOCKER_HOST` when set (`unix:///path` or `tcp://host:port`, plain TCP
//! only: the audit carries no client certificates for the engine), else
//! `/var/run/docker.sock`. Paths carry no API version, so the engine answers in its own.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The most of a JSON answer read: lists of containers are kilobytes.
const JSON_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("DOCKER_HOST={0} is not unix:///path or tcp://host:port")]
    Host(String),
    #[error("cannot reach the Docker engine at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("the Docker engine at {endpoint} broke off: {message}")]
    Protocol { endpoint: String, message: String },
    #[error("the Docker engine answered {status} to {path}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("the Docker engine's answer to {path} is not what its API documents: {message}")]
    Answer { path: String, message: String },
    #[error("{0:?} is not an image name or id")]
    ImageName(String),
    #[error("cannot write the image to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Engine {
    endpoint: Endpoint,
}

impl Engine {
    /// The engine `DOCKER_HOST` names, else the one on the default socket.
    pub fn from_env() -> Result<Self, EngineError> {
        Self::from_host(std::env::var("DOCKER_HOST").ok().as_deref())
    }

    pub fn from_host(host: Option<&str>) -> Result<Self, EngineError> {
        let endpoint = match host.filter(|host| !host.is_empty()) {
            None => Endpoint::Unix(DEFAULT_SOCKET.into()),
            Some(host) => {
                if let Some(path) = host.strip_prefix("unix://") {
                    Endpoint::Unix(path.into())
                } else if let Some(address) = host.strip_prefix("tcp://") {
                    Endpoint::Tcp(address.trim_end_matches('/').to_owned())
                } else {
                    return Err(EngineError::Host(host.to_owned()));
                }
            }
        };
        Ok(Self { endpoint })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The socket file, when the engine is reached through one.
    pub fn socket(&self) -> Option<&Path> {
        match &self.endpoint {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Tcp(_) => None,
        }
    }

    /// `GET path`, its JSON answer parsed.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, EngineError> {
        let mut body = self.get(path).await?;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| self.protocol(error))?;
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > JSON_LIMIT {
                    return Err(EngineError::Answer {
                        path: path.to_owned(),
                        message: format!("longer than {JSON_LIMIT} bytes"),
                    });
                }
                bytes.extend_from_slice(data);
            }
        }
        serde_json::from_slice(&bytes).map_err(|error| EngineError::Answer {
            path: path.to_owned(),
            message: error.to_string(),
        })
    }

    /// Saves the image `name` (a name, `name:tag` or id) into `to` as `docker save` would
    /// (`GET /images/{name}/get`). Returns the bytes written.
    pub async fn save_image(&self, name: &str, to: &Path) -> Result<u64, EngineError> {
        let plain = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
        if name.is_empty() || name.len() > 512 || !name.chars().all(plain) || name.contains("..") {
            return Err(EngineError::ImageName(name.to_owned()));
        }
        let mut body = self.get(&format!("/images/{name}/get")).await?;
        let write = |source| EngineError::Write {
            path: to.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(to).await.map_err(write)?;
        let mut written = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| self.protocol(error))?;
            if let Some(data) = frame.data_ref() {
                file.write_all(data).await.map_err(write)?;
                written += data.len() as u64;
            }
        }
        file.flush().await.map_err(write)?;
        Ok(written)
    }

    async fn get(&self, path: &str) -> Result<Incoming, EngineError> {
        let connect = |source| EngineError::Connect {
            endpoint: self.endpoint.to_string(),
            source,
        };
        let response = match &self.endpoint {
            Endpoint::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(connect)?;
                self.send(stream, path).await?
            }
            Endpoint::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address.as_str())
                    .await
                    .map_err(connect)?;
                self.send(stream, path).await?
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        // The engine explains a refusal as {"message": "..."}.
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|value| value["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
        Err(EngineError::Status {
            path: path.to_owned(),
            status: status.as_u16(),
            message,
        })
    }

    async fn send<S>(&self, stream: S, path: &str) -> Result<hyper::Response<Incoming>, EngineError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| self.protocol(error))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|error| EngineError::Answer {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        sender
            .send_request(request)
            .await
            .map_err(|error| self.protocol(error))
    }

    fn protocol(&self, error: impl std::fmt::Display) -> EngineError {
        EngineError::Protocol {
            endpoint: self.endpoint.to_string(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_names_a_socket_or_a_tcp_address_and_nothing_else() {
        let default = Engine::from_host(None).expect("the default");
        assert_eq!(default.socket(), Some(Path::new(DEFAULT_SOCKET)));
        let unix = Engine::from_host(Some("unix:///run/user/1000/docker.sock")).expect("unix");
        assert_eq!(
            unix.endpoint().to_string(),
            "unix:///run/user/1000/docker.sock"
        );
        let tcp = Engine::from_host(Some("tcp://127.0.0.1:2375")).expect("tcp");
        assert_eq!(tcp.endpoint(), &Endpoint::Tcp("127.0.0.1:2375".into()));
        assert!(Engine::from_host(Some("ssh://host")).is_err());
    }

    #[tokio::test]
    async fn an_image_name_that_could_reach_another_route_is_refused_before_any_request() {
        let engine = Engine::from_host(Some("unix:///nonexistent/docker.sock")).expect("unix");
        for name in ["", "a b", "x/../../containers/json?", "name#frag"] {
            let error = engine.save_image(name, Path::new("/nonexistent")).await;
            assert!(
                matches!(error, Err(EngineError::ImageName(_))),
                "{name}: {error:?}"
            );
        }
        let unreachable = engine.get_json::<serde_json::Value>("/version").await;
        assert!(matches!(unreachable, Err(EngineError::Connect { .. })));
    }
}
