//! Debian's Chromium, headless, driven over WebDriver by fantoccini: one chromedriver per
//! test, one browser profile per [`Browser`], so two browsers share nothing but the shop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;
use testkit::TestApp;
use tokio::process::{Child, Command};

/// The browser and its driver, from Debian's `chromium` and `chromium-driver`.
fn chromium() -> String {
    std::env::var("MSA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

fn chromedriver() -> String {
    std::env::var("MSA_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

/// How long a page may take to appear after an action.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Driver {
    url: String,
    _process: Child,
}

impl Driver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts (Debian's chromium-driver package)");
        let url = format!("http://127.0.0.1:{port}");
        let http = kit::calling::transport::builder()
            .no_proxy()
            .build()
            .expect("a client");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let status = http.get(format!("{url}/status")).send().await;
            if let Ok(status) = status {
                let body: Value = status.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            url,
            _process: process,
        }
    }

    /// A new browser, with its own profile, user agent and languages, for the shop's HTTPS
    /// address. Without `javascript`, the pages must work on their own.
    pub async fn browser(&self, app: &TestApp, look: Look) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut prefs = json!({"intl.accept_languages": look.languages});
        if !look.javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let capabilities = json!({
            "browserName": "chrome",
            // The test system's certificate is signed by its own local CA.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-agent={}", look.user_agent),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": prefs,
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("chromium starts under chromedriver");
        let tls = app.tls_addr.expect("the test system serves HTTPS");
        Browser {
            client,
            base: format!("https://localhost:{}", tls.port()),
            javascript: look.javascript,
            _profile: profile,
        }
    }
}

/// Who a browser is.
pub struct Look {
    pub user_agent: &'static str,
    pub languages: &'static str,
    pub javascript: bool,
}

pub struct Browser {
    pub client: Client,
    pub base: String,
    javascript: bool,
    _profile: TempDir,
}

/// Where screenshots go: the test's output folder, kept after the run.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("storefront-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder can be made");
    dir
}

impl Browser {
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
    }

    /// The path and query of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(error) => panic!("no `{css}` on {}: {error}", self.path().await),
        }
    }

    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
            .is_empty()
    }

    /// The text of `css`, read again if the page was replaced between finding and reading.
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(error) => assert!(Instant::now() < deadline, "text of `{css}`: {error}"),
            }
        }
    }

    /// Clicks `css`; a link or a button leaves the page, so this returns once the page it
    /// was on is gone (else the next look could find the old page's element).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let navigates = matches!(element.tag_name().await.as_deref(), Ok("a" | "button"));
        let old_page = match navigates {
            true => Some(self.find("html").await),
            false => None,
        };
        element.click().await.expect("a click");
        if let Some(old_page) = old_page {
            let deadline = Instant::now() + PATIENCE;
            // The old page's root turns stale when the new page replaces it.
            while old_page.tag_name().await.is_ok() {
                assert!(Instant::now() < deadline, "`{css}` led nowhere");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("a field that clears");
        field.send_keys(text).await.expect("typing");
    }

    /// Two clicks in a row on the same spot, as an impatient person makes them.
    pub async fn double_click(&self, css: &str) {
        let element = self.find(css).await;
        let mouse = MouseActions::new("mouse".to_owned())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(mouse)
            .await
            .expect("a double click");
    }

    /// Presses `key` wherever the focus is.
    pub async fn press(&self, key: Key) {
        let value = char::from(key);
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(keys)
            .await
            .expect("a key press");
    }

    /// Types `text` into whatever has the focus.
    pub async fn type_here(&self, text: &str) {
        let keys = text
            .chars()
            .fold(KeyActions::new("typing".to_owned()), |keys, value| {
                keys.then(KeyAction::Down { value })
                    .then(KeyAction::Up { value })
            });
        self.client.perform_actions(keys).await.expect("typing");
    }

    /// The id of the focused element.
    pub async fn focused_id(&self) -> String {
        let focused = self.client.active_element().await.expect("a focus");
        focused.attr("id").await.ok().flatten().unwrap_or_default()
    }

    pub async fn js(&self, script: &str) -> Value {
        assert!(self.javascript, "this browser runs no script");
        self.client
            .execute(script, vec![])
            .await
            .expect("the script runs")
    }

    /// Screenshots of the page at 1280 and at 375 px wide. Where scripts run, also checks
    /// what a person needs on every page: a language, a label on every field, and nothing
    /// wider than a 375 px screen.
    pub async fn shoot(&self, name: &str) {
        let dir = screenshot_dir();
        for width in [1280, 375] {
            self.client
                .set_window_size(width, 900)
                .await
                .expect("the window resizes");
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("it is saved");
            if self.javascript && width == 375 {
                let checked = self.js(PAGE_CHECKS).await;
                assert_eq!(checked, json!([]), "{name} at 375 px");
            }
        }
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("the window resizes");
    }
}

/// What every page must have, as a list of what is missing.
const PAGE_CHECKS: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push("no lang");
for (const field of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  if (field.labels.length === 0 && !field.getAttribute("aria-label")) problems.push("unlabelled " + (field.id || field.name));
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push("wider than the screen: " + document.documentElement.scrollWidth);
return problems;
"#;
