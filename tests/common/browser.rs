//! A real browser for the tests: Debian's headless Chromium, driven over the DevTools protocol
//! (JSON over a WebSocket).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub struct Browser {
    /// The Chromium process (None: another tab of it).
    child: Option<Child>,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    port: u16,
    target: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        match self.child.as_mut() {
            Some(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            // A tab closes with its handle.
            None => {
                let _ = ureq::get(&format!("http://127.0.0.1:{}/json/close/{}", self.port, self.target)).call();
            }
        }
    }
}

fn attach(ws_url: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (ws, _) = tungstenite::connect(ws_url).expect("DevTools WebSocket");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    ws
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
            page = list.as_array().into_iter().flatten().find(|t| t["type"] == "page").cloned();
            page.is_some()
        });
        let page = page.unwrap();
        let ws = attach(page["webSocketDebuggerUrl"].as_str().unwrap());
        let target = page["id"].as_str().unwrap_or("").to_string();
        Browser { child: Some(child), ws, next_id: 1, port, target }
    }

    /// Another tab of the same browser (same cookies), opened at `url`; closed when dropped.
    pub fn tab(&self, url: &str) -> Browser {
        // (the address is the query: its fragment and its parameters must stay its own)
        let url = url.replace('%', "%25").replace('#', "%23").replace('&', "%26");
        let r = ureq::put(&format!("http://127.0.0.1:{}/json/new?{url}", self.port)).call().expect("a new tab");
        let t: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        let ws = attach(t["webSocketDebuggerUrl"].as_str().unwrap());
        Browser { child: None, ws, next_id: 1, port: self.port, target: t["id"].as_str().unwrap().to_string() }
    }

    /// Puts files into a page's `<input type=file>` (as a user picking them would).
    pub fn set_files(&mut self, selector: &str, files: &[&Path]) {
        let doc = self.call("DOM.getDocument", json!({}));
        let node = self.call("DOM.querySelector", json!({ "nodeId": doc["root"]["nodeId"], "selector": selector }));
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.call("DOM.setFileInputFiles", json!({ "nodeId": node["nodeId"], "files": files }));
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

    /// Waits until a JavaScript expression is true in the page (a page that is still loading
    /// counts as false).
    pub fn wait_true(&mut self, what: &str, secs: f64, expr: &str) {
        let wrapped = format!("(() => {{ try {{ return !!({expr}); }} catch (_) {{ return false; }} }})()");
        if !super::kit::wait_until(Duration::from_secs_f64(secs), || self.eval(&wrapped) == true) {
            // What the page shows says why (an error message, the wrong page).
            let shown = self.eval("location.href + '\\n' + document.body.innerText.slice(0, 3000)");
            panic!("timed out after {secs} s waiting for {what}; the page shows: {}", shown.as_str().unwrap_or(""));
        }
    }

    /// The page's picture as a PNG, written to `path` (the run's screenshots).
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap_or("")).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The page's picture as `target/screenshots/<name>`, where a test run's screenshots go.
    pub fn shot(&mut self, name: &str) {
        self.screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join("screenshots").join(name));
    }

    /// The colour of the `index`th element matching `selector` (a `<video>`) at (fx, fy) of its
    /// picture, read through a 64×36 canvas; [-1; 3] before it has a picture.
    pub fn video_rgb(&mut self, selector: &str, index: usize, fx: f64, fy: f64) -> [i64; 3] {
        let v = self.eval(&format!(
            "(() => {{ const v = document.querySelectorAll({sel})[{index}]; if (!v || v.readyState < 2) return [-1, -1, -1]; \
             const c = document.createElement('canvas'); c.width = 64; c.height = 36; const g = c.getContext('2d'); \
             g.drawImage(v, 0, 0, 64, 36); return Array.from(g.getImageData(Math.floor(64 * {fx}), Math.floor(36 * {fy}), 1, 1).data.slice(0, 3)); }})()",
            sel = json!(selector)
        ));
        [0, 1, 2].map(|i| v[i].as_i64().unwrap_or(-1))
    }

    /// Chromium at a desktop size on the console of the service at `http`, signed in with its
    /// operator token through the link `costream demo` prints (the token in the fragment).
    pub fn operator_console(dir: &Path, http: &str) -> Browser {
        let mut b = Browser::start(dir);
        b.resize(1280, 1000, false);
        b.navigate(&format!("{http}/console#token={}", super::token_for(http).expect("the service's operator token")));
        b
    }

    /// A phone-width or desktop window (CSS pixels).
    pub fn resize(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r =
            self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }));
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }
}
