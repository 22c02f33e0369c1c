//! A minimal W3C WebDriver client over chromedriver and headless Chromium (Debian's
//! `chromium` and `chromium-driver`, installed by `make setup`), enough to drive the admin
//! page like a person: type, click, read text, run a script, take a screenshot.
//!
//! chromedriver runs in a process group of its own, and Chromium (which it starts) in the
//! same group; dropping the [`Browser`] — a test passing, failing or panicking anywhere,
//! even inside [`Browser::start`] — kills the whole group, so no browser outlives its test.

use base64::Engine as _;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and everything it started: killed when dropped, as a group and — should
/// Chromium have left the group — by its profile directory, which only it names.
struct ProcessGroup {
    driver: Child,
    profile: PathBuf,
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // The group id is the driver's pid (`process_group(0)`). SIGKILL: a browser that
        // hangs must not outlive the test either.
        let group = self.driver.id();
        // SAFETY: kill(2) takes plain integers and touches no memory of ours; the ids are
        // the group this guard started and processes naming its own profile directory.
        unsafe {
            libc::kill(-(group as libc::pid_t), libc::SIGKILL);
        }
        for (pid, _) in processes(group, &self.profile) {
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
    }
}

/// A browser session; dropping it kills chromedriver and Chromium (see the module doc).
pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: ProcessGroup,
    profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Processes still alive (zombies aside) in process group `group`, or whose command line
/// names `marker` (a browser profile directory): what a finished test must not leave.
pub fn live_processes(group: u32, marker: &Path) -> Vec<String> {
    processes(group, marker)
        .into_iter()
        .map(|(pid, cmdline)| format!("{pid} {cmdline}"))
        .collect()
}

fn processes(group: u32, marker: &Path) -> Vec<(u32, String)> {
    let marker = marker.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp …`: comm may hold spaces, so split after ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let (state, pgrp) = (*fields.first()?, fields.get(2)?.parse::<u32>().ok()?);
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let ours = pgrp == group || cmdline.contains(&marker);
            (ours && state != "Z").then_some((pid, cmdline))
        })
        .collect()
}

impl Browser {
    /// Start chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        for tool in ["chromium", "chromedriver"] {
            assert!(
                Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success()),
                "{tool} is not installed: run `make setup` (Debian packages chromium and chromium-driver)"
            );
        }
        let port = free_port();
        let profile = tempfile::tempdir().unwrap();
        let driver = ProcessGroup {
            driver: Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts"),
            profile: profile.path().to_path_buf(),
        };
        let http = reqwest::Client::new();
        let driver_url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http
            .get(format!("{driver_url}/status"))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } } } });
        let session: Value = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        Browser {
            http,
            base: format!("{driver_url}/session/{id}"),
            driver,
            profile,
        }
    }

    /// chromedriver's process group (Chromium is in it too).
    pub fn process_group(&self) -> u32 {
        self.driver.driver.id()
    }

    /// Chromium's profile directory (on its command line: how to find it by pid).
    pub fn profile_dir(&self) -> PathBuf {
        self.profile.path().to_path_buf()
    }

    /// Resize the window (the page must read at 1280×800 and on a narrow window).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page; its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// How many elements match `css` now (no waiting).
    pub async fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    /// A DOM property of the element matching `css` (`type`, `value`, `placeholder`…).
    pub async fn property(&self, css: &str, name: &str) -> Value {
        self.on_element(
            css,
            reqwest::Method::GET,
            &format!("property/{name}"),
            Value::Null,
        )
        .await
    }

    /// Press keys in the focused element (WebDriver key codes: "\u{E004}" is Tab,
    /// "\u{E007}" Enter).
    pub async fn keys(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "value", json!({ "text": text }))
            .await;
    }

    /// One command on the element matching `css`. The page re-renders lists after
    /// every change, so an element found a moment ago may be gone ("stale element
    /// reference"): find it again and repeat, for up to 10 s. Any other WebDriver
    /// error fails the test — a click that silently did nothing once left a test
    /// waiting 30 s for a run that was never started.
    async fn on_element(
        &self,
        css: &str,
        method: reqwest::Method,
        command: &str,
        body: Value,
    ) -> Value {
        let started = Instant::now();
        loop {
            let el = self.find(css).await;
            let v = self
                .call(
                    method.clone(),
                    &format!("/element/{el}/{command}"),
                    body.clone(),
                )
                .await;
            let Some(error) = v.get("error").and_then(Value::as_str) else {
                return v;
            };
            assert!(
                error == "stale element reference" && started.elapsed() < Duration::from_secs(10),
                "{command} on {css}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The element matching `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    json!({ "using": "css selector", "value": css }),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element {css}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "clear", json!({}))
            .await;
        self.on_element(css, reqwest::Method::POST, "value", json!({ "text": text }))
            .await;
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, reqwest::Method::POST, "click", json!({}))
            .await;
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "text", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Wait until the text of `css` contains `want`; returns it.
    pub async fn wait_for_text(&self, css: &str, want: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.contains(want) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{css} never showed {want:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Save a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}
