//! The client's actions that take more than one request: starting and loading a
//! flow as its UI would, submitting a flow's form with its CSRF token, the
//! password and second-factor steps a scenario needs as set-up, and logout. Each
//! request is still recorded, and an unexpected answer fails with the exchange.

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{Client, ClientKind, Exchange, Flow, FlowKind, Late};

impl Client {
    /// The password step, whatever the deployment makes of it: a complete AAL1
    /// login, or an AAL1 session with a request for the second factor (a browser
    /// 303 to the AAL2 login, an SPA 422). Afterwards the client holds the AAL1
    /// session. A browser sent back to the login UI (wrong credentials, a
    /// refused identifier) fails here, with the exchange.
    pub async fn password_step(&mut self, identifier: &str, password: &str) -> Result<Exchange> {
        let answer = self.submit_password(identifier, password).await?;
        let accepted: &[u16] = match self.kind {
            ClientKind::Browser => &[303],
            ClientKind::Spa => &[200, 422],
            ClientKind::Native => &[200],
        };
        if !accepted.contains(&answer.status.as_u16()) {
            return Err(answer.failure(format!("the password step of a {} client failed with {}", self.kind, answer.status)));
        }
        let login_ui = &self.kratos.deployment.ui.login;
        if self.kind == ClientKind::Browser && answer.location().is_some_and(|l| l.starts_with(login_ui.as_str())) {
            return Err(answer.failure("the password step sent the browser back to the login UI: the login was refused"));
        }
        self.keep_session_token(&answer);
        Ok(answer)
    }

    /// A new login flow submitted with `identifier` and `password` (after the
    /// identifier step where the login style has one): Kratos' answer to the
    /// password, whatever it is.
    pub async fn submit_password(&self, identifier: &str, password: &str) -> Result<Exchange> {
        self.submit_password_in(&[], identifier, password).await
    }

    /// The same, in a login flow started with `query` (a `return_to`, ...).
    pub async fn submit_password_in(&self, query: &[(&str, &str)], identifier: &str, password: &str) -> Result<Exchange> {
        let mut flow = self.start_and_load(FlowKind::Login, query).await?;
        if self.kratos.deployment.login_style == "identifier_first" {
            // The identifier first, as the team's UI does; the flow comes back
            // asking for the password.
            let identified = self.submit_flow(&flow, json!({"method": "identifier_first", "identifier": identifier})).await?;
            let expected = if self.kind == ClientKind::Browser { 303 } else { 400 };
            if identified.status.as_u16() != expected {
                return Err(identified.failure(format!("the identifier step of a {} client failed with {}", self.kind, identified.status)));
            }
            flow = self.flow_from(FlowKind::Login, &identified).await?;
        }
        self.submit_flow(&flow, json!({"method": "password", "identifier": identifier, "password": password})).await
    }

    /// An AAL2 flow, submitted with `fields` and `late` ones (a TOTP code made
    /// when its turn comes, or a recovery code).
    pub async fn second_factor(&mut self, fields: Value, late: Vec<(String, Late)>) -> Result<Exchange> {
        let flow = self.start_and_load(FlowKind::Login, &[("aal", "aal2")]).await?;
        let answer = self.submit_flow_with(&flow, fields, late).await?;
        let expected = if self.kind == ClientKind::Browser { 303 } else { 200 };
        if answer.status.as_u16() != expected {
            return Err(answer.failure(format!("the second factor of a {} client failed with {}", self.kind, answer.status)));
        }
        self.keep_session_token(&answer);
        Ok(answer)
    }

    /// Starts a flow and loads it as the UI would.
    pub async fn start_and_load(&self, kind: FlowKind, query: &[(&str, &str)]) -> Result<Flow> {
        let started = self.start_flow(kind, query).await?;
        if !matches!(started.status.as_u16(), 200 | 303) {
            bail!("starting a {} flow answered {}\n{started}", kind.path(), started.status);
        }
        self.flow_from(kind, &started).await
    }

    /// Submits `fields` (an object) to the flow with its CSRF token.
    pub async fn submit_flow(&self, flow: &Flow, fields: Value) -> Result<Exchange> {
        self.submit_flow_with(flow, fields, Vec::new()).await
    }

    /// The same, with fields made when the request's turn comes.
    pub async fn submit_flow_with(&self, flow: &Flow, fields: Value, late: Vec<(String, Late)>) -> Result<Exchange> {
        let mut fields: Vec<(String, Value)> = fields.as_object().cloned().unwrap_or_default().into_iter().collect();
        if self.kind != ClientKind::Native {
            fields.push(("csrf_token".into(), json!(flow.csrf_token().unwrap_or_default())));
        }
        self.submit_with(&flow.ui.action, fields, &[], late).await
    }

    /// Submits `fields` to a well-formed flow id that Kratos never issued (with the
    /// CSRF token of a real flow, so that only the id is wrong).
    pub async fn submit_to_unissued_flow(&self, kind: FlowKind, fields: Value) -> Result<Exchange> {
        let mut flow = self.start_and_load(kind, &[]).await?;
        flow.ui.action = flow.ui.action.replace(&flow.id, super::UNISSUED_FLOW_ID);
        self.submit_flow(&flow, fields).await
    }

    /// `GET /self-service/logout/browser`: a browser or SPA asks for its logout URL
    /// (always JSON).
    pub async fn logout_url(&self) -> Result<Exchange> {
        let request = self.request(reqwest::Method::GET, self.kratos.public("self-service/logout/browser"), super::Body::Empty);
        self.http.send(super::with_accept(request, "application/json")).await
    }

    /// The same, with `return_to`.
    pub async fn logout_url_returning(&self, return_to: &str) -> Result<Exchange> {
        let mut url = self.kratos.public("self-service/logout/browser");
        url.query_pairs_mut().append_pair("return_to", return_to);
        let request = self.request(reqwest::Method::GET, url, super::Body::Empty);
        self.http.send(super::with_accept(request, "application/json")).await
    }

    /// `DELETE /self-service/logout/api` with `{"session_token": ...}`.
    pub async fn logout_token(&self, token: &str) -> Result<Exchange> {
        let body = super::Body::Json(json!({"session_token": token}));
        let request = self.request(reqwest::Method::DELETE, self.kratos.public("self-service/logout/api"), body);
        self.http.send(request).await
    }

    /// The browser goes to `url` as a page (what an SPA does with a
    /// `redirect_browser_to`), with the client's cookies.
    pub async fn navigate(&self, url: &str) -> Result<Exchange> {
        let request = self.request(reqwest::Method::GET, url::Url::parse(url)?, super::Body::Empty);
        self.http.send(super::with_accept(request, super::BROWSER_ACCEPT)).await
    }

    /// A GET of any URL Kratos sent the client to, with its cookies or token.
    pub async fn get(&self, url: &str) -> Result<Exchange> {
        let request = self.request(reqwest::Method::GET, url::Url::parse(url)?, super::Body::Empty);
        self.http.send(request).await
    }
}
