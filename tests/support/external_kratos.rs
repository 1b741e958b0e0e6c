//! A Kratos outside the suite for the tests that verify an external
//! deployment: the pinned build on this repository's configuration (the
//! `strict` variant), on free ports, with the environment a test gives it
//! (a setting changed behind the configuration's back). `#[path]`-included.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub struct ExternalKratos {
    child: Child,
    pub public: u16,
    pub admin: u16,
    /// The configuration it runs, with its schemas where Kratos finds them.
    pub config: PathBuf,
    pub log: PathBuf,
}

impl ExternalKratos {
    /// Starts it in `work` (emptied first) and waits until it is ready.
    pub fn start(work: &Path, env: &[(&str, &str)]) -> Result<ExternalKratos, String> {
        let _ = std::fs::remove_dir_all(work);
        let config = work.join("config");
        copy_dir(&Path::new(ROOT).join("kratos-config"), &config);
        let kratos_yml = config.join("kratos.yml");
        let text = std::fs::read_to_string(&kratos_yml).unwrap().replace("file:///etc/config/kratos/", &format!("file://{}/", config.display()));
        std::fs::write(&kratos_yml, text).unwrap();
        let (public, admin) = (free_port(), free_port());
        let binary = Path::new(ROOT).join("target/kratos").join(pinned_version()).join("kratos");
        let log = work.join("kratos.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&binary)
            .args(["serve", "--dev", "-c"])
            .arg(&kratos_yml)
            .arg("-c")
            .arg(config.join("profiles/strict.yml"))
            .env("SERVE_PUBLIC_PORT", public.to_string())
            .env("SERVE_ADMIN_PORT", admin.to_string())
            .env("SERVE_PUBLIC_BASE_URL", format!("http://127.0.0.1:{public}/"))
            .env("SERVE_ADMIN_BASE_URL", format!("http://127.0.0.1:{admin}/"))
            .envs(env.iter().copied())
            .current_dir(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e} (run scripts/setup.sh)", binary.display()))?;
        let kratos = ExternalKratos { child, public, admin, config, log };
        if !wait_ready(public, Duration::from_secs(30)) {
            return Err(format!("Kratos did not get ready on port {public} within 30 s; see {}", kratos.log.display()));
        }
        Ok(kratos)
    }

    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.public)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.admin)
    }
}

impl Drop for ExternalKratos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}


fn pinned_version() -> String {
    let go_mod = std::fs::read_to_string(Path::new(ROOT).join("kratos-build/go.mod")).unwrap();
    go_mod.lines().find_map(|l| l.trim().strip_prefix("require github.com/ory/kratos ").map(str::to_string)).expect("go.mod pins Kratos")
}

fn wait_ready(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let answered = Command::new("curl")
            .args(["-sf", "--max-time", "1", &format!("http://127.0.0.1:{port}/health/ready")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
