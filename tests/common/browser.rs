//! A real browser for the tests: Debian's headless Chromium, driven over the DevTools protocol
//! (JSON over a WebSocket), and a loopback HTTP server for the pages it opens.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium with its profile in `dir` (as root it needs `--no-sandbox`) and attaches to
    /// its first page.
    pub fn start(dir: &Path) -> Browser {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("chromium.log")).unwrap();
        let child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--mute-audio",
                "--no-first-run",
                "--disable-extensions",
            ])
            .args([
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", dir.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("chromium (apt-get install chromium)");
        // Chromium writes the port it chose into the profile.
        let active = dir.join("DevToolsActivePort");
        let mut port = 0u16;
        super::wait_for("Chromium's DevTools port", 30.0, || {
            port = std::fs::read_to_string(&active)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
                .unwrap_or(0);
            port != 0
        });
        let mut page = None;
        super::wait_for("Chromium's first page", 30.0, || {
            let list: Value = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .ok()
                .and_then(|r| r.into_string().ok())
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null);
            page = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from));
            page.is_some()
        });
        let (ws, _) = tungstenite::connect(page.unwrap().as_str()).expect("DevTools WebSocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        Browser { child, ws, next_id: 1 }
    }

    /// One DevTools command; its result (events in between are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.ws
            .send(Message::text(json!({ "id": id, "method": method, "params": params }).to_string()))
            .expect("DevTools send");
        loop {
            let msg = self.ws.read().expect("DevTools reply");
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r =
            self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }));
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }
}

/// Serves `files` (path, content type, body) on a free loopback port until the test ends; returns
/// its base URL.
pub fn serve_pages(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let mut line = String::new();
            let mut r = BufReader::new(&conn);
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // Headers are not needed: read to the blank line.
            let mut h = String::new();
            while r.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
            let mut conn = conn;
            match files.iter().find(|f| f.0 == path) {
                Some((_, ty, body)) => {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(body);
                }
                None => {
                    let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        }
    });
    base
}
