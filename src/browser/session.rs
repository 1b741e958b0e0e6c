//! One scenario's browser: a browser context of its own (cookies, storage,
//! cache) with one page, and what the browser reported while the scenario ran —
//! its console, failed requests with the browser's reason (a CORS error, a
//! blocked request), and cookies it refused to store or send, with its reasons.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::network::{
    self, EventLoadingFailed, EventRequestWillBeSent, EventRequestWillBeSentExtraInfo, EventResponseReceivedExtraInfo,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams};
use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::js_protocol::runtime::{CallArgument, CallFunctionOnParams, EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::Page;
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::Chromium;
use crate::kratos::Kratos;

/// [`Session::wait_rendered`] for whichever page of the suite comes next.
pub const ANY_PAGE: &str = "*";

/// How long the browser's events about a request (over the DevTools socket)
/// may arrive after the page's script saw its outcome: a wait that ends as soon
/// as they are there, long enough for a machine under full load (2 s once
/// fell short with both cores busy).
const EVENTS_TRAIL: Duration = Duration::from_secs(5);

/// How often a wait for the page looks again.
const POLL: Duration = Duration::from_millis(40);

/// What one step of the SPA saw (see `spa/spa.js`), and what the browser said
/// about its request when the page could not read the answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    pub step: String,
    pub url: String,
    pub status: Option<u16>,
    pub json: Option<Value>,
    /// `document.cookie` after the step: the cookies the page's script can see.
    pub cookies: Option<String>,
    /// What the failed `fetch` raised.
    pub error: Option<String>,
    /// The browser's own reason for a failed request (network log and console).
    #[serde(skip)]
    pub browser_said: Vec<String>,
}

impl std::fmt::Display for Answer {
    /// The answer as a person reads it, secrets redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the SPA's step \"{}\": {}", self.step, crate::redact::text(&self.url))?;
        match (&self.error, self.status) {
            (Some(error), _) => writeln!(f, "  fetch failed: {error}")?,
            (None, Some(status)) => writeln!(f, "  the page read {status}")?,
            (None, None) => writeln!(f, "  no answer")?,
        }
        for said in &self.browser_said {
            writeln!(f, "  the browser: {}", crate::redact::text(said))?;
        }
        if let Some(json) = &self.json {
            let pretty = serde_json::to_string_pretty(&crate::redact::json(json)).unwrap_or_default();
            for line in pretty.lines() {
                writeln!(f, "  < {line}")?;
            }
        }
        writeln!(f, "  document.cookie: {:?}", self.cookies.as_deref().map(crate::redact::text).unwrap_or_default())
    }
}

/// A cookie the browser holds, with the attributes it keeps.
#[derive(Debug, Clone)]
pub struct CookieSeen {
    pub name: String,
    pub domain: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
    pub session: bool,
}

/// A cookie the browser would not store (from a `Set-Cookie`) or not send, and why.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub url: String,
    pub cookie: String,
    pub stored: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Default)]
struct Reported {
    console: Vec<String>,
    /// Request id → method and URL.
    requests: HashMap<String, (String, String)>,
    /// Request id → the browser's reason the request failed.
    failures: Vec<(String, String)>,
    /// Request id → a cookie it refused (its `url` filled in when read).
    blocked: Vec<(String, Blocked)>,
}

impl Reported {
    /// The URL of a request, once the browser has said it sent it.
    fn url_of(&self, id: &str) -> &str {
        self.requests.get(id).map_or("", |(_, url)| url.as_str())
    }
}

pub struct Session {
    chromium: Arc<Chromium>,
    context: BrowserContextId,
    page: Page,
    kratos: Arc<Kratos>,
    reported: Arc<Mutex<Reported>>,
    listeners: Vec<tokio::task::JoinHandle<()>>,
    /// The SPA's last answer, for the `Then` steps.
    last: Mutex<Option<Answer>>,
    /// The bound of every wait for the page: what one HTTP call may take
    /// (`KRATOS_HTTP_TIMEOUT`), for each request a step makes.
    timeout: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("kratos", &self.kratos.name).finish_non_exhaustive()
    }
}

impl Session {
    pub(super) async fn open(chromium: Arc<Chromium>, kratos: Arc<Kratos>) -> Result<Session> {
        let browser = chromium.browser();
        let context = browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(|e| anyhow!("the browser did not open a context: {e}\n{}", chromium.stderr_tail()))?;
        let target = CreateTargetParams::builder().url("about:blank").browser_context_id(context.clone()).build().map_err(|e| anyhow!(e))?;
        let page = browser.new_page(target).await.map_err(|e| anyhow!("the browser did not open a page: {e}"))?;
        page.execute(network::EnableParams::default()).await?;
        let reported = Arc::new(Mutex::new(Reported::default()));
        let mut listeners = Vec::new();
        macro_rules! listen {
            ($event:ty, |$reported:ident, $e:ident| $body:block) => {{
                let mut events = page.event_listener::<$event>().await?;
                let $reported = Arc::clone(&reported);
                listeners.push(tokio::spawn(async move {
                    while let Some($e) = events.next().await {
                        let mut $reported = $reported.lock().expect("not poisoned");
                        $body
                    }
                }));
            }};
        }
        listen!(EventConsoleApiCalled, |r, e| {
            let text: Vec<String> = e.args.iter().map(|a| a.value.as_ref().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).or_else(|| a.description.clone()).unwrap_or_default()).collect();
            r.console.push(format!("console.{}: {}", wire(&e.r#type), text.join(" ")));
        });
        listen!(EventExceptionThrown, |r, e| {
            let details = &e.exception_details;
            let text = details.exception.as_ref().and_then(|x| x.description.clone()).unwrap_or_else(|| details.text.clone());
            r.console.push(format!("uncaught: {text}"));
        });
        listen!(EventEntryAdded, |r, e| {
            let entry = &e.entry;
            r.console.push(format!("{} ({}): {}", wire(&entry.level), wire(&entry.source), entry.text));
        });
        listen!(EventRequestWillBeSent, |r, e| {
            r.requests.insert(e.request_id.inner().clone(), (e.request.method.clone(), e.request.url.clone()));
        });
        listen!(EventLoadingFailed, |r, e| {
            // By the request's id: each kind of event has its own listener, so
            // this one may be handled before the request's own event named the URL.
            let id = e.request_id.inner().clone();
            let mut reason = e.error_text.clone();
            if let Some(cors) = &e.cors_error_status {
                reason.push_str(&format!(", CORS error {}", wire(&cors.cors_error)));
                if !cors.failed_parameter.is_empty() {
                    reason.push_str(&format!(" ({})", cors.failed_parameter));
                }
            }
            if let Some(blocked) = &e.blocked_reason {
                reason.push_str(&format!(", blocked: {}", wire(blocked)));
            }
            r.failures.push((id, reason));
        });
        // The extra-info events may come before the request's own event (the
        // browser says so): the URL is looked up when the cookies are read.
        listen!(EventResponseReceivedExtraInfo, |r, e| {
            for blocked in &e.blocked_cookies {
                let name = blocked.cookie_line.split('=').next().unwrap_or_default().to_string();
                let reasons = blocked.blocked_reasons.iter().map(wire).collect();
                r.blocked.push((e.request_id.inner().clone(), Blocked { url: String::new(), cookie: name, stored: false, reasons }));
            }
        });
        listen!(EventRequestWillBeSentExtraInfo, |r, e| {
            for associated in e.associated_cookies.iter().filter(|c| !c.blocked_reasons.is_empty()) {
                let reasons = associated.blocked_reasons.iter().map(wire).collect();
                let cookie = associated.cookie.name.clone();
                r.blocked.push((e.request_id.inner().clone(), Blocked { url: String::new(), cookie, stored: true, reasons }));
            }
        });
        let timeout = kratos.limits.http_timeout;
        Ok(Session { chromium, context, page, kratos, reported, listeners, last: Mutex::new(None), timeout })
    }

    pub fn kratos(&self) -> &Arc<Kratos> {
        &self.kratos
    }


    /// Loads `url` and waits until the page says it is done (`data-rendered`
    /// on its body, see `spa/`), bounded by the requests it makes.
    pub async fn open_page(&self, url: &Url, rendered: &str) -> Result<()> {
        self.navigate(url).await?;
        self.wait_rendered(rendered, 2).await
    }

    /// Loads `url` (the browser follows any redirects on its own).
    pub async fn navigate(&self, url: &Url) -> Result<()> {
        // The navigation may pass Kratos (a flow start and its redirects):
        // Kratos gets this request in its turn, like any other.
        let _turn = self.turn().await?;
        tokio::time::timeout(self.timeout * 2, self.page.goto(url.as_str()))
            .await
            .map_err(|_| anyhow!("the browser did not load {url} within {:?} (twice KRATOS_HTTP_TIMEOUT)", self.timeout * 2))?
            .map_err(|e| anyhow!("the browser could not load {url}: {e}"))?;
        Ok(())
    }

    /// Waits until the page at hand has rendered `page` (a page of the suite's
    /// UI sets `data-rendered` when it has loaded its flow); `requests` is how
    /// many requests to Kratos that takes, for the bound.
    pub async fn wait_rendered(&self, page: &str, requests: u32) -> Result<()> {
        let bound = self.timeout * requests.max(1);
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let state = self.eval("() => document.body ? (document.body.dataset.rendered || '') : ''").await.unwrap_or(Value::Null);
            if state.as_str() == Some(page) || (page == ANY_PAGE && state.as_str().is_some_and(|s| !s.is_empty() && s != "left")) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let at = self.url().await.unwrap_or_default();
                bail!("the browser did not show the {page} page within {bound:?} (KRATOS_HTTP_TIMEOUT per request); it is at {}{}", crate::redact::text(&at), self.console_hint());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The page's URL.
    pub async fn url(&self) -> Result<String> {
        Ok(self.page.url().await?.unwrap_or_default())
    }

    /// Calls `function` (JavaScript) in the page with `args`, awaiting its promise.
    pub async fn call(&self, function: &str, args: &[Value]) -> Result<Value> {
        let mut call = CallFunctionOnParams::builder().function_declaration(function);
        for arg in args {
            call = call.argument(CallArgument::builder().value(arg.clone()).build());
        }
        let call = call.build().map_err(|e| anyhow!(e))?;
        let evaluated = tokio::time::timeout(self.timeout * 3, self.page.evaluate_function(call))
            .await
            .map_err(|_| anyhow!("the page did not answer within {:?}{}", self.timeout * 3, self.console_hint()))?
            .map_err(|e| anyhow!("the page's script failed: {}{}", crate::redact::text(&script_error(&e)), self.console_hint()))?;
        Ok(evaluated.value().cloned().unwrap_or(Value::Null))
    }

    async fn eval(&self, function: &str) -> Result<Value> {
        let call = CallFunctionOnParams::builder().function_declaration(function).build().map_err(|e| anyhow!(e))?;
        let evaluated = tokio::time::timeout(self.timeout, self.page.evaluate_function(call)).await.map_err(|_| anyhow!("the page did not answer"))??;
        Ok(evaluated.value().cloned().unwrap_or(Value::Null))
    }

    /// One step of the SPA (`window.spa.<step>(args)`, see `spa/spa.js`): what
    /// the page read, and what the browser said about the request if it failed.
    pub async fn spa(&self, step: &str, args: &[Value]) -> Result<Answer> {
        let _turn = self.turn().await?;
        let function = format!("async function(...args) {{ await window.spa.ready(); return await window.spa.{step}(...args); }}");
        let value = self.call(&function, args).await?;
        drop(_turn);
        let mut answer: Answer = serde_json::from_value(value).context("the SPA's step answered something else than its record")?;
        if let Some(json) = &answer.json {
            crate::redact::register_from_json(json);
        }
        if answer.error.is_some() {
            // The browser's events about the request may trail the script's error.
            let url = answer.url.clone();
            self.settle(|r| r.failures.iter().any(|(id, _)| r.url_of(id) == url)).await;
            answer.browser_said = self.said_about(&answer.url);
        }
        *self.last.lock().expect("not poisoned") = Some(answer.clone());
        Ok(answer)
    }

    /// The SPA's last answer.
    pub fn last_answer(&self) -> Result<Answer> {
        self.last.lock().expect("not poisoned").clone().context("the SPA has not made a request yet")
    }

    /// Fills the inputs named in `fields` on the page and presses the submit
    /// button `button` (`name=value`); the browser posts the form itself and
    /// follows Kratos' redirects. Returns when the suite's UI has rendered
    /// `then` (`login`, `settings`, `welcome`, `error`).
    pub async fn submit_form(&self, fields: &[(&str, &str)], button: &str, then: &str) -> Result<()> {
        let values: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
        let _turn = self.turn().await?;
        let pressed = self
            .call(
                r#"function(values, button) {
                    const [name, value] = button.split("=");
                    const press = [...document.querySelectorAll("button[type=submit]")].find((b) => b.name === name && b.value === value);
                    if (!press) { return "no button " + button + " on the page"; }
                    const form = press.form;
                    for (const [field, v] of Object.entries(values)) {
                        const input = form.querySelector('[name="' + field + '"]');
                        if (!input) { return "no field " + field + " in the form of " + button; }
                        input.value = v;
                    }
                    // The page the browser leaves: the next one renders anew.
                    document.body.dataset.rendered = "left";
                    press.click();
                    return "";
                }"#,
                &[Value::Object(values), Value::String(button.to_string())],
            )
            .await?;
        if let Some(problem) = pressed.as_str().filter(|p| !p.is_empty()) {
            bail!("{problem}");
        }
        // A post and up to three redirects, each a request to Kratos or the suite.
        let waited = self.wait_rendered(then, 4).await;
        drop(_turn);
        waited
    }

    /// What a selector finds on the page: text, and `data-*` of the body.
    pub async fn body_data(&self) -> Result<HashMap<String, String>> {
        let value = self.eval("() => Object.assign({}, document.body.dataset)").await?;
        Ok(serde_json::from_value(value).unwrap_or_default())
    }

    /// The messages on the page: (id, text), flow-level and per node.
    pub async fn messages(&self) -> Result<Vec<(String, String)>> {
        let value = self.eval("() => [...document.querySelectorAll('.message')].map((m) => [m.dataset.id || m.dataset.error || '', m.textContent])").await?;
        Ok(serde_json::from_value(value).unwrap_or_default())
    }

    /// The names of the form fields and buttons on the page (`name`, and
    /// `name=value` for buttons), per form.
    pub async fn form_fields(&self) -> Result<Vec<String>> {
        let value = self.eval("() => [...document.querySelectorAll('form [data-node]')].filter((e) => e.type !== 'hidden').map((e) => e.dataset.node)").await?;
        Ok(serde_json::from_value(value).unwrap_or_default())
    }

    /// A screenshot of one element as the page renders it, in memory only
    /// (the QR code is a secret: it is decoded here and never written).
    pub async fn element_png(&self, selector: &str) -> Result<Vec<u8>> {
        // Where the element is in the document (not the viewport: the page
        // may be longer than the window).
        let rect = self
            .call(
                "function(selector) { const e = document.querySelector(selector); if (!e) { return null; } const r = e.getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; }",
                &[Value::String(selector.to_string())],
            )
            .await?;
        let [x, y, width, height]: [f64; 4] = serde_json::from_value(rect).map_err(|_| anyhow!("no {selector} on the page"))?;
        let clip = chromiumoxide::cdp::browser_protocol::page::Viewport { x, y, width, height, scale: 1.0 };
        let params = chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .clip(clip)
            .capture_beyond_viewport(true)
            .build();
        let shot = self.page.execute(params).await?;
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::STANDARD.decode(AsRef::<str>::as_ref(&shot.result.data))?)
    }

    /// The cookies the browser holds for `url` (its own jar, HttpOnly included).
    pub async fn cookies(&self, url: &Url) -> Result<Vec<CookieSeen>> {
        let params = network::GetCookiesParams::builder().urls(vec![url.to_string()]).build();
        let cookies = self.page.execute(params).await?.result.cookies;
        for cookie in &cookies {
            crate::redact::register(cookie.value.clone());
        }
        Ok(cookies
            .into_iter()
            .map(|c| CookieSeen {
                name: c.name,
                domain: c.domain,
                path: c.path,
                http_only: c.http_only,
                secure: c.secure,
                same_site: c.same_site.as_ref().map(wire),
                session: c.session,
            })
            .collect())
    }

    /// The cookies the browser refused to store or to send, and why; waits
    /// for the browser's report of `cookie` (it may trail the page's script).
    pub async fn blocked_cookies(&self, cookie: &str) -> Vec<Blocked> {
        self.settle(|r| r.blocked.iter().any(|(_, b)| b.cookie == cookie)).await;
        let reported = self.reported.lock().expect("not poisoned");
        reported.blocked.iter().map(|(id, b)| Blocked { url: reported.url_of(id).to_string(), ..b.clone() }).collect()
    }

    /// Waits until what the browser reported meets `done`, for as long as its
    /// events may trail the page's script ([`EVENTS_TRAIL`]).
    async fn settle(&self, done: impl Fn(&Reported) -> bool) {
        let deadline = tokio::time::Instant::now() + EVENTS_TRAIL;
        while !done(&self.reported.lock().expect("not poisoned")) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The browser's console, as it reported it.
    pub fn console(&self) -> Vec<String> {
        self.reported.lock().expect("not poisoned").console.clone()
    }

    /// What the browser said about requests to `url`: failures with its
    /// reason, and console lines that name the URL.
    pub fn said_about(&self, url: &str) -> Vec<String> {
        let reported = self.reported.lock().expect("not poisoned");
        let mut said: Vec<String> =
            reported.failures.iter().filter(|(id, _)| reported.url_of(id) == url).map(|(_, why)| format!("request failed: {why}")).collect();
        said.extend(reported.console.iter().filter(|line| line.contains(url)).cloned());
        said
    }

    fn console_hint(&self) -> String {
        let console = self.console();
        if console.is_empty() {
            return String::new();
        }
        let last: Vec<String> = console.iter().rev().take(5).rev().map(|l| crate::redact::text(l)).collect();
        format!("\n  the browser's console said last:\n    {}", last.join("\n    "))
    }

    /// Kratos' turn for this scenario's browser (see [`Kratos::gate`]): the
    /// browser's requests to an instance wait for it like the suite's own.
    async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(Duration::from_secs(60), self.kratos.gate.clone().acquire_owned())
            .await
            .map_err(|_| anyhow!("waited 60 s for a turn to send the browser's requests to Kratos"))?
            .map_err(|e| anyhow!("{e}"))
    }

    /// On a failure: a screenshot of the page and the browser's console into
    /// `dir`, named after the scenario. Secrets on the page (the TOTP QR code,
    /// the secret key, codes typed into inputs) are covered first, and the
    /// redaction point refuses to write an image that still holds a QR code.
    /// Returns what was written, and what was not and why.
    pub async fn capture_failure(&self, dir: &Path, name: &str) -> Vec<String> {
        let mut said = Vec::new();
        if let Err(e) = std::fs::create_dir_all(dir) {
            return vec![format!("cannot create {}: {e}", dir.display())];
        }
        let base = dir.join(name);
        let console_file = PathBuf::from(format!("{}.console.log", base.display()));
        let mut console = self.console();
        console.insert(0, format!("page: {}", self.url().await.unwrap_or_default()));
        match crate::report::redacting::write_text(&console_file, &console.join("\n")) {
            Ok(()) => said.push(format!("browser console: {}", console_file.display())),
            Err(e) => said.push(format!("browser console not written: {e}")),
        }
        let covered = self.eval(COVER_SECRETS).await;
        let shot = PathBuf::from(format!("{}.png", base.display()));
        let png = match covered {
            Ok(_) => tokio::time::timeout(self.timeout, self.page.screenshot(chromiumoxide::page::ScreenshotParams::builder().full_page(true).build())).await,
            Err(e) => {
                said.push(format!("no screenshot: the page's secrets could not be covered ({e})"));
                return said;
            }
        };
        match png {
            Ok(Ok(png)) => match crate::report::redacting::write_png(&shot, &png) {
                Ok(()) => said.push(format!("screenshot: {}", shot.display())),
                Err(e) => said.push(format!("no screenshot: {e}")),
            },
            Ok(Err(e)) => said.push(format!("no screenshot: {e}")),
            Err(_) => said.push(format!("no screenshot: the browser took longer than {:?}", self.timeout)),
        }
        said
    }

    /// Closes the scenario's context (its page, cookies and storage go with it).
    pub async fn close(self) {
        for listener in &self.listeners {
            listener.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.page.clone().close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.chromium.browser().dispose_browser_context(self.context.clone())).await;
    }
}

/// Hides what a screenshot must not show: images (the TOTP QR code), elements
/// the pages mark as secret, and the values of inputs that hold a secret.
const COVER_SECRETS: &str = r#"() => {
    for (const el of document.querySelectorAll("img, canvas, svg, [data-secret]")) {
        el.style.visibility = "hidden";
    }
    for (const input of document.querySelectorAll("input")) {
        if (input.type !== "hidden" && /password|totp|lookup|secret|code|token/i.test(input.name)) {
            input.value = input.value ? "[secret]" : "";
            input.type = "text";
        }
    }
    for (const item of document.querySelectorAll("[title]")) {
        item.removeAttribute("title");
    }
    return true;
}"#;

/// A protocol enum as the protocol spells it (`SameSiteLax`, `Lax`, ...).
fn wire<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// What a script's failure says: the exception's own description (its message
/// and the stack the page printed), not the protocol's whole record of it.
fn script_error(error: &chromiumoxide::error::CdpError) -> String {
    match error {
        chromiumoxide::error::CdpError::JavascriptException(details) => details
            .exception
            .as_ref()
            .and_then(|exception| exception.description.clone())
            .unwrap_or_else(|| details.text.clone()),
        other => other.to_string(),
    }
}
