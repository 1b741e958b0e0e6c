//! A real browser: headless Chromium, driven over the DevTools protocol
//! (`chromiumoxide`), for the scenarios that only a browser can answer — CORS,
//! which cookies a cross-origin `fetch` sends and keeps (`SameSite`, host-only),
//! and the redirects a browser follows on its own after an HTML form post.
//!
//! - one Chromium per run ([`Browsers`]), started at the first scenario that
//!   needs it, with a fresh `--user-data-dir`; it dies with the run
//!   ([`Browsers::shutdown`], and `PR_SET_PDEATHSIG` should the run be killed
//!   outright);
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
    if let Err(why) = executable() {
        return Some(why);
    }
    // A CA the run trusts must be trusted by the browser too, which takes certutil.
    if !crate::net::tls::trusted().is_empty() && crate::programs::on_path(&["certutil"], &[]).is_none() {
        return Some("the browser must trust the run's CA (or KRATOS_CA_CERT), which takes certutil (Debian's libnss3-tools): run scripts/setup.sh, which installs it".into());
    }
    None
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

/// What the browser's user chose for third-party cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdPartyCookies {
    /// Blocked, as in a private window (Chromium's own default there): the
    /// run's browser.
    Blocked,
    /// Allowed, as Chrome has them outside a private window: a second
    /// browser, started for the scenarios that need it. (DevTools'
    /// `Network.setCookieControls` does not lift the block in a browser
    /// context of its own, which every scenario has.)
    Allowed,
}

/// The run's browsers: each started at the first scenario that needs it, and
/// stopped with the run. A value of the run (the World carries it), so two
/// runs in one process each have their own, whose DevTools tasks live on that
/// run's runtime and which one run's end does not stop under the other.
pub struct Browsers {
    run: String,
    blocked: OnceCell<Result<Arc<Chromium>, String>>,
    allowed: OnceCell<Result<Arc<Chromium>, String>>,
}

impl std::fmt::Debug for Browsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = |cell: &OnceCell<Result<Arc<Chromium>, String>>| matches!(cell.get(), Some(Ok(_)));
        f.debug_struct("Browsers").field("run", &self.run).field("blocked", &started(&self.blocked)).field("allowed", &started(&self.allowed)).finish()
    }
}

impl Browsers {
    /// No browser yet; their profiles are named by the run's id.
    pub fn new(run: &str) -> Browsers {
        Browsers { run: run.to_string(), blocked: OnceCell::new(), allowed: OnceCell::new() }
    }

    fn cell(&self, third_party: ThirdPartyCookies) -> &OnceCell<Result<Arc<Chromium>, String>> {
        match third_party {
            ThirdPartyCookies::Blocked => &self.blocked,
            ThirdPartyCookies::Allowed => &self.allowed,
        }
    }

    /// The browser whose user made this choice, started on first use; every
    /// later caller gets the same (or the same reason it could not start).
    pub async fn chromium(&self, third_party: ThirdPartyCookies) -> Result<Arc<Chromium>, String> {
        self.cell(third_party).get_or_init(|| async move { Chromium::launch(third_party, &self.run).await.map(Arc::new) }).await.clone()
    }

    /// Starts the browser now, beside whatever else starts (the runner calls
    /// it when scenarios will need it), so the first scenario does not wait.
    pub fn warm_up(self: &Arc<Self>) {
        let browsers = Arc::clone(self);
        tokio::spawn(async move {
            match browsers.chromium(ThirdPartyCookies::Blocked).await {
                Ok(chromium) => eprintln!("kratos-conformance: browser {} started in {:.2?} (headless, a context per scenario)", chromium.version, chromium.startup),
                Err(e) => eprintln!("kratos-conformance: the browser did not start: {e}"),
            }
        });
    }

    /// Ends the browsers that were started, and removes their profiles.
    pub async fn shutdown(&self) {
        for cell in [&self.blocked, &self.allowed] {
            if let Some(Ok(chromium)) = cell.get() {
                chromium.stop().await;
            }
        }
    }
}

impl Chromium {
    async fn launch(third_party: ThirdPartyCookies, run: &str) -> Result<Chromium, String> {
        let started = Instant::now();
        let executable = executable()?;
        let suffix = if third_party == ThirdPartyCookies::Allowed { "-third-party-allowed" } else { "" };
        // The run's browser: its profile is the run's.
        let profile = std::env::temp_dir().join(format!("kratos-conformance-chromium-{run}{suffix}"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("cannot create the browser profile {}: {e}", profile.display()))?;
        if third_party == ThirdPartyCookies::Allowed {
            // The user's setting "allow third-party cookies" (its cookie
            // controls mode off), which private contexts follow too.
            let preferences = profile.join("Default");
            std::fs::create_dir_all(&preferences).map_err(|e| format!("cannot create {}: {e}", preferences.display()))?;
            std::fs::write(preferences.join("Preferences"), r#"{"profile":{"cookie_controls_mode":0}}"#)
                .map_err(|e| format!("cannot write the browser's preferences in {}: {e}", preferences.display()))?;
        }
        let mut command = Command::new(&executable);
        // What the run's clients trust, and only that, in the browser's own
        // certificate database (Chromium on Linux reads `$HOME/.pki/nssdb`).
        if let Some(home) = trust_store(&profile, &crate::net::tls::trusted()).await? {
            command.env("HOME", home);
        }
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
        // chromiumoxide's default tells every page to ignore certificate
        // errors, which would let a wrong chain pass in the browser alone.
        let handler_config = chromiumoxide::handler::HandlerConfig { ignore_https_errors: false, ..Default::default() };
        let (browser, mut handler) = match chromiumoxide::Browser::connect_with_config(ws, handler_config).await {
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

/// A home folder for the browser inside its profile whose NSS database
/// trusts `cas` as issuers of server certificates (`certutil`, from Debian's
/// libnss3-tools, which scripts/setup.sh installs); `None` where the run
/// trusts nothing beyond the system's roots.
async fn trust_store(profile: &Path, cas: &[crate::net::tls::TrustedCa]) -> Result<Option<PathBuf>, String> {
    if cas.is_empty() {
        return Ok(None);
    }
    let sources = || cas.iter().map(|ca| ca.source.as_str()).collect::<Vec<_>>().join(", ");
    let Some(certutil) = crate::programs::on_path(&["certutil"], &[]) else {
        return Err(format!("the browser cannot be told to trust {}: certutil is not installed (Debian's libnss3-tools); run scripts/setup.sh", sources()));
    };
    let home = profile.join("home");
    let db = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    let db_arg = format!("sql:{}", db.display());
    let run = |args: Vec<String>| {
        let certutil = certutil.clone();
        async move {
            let out = Command::new(&certutil).args(&args).stdin(Stdio::null()).output().await.map_err(|e| format!("cannot run {}: {e}", certutil.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("certutil {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
            }
        }
    };
    run(vec!["-N".into(), "-d".into(), db_arg.clone(), "--empty-password".into()]).await?;
    // certutil imports one certificate per call: a bundle is split.
    let mut index = 0;
    for ca in cas {
        for certificate in ca.pem.split_inclusive("-----END CERTIFICATE-----").filter(|part| part.contains("-----BEGIN CERTIFICATE-----")) {
            index += 1;
            let file = home.join(format!("ca-{index}.pem"));
            std::fs::write(&file, certificate.trim()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let nickname = format!("kratos-conformance trusted {index}");
            run(vec!["-A".into(), "-d".into(), db_arg.clone(), "-n".into(), nickname, "-t".into(), "C,,".into(), "-i".into(), file.display().to_string()]).await?;
        }
    }
    Ok(Some(home))
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
