//! Readiness: Kratos is ready when `GET /health/ready` on the public API and
//! `GET /admin/health/ready` on the admin API both answer 200 (database reachable,
//! migrations applied).

use std::future::Future;
use std::time::{Duration, Instant};

use url::Url;

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
}

/// Polls both health endpoints until they answer 200 or `timeout` passes.
/// `died` is asked now and then whether Kratos has stopped, so a crash (a bad
/// config, a port in use) is reported at once instead of at the deadline.
pub async fn until_ready<F, Fut>(public: &Url, admin: Option<&Url>, timeout: Duration, mut died: F) -> Result<Duration, NotReady>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds");
    let started = Instant::now();
    let mut endpoints = vec![public.join("health/ready").expect("valid path")];
    endpoints.extend(admin.map(|a| a.join("admin/health/ready").expect("valid path")));
    let mut last_problem = String::from("no answer yet");
    let mut polls = 0u32;
    loop {
        let mut all_ready = true;
        for endpoint in &endpoints {
            match probe(&http, endpoint).await {
                Ok(()) => {}
                Err(Probe::NotFound(problem)) => return Err(NotReady::NotKratos(problem)),
                Err(Probe::Problem(problem)) => {
                    last_problem = problem;
                    all_ready = false;
                    break;
                }
            }
        }
        if all_ready {
            return Ok(started.elapsed());
        }
        polls += 1;
        if polls % LIVENESS_EVERY == 0 {
            if let Some(how) = died().await {
                return Err(NotReady::Died(how));
            }
        }
        if started.elapsed() >= timeout {
            return Err(NotReady::Timeout(last_problem));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

enum Probe {
    NotFound(String),
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
        Err(e) if e.is_timeout() => Err(Probe::Problem(format!("GET {endpoint} gave no answer within {PROBE_TIMEOUT:?}"))),
        Err(e) if e.is_connect() => Err(Probe::Problem(format!("GET {endpoint}: nothing accepts connections there"))),
        Err(e) => Err(Probe::Problem(format!("GET {endpoint}: {e}"))),
    }
}
