//! A Docker engine stand-in that misbehaves on logs: it answers an inspect of one container
//! (carrying the toolkit's label, so the handler may read it) and then answers every logs call
//! with far more than was asked, in the engine's multiplexed stream framing (an 8-byte header
//! per message: stream, three zero bytes, big-endian length), each message a timestamped line.
//! It stands for a broken engine or a proxy in front of one; the real engine cannot be made to
//! ignore `tail`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The container id the engine knows (64 hex digits).
pub const CONTAINER_ID: &str = "f100d0000000000000000000000000000000000000000000000000000000f100";

/// Records `model` as running the flood engine's container (a Docker record).
pub fn seed_record(s: &super::devserver::DevServer, model: &str) {
    super::devserver::seed_stanza(
        s,
        "dsdl_container",
        model,
        &[
            ("id", CONTAINER_ID),
            ("mode", "PROD"),
            ("cluster", "docker"),
        ],
    );
}

/// A running flood engine on 127.0.0.1.
pub struct FloodEngine {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FloodEngine {
    /// Answers every logs call with `lines` lines of `line_bytes` bytes (newline included).
    pub fn start(lines: u64, line_bytes: usize) -> FloodEngine {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the flood engine");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(conn) = conn {
                    std::thread::spawn(move || serve(conn, lines, line_bytes));
                }
            }
        });
        FloodEngine { port, stop }
    }

    /// `tcp://127.0.0.1:<port>`, a `docker_url`.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for FloodEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One request per connection (`Connection: close`).
fn serve(conn: TcpStream, lines: u64, line_bytes: usize) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, conn);
    if path.contains(&format!("/containers/{CONTAINER_ID}/logs")) {
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\
             Connection: close\r\n\r\n"
        );
        let ts = "2026-11-29T10:00:00.000000000Z ";
        for n in 0..lines {
            let mut line = format!("{ts}flood {n:010} ");
            let want = line_bytes.max(line.len() + 1);
            line.extend(std::iter::repeat_n('x', want - line.len() - 1));
            line.push('\n');
            let stream = if n % 2 == 0 { 1u8 } else { 2u8 };
            let mut header = [stream, 0, 0, 0, 0, 0, 0, 0];
            header[4..].copy_from_slice(&(line.len() as u32).to_be_bytes());
            if out.write_all(&header).is_err() || out.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
        let _ = out.flush();
    } else if path.contains(&format!("/containers/{CONTAINER_ID}/json")) {
        let body = serde_json::json!({
            "Id": CONTAINER_ID,
            "Name": "/mltk-flood",
            "Created": "2026-11-29T10:00:00Z",
            "State": {"Status": "running", "Running": true},
            "Config": {"Labels": {"mltk_container": "", "mltk_model": "flood"}},
        })
        .to_string();
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    } else {
        let body = r#"{"message":"not in the flood engine"}"#;
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let _ = out.flush();
}
