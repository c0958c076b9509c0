//! The systems a bench measures, started side by side: our shop (`msa up`), the ceiling
//! (`msa ceiling` processes), nginx in front of the ceiling's leaf, and the seed's Flask
//! services under gunicorn.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::Command;

use super::processes::{Process, free_address};

/// The seed's services, carried in the binary so that `msa bench` needs no checkout.
const FLASK_SOURCES: [(&str, &str); 3] = [
    (
        "users.py",
        include_str!("../../../../bench/peers/flask/users.py"),
    ),
    (
        "products.py",
        include_str!("../../../../bench/peers/flask/products.py"),
    ),
    (
        "orders.py",
        include_str!("../../../../bench/peers/flask/orders.py"),
    ),
];

/// Our shop, as a user starts it, with what the scenarios need: Alice's session, an API key,
/// and a product with stock enough for any run.
pub struct Shop {
    /// `None` when the bench drives a shop someone else started.
    pub process: Option<Process>,
    pub gateway: SocketAddr,
    pub alice_cookie: String,
    pub alice_password: String,
    pub key: String,
    pub widget: i64,
}

/// Rate limits and per-client shares raised: every request of the bench comes from one
/// address, standing for many clients. Everything else is as `msa up` defaults it.
const UNLIMITED: [&str; 8] = [
    "--rate-per-address",
    "1000000",
    "--rate-per-key",
    "1000000",
    "--max-connections-per-client",
    "100000",
    "--max-in-flight-per-client",
    "100000",
];

impl Shop {
    /// Starts `msa up` with `extra` arguments, keeping its data and log in `work` under
    /// `name`.
    pub async fn start(
        bin: &Path,
        work: &Path,
        name: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let data = work.join(format!("{name}-data"));
        let log = work.join(format!("{name}.log"));
        let mut failure = None;
        // A port picked free can be taken before the shop binds it: try other ports then.
        for _ in 0..3 {
            let [gateway, users, products, orders, tls] = [(); 5].map(|()| free_address());
            let (gateway, users, products, orders, tls) =
                (gateway?, users?, products?, orders?, tls?);
            let mut command = Command::new(bin);
            command
                .arg("up")
                .arg("--data-dir")
                .arg(&data)
                .args(["--gateway-port", &gateway.port().to_string()])
                .args(["--users-port", &users.port().to_string()])
                .args(["--products-port", &products.port().to_string()])
                .args(["--orders-port", &orders.port().to_string()])
                .args(["--tls-port", &tls.port().to_string()])
                .args(UNLIMITED)
                .args(extra)
                .env_remove("RUST_LOG");
            let mut process = Process::start("msa up", command, &log)?;
            match process
                .wait_ready(&format!("http://{gateway}/readyz"), &log)
                .await
            {
                Ok(()) => return Self::prepare(Some(process), gateway, &data).await,
                Err(error) => {
                    process.stop().await;
                    failure = Some(error);
                }
            }
        }
        Err(failure.unwrap_or_else(|| anyhow::anyhow!("msa up did not start")))
    }

    /// Prepares a shop that is already running at `gateway`, with its data directory.
    pub async fn attach(gateway: SocketAddr, data: &Path) -> anyhow::Result<Self> {
        Self::prepare(None, gateway, data).await
    }

    async fn prepare(
        process: Option<Process>,
        gateway: SocketAddr,
        data: &Path,
    ) -> anyhow::Result<Self> {
        let base = format!("http://{gateway}");
        let credentials = demo_credentials(data)?;
        let password = |email: &str| -> anyhow::Result<String> {
            Ok(credentials[email]
                .as_str()
                .with_context(|| format!("no demo password for {email}"))?
                .to_owned())
        };
        let alice_password = password("alice@example.com")?;
        let alice_cookie = login(&base, "alice@example.com", &alice_password).await?;
        let admin = login(&base, "admin@example.com", &password("admin@example.com")?).await?;
        let widget = call(
            &base,
            &admin,
            "/api/v1/products",
            json!({"name": "Bench widget", "description": "made by msa bench",
                   "price_cents": 100, "stock": 1_000_000}),
        )
        .await?["id"]
            .as_i64()
            .context("the new product has no id")?;
        let key = call(
            &base,
            &alice_cookie,
            "/api/v1/auth/api-keys",
            json!({"name": "msa bench",
                   "scopes": ["products:read", "orders:read", "orders:write"]}),
        )
        .await?["key"]
            .as_str()
            .context("the new API key is not shown")?
            .to_owned();
        Ok(Self {
            process,
            gateway,
            alice_cookie,
            alice_password,
            key,
            widget,
        })
    }

    /// The resident memory of each service, by name.
    pub fn memory(&self) -> Vec<(String, f64)> {
        self.process
            .as_ref()
            .and_then(Process::id)
            .map(service_memory)
            .unwrap_or_default()
    }
}

/// The resident memory (MiB) of each service `msa up` (process `pid`) runs, by name.
pub fn service_memory(pid: u32) -> Vec<(String, f64)> {
    let mut services: Vec<_> = super::processes::children(pid)
        .into_iter()
        .filter_map(|(child, arguments)| {
            let position = arguments.iter().position(|argument| argument == "serve")?;
            let name = arguments.get(position + 1)?.clone();
            Some((name, super::processes::rss_mib(child)?))
        })
        .collect();
    services.sort_by(|a, b| a.0.cmp(&b.0));
    services
}

pub fn demo_credentials(data: &Path) -> anyhow::Result<Value> {
    let path = data.join("demo-credentials.json");
    serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("Failed to read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))
}

fn setup_client() -> reqwest::Client {
    kit::calling::transport::http_client(Duration::from_secs(30))
}

/// Logs in and returns the session cookie (`name=value`).
pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let answer = setup_client()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("the login of {email} was refused: {}", answer.status());
    }
    Ok(answer
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .context("the login set no session cookie")?
        .to_owned())
}

/// POSTs `body` with a session and returns the answer's JSON, failing on any non-2xx.
pub async fn call(base: &str, cookie: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let answer = setup_client()
        .post(format!("{base}{path}"))
        .header(reqwest::header::COOKIE, cookie)
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    if !status.is_success() {
        bail!("POST {path} was refused: {status}");
    }
    Ok(answer.json().await?)
}

/// The ceiling: two leaves, a fan-out service and a proxy, each its own process.
pub struct Ceiling {
    pub processes: Vec<Process>,
    pub leaf: SocketAddr,
    pub proxy: SocketAddr,
}

impl Ceiling {
    pub async fn start(bin: &Path, work: &Path) -> anyhow::Result<Self> {
        let log = work.join("ceiling.log");
        let [users, leaf, fanout, proxy] = [(); 4].map(|()| free_address());
        let (users, leaf, fanout, proxy) = (users?, leaf?, fanout?, proxy?);
        let roles: [(&str, SocketAddr, Vec<String>); 4] = [
            ("ceiling users leaf", users, vec!["leaf".into()]),
            ("ceiling products leaf", leaf, vec!["leaf".into()]),
            (
                "ceiling fan-out",
                fanout,
                vec![
                    "fanout".into(),
                    format!("--users=http://{users}"),
                    format!("--products=http://{leaf}"),
                ],
            ),
            (
                "ceiling proxy",
                proxy,
                vec![
                    "proxy".into(),
                    format!("--orders=http://{fanout}"),
                    format!("--products=http://{leaf}"),
                ],
            ),
        ];
        let mut processes = Vec::new();
        for (name, listen, arguments) in roles {
            let mut command = Command::new(bin);
            command
                .arg("ceiling")
                .args(&arguments)
                .arg(format!("--listen={listen}"));
            let mut process = Process::start(name, command, &log)?;
            let probe = match arguments[0].as_str() {
                "fanout" => "/orders/9001",
                "proxy" => "/products/101",
                _ => "/hello",
            };
            process
                .wait_ready(&format!("http://{listen}{probe}"), &log)
                .await?;
            processes.push(process);
        }
        Ok(Self {
            processes,
            leaf,
            proxy,
        })
    }
}

/// nginx from the system's packages, as a reverse proxy with pooled keep-alive connections
/// in front of the ceiling's leaf; access logging on, as nginx ships.
pub struct Nginx {
    pub process: Process,
    pub address: SocketAddr,
}

impl Nginx {
    pub async fn start(nginx: &Path, work: &Path, leaf: SocketAddr) -> anyhow::Result<Self> {
        let root = work.join("nginx");
        std::fs::create_dir_all(&root)?;
        let address = free_address()?;
        let root_text = root.display();
        let config = format!(
            "daemon off;\nworker_processes auto;\npid {root_text}/nginx.pid;\n\
             error_log {root_text}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log {root_text}/access.log;\n\
             client_body_temp_path {root_text}/body;\n  proxy_temp_path {root_text}/proxy;\n\
             fastcgi_temp_path {root_text}/fastcgi;\n  uwsgi_temp_path {root_text}/uwsgi;\n\
             scgi_temp_path {root_text}/scgi;\n\
             upstream leaf {{ server {leaf}; keepalive 64; }}\n\
             server {{\n    listen {address};\n    location / {{\n\
             proxy_pass http://leaf;\n      proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
        );
        let path = root.join("nginx.conf");
        std::fs::write(&path, config)?;
        let log = work.join("nginx.log");
        let mut command = Command::new(nginx);
        command.arg("-e").arg(root.join("error.log"));
        command.arg("-c").arg(&path).arg("-p").arg(&root);
        let mut process = Process::start("nginx", command, &log)
            .context("nginx is needed for the gateway peer (Debian: apt-get install nginx)")?;
        process
            .wait_ready(&format!("http://{address}/products/101"), &log)
            .await?;
        Ok(Self { process, address })
    }
}

/// The seed's three Flask services, each under gunicorn on its own port.
pub struct Flask {
    pub processes: Vec<Process>,
    pub products: SocketAddr,
    pub orders: SocketAddr,
}

impl Flask {
    pub async fn start(python: &Path, workers: usize, work: &Path) -> anyhow::Result<Self> {
        let source = work.join("flask");
        std::fs::create_dir_all(&source)?;
        for (name, text) in FLASK_SOURCES {
            std::fs::write(source.join(name), text)?;
        }
        let check = Command::new(python)
            .args(["-c", "import flask, gunicorn, requests"])
            .output()
            .await
            .with_context(|| format!("Failed to run {}", python.display()))?;
        if !check.status.success() {
            bail!(
                "{} lacks flask, gunicorn or requests: run bench/compare.sh (it makes a virtual \
                 environment from PyPI), pass --python, or leave flask out of --peers",
                python.display()
            );
        }
        let log = work.join("flask.log");
        let [users, products, orders] = [(); 3].map(|()| free_address());
        let (users, products, orders) = (users?, products?, orders?);
        let mut processes = Vec::new();
        for (module, address, probe) in [
            ("users", users, "/users/1"),
            ("products", products, "/products/101"),
            ("orders", orders, "/orders/9001"),
        ] {
            let mut command = Command::new(python);
            command
                .args(["-m", "gunicorn", "--workers", &workers.to_string()])
                .args(["--bind", &address.to_string(), "--chdir"])
                .arg(&source)
                .args(["--log-level", "warning"])
                .arg(format!("{module}:app"))
                .env("USERS_URL", format!("http://{users}"))
                .env("PRODUCTS_URL", format!("http://{products}"));
            let mut process = Process::start(&format!("flask {module}"), command, &log)?;
            process
                .wait_ready(&format!("http://{address}{probe}"), &log)
                .await?;
            processes.push(process);
        }
        Ok(Self {
            processes,
            products,
            orders,
        })
    }
}

/// Where a bench keeps its working files (data, logs, configurations) while it runs.
pub fn work_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("msa-bench-")
        .tempdir()
        .context("Failed to make a working directory")
}

/// The default interpreter: the virtual environment bench/compare.sh makes, else python3.
pub fn default_python() -> PathBuf {
    let venv = PathBuf::from("target/bench-venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Everything one bench started; peers not asked for are `None`.
pub struct Systems {
    pub shop: Shop,
    pub ceiling: Option<Ceiling>,
    pub nginx: Option<Nginx>,
    pub flask: Option<Flask>,
    /// The shop with plain HTTP between its services.
    pub plain: Option<Shop>,
}

impl Systems {
    pub async fn stop(self) {
        for shop in std::iter::once(self.shop).chain(self.plain) {
            if let Some(process) = shop.process {
                process.stop().await;
            }
        }
        if let Some(nginx) = self.nginx {
            nginx.process.stop().await;
        }
        let peers = self.ceiling.map(|ceiling| ceiling.processes);
        let flask = self.flask.map(|flask| flask.processes);
        for process in peers.into_iter().chain(flask).flatten() {
            process.stop().await;
        }
    }
}
