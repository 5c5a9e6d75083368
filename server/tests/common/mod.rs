//! Shared by the server tests: a `bitnet serve` child process on a free loopback port, and a
//! minimal HTTP/1.1 client (no client library: the tests see the bytes the server sends).
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MODEL: &str = "models/bitnet-tiny-synthetic.gguf";
pub const NAME: &str = "bitnet-tiny-synthetic";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running server, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(&repo().join(MODEL), extra)
    }

    /// A server on the bundled model, returned as soon as it listens (not waiting for ready).
    pub fn start_until_listening(extra: &[&str]) -> Server {
        Server::spawn(Some(&repo().join(MODEL)), extra)
    }

    /// A server for `model` with `extra` arguments, once `/health/ready` answers 200.
    pub fn start_with(model: &std::path::Path, extra: &[&str]) -> Server {
        Server::spawn(Some(model), extra).until_ready()
    }

    /// A server given no `-m` (so on the model built into the binary), once ready.
    pub fn start_without_model(extra: &[&str]) -> Server {
        Server::spawn(None, extra).until_ready()
    }

    fn until_ready(self) -> Server {
        let t0 = Instant::now();
        while self.get("/health/ready").0 != 200 {
            assert!(t0.elapsed() < Duration::from_secs(60), "never ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    fn spawn(model: Option<&std::path::Path>, extra: &[&str]) -> Server {
        let cache = tempfile::tempdir().expect("tempdir").keep();
        let model_args = model.map(|m| vec![std::ffi::OsStr::new("-m"), m.as_os_str()]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_bitnet"))
            .args(["serve", "--port", "0"])
            .args(model_args.unwrap_or_default())
            .args(extra)
            // Two engine threads unless the test says otherwise.
            .args(if extra.contains(&"-t") {
                &[][..]
            } else {
                &["-t", "2"][..]
            })
            .current_dir(repo())
            .env("XDG_CACHE_HOME", cache)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bitnet serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read stderr");
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, port }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        request(self.port, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post(self.port, path, body)
    }
}

/// One HTTP/1.1 request on a fresh connection: the status and the (de-chunked) body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    // A body over the limit may be refused before it is all sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// A JSON POST: the status and the parsed body.
pub fn post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = request(port, "POST", path, &[], body.to_string().as_bytes());
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Decodes an HTTP/1.1 chunked body.
pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}
