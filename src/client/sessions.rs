//! The session API of the public port, as a client calls it: whoami (with any
//! method, with the credentials the client holds or with others it is given),
//! the list of the identity's other sessions, and revoking them.

use reqwest::Method;

use super::{Body, Client, Exchange, JSON, with_accept};

/// How a request presents a session, where a scenario chooses it instead of the
/// client's own cookie jar or token.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// What the client holds: its cookies, or its session token as `X-Session-Token`.
    Own,
    /// No credentials at all (and no cookies from the jar).
    None,
    /// This `Cookie` header, replayed as it is (a cookie saved earlier).
    Cookie(String),
    /// These headers only (`X-Session-Token`, `Authorization`), without the
    /// client's own token or cookies.
    Headers(Vec<(String, String)>),
}

impl Client {
    /// `<method> /sessions/whoami`, presenting `credentials`.
    pub async fn whoami_as(&self, method: Method, credentials: &Credentials) -> anyhow::Result<Exchange> {
        self.session_api(method, "sessions/whoami", credentials).await
    }

    /// `GET /sessions`: the identity's other active sessions.
    pub async fn list_other_sessions(&self) -> anyhow::Result<Exchange> {
        self.session_api(Method::GET, "sessions", &Credentials::Own).await
    }

    /// `DELETE /sessions`: revokes every other session of the identity.
    pub async fn revoke_other_sessions(&self) -> anyhow::Result<Exchange> {
        self.session_api(Method::DELETE, "sessions", &Credentials::Own).await
    }

    /// `DELETE /sessions/{id}`.
    pub async fn revoke_session(&self, id: &str) -> anyhow::Result<Exchange> {
        self.session_api(Method::DELETE, &format!("sessions/{id}"), &Credentials::Own).await
    }

    /// The `Cookie` header the client's jar sends to Kratos now (to replay later).
    pub fn cookie_header(&self) -> Option<String> {
        self.http.cookie_header_for(&self.kratos.public(""))
    }

    async fn session_api(&self, method: Method, path: &str, credentials: &Credentials) -> anyhow::Result<Exchange> {
        let url = self.kratos.public(path);
        if let Credentials::Own = credentials {
            return self.http.send(with_accept(self.request(method, url, Body::Empty), JSON)).await;
        }
        // Only what the scenario gives: not the client's token, nor its jar.
        let mut bare = self.clone();
        bare.session_token = None;
        let mut request = with_accept(bare.request(method, url, Body::Empty), JSON);
        match credentials {
            Credentials::Cookie(cookie) => request = request.header("cookie", cookie.clone()),
            Credentials::Headers(headers) => {
                for (name, value) in headers {
                    request = request.header(name, value.clone());
                }
            }
            _ => {}
        }
        self.http.without_cookies().send(request).await
    }
}
