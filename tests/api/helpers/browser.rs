//! A real browser for the console's tests: Debian's chromium, headless at a
//! phone's size, driven through chromedriver's WebDriver API (plain HTTP).
//! `start` answers `None`, loudly, where they are missing (a failure under
//! CI).

use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use super::{found, until};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    process: Child,
    _profile: tempfile::TempDir,
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// chromedriver and a headless chromium emulating a phone (390 × 844).
    pub async fn start() -> Option<Driver> {
        let present = |p: &str| std::path::Path::new(p).exists();
        if !present("/usr/bin/chromium") || !present("/usr/bin/chromedriver") {
            let message = "chromium and chromedriver are not on this machine: the dashboard is NOT tested in a browser \
                           (apt-get install chromium chromium-driver)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("\n!!!!!!!! {message}\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        until("chromedriver to answer", async || {
            client.get(format!("{base}/status")).send().await.is_ok()
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                // A phone: 390 × 844 CSS pixels, touch, a mobile viewport.
                "mobileEmulation": { "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0, "mobile": true, "touch": true } },
            },
        }}});
        let created: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Some(Driver {
            process,
            _profile: profile,
            base,
            session,
            client,
        })
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method.clone(), url);
        if method == reqwest::Method::POST {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(answer["value"].get("error").is_none(), "{path}: {answer}");
        answer["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    pub async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    pub async fn run(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        let shot = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap())
            .unwrap()
    }
}

impl Driver {
    /// Types `text` into the element `css` names, as a keyboard would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element `css` names.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// Waits until `script` (the body of a function) answers something
    /// other than null, false or ""; answers it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        found(what, async || {
            let answer = self.run(script).await;
            let nothing = answer.is_null() || answer == json!(false) || answer == json!("");
            (!nothing).then_some(answer)
        })
        .await
    }
}
