//! The suite's own image (`Containerfile`, built by `scripts/setup.sh` as
//! `localhost/kratos-conformance/suite:<version>`) verifying a Kratos outside
//! it, as a team's CI runs it: `podman run … verify --public-url …`.
//!
//! The Kratos is the pinned build, started here on this repository's
//! configuration on free ports; the image reaches it over the host's network
//! and reads the configuration from a mounted folder. Where the machine has
//! no container engine (a set-up with KRATOS_BACKEND=process or external),
//! there is no image: the test says so and passes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn engine() -> Option<&'static str> {
    ["podman", "docker"].into_iter().find(|e| Command::new(e).arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

fn main() -> ExitCode {
    let image = format!("localhost/kratos-conformance/suite:{}", env!("CARGO_PKG_VERSION"));
    let Some(engine) = engine() else {
        eprintln!("image: skipped: no container engine on this machine (scripts/setup.sh builds {image} where Podman or Docker is)");
        return ExitCode::SUCCESS;
    };
    let exists = Command::new(engine).args(["image", "inspect", &image]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !exists.is_ok_and(|s| s.success()) {
        eprintln!("image: {image} is missing; run scripts/setup.sh, which builds it");
        return ExitCode::FAILURE;
    }

    // This repository's configuration, with its schemas where Kratos on the host finds them.
    let work = PathBuf::from(ROOT).join("target/conformance-reports/image");
    let _ = std::fs::remove_dir_all(&work);
    let config = work.join("config");
    copy_dir(&Path::new(ROOT).join("kratos-config"), &config);
    let kratos_yml = config.join("kratos.yml");
    let text = std::fs::read_to_string(&kratos_yml).unwrap().replace("file:///etc/config/kratos/", &format!("file://{}/", config.display()));
    std::fs::write(&kratos_yml, text).unwrap();
    let reports = work.join("reports");
    std::fs::create_dir_all(&reports).unwrap();

    let (public, admin) = (free_port(), free_port());
    let binary = Path::new(ROOT).join("target/kratos").join(pinned_version()).join("kratos");
    let log = std::fs::File::create(work.join("kratos.log")).unwrap();
    let mut kratos = match Command::new(&binary)
        .args(["serve", "--dev", "-c"])
        .arg(&kratos_yml)
        .arg("-c")
        .arg(config.join("profiles/strict.yml"))
        .env("SERVE_PUBLIC_PORT", public.to_string())
        .env("SERVE_ADMIN_PORT", admin.to_string())
        .env("SERVE_PUBLIC_BASE_URL", format!("http://127.0.0.1:{public}/"))
        .env("SERVE_ADMIN_BASE_URL", format!("http://127.0.0.1:{admin}/"))
        .current_dir(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("image: cannot start {}: {e} (run scripts/setup.sh)", binary.display());
            return ExitCode::FAILURE;
        }
    };
    let ready = wait_ready(public, Duration::from_secs(30));
    let verdict = if !ready {
        Err(format!("Kratos did not get ready on port {public} within 30 s; see {}", work.join("kratos.log").display()))
    } else {
        let started = Instant::now();
        let output = Command::new(engine)
            .args(["run", "--rm", "--network", "host"])
            .arg("-v")
            .arg(format!("{}:/config:ro", config.display()))
            .arg("-v")
            .arg(format!("{}:/reports", reports.display()))
            .arg(&image)
            .args(["verify", "--config-dir", "/config", "--profile", "strict", "--tags", "@smoke"])
            .args(["--public-url", &format!("http://127.0.0.1:{public}/"), "--admin-url", &format!("http://127.0.0.1:{admin}/")])
            .stdin(Stdio::null())
            .output()
            .expect("the engine runs");
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        print!("{said}");
        if !output.status.success() {
            Err(format!("the image's verify failed ({})", output.status))
        } else if !said.contains("backend external") || !reports.join("junit.xml").is_file() {
            Err("the image ran, but not the external verification this test asked for (no summary of backend external, or no junit.xml)".into())
        } else {
            eprintln!("image: {image} verified the Kratos on port {public} in {:.1?}", started.elapsed());
            Ok(())
        }
    };
    let _ = kratos.kill();
    let _ = kratos.wait();
    match verdict {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("image: {e}");
            ExitCode::FAILURE
        }
    }
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
