//! Readiness: Kratos is ready when `GET /health/ready` on the public API and
//! `GET /admin/health/ready` on the admin API both answer 200 (database reachable,
//! migrations applied). Then it must answer as only Kratos does: the health body
//! `{"status":"ok"}`, and a native login flow from `GET /self-service/login/api`;
//! a server that answers 200 to everything is not taken for Kratos.

use std::future::Future;
use std::time::{Duration, Instant};

use url::Url;

use crate::deployment::IdentitySchema;

const POLL_INTERVAL: Duration = Duration::from_millis(50);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many polls between two questions to the backend whether Kratos still runs.
const LIVENESS_EVERY: u32 = 10;

#[derive(Debug)]
pub enum NotReady {
    /// The process or container ended; the string says how.
    Died(String),
    /// The deadline passed; the string is the last problem seen.
    Timeout(String),
    /// Something answers, but not as Kratos would (a 404 for its health endpoint).
    NotKratos(String),
    /// The TLS handshake failed: no wait mends a certificate the suite does
    /// not trust, or a name it does not list.
    Tls(String),
}

/// Polls both health endpoints until they answer 200 and what answers is
/// Kratos, or `timeout` passes.
/// `died` is asked now and then whether Kratos has stopped, so a crash (a bad
/// config, a port in use) is reported at once instead of at the deadline.
pub async fn until_ready<F, Fut>(public: &Url, admin: Option<&Url>, timeout: Duration, mut died: F) -> Result<Duration, NotReady>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let http = crate::net::client(PROBE_TIMEOUT);
    let started = Instant::now();
    let mut endpoints = vec![public.join("health/ready").expect("valid path")];
    endpoints.extend(admin.map(|a| a.join("admin/health/ready").expect("valid path")));
    let mut polls = 0u32;
    loop {
        let problem = match ready_as_kratos(&http, &endpoints, public).await {
            Ok(()) => return Ok(started.elapsed()),
            Err(Probe::NotFound(problem)) => return Err(NotReady::NotKratos(problem)),
            Err(Probe::Tls(problem)) => return Err(NotReady::Tls(problem)),
            // Not ready yet; or ready, and a loaded machine kept it from
            // answering its first flow within a probe's time, which says
            // nothing about what answers: asked again until the deadline.
            Err(Probe::Problem(problem)) => problem,
        };
        polls += 1;
        if polls.is_multiple_of(LIVENESS_EVERY)
            && let Some(how) = died().await {
                return Err(NotReady::Died(how));
            }
        if started.elapsed() >= timeout {
            return Err(NotReady::Timeout(problem));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Both health endpoints answer 200, and then what answers is Kratos.
async fn ready_as_kratos(http: &reqwest::Client, endpoints: &[Url], public: &Url) -> Result<(), Probe> {
    for endpoint in endpoints {
        probe(http, endpoint).await?;
    }
    looks_like_kratos(http, public).await
}

enum Probe {
    /// An answer that Kratos would not give.
    NotFound(String),
    Tls(String),
    /// No answer (yet), or one that Kratos gives while it starts.
    Problem(String),
}

async fn probe(http: &reqwest::Client, endpoint: &Url) -> Result<(), Probe> {
    match http.get(endpoint.clone()).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(response) => {
            let status = response.status();
            let body: String = response.text().await.unwrap_or_default().chars().take(200).collect();
            let problem = format!("GET {endpoint} answered {status}: {}", super::one_line(&body));
            // Kratos always serves its health endpoints; a 404 means it is something else.
            Err(if status == reqwest::StatusCode::NOT_FOUND { Probe::NotFound(problem) } else { Probe::Problem(problem) })
        }
        Err(e) => Err(unanswered(endpoint, &e)),
    }
}

/// A request that got no answer: a TLS failure, which no wait mends, or a
/// problem worth asking again about until the deadline.
fn unanswered(endpoint: &Url, e: &reqwest::Error) -> Probe {
    if crate::net::tls::is_tls_failure(e) {
        Probe::Tls(format!("GET {endpoint}: {}", crate::net::tls::explain(e)))
    } else if e.is_timeout() {
        Probe::Problem(format!("GET {endpoint} gave no answer within {PROBE_TIMEOUT:?}"))
    } else {
        Probe::Problem(format!("GET {endpoint}: {}", crate::net::tls::explain(e)))
    }
}

/// What only Kratos answers: its health body, and a native login flow.
async fn looks_like_kratos(http: &reqwest::Client, public: &Url) -> Result<(), Probe> {
    let health = public.join("health/ready").expect("valid path");
    let body: Option<serde_json::Value> = match http.get(health.clone()).send().await {
        Ok(response) => response.json().await.ok(),
        Err(e) => return Err(unanswered(&health, &e)),
    };
    if body != Some(serde_json::json!({"status": "ok"})) {
        return Err(Probe::NotFound(format!("GET {health} answered 200 without Kratos' {{\"status\":\"ok\"}}")));
    }
    let login = public.join("self-service/login/api").expect("valid path");
    let flow: Option<serde_json::Value> = match http.get(login.clone()).header("accept", "application/json").send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => response.json().await.ok(),
        Ok(response) => return Err(Probe::NotFound(format!("GET {login} answered {}, not a login flow", response.status()))),
        Err(e) => return Err(unanswered(&login, &e)),
    };
    let is_flow = flow.as_ref().is_some_and(|f| {
        f["id"].is_string() && f["type"] == "api" && f.pointer("/ui/action").is_some_and(serde_json::Value::is_string)
    });
    if !is_flow {
        return Err(Probe::NotFound(format!("GET {login} answered 200 without a Kratos login flow")));
    }
    Ok(())
}

/// The public base URL a running Kratos builds its links from: its login flow's
/// `ui.action` is `<base URL>self-service/login?flow=<id>`. Behind a proxy it
/// may differ from the URL the suite reaches it at, and it is what Kratos puts
/// in every `ui.action`, redirect and cookie name.
pub async fn observed_base_url(public: &Url) -> Option<Url> {
    let http = crate::net::client(PROBE_TIMEOUT);
    let flow: serde_json::Value =
        http.get(public.join("self-service/login/api").ok()?).header("accept", "application/json").send().await.ok()?.json().await.ok()?;
    let action = flow.pointer("/ui/action")?.as_str()?;
    let base = action.split("self-service/login?").next()?;
    Url::parse(base).ok()
}

/// Whether a running Kratos runs with `--dev`: outside it, Kratos marks its
/// CSRF cookie `Secure`, always. `None` if no CSRF cookie came back.
pub async fn observed_dev_mode(public: &Url) -> Option<bool> {
    let http = crate::net::client(PROBE_TIMEOUT);
    let response = http.get(public.join("self-service/login/browser").ok()?).send().await.ok()?;
    let csrf = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("csrf_token_"))?
        .to_string();
    Some(!csrf.split("; ").any(|attribute| attribute.eq_ignore_ascii_case("secure")))
}

/// The identity schemas an external deployment serves (`GET /schemas`), which
/// are what it validates traits against. Each configured schema is replaced by
/// the served one of the same id; a served schema the configuration does not
/// name is added. If the deployment does not serve them, the configured ones stay.
pub async fn served_schemas(public: &Url, configured: Vec<IdentitySchema>) -> Result<Vec<IdentitySchema>, super::SetupError> {
    let http = crate::net::client(PROBE_TIMEOUT * 3);
    let mut url = public.join("schemas").expect("valid path");
    url.query_pairs_mut().append_pair("per_page", "500");
    let Ok(response) = http.get(url).send().await else { return Ok(configured) };
    let Ok(served) = response.json::<Vec<serde_json::Value>>().await else { return Ok(configured) };
    let mut schemas = configured;
    for entry in served {
        let (Some(id), Some(document)) = (entry["id"].as_str(), entry.get("schema")) else { continue };
        let fresh = |url: &str, local| IdentitySchema::from_document(id, url, local, document.clone());
        match schemas.iter_mut().find(|s| s.id == id) {
            Some(known) => *known = fresh(&known.url.clone(), known.local_file.clone()),
            None => schemas.push(fresh(&format!("{public}schemas/{id}"), None)),
        }
    }
    Ok(schemas)
}
