//! Two runs in two PID namespaces share one container engine, as CI jobs on one
//! Docker socket do: neither may take the other's container for abandoned while
//! the other runs, and once one is killed outright (SIGKILL), its container is
//! removed only after its lease has expired, with the reason said.
//!
//! The test starts two owners, child processes of this binary (`OWNER_ENV` set),
//! each under `unshare --pid --fork --mount-proc` so that neither can see the
//! other's pid. Each starts a Kratos container with the suite's labels and lease,
//! renews the lease every `RENEW`, and answers commands on stdin: `sweep <ttl
//! seconds> <run>…` (remove_abandoned limited to those runs), `keep` (end as a
//! `TESTCONTAINERS_COMMAND=keep` run does) and `exit` (end as a normal run does).
//!
//! Needs a container engine and root (for `unshare --pid`); without them it says
//! why in one line and passes.

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use kratos_conformance::kratos::engine::{self, Engine};
use kratos_conformance::kratos::ownership::{self, Leases, Owner, Sweep};
use kratos_conformance::deployment::ConfigDir;
use kratos_conformance::kratos::{self, InstanceSpec, Launch, container};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Set in an owner's environment: this process is an owner, not the test.
const OWNER_ENV: &str = "KRATOS_OWNERSHIP_TEST_OWNER";
/// The test's lease timing: seconds, not the suite's 10 s and 90 s.
const RENEW: Duration = Duration::from_secs(1);
const TTL: Duration = Duration::from_secs(5);
/// How long an owner may take to start its container, or to answer a command.
const OWNER_ANSWER: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    // testcontainers reads DOCKER_HOST; export the engine found before any thread exists.
    if let Some(host) = engine::resolve_host() {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("DOCKER_HOST", host) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    if std::env::var_os(OWNER_ENV).is_some() {
        return runtime.block_on(owner::run());
    }
    runtime.block_on(test())
}

async fn test() -> ExitCode {
    let wall = Instant::now();
    let (engine, image) = match preconditions().await {
        Ok(found) => found,
        Err(why) => {
            println!("ownership: skipped: {why}");
            return ExitCode::SUCCESS;
        }
    };
    let mut runs = Vec::new();
    let outcome = two_runs(&engine, &image, &mut runs).await;
    // Whatever happened, nothing of the owners stays.
    for run in &runs {
        engine.remove_run(run).await;
    }
    let left = leftovers(&engine, &runs).await;
    match (outcome, left.is_empty()) {
        (Ok(()), true) => {
            println!("ownership: 1 passed, 0 failed ({:.1?})", wall.elapsed());
            ExitCode::SUCCESS
        }
        (Ok(()), false) => {
            println!("ownership: containers left behind: {}\nownership: 0 passed, 1 failed", left.join(", "));
            ExitCode::FAILURE
        }
        (Err(e), _) => {
            println!("ownership: {e}\nownership: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

/// An engine that answers, an image of Kratos, and PID namespaces to be had.
async fn preconditions() -> Result<(Engine, String), String> {
    let engine = Engine::connect(engine::resolve_host()).await.map_err(|e| e.to_string())?;
    let image = match (kratos::local_image(), kratos::official_image()) {
        (local, _) if engine.has_image(&local).await => local,
        (_, official) if engine.has_image(&official).await => official,
        (local, official) => return Err(format!("neither {local} nor {official} is in {}; run scripts/setup.sh", engine.describe())),
    };
    let unshare = tokio::time::timeout(
        Duration::from_secs(10),
        Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).stderr(Stdio::null()).status(),
    )
    .await;
    if !matches!(unshare, Ok(Ok(status)) if status.success()) {
        return Err("`unshare --pid --fork --mount-proc` does not work here (it needs root and util-linux)".into());
    }
    Ok((engine, image))
}

async fn two_runs(engine: &Engine, image: &str, runs: &mut Vec<String>) -> Result<(), String> {
    let (a, b) = tokio::join!(OwnerProcess::spawn("A", image), OwnerProcess::spawn("B", image));
    // Recorded before anything can fail, so that the test removes whatever started.
    runs.extend([&a, &b].into_iter().flatten().map(|owner| owner.run.clone()));
    let (mut a, mut b) = (a?, b?);
    let here = Owner::this_process();
    if a.owner.pid_ns == b.owner.pid_ns || a.owner.pid_ns == here.pid_ns {
        return Err(format!("the owners do not run in PID namespaces of their own: {:?}", [&a.owner, &b.owner]));
    }
    println!(
        "ownership: owner A (run {}, pid {} in {}) and B (run {}, pid {} in {}) each started a container",
        a.run, a.owner.pid, a.owner.pid_ns, b.run, b.owner.pid, b.owner.pid_ns
    );

    // While both live, neither removes anything of the other's.
    let both = runs.clone();
    for owner in [&mut a, &mut b] {
        let swept = owner.sweep(TTL, &both).await?;
        if !swept.is_empty() {
            return Err(format!("owner {} removed a container of a live run: {swept:?}", owner.name));
        }
    }
    expect_container(engine, &a.container, true).await?;
    expect_container(engine, &b.container, true).await?;

    // A dies without a chance to clean up.
    let killed = a.kill().await?;
    println!("ownership: owner A killed with SIGKILL");

    // Its lease is fresh: neither B nor this test (a third PID namespace) may remove it.
    let swept = b.sweep(TTL, &both).await?;
    if !swept.is_empty() {
        return Err(format!("owner B removed A's container while A's lease was fresh: {swept:?}"));
    }
    let swept = engine.remove_abandoned(&Sweep { ttl: TTL, runs: Some(both.clone()), this_run: None }).await;
    if !swept.removed.is_empty() {
        return Err(format!("the test removed A's container while A's lease was fresh: {:?}", swept.lines()));
    }
    expect_container(engine, &a.container, true).await?;

    // Once A's lease is older than the TTL, B removes A's container and says why.
    let deadline = killed + TTL + RENEW + Duration::from_secs(5);
    let removal = loop {
        let swept = b.sweep(TTL, &both).await?;
        if let Some(line) = swept.iter().find(|line| line.starts_with("removed") && line.contains(ownership::short_id(&a.container))) {
            break line.clone();
        }
        if Instant::now() > deadline {
            return Err(format!("owner B did not remove A's container within {:?} of A's death", deadline - killed));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let after = killed.elapsed();
    println!("ownership: {:.1?} after A's death, B {removal}", after);
    // The last renewal came at most RENEW before the kill; whole seconds cost one more.
    if after + RENEW + Duration::from_secs(1) < TTL || !removal.contains("has not renewed its lease") {
        return Err(format!("A's container was removed {after:?} after A's death, before its lease expired: {removal}"));
    }
    expect_container(engine, &a.container, false).await?;

    // B ends as a TESTCONTAINERS_COMMAND=keep run: its container stays, marked kept,
    // and not even a sweep that takes every lease for expired removes it.
    let kept = b.keep().await?;
    println!("ownership: B kept its container: {kept}");
    if !kept.contains(&engine.remove_command(&b.container)) {
        return Err(format!("B's keep line does not say how to remove the container: {kept}"));
    }
    let swept = engine.remove_abandoned(&Sweep { ttl: Duration::ZERO, runs: Some(both.clone()), this_run: None }).await;
    if !swept.removed.is_empty() || swept.kept.len() != 1 {
        return Err(format!("a sweep did not leave B's kept container alone: {:?}", swept.lines()));
    }
    println!("ownership: a sweep {}", swept.lines()[0]);
    expect_container(engine, &b.container, true).await
}

async fn expect_container(engine: &Engine, id: &str, present: bool) -> Result<(), String> {
    let all = engine.labelled_containers(None).await?;
    if all.iter().any(|c| c.id == id) == present {
        return Ok(());
    }
    let what = if present { "is gone" } else { "is still there" };
    Err(format!("container {} {what}", ownership::short_id(id)))
}

async fn leftovers(engine: &Engine, runs: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for run in runs {
        left.extend(engine.labelled_containers(Some(run)).await.unwrap_or_default().into_iter().map(|c| c.id));
    }
    left
}

/// An owner process as the test drives it.
struct OwnerProcess {
    name: &'static str,
    /// `unshare`, whose child is the owner.
    unshare: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    container: String,
    run: String,
    owner: Owner,
}

impl OwnerProcess {
    async fn spawn(name: &'static str, image: &str) -> Result<OwnerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this test's executable: {e}"))?;
        let mut unshare = Command::new("unshare")
            // --kill-child: should the test die, its owners die with it.
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(exe)
            .env(OWNER_ENV, image)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start owner {name} under unshare: {e}"))?;
        let stdin = unshare.stdin.take().expect("piped");
        tokio::spawn(forward_stderr(name, unshare.stderr.take().expect("piped")));
        let lines = BufReader::new(unshare.stdout.take().expect("piped")).lines();
        let mut owner = OwnerProcess { name, unshare, stdin, lines, container: String::new(), run: String::new(), owner: Owner::this_process().clone() };
        let started = owner.answer().await?;
        let [line] = started.as_slice() else { return Err(format!("owner {name} said {started:?} instead of starting")) };
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next(), words.next().and_then(Owner::parse)) {
            (Some("started"), Some(container), Some(run), Some(label)) => {
                (owner.container, owner.run, owner.owner) = (container.into(), run.into(), label);
                Ok(owner)
            }
            _ => Err(format!("owner {name} said {line:?} instead of starting")),
        }
    }

    /// Runs `remove_abandoned` in the owner, limited to `runs`; one line per
    /// container it removed or left as kept.
    async fn sweep(&mut self, ttl: Duration, runs: &[String]) -> Result<Vec<String>, String> {
        self.say(&format!("sweep {} {}", ttl.as_secs(), runs.join(" "))).await?;
        self.answer().await
    }

    /// Ends the owner as a `TESTCONTAINERS_COMMAND=keep` run; the line it printed.
    async fn keep(&mut self) -> Result<String, String> {
        self.say("keep").await?;
        let said = self.answer().await?;
        let _ = tokio::time::timeout(OWNER_ANSWER, self.unshare.wait()).await;
        said.into_iter().next().ok_or_else(|| format!("owner {} kept nothing", self.name))
    }

    /// SIGKILLs the owner (the child of `unshare`, pid 1 of its namespace; from this
    /// namespace, an ancestor, the signal cannot be ignored). When it died.
    async fn kill(&mut self) -> Result<Instant, String> {
        let outer = self.unshare.id().ok_or("unshare has already exited")?;
        let children = std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children"))
            .map_err(|e| format!("cannot find owner {}'s pid: {e}", self.name))?;
        let pid: i32 = children.split_whitespace().next().and_then(|p| p.parse().ok()).ok_or("unshare has no child")?;
        // SAFETY: kill(2) with a pid this test started (through unshare).
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(format!("cannot kill owner {}: {}", self.name, std::io::Error::last_os_error()));
        }
        let killed = Instant::now();
        tokio::time::timeout(OWNER_ANSWER, self.unshare.wait())
            .await
            .map_err(|_| format!("owner {} outlived SIGKILL", self.name))?
            .map_err(|e| e.to_string())?;
        Ok(killed)
    }

    async fn say(&mut self, command: &str) -> Result<(), String> {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.map_err(|e| format!("owner {} is gone: {e}", self.name))
    }

    /// The lines up to `done`.
    async fn answer(&mut self) -> Result<Vec<String>, String> {
        let read = async {
            let mut said = Vec::new();
            while let Some(line) = self.lines.next_line().await.map_err(|e| e.to_string())? {
                if line == "done" {
                    return Ok(said);
                }
                said.push(line);
            }
            Err(format!("owner {} ended without answering", self.name))
        };
        tokio::time::timeout(OWNER_ANSWER, read).await.map_err(|_| format!("owner {} did not answer within {OWNER_ANSWER:?}", self.name))?
    }
}

/// Shows what an owner (or its unshare) says on stderr, marked with its name.
async fn forward_stderr(name: &'static str, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        // util-linux's unshare, re-raising its child's SIGKILL on itself, cannot
        // unblock SIGKILL and says so: expected here, and harmless.
        if !line.starts_with("unshare: sigprocmask unblock failed") {
            eprintln!("ownership: owner {name}: {line}");
        }
    }
}

/// The owner side: a run of its own, in its own PID namespace.
mod owner {
    use super::*;

    pub async fn run() -> ExitCode {
        match serve().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ownership owner: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn serve() -> Result<(), String> {
        let image = std::env::var(OWNER_ENV).map_err(|e| e.to_string())?;
        let engine = Engine::connect(engine::resolve_host()).await.map_err(|e| e.to_string())?;
        let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config");
        let dir = ConfigDir::open(&config_dir).map_err(|e| e.to_string())?;
        let spec = InstanceSpec { variant: Some(kratos::DEFAULT_VARIANT.into()), derived: Vec::new(), shard: 0 };
        let run = kratos::RunScope::new(kratos::Settings::report_dir_from_env());
        let launch = Launch::prepare(&dir, &spec, &run).await.map_err(|e| e.to_string())?;
        let ports = (kratos::free_port().map_err(|e| e.to_string())?, kratos::free_port().map_err(|e| e.to_string())?);
        let endpoint = kratos::replica::Endpoint::dev("127.0.0.1", ports.0, ports.1);
        let started = container::start(&image, &launch, &endpoint, OWNER_ANSWER).await.map_err(|e| e.to_string())?;
        let id = started.id().to_string();
        // Removal is by label (as the suite's runs do it), never by dropping the
        // handle, which would remove a kept container too.
        std::mem::forget(started);
        let leases = Leases::start(engine.clone(), RENEW);
        leases.hold(&id);
        println!("started {id} {} {}\ndone", run.id, Owner::this_process().label());

        let mut commands = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(command)) = commands.next_line().await {
            let mut words = command.split(' ');
            match words.next() {
                Some("sweep") => {
                    let ttl = Duration::from_secs(words.next().and_then(|t| t.parse().ok()).unwrap_or(0));
                    let swept = engine.remove_abandoned(&Sweep { ttl, runs: Some(words.map(str::to_string).collect()), this_run: Some(run.id.clone()) }).await;
                    for line in swept.lines() {
                        println!("{line}");
                    }
                }
                Some("keep") => {
                    leases.stop().await;
                    for kept in engine.keep_run(&run.id).await {
                        println!("{kept}");
                    }
                    println!("done");
                    return Ok(());
                }
                _ => break,
            }
            println!("done");
        }
        // `exit`, or the test closed stdin: end as a run that removes its containers.
        leases.stop().await;
        engine.remove_run(&run.id).await;
        Ok(())
    }
}
