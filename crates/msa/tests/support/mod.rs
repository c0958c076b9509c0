//! Shared by the end-to-end tests: starts the built `msa up` on free ports, finds its
//! children, logs in, and stops it. Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// Five ports that were free a moment ago (the OS hands out ephemeral ports in sequence,
/// so a clash with another test in that moment is very unlikely).
pub fn free_ports() -> [u16; 5] {
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    [ports[0], ports[1], ports[2], ports[3], ports[4]]
}

pub struct Shop {
    pub child: Child,
    pub gateway: String,
    pub stderr: mpsc::Receiver<String>,
}

impl Drop for Shop {
    /// A failed assertion must not leave a shop running: SIGKILL it (a no-op once it has
    /// exited); its children notice their supervisor is gone and stop too.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `msa up` and waits until it prints its table (every service ready).
pub fn start(data_dir: &Path, extra: &[&str]) -> Shop {
    let [gateway, users, products, orders, tls] = free_ports();
    let mut child = Command::new(env!("CARGO_BIN_EXE_msa"))
        .arg("up")
        .args(extra)
        .env("MSA_DATA_DIR", data_dir)
        .env("MSA_GATEWAY_PORT", gateway.to_string())
        .env("MSA_USERS_PORT", users.to_string())
        .env("MSA_PRODUCTS_PORT", products.to_string())
        .env("MSA_ORDERS_PORT", orders.to_string())
        .env("MSA_TLS_PORT", tls.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msa starts");
    let (lines_out, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let ready_out = lines_out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = ready_out.send(format!("OUT {line}"));
        }
    });
    let (err_out, stderr) = mpsc::channel();
    let stderr_pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = err_out.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("msa up prints its table before the deadline");
        if line.contains("msa-shop is up") {
            break;
        }
    }
    Shop {
        child,
        gateway: format!("http://127.0.0.1:{gateway}"),
        stderr,
    }
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("procfs").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may contain spaces; fields follow it.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

pub fn credentials(data_dir: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(data_dir.join("demo-credentials.json")).expect("credentials file"),
    )
    .expect("JSON object")
}

/// A client holding a fresh session of demo account `email`.
pub async fn login(gateway: &str, data_dir: &Path, email: &str) -> reqwest::Client {
    let password = credentials(data_dir)[email].clone();
    let answer = kit::calling::transport::builder()
        .no_proxy()
        .user_agent("e2e-browser")
        .build()
        .expect("client")
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200, "login of {email}");
    session_of(&answer)
}

/// A client holding the session that the login answer `answer` set.
pub fn session_of(answer: &reqwest::Response) -> reqwest::Client {
    let cookie = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    client_with(&[("cookie", &cookie)])
}

/// A client from the same browser as [`login`], sending `headers` with every request.
pub fn client_with(headers: &[(&str, &str)]) -> reqwest::Client {
    let mut defaults = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        defaults.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    kit::calling::transport::builder()
        .no_proxy()
        .user_agent("e2e-browser")
        .default_headers(defaults)
        .build()
        .expect("client")
}

pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// Sends `signal` (SIGINT is Ctrl-C, SIGTERM what Docker and Kubernetes send), then
/// returns how long `msa up` took to exit (successfully, within 15 s).
pub fn stop(shop: &mut Shop, signal: Signal) -> Duration {
    let pid = Pid::from_raw(i32::try_from(shop.child.id()).expect("pid"));
    let started = Instant::now();
    kill(pid, signal).expect("signal");
    let (exited, exit) = mpsc::channel();
    let status = std::thread::scope(|scope| {
        let child = &mut shop.child;
        scope.spawn(move || {
            let _ = exited.send(child.wait());
        });
        let status = exit.recv_timeout(Duration::from_secs(15));
        if status.is_err() {
            // Unblock the waiting thread so the test fails instead of hanging.
            let _ = kill(pid, Signal::SIGKILL);
        }
        status
    });
    let status = status.expect("msa up stops within 15 s").expect("wait");
    assert!(status.success(), "msa up exited with {status}");
    started.elapsed()
}

/// The child of `msa up` (pid `shop`) that serves `role`, if one runs now.
pub fn child_serving(shop: u32, role: &str) -> Option<i32> {
    children_of(shop).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2)
                .any(|pair| pair[0] == b"serve" && pair[1] == role.as_bytes())
        })
    })
}

/// Sends `request` and reads its answer as JSON, whatever the status.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("a JSON body")
}
