//! A real browser: headless Chromium, driven over the DevTools protocol
//! (`chromiumoxide`), for the scenarios that only a browser can answer — CORS,
//! which cookies a cross-origin `fetch` sends and keeps (`SameSite`, host-only),
//! and the redirects a browser follows on its own after an HTML form post.
//!
//! - one Chromium per run, started at the first scenario that needs it, with a
//!   fresh `--user-data-dir`; it dies with the run ([`shutdown`], and
//!   `PR_SET_PDEATHSIG` should the run be killed outright);
//! - one browser context per scenario ([`Session`]): its own cookies, storage
//!   and cache, like a fresh profile, and scenarios run side by side in one
//!   browser;
//! - the pages it loads are this repository's (`spa/`), served by the suite on
//!   its own origin ([`origin`]).
//!
//! Without a browser (nobody ran `scripts/setup.sh`), the scenarios that need
//! one are not applicable, with one line that says how to install it
//! ([`missing`]).

pub mod origin;
mod session;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, OnceCell};

pub use origin::Origins;
pub use session::{ANY_PAGE, Answer, Blocked, CookieSeen, Session};

/// How long Chromium may take to say where its DevTools endpoint is.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The flags Chromium runs with here: headless, as root (no sandbox), and none
/// of its own connections (they would be refused on a closed network and slow
/// every start down).
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--password-store=basic",
    "--use-mock-keychain",
    "--window-size=1000,900",
];

/// Where the browser is: `KRATOS_CHROMIUM`, or Debian's `chromium` (what
/// scripts/setup.sh installs) or another Chromium on the PATH.
pub fn executable() -> Result<PathBuf, String> {
    match crate::programs::named_by("KRATOS_CHROMIUM") {
        Some(Ok(path)) => return Ok(path),
        Some(Err(path)) => {
            return Err(format!("KRATOS_CHROMIUM={} does not exist; run scripts/setup.sh, which installs Debian's chromium", path.display()));
        }
        None => {}
    }
    if let Some(found) = crate::programs::on_path(&["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"], &[]) {
        return Ok(found);
    }
    Err("no Chromium on this machine (chromium, chromium-browser or google-chrome on the PATH, or KRATOS_CHROMIUM): run scripts/setup.sh, which installs Debian's chromium".into())
}

/// Why the scenarios that need a real browser cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    executable().err()
}

/// The run's browser.
pub struct Chromium {
    browser: chromiumoxide::Browser,
    child: Mutex<Option<Child>>,
    profile: PathBuf,
    /// How long it took to start and connect.
    pub startup: Duration,
    pub version: String,
    stderr: Arc<std::sync::Mutex<Vec<String>>>,
}

static CHROMIUM: OnceCell<Result<Arc<Chromium>, String>> = OnceCell::const_new();

/// The run's browser, started on first use; every later caller gets the same
/// (or the same reason it could not start).
pub async fn chromium() -> Result<Arc<Chromium>, String> {
    CHROMIUM.get_or_init(|| async { Chromium::launch().await.map(Arc::new) }).await.clone()
}

/// Starts the browser now, beside whatever else starts (the runner calls it
/// when scenarios will need it), so the first scenario does not wait for it.
pub fn warm_up() {
    tokio::spawn(async {
        match chromium().await {
            Ok(chromium) => eprintln!("kratos-conformance: browser {} started in {:.2?} (headless, a context per scenario)", chromium.version, chromium.startup),
            Err(e) => eprintln!("kratos-conformance: the browser did not start: {e}"),
        }
    });
}

/// Ends the browser, if one was started, and removes its profile.
pub async fn shutdown() {
    if let Some(Ok(chromium)) = CHROMIUM.get() {
        chromium.stop().await;
    }
}

impl Chromium {
    async fn launch() -> Result<Chromium, String> {
        let started = Instant::now();
        let executable = executable()?;
        let profile = std::env::temp_dir().join(format!("kratos-conformance-chromium-{}", crate::kratos::run_id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("cannot create the browser profile {}: {e}", profile.display()))?;
        let mut command = Command::new(&executable);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A process group of its own: its helpers (zygote, renderers,
            // network service) end with it, at once (see `stop`).
            .process_group(0)
            .kill_on_drop(true);
        // The names the suite gives its Kratos resolve to loopback in the browser too.
        let rules: Vec<String> = crate::net::names::all().iter().map(|name| format!("MAP {name} 127.0.0.1")).collect();
        if !rules.is_empty() {
            command.arg(format!("--host-resolver-rules={}", rules.join(", ")));
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| format!("cannot run the browser {}: {e}", executable.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (found, endpoint) = tokio::sync::oneshot::channel::<String>();
        tokio::spawn(read_stderr(stderr, Arc::clone(&lines), found));
        let ws = match tokio::time::timeout(LAUNCH_TIMEOUT, endpoint).await {
            Ok(Ok(ws)) => ws,
            outcome => {
                let _ = child.kill().await;
                let why = if outcome.is_err() { format!("it did not open its DevTools endpoint within {LAUNCH_TIMEOUT:?}") } else { "it exited".to_string() };
                let said = lines.lock().expect("not poisoned").iter().rev().take(8).rev().cloned().collect::<Vec<_>>().join("\n");
                return Err(format!("the browser {} did not start: {why}; it said:\n{said}", executable.display()));
            }
        };
        let (browser, mut handler) = match chromiumoxide::Browser::connect(ws).await {
            Ok(connected) => connected,
            Err(e) => {
                let _ = child.kill().await;
                return Err(format!("cannot connect to the browser's DevTools endpoint: {e}"));
            }
        };
        tokio::spawn(async move { while handler.next().await.is_some() {} });
        let version = browser.version().await.map(|v| v.product).unwrap_or_else(|_| "Chromium".into());
        Ok(Chromium { browser, child: Mutex::new(Some(child)), profile, startup: started.elapsed(), version, stderr: lines })
    }

    /// A fresh browser context and a page in it, for one scenario.
    pub async fn session(self: &Arc<Self>, kratos: Arc<crate::kratos::Kratos>) -> anyhow::Result<Session> {
        Session::open(Arc::clone(self), kratos).await
    }

    pub(crate) fn browser(&self) -> &chromiumoxide::Browser {
        &self.browser
    }

    /// What the browser wrote to stderr last (for a browser that went away).
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().expect("not poisoned");
        lines.iter().rev().take(10).rev().cloned().collect::<Vec<_>>().join("\n")
    }

    async fn stop(&self) {
        let Some(mut child) = self.child.lock().await.take() else { return };
        // Kill the whole group outright (nothing of a test profile needs
        // saving), and wait until none of it is left.
        if let Some(group) = child.id().map(|pid| pid as libc::pid_t) {
            // SAFETY: signals the process group this run started, nothing else.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            for _ in 0..50 {
                // SAFETY: signal 0 only asks whether any process of the group is left.
                if unsafe { libc::kill(-group, 0) } != 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        } else {
            let _ = child.kill().await;
        }
        remove_profile(&self.profile);
    }
}

fn remove_profile(profile: &Path) {
    // Chromium's helpers may still write for a moment after the main process ended.
    for _ in 0..5 {
        if std::fs::remove_dir_all(profile).is_ok() || !profile.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads Chromium's stderr: the DevTools endpoint it announces, then
/// everything else into `lines` (the last lines are shown if it dies).
async fn read_stderr(stderr: tokio::process::ChildStderr, lines: Arc<std::sync::Mutex<Vec<String>>>, found: tokio::sync::oneshot::Sender<String>) {
    let mut reader = BufReader::new(stderr).lines();
    let mut found = Some(found);
    while let Ok(Some(line)) = reader.next_line().await {
        if let Some(ws) = line.strip_prefix("DevTools listening on ") {
            if let Some(found) = found.take() {
                let _ = found.send(ws.trim().to_string());
            }
            continue;
        }
        let mut kept = lines.lock().expect("not poisoned");
        kept.push(line);
        let excess = kept.len().saturating_sub(200);
        kept.drain(..excess);
    }
}
