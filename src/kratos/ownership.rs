//! Which run owns a container, and whether that run is provably gone.
//!
//! Runs that share one container engine (CI jobs on one Docker socket, each in its
//! own PID namespace) must not take each other's containers for leftovers. So every
//! container the suite starts carries:
//!
//! - the run's random id ([`RUN_ID_LABEL`]);
//! - its owner ([`OWNER_LABEL`]): host, boot, PID namespace, pid and start time of
//!   the process. A run on the same host, boot and PID namespace can tell from
//!   /proc whether that process still runs (a pid reused since is another start
//!   time). Any other run cannot decide from the label alone;
//! - a lease: a small file the owner rewrites inside the container, through the
//!   engine's archive API, every [`LEASE_RENEW`]. Any run that reaches the same
//!   engine can read it: a lease older than [`LEASE_TTL`] proves the owner is gone
//!   (or hung). A run that keeps its containers (`TESTCONTAINERS_COMMAND=keep`)
//!   writes `kept` instead, and nobody removes them.
//!
//! Nothing here removes anything: [`judge`] decides, the engine acts.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::engine::Engine;

/// The run's random id, on every container it starts.
pub const RUN_ID_LABEL: &str = "io.github.kratos-conformance.run-id";
/// Who started the container (see [`Owner`]).
pub const OWNER_LABEL: &str = "io.github.kratos-conformance.owner";
/// The lease's folder inside the container: the official image and the local one
/// both have a world-writable /tmp.
pub const LEASE_DIR: &str = "/tmp";
pub const LEASE_FILE: &str = "kratos-conformance-lease";
/// How often the owner rewrites its leases.
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// A lease not renewed for this long proves its owner gone or hung: nine missed
/// renewals, far more than a busy engine or a slow CI machine delays one.
pub const LEASE_TTL: Duration = Duration::from_secs(90);

/// The full path of the lease inside a container.
pub fn lease_path() -> String {
    format!("{LEASE_DIR}/{LEASE_FILE}")
}

/// A new run's id: 16 hex digits from the OS's random number generator. Each
/// run makes its own ([`super::RunScope`]): two runs in one process do not
/// touch each other's containers either.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random number generator answers");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The process that owns a container, as its label records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// /etc/machine-id, or `hostname:<name>` where there is none.
    pub host: String,
    /// /proc/sys/kernel/random/boot_id: new with every boot of the kernel.
    pub boot: String,
    /// The PID namespace, as /proc/self/ns/pid links to it (`pid:[4026531836]`):
    /// a pid means something only inside its namespace.
    pub pid_ns: String,
    pub pid: u32,
    /// Field 22 of /proc/<pid>/stat, clock ticks after boot: tells the owner from a
    /// later process that got the same pid.
    pub start: u64,
}

impl Owner {
    /// This process (read once: none of it changes while the process runs).
    pub fn this_process() -> &'static Owner {
        static THIS: LazyLock<Owner> = LazyLock::new(|| Owner {
            host: host_identity(),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default(),
            pid: std::process::id(),
            start: std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| parse_stat(&s)).map_or(0, |s| s.start),
        });
        &THIS
    }

    /// The label value, e.g. `host=…;boot=…;pidns=pid:[4026531836];pid=4242;start=123456`.
    pub fn label(&self) -> String {
        format!("host={};boot={};pidns={};pid={};start={}", self.host, self.boot, self.pid_ns, self.pid, self.start)
    }

    /// The owner a label names; `None` for a label this suite did not write.
    pub fn parse(label: &str) -> Option<Owner> {
        let field = |name: &str| {
            label.split(';').find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name).map(|(_, v)| v.to_string()))
        };
        Some(Owner {
            host: field("host")?,
            boot: field("boot")?,
            pid_ns: field("pidns")?,
            pid: field("pid")?.parse().ok()?,
            start: field("start")?.parse().ok()?,
        })
    }
}

/// What this process can tell about an owner from its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// No process with its pid and start time runs: it exited (or is a zombie).
    Gone,
    /// Another host, boot or PID namespace: its pid means nothing here.
    Undecidable,
}

/// Decides from /proc whether `owner` still runs, where `here` (this process)
/// shares its host, boot and PID namespace; otherwise it cannot tell.
pub fn liveness(owner: &Owner, here: &Owner) -> Liveness {
    let known = |a: &str, b: &str| !a.is_empty() && a == b;
    let same_namespace = known(&owner.host, &here.host) && known(&owner.boot, &here.boot) && known(&owner.pid_ns, &here.pid_ns);
    if !same_namespace || !proc_shows_own_namespace() {
        return Liveness::Undecidable;
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", owner.pid)).ok();
    match stat.as_deref().and_then(parse_stat) {
        Some(stat) if stat.start == owner.start && !matches!(stat.state, 'Z' | 'X') => Liveness::Alive,
        _ => Liveness::Gone,
    }
}

/// A /proc mounted for another PID namespace (e.g. `unshare --pid` without
/// `--mount-proc`) would answer for other processes under the same pids.
fn proc_shows_own_namespace() -> bool {
    std::fs::read_link("/proc/self").is_ok_and(|p| p.as_os_str() == std::process::id().to_string().as_str())
}

struct ProcStat {
    state: char,
    start: u64,
}

/// Field 3 (state) and 22 (start time) of /proc/<pid>/stat. The command name
/// (field 2) is in parentheses and may hold spaces and parentheses itself, so the
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<ProcStat> {
    let after_name: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(ProcStat { state: after_name.first()?.chars().next()?, start: after_name.get(22 - 3)?.parse().ok()? })
}

fn host_identity() -> String {
    read_trimmed("/etc/machine-id")
        .or_else(|| read_trimmed("/proc/sys/kernel/hostname").map(|name| format!("hostname:{name}")))
        .unwrap_or_default()
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The content of the lease file: `alive <unix seconds>` while the owner renews
/// it, `kept <unix seconds>` once a run that keeps its containers has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Alive { at: u64 },
    Kept { at: u64 },
}

impl Lease {
    pub fn alive_now() -> Lease {
        Lease::Alive { at: unix_now() }
    }

    pub fn render(&self) -> String {
        match self {
            Lease::Alive { at } => format!("alive {at}\n"),
            Lease::Kept { at } => format!("kept {at}\n"),
        }
    }

    pub fn parse(text: &str) -> Option<Lease> {
        let (word, at) = text.trim().split_once(' ')?;
        let at = at.trim().parse().ok()?;
        match word {
            "alive" => Some(Lease::Alive { at }),
            "kept" => Some(Lease::Kept { at }),
            _ => None,
        }
    }

    /// A tar archive holding only the lease file, for the engine's archive API
    /// (which extracts it into [`LEASE_DIR`]). World-readable, so the uid the
    /// container runs as may read it too.
    pub fn to_tar(&self) -> Vec<u8> {
        let content = self.render();
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(unix_now());
        let mut archive = tar::Builder::new(Vec::new());
        archive.append_data(&mut header, LEASE_FILE, content.as_bytes()).expect("a tar in memory is written");
        archive.into_inner().expect("a tar in memory is finished")
    }

    /// The lease in an archive the engine returned for [`lease_path`].
    pub fn from_tar(bytes: &[u8]) -> Option<Lease> {
        use std::io::Read as _;
        let mut archive = tar::Archive::new(bytes);
        let mut entry = archive.entries().ok()?.next()?.ok()?;
        let mut content = String::new();
        entry.read_to_string(&mut content).ok()?;
        Lease::parse(&content)
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What reading a container's lease through the engine gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseRead {
    Found(Lease),
    /// The container has no lease file.
    Missing,
    /// The container itself is gone (removed since it was listed).
    ContainerGone,
    /// The engine did not answer, or the file is not a lease: nothing is proven.
    Unreadable(String),
}

/// A container of another run, as a sweep sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub owner: Option<Owner>,
    pub lease: LeaseRead,
    /// When the engine created it (unix seconds).
    pub created: Option<u64>,
}

/// What to do with a container of another run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its owner is provably gone: remove it.
    Abandoned(Reason),
    /// Its run ended with `TESTCONTAINERS_COMMAND=keep`: leave it for whoever debugs.
    Kept { since: u64 },
    /// Its owner runs, or may still: leave it alone.
    InUse,
}

/// Why a container's owner is known to be gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Same host, boot and PID namespace, and no process with its pid and start time.
    OwnerExited { pid: u32 },
    /// Its lease was last renewed `age` ago, longer than the TTL.
    LeaseExpired { age: Duration, ttl: Duration },
    /// It has no lease, and was created `age` ago: the owner writes the lease before
    /// the container starts, so it died while creating it.
    NoLease { age: Duration, ttl: Duration },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::OwnerExited { pid } => write!(f, "its owner, pid {pid} on this host, no longer runs"),
            Reason::LeaseExpired { age, ttl } => write!(
                f,
                "its owner has not renewed its lease for {} s, more than the {} s a live run allows: the owner is gone or hung",
                age.as_secs(),
                ttl.as_secs()
            ),
            Reason::NoLease { age, ttl } => write!(
                f,
                "it was created {} s ago (more than {} s) and never got a lease: its owner died while starting it",
                age.as_secs(),
                ttl.as_secs()
            ),
        }
    }
}

/// Decides about a container of another run. `liveness` is what /proc says about
/// its owner (see [`liveness`]); `now` is in unix seconds.
pub fn judge(candidate: &Candidate, liveness: Liveness, now: u64, ttl: Duration) -> Verdict {
    if let LeaseRead::Found(Lease::Kept { at }) = candidate.lease {
        return Verdict::Kept { since: at };
    }
    match liveness {
        Liveness::Gone => return Verdict::Abandoned(Reason::OwnerExited { pid: candidate.owner.as_ref().map_or(0, |o| o.pid) }),
        // A live local owner whose lease is late is hung or paused in a debugger: its
        // containers are still its own.
        Liveness::Alive => return Verdict::InUse,
        Liveness::Undecidable => {}
    }
    let older_than_ttl = |since: u64| {
        let age = Duration::from_secs(now.saturating_sub(since));
        (age > ttl).then_some(age)
    };
    match candidate.lease {
        LeaseRead::Found(Lease::Alive { at }) => match older_than_ttl(at) {
            Some(age) => Verdict::Abandoned(Reason::LeaseExpired { age, ttl }),
            None => Verdict::InUse,
        },
        LeaseRead::Missing => match candidate.created.and_then(older_than_ttl) {
            Some(age) => Verdict::Abandoned(Reason::NoLease { age, ttl }),
            None => Verdict::InUse,
        },
        _ => Verdict::InUse,
    }
}

/// Which containers of other runs a sweep looks at, and the TTL it allows.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub ttl: Duration,
    /// Only these runs' containers (`None`: every run's). A sweep with a short
    /// TTL (a test's) must be limited to runs that renew as often as it expects.
    pub runs: Option<Vec<String>>,
    /// The run that sweeps, whose containers it never looks at.
    pub this_run: Option<String>,
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep { ttl: LEASE_TTL, runs: None, this_run: None }
    }
}

impl Sweep {
    pub fn looks_at(&self, run: &str) -> bool {
        self.this_run.as_deref() != Some(run) && self.runs.as_ref().is_none_or(|runs| runs.iter().any(|r| r == run))
    }
}

/// A container of the suite, as the engine lists it.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub id: String,
    pub run_id: String,
    pub owner: Option<Owner>,
    pub profile: Option<String>,
    /// When the engine created it (unix seconds).
    pub created: Option<u64>,
}

impl Labelled {
    /// `kratos container 3f2a1b2c3d4e (instance strict) of run 9c1e5d0a2b3c4d5e`
    pub fn describe(&self) -> String {
        let profile = self.profile.as_ref().map(|p| format!(" (instance {p})")).unwrap_or_default();
        format!("kratos container {}{profile} of run {}", short_id(&self.id), self.run_id)
    }
}

/// What a sweep did: one line each, for the runner to print.
#[derive(Debug, Default)]
pub struct Swept {
    pub removed: Vec<(Labelled, Reason)>,
    pub kept: Vec<Kept>,
    /// Containers provably abandoned that could not be removed, or a listing that failed.
    pub failures: Vec<String>,
}

impl Swept {
    pub fn lines(&self) -> Vec<String> {
        let removed = self.removed.iter().map(|(container, reason)| format!("removed {} ({reason})", container.describe()));
        let kept = self.kept.iter().map(|kept| format!("left {kept}"));
        removed.chain(kept).chain(self.failures.iter().cloned()).collect()
    }
}

/// A container kept for debugging, and how to remove it.
#[derive(Debug, Clone)]
pub struct Kept {
    pub container: Labelled,
    pub since: u64,
    /// `podman rm -f <id>` or `docker rm -f <id>`.
    pub remove_command: String,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.since));
        write!(
            f,
            "{}, kept for debugging since {since}; remove it with `{}`",
            self.container.describe(),
            self.remove_command
        )
    }
}

/// This run's leases: one per container it started, rewritten every `renew`
/// by a background task until [`Leases::stop`].
pub struct Leases {
    held: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
    renewer: Mutex<Option<JoinHandle<()>>>,
}

impl Leases {
    /// Starts renewing (there is nothing to renew until [`Leases::hold`]).
    pub fn start(engine: Engine, renew: Duration) -> Leases {
        let held = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let renewer = tokio::spawn(renew_until_stopped(engine, Arc::clone(&held), renew, stopped));
        Leases { held, stop, renewer: Mutex::new(Some(renewer)) }
    }

    /// Renews the lease of `container` from now on (it got its first one when it
    /// was created).
    pub fn hold(&self, container: &str) {
        self.held.lock().expect("not poisoned").push(container.to_string());
    }

    /// Stops renewing and waits for a renewal under way, so that nothing written
    /// after this (a `kept` lease) is overwritten.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let renewer = self.renewer.lock().expect("not poisoned").take();
        if let Some(renewer) = renewer {
            let _ = renewer.await;
        }
    }
}

async fn renew_until_stopped(engine: Engine, held: Arc<Mutex<Vec<String>>>, every: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        let containers = held.lock().expect("not poisoned").clone();
        for container in containers {
            match engine.write_lease(&container, Lease::alive_now()).await {
                Ok(()) => {}
                // Removed by this run (or by hand): nothing left to renew.
                Err(e) if e.container_gone => held.lock().expect("not poisoned").retain(|c| *c != container),
                Err(e) => eprintln!(
                    "kratos-conformance: could not renew the lease of container {} ({}); if this goes on for {} s another run may take it for abandoned and remove it",
                    short_id(&container),
                    e.message,
                    LEASE_TTL.as_secs()
                ),
            }
        }
    }
}

/// The first 12 hex digits of a container id, as `docker ps` shows it.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(lease: LeaseRead, created: Option<u64>) -> Candidate {
        Candidate { owner: Some(Owner::this_process().clone()), lease, created }
    }

    #[test]
    fn the_run_id_is_16_hex_digits_and_stays_the_same() {
        let id = new_run_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_run_id());
    }

    #[test]
    fn the_owner_label_round_trips() {
        let me = Owner::this_process();
        assert!(!me.boot.is_empty() && me.pid_ns.starts_with("pid:[") && me.start > 0, "{me:?}");
        assert_eq!(Owner::parse(&me.label()).as_ref(), Some(me));
        assert_eq!(Owner::parse("4242"), None, "the old owner-pid label is not an owner");
    }

    #[test]
    fn this_process_is_alive() {
        let me = Owner::this_process();
        assert_eq!(liveness(me, me), Liveness::Alive);
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        let owner = Owner { pid: child.id(), start: parse_stat(&stat).unwrap().start, ..Owner::this_process().clone() };
        assert_eq!(liveness(&owner, Owner::this_process()), Liveness::Alive);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(liveness(&owner, Owner::this_process()), Liveness::Gone);
    }

    #[test]
    fn a_reused_pid_is_gone() {
        let me = Owner::this_process();
        let earlier = Owner { start: me.start - 1, ..me.clone() };
        assert_eq!(liveness(&earlier, me), Liveness::Gone);
    }

    #[test]
    fn another_pid_namespace_host_or_boot_is_undecidable_from_the_label() {
        let me = Owner::this_process();
        for other in [
            Owner { pid_ns: "pid:[1]".into(), ..me.clone() },
            Owner { host: "hostname:elsewhere".into(), ..me.clone() },
            Owner { boot: "00000000-0000-0000-0000-000000000000".into(), ..me.clone() },
            Owner { pid_ns: String::new(), ..me.clone() },
        ] {
            assert_eq!(liveness(&other, me), Liveness::Undecidable, "{other:?}");
        }
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let parsed = parse_stat(stat).unwrap();
        assert_eq!((parsed.state, parsed.start), ('S', 987654));
    }

    #[test]
    fn the_lease_round_trips_through_a_tar() {
        for lease in [Lease::Alive { at: 1_700_000_000 }, Lease::Kept { at: 1_700_000_001 }] {
            assert_eq!(Lease::from_tar(&lease.to_tar()), Some(lease));
        }
        assert_eq!(Lease::parse("alive 17"), Some(Lease::Alive { at: 17 }));
        assert_eq!(Lease::parse("dead 17"), None);
    }

    #[test]
    fn a_fresh_lease_keeps_a_container_and_an_expired_one_frees_it() {
        let ttl = Duration::from_secs(90);
        let fresh = candidate(LeaseRead::Found(Lease::Alive { at: 1000 }), Some(900));
        assert_eq!(judge(&fresh, Liveness::Undecidable, 1090, ttl), Verdict::InUse);
        assert_eq!(
            judge(&fresh, Liveness::Undecidable, 1091, ttl),
            Verdict::Abandoned(Reason::LeaseExpired { age: Duration::from_secs(91), ttl })
        );
    }

    #[test]
    fn a_local_owner_decides_before_the_lease() {
        let ttl = Duration::from_secs(90);
        let expired = candidate(LeaseRead::Found(Lease::Alive { at: 0 }), Some(0));
        assert_eq!(judge(&expired, Liveness::Alive, 1000, ttl), Verdict::InUse);
        let fresh = candidate(LeaseRead::Found(Lease::Alive { at: 1000 }), Some(1000));
        let pid = Owner::this_process().pid;
        assert_eq!(judge(&fresh, Liveness::Gone, 1000, ttl), Verdict::Abandoned(Reason::OwnerExited { pid }));
    }

    #[test]
    fn kept_containers_are_kept_however_old() {
        let kept = candidate(LeaseRead::Found(Lease::Kept { at: 5 }), Some(0));
        assert_eq!(judge(&kept, Liveness::Gone, 1_000_000, Duration::ZERO), Verdict::Kept { since: 5 });
    }

    #[test]
    fn no_lease_frees_a_container_only_once_it_is_older_than_the_ttl() {
        let ttl = Duration::from_secs(90);
        let young = candidate(LeaseRead::Missing, Some(1000));
        assert_eq!(judge(&young, Liveness::Undecidable, 1050, ttl), Verdict::InUse);
        assert_eq!(
            judge(&young, Liveness::Undecidable, 1100, ttl),
            Verdict::Abandoned(Reason::NoLease { age: Duration::from_secs(100), ttl })
        );
        let unreadable = candidate(LeaseRead::Unreadable("timeout".into()), Some(0));
        assert_eq!(judge(&unreadable, Liveness::Undecidable, 1_000_000, ttl), Verdict::InUse);
    }
}
