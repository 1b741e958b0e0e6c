//! The reverse proxy in front of an instance's replicas in the production
//! topology: Debian's nginx, terminating TLS with a certificate of the run's
//! own CA and spreading requests over the replicas round-robin, without
//! stickiness, as an ingress does.
//!
//! nginx rather than HAProxy because it is what most Kratos deployments sit
//! behind (ingress-nginx, and the nginx examples of Ory's guides), and because
//! its defaults are the ones teams get wrong: it sends no `X-Forwarded-*` and
//! rewrites `Host` unless told otherwise, so the forwarding below is the part
//! of a deployment's proxy configuration the suite verifies Kratos against.
//!
//! Besides the load-balanced listener, each replica has a listener of its own
//! (same host name and certificate, another port) that forwards to it alone,
//! with the load-balanced listener's `Host`: a client "pinned" to a replica
//! sends exactly what it would send through the load balancer. Cookies do not
//! depend on ports, so a pinned client's jar is the same jar.
//!
//! One nginx process per instance, `master_process off`: a single process that
//! dies with the run (`PR_SET_PDEATHSIG`), where a master's workers would
//! outlive a run killed outright.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use url::Url;

use super::SetupError;

/// How the proxy forwards (a deployment's proxy configuration; the suite's
/// own tests of misconfigurations change it).
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// `X-Forwarded-Proto: $scheme` (Kratos builds `request_url` from it).
    pub proto: bool,
    /// `X-Forwarded-Host` and `Host` as the client sent it.
    pub host: bool,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding { proto: true, host: true }
    }
}

/// What the proxy listens on and forwards to.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The name clients reach it at (the certificate lists it).
    pub host: String,
    /// The load-balanced listener's port.
    pub port: u16,
    /// Each replica's plain-HTTP address and the port of its own listener.
    pub replicas: Vec<(std::net::SocketAddr, u16)>,
    pub forwarding: Forwarding,
}

impl Layout {
    /// `https://<host>:<port>/`: what clients and Kratos' base URL use.
    pub fn url(&self) -> Url {
        Url::parse(&format!("https://{}:{}/", self.host, self.port)).expect("a host name and port make a URL")
    }

    /// The listener of replica `index` (0-based).
    pub fn replica_url(&self, index: usize) -> Url {
        Url::parse(&format!("https://{}:{}/", self.host, self.replicas[index].1)).expect("a host name and port make a URL")
    }

    /// nginx's configuration for this layout, with its files in `dir`.
    pub fn config(&self, dir: &Path, certificate: &Path, key: &Path) -> String {
        let d = dir.display();
        let mut upstreams = String::from("    upstream replicas {\n");
        for (address, _) in &self.replicas {
            // A replica that refuses connections (killed, restarting) is left
            // alone for 2 s while the others answer.
            upstreams.push_str(&format!("        server {address} max_fails=1 fail_timeout=2s;\n"));
        }
        upstreams.push_str("    }\n");
        for (i, (address, _)) in self.replicas.iter().enumerate() {
            upstreams.push_str(&format!("    upstream replica_{} {{\n        server {address};\n    }}\n", i + 1));
        }
        let lb_host = format!("{}:{}", self.host, self.port);
        let mut forwarded = String::new();
        let host_line = |value: &str| format!("            proxy_set_header Host {value};\n            proxy_set_header X-Forwarded-Host {value};\n");
        if self.forwarding.proto {
            forwarded.push_str("            proxy_set_header X-Forwarded-Proto $scheme;\n");
        }
        forwarded.push_str("            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n");
        forwarded.push_str("            proxy_set_header X-Real-IP $remote_addr;\n");
        // A client must not choose the IP Kratos records for its session.
        forwarded.push_str("            proxy_set_header True-Client-IP \"\";\n");
        let server = |port: u16, upstream: &str, host: &str| {
            let host = if self.forwarding.host { host_line(host) } else { String::new() };
            format!(
                "    server {{\n        listen 127.0.0.1:{port} ssl;\n        server_name {name};\n        location / {{\n            proxy_pass http://{upstream};\n{host}{forwarded}        }}\n    }}\n",
                name = self.host
            )
        };
        let mut servers = server(self.port, "replicas", "$http_host");
        for (i, (_, port)) in self.replicas.iter().enumerate() {
            servers.push_str(&server(*port, &format!("replica_{}", i + 1), &lb_host));
        }
        format!(
            "# Written by kratos-conformance for one instance of a run; nginx -p {d} -c nginx.conf\n\
             daemon off;\n\
             master_process off;\n\
             error_log {d}/error.log notice;\n\
             pid {d}/nginx.pid;\n\
             events {{\n    worker_connections 1024;\n}}\n\
             http {{\n\
             \x20   log_format replicas '$remote_addr \"$request\" $status upstream=\"$upstream_addr\" $request_time s scenario=$http_x_conformance_scenario';\n\
             \x20   access_log {d}/access.log replicas;\n\
             \x20   client_body_temp_path {d}/temp/client;\n\
             \x20   proxy_temp_path {d}/temp/proxy;\n\
             \x20   fastcgi_temp_path {d}/temp/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/temp/uwsgi;\n\
             \x20   scgi_temp_path {d}/temp/scgi;\n\
             \x20   ssl_certificate {cert};\n\
             \x20   ssl_certificate_key {key};\n\
             \x20   ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20   proxy_http_version 1.1;\n\
             \x20   proxy_set_header Connection \"\";\n\
             \x20   proxy_connect_timeout 2s;\n\
             \x20   proxy_read_timeout 60s;\n\
             \x20   proxy_next_upstream error timeout;\n\
             \x20   proxy_buffer_size 16k;\n\
             \x20   proxy_buffers 8 16k;\n\
             {upstreams}{servers}}}\n",
            cert = certificate.display(),
            key = key.display(),
        )
    }
}

/// How long the suite waits for nginx to log a request whose answer the
/// client already has: nginx logs at the end of the request, in the same
/// worker, so anything near this bound means nginx is stuck, not slow.
pub const LOG_LINE_BOUND: Duration = Duration::from_secs(2);

/// How a start of the proxy ended.
pub enum Started {
    Ready(Box<Proxy>),
    /// One of its ports was taken before nginx could bind it.
    PortTaken,
}

/// Whether nginx's log says it could not bind a port another process holds.
fn is_port_conflict(log: &str) -> bool {
    log.lines().any(|line| line.contains("bind()") && line.contains("Address already in use"))
}

/// A running nginx in front of one instance's replicas.
pub struct Proxy {
    pub layout: Layout,
    pub dir: PathBuf,
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("url", &self.layout.url().as_str()).finish_non_exhaustive()
    }
}

/// Where Debian puts nginx (`KRATOS_NGINX` names another).
pub fn binary() -> Result<PathBuf, SetupError> {
    match crate::programs::named_by("KRATOS_NGINX") {
        Some(Ok(path)) => return Ok(path),
        Some(Err(path)) => {
            return Err(SetupError::Config(format!("KRATOS_NGINX={} does not exist; point it at an nginx binary, or unset it", path.display())));
        }
        None => {}
    }
    crate::programs::on_path(&["nginx"], &["/usr/sbin"])
        .ok_or_else(|| {
            SetupError::Config(
                "KRATOS_TOPOLOGY=production puts a reverse proxy in front of the replicas, and there is no nginx on this machine: run scripts/setup.sh (it installs Debian's nginx), or point KRATOS_NGINX at one".into(),
            )
        })
}

impl Proxy {
    /// Writes the configuration into `dir` and starts nginx; ready once it
    /// has bound every listener (it writes its pid file after that) and its
    /// load-balanced listener accepts connections. A port another process
    /// took since it was chosen is [`Started::PortTaken`]: whoever listens
    /// there would otherwise pass for the proxy.
    pub async fn start(layout: Layout, dir: PathBuf, certificate: &Path, key: &Path) -> Result<Started, SetupError> {
        let nginx = binary()?;
        let fail = |what: String| SetupError::Start(format!("the reverse proxy for {}: {what}", layout.host));
        for temp in ["client", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join("temp").join(temp)).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conf = dir.join("nginx.conf");
        let pid_file = dir.join("nginx.pid");
        // An earlier attempt's pid file would say this one is ready, and its
        // log that this one's port was taken.
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(dir.join("error.log"));
        std::fs::write(&conf, layout.config(&dir, certificate, key)).map_err(|e| fail(format!("cannot write {}: {e}", conf.display())))?;
        let log = std::fs::File::create(dir.join("stderr.log")).map_err(|e| fail(e.to_string()))?;
        let mut command = Command::new(&nginx);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
            .stderr(log)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| fail(format!("cannot run {}: {e}", nginx.display())))?;
        let started = Instant::now();
        loop {
            let running = matches!(child.try_wait(), Ok(None));
            if running && pid_file.is_file() && tokio::net::TcpStream::connect(("127.0.0.1", layout.port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let said = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default() + &std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                if is_port_conflict(&said) {
                    return Ok(Started::PortTaken);
                }
                let last = said.lines().rev().find(|l| l.contains("emerg") || l.contains("error")).unwrap_or("").to_string();
                return Err(fail(format!("nginx exited ({status}) before it listened: {last} (its configuration: {})", conf.display())));
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill().await;
                return Err(fail(format!("nginx did not listen on 127.0.0.1:{} within 10 s (see {})", layout.port, dir.join("error.log").display())));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Started::Ready(Box::new(Proxy { layout, dir, child: Mutex::new(Some(child)) })))
    }

    /// Its access log: which replica answered each request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// The replicas (1-based) that answered the requests of one scenario (its
    /// [`crate::client::http::SCENARIO_HEADER`]), in the order they came; a
    /// request no replica answered is left out.
    pub fn replicas_that_answered(&self, scenario: &str) -> Vec<usize> {
        let tag = format!("scenario={scenario}");
        self.access_log()
            .lines()
            .filter(|line| line.ends_with(&tag))
            .filter_map(|line| {
                let upstream = line.split_once("upstream=\"")?.1.split_once('"')?.0;
                // After a retry nginx lists every upstream it tried: the last answered.
                let answered = upstream.rsplit(", ").next()?;
                self.layout.replicas.iter().position(|(address, _)| address.to_string() == answered).map(|i| i + 1)
            })
            .collect()
    }

    /// [`Self::replicas_that_answered`] once `done` holds of it. nginx writes
    /// a request's log line when it has finished the request, which can be
    /// after the client read the answer: the line is waited for, up to
    /// [`LOG_LINE_BOUND`] (on this machine it comes within a millisecond or
    /// two), and whatever is there then is returned for the caller to judge.
    pub async fn replicas_that_answered_once(&self, scenario: &str, done: impl Fn(&[usize]) -> bool) -> Vec<usize> {
        let started = std::time::Instant::now();
        loop {
            let answered = self.replicas_that_answered(scenario);
            if done(&answered) || started.elapsed() > LOG_LINE_BOUND {
                return answered;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn stop(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(forwarding: Forwarding) -> Layout {
        Layout {
            host: "auth.example.test".into(),
            port: 9443,
            replicas: vec![("127.0.0.1:4001".parse().unwrap(), 9444), ("127.0.0.1:4002".parse().unwrap(), 9445)],
            forwarding,
        }
    }

    #[test]
    fn the_proxy_spreads_over_every_replica_and_pins_each_with_the_load_balancers_host() {
        let config = layout(Forwarding::default()).config(Path::new("/run/x"), Path::new("/run/x/cert.pem"), Path::new("/run/x/key.pem"));
        assert!(config.contains("upstream replicas {\n        server 127.0.0.1:4001 max_fails=1 fail_timeout=2s;\n        server 127.0.0.1:4002"));
        assert!(config.contains("listen 127.0.0.1:9443 ssl;"));
        assert!(config.contains("listen 127.0.0.1:9445 ssl;"));
        assert!(config.contains("proxy_pass http://replica_2;"));
        // A pinned request looks to Kratos like one through the load balancer.
        assert!(config.contains("proxy_set_header Host auth.example.test:9443;"));
        assert!(config.contains("proxy_set_header Host $http_host;"));
        assert_eq!(config.matches("proxy_set_header X-Forwarded-Proto $scheme;").count(), 3);
        assert_eq!(config.matches("proxy_set_header True-Client-IP \"\";").count(), 3);
        assert_eq!(layout(Forwarding::default()).replica_url(1).as_str(), "https://auth.example.test:9445/");
    }

    #[test]
    fn the_access_log_says_which_replica_answered_each_request_of_a_scenario() {
        let dir = std::env::temp_dir().join(format!("kratos-conformance-proxy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("access.log"),
            "127.0.0.1 \"GET /a HTTP/1.1\" 200 upstream=\"127.0.0.1:4002\" 0.010 s scenario=s1\n\
             127.0.0.1 \"GET /b HTTP/1.1\" 200 upstream=\"127.0.0.1:4001\" 0.010 s scenario=s2\n\
             127.0.0.1 \"POST /c HTTP/1.1\" 200 upstream=\"127.0.0.1:4002, 127.0.0.1:4001\" 0.010 s scenario=s1\n\
             127.0.0.1 \"GET /d HTTP/1.1\" 502 upstream=\"-\" 0.010 s scenario=s1\n",
        )
        .unwrap();
        let proxy = Proxy { layout: layout(Forwarding::default()), dir: dir.clone(), child: Mutex::new(None) };
        assert_eq!(proxy.replicas_that_answered("s1"), vec![2, 1]);
        assert_eq!(proxy.replicas_that_answered("s2"), vec![1]);
        assert!(proxy.replicas_that_answered("s").is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_proxy_that_drops_the_forwarded_proto_says_nothing_of_it() {
        let config = layout(Forwarding { proto: false, host: true }).config(Path::new("/x"), Path::new("/c"), Path::new("/k"));
        assert!(!config.contains("X-Forwarded-Proto"));
        assert!(config.contains("X-Forwarded-For"));
    }

    #[test]
    fn a_port_taken_is_told_from_other_reasons_nginx_exits() {
        // What Debian's nginx 1.22 logs when another process holds a listener's port.
        let taken = "2026/12/07 18:10:43 [emerg] 32541#32541: bind() to 127.0.0.1:45841 failed (98: Address already in use)\n\
                     2026/12/07 18:10:43 [emerg] 32541#32541: still could not bind()\n";
        assert!(is_port_conflict(taken));
        assert!(!is_port_conflict("2026/12/07 18:10:38 [emerg] 32478#32478: invalid port in \"127.0.0.1:0\" of the \"listen\" directive"));
    }

    /// The race two runs on one machine can meet: another process takes the
    /// proxy's port between `free_port` and nginx binding it. Whoever listens
    /// there must not pass for the proxy. Needs Debian's nginx (scripts/setup.sh).
    #[tokio::test]
    async fn a_proxy_whose_port_another_process_holds_says_so_and_does_not_pass_for_ready() {
        if binary().is_err() {
            println!("skipped: no nginx on this machine (scripts/setup.sh installs Debian's)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("kratos-conformance-proxy-test-{}", crate::random::nonce(12)));
        let authority = crate::net::authority::Authority::new("kratos-conformance proxy test").unwrap();
        let issued = authority.issue(&["auth.example.test".to_string()], crate::net::authority::Validity::Current).unwrap();
        let (certificate, key) = issued.write(&dir.join("certificates"), "auth.example.test", &authority).unwrap();
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut taken = layout(Forwarding::default());
        taken.port = holder.local_addr().unwrap().port();
        taken.replicas.truncate(1);
        taken.replicas[0].1 = super::super::free_port().unwrap();
        let started = Proxy::start(taken, dir.join("proxy"), &certificate, &key).await.unwrap();
        assert!(matches!(started, Started::PortTaken));
        drop(holder);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
