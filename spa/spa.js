// The SPA walk-through: Kratos' browser login flow as an SPA does it, one
// function per step. Each step answers what the page saw: the status, the JSON,
// the cookies visible to the page, or the error a failed fetch raised. The
// conformance suite calls these functions and asserts what they answer.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  // `include` (an SPA that works), or `omit` / `same-origin` (one that forgets).
  const credentials = params.get("credentials") || "include";
  const state = { kratos: null, flow: null, log: [] };

  // Fields whose values are secrets: never shown on the page.
  const SECRET = /csrf_token|password|totp_code|lookup_secret|secret|token|totp_url/i;

  function masked(value) {
    return JSON.stringify(value, (key, v) => (SECRET.test(key) && typeof v === "string" ? "[secret]" : v));
  }

  function show(record) {
    const item = document.createElement("li");
    item.dataset.step = record.step;
    const messages = ((record.json && record.json.ui && record.json.ui.messages) || []).map((m) => m.id + " " + m.text);
    const what = record.error ? "fetch failed: " + record.error : record.status + (record.json && record.json.error ? " " + (record.json.error.id || record.json.error.reason || "") : "");
    item.textContent = record.step + " → " + what + (messages.length ? " [" + messages.join("; ") + "]" : "");
    if (record.json && record.json.session) {
      item.textContent += " session " + record.json.session.authenticator_assurance_level;
    } else if (record.json && record.json.authenticator_assurance_level) {
      item.textContent += " session " + record.json.authenticator_assurance_level;
    }
    item.title = masked(record.json);
    document.getElementById("log").appendChild(item);
  }

  // One request of a step: the answer as the page sees it.
  async function step(name, url, init) {
    const record = { step: name, url: String(url), status: null, json: null, cookies: null, error: null };
    try {
      const response = await fetch(url, Object.assign({ credentials, headers: { Accept: "application/json" } }, init || {}));
      record.status = response.status;
      const text = await response.text();
      try {
        record.json = text ? JSON.parse(text) : null;
      } catch (e) {
        record.json = null;
      }
    } catch (e) {
      // What the browser raised: a CORS refusal or a network error reads
      // "TypeError: Failed to fetch", with the reason only in the console.
      record.error = String(e);
    }
    record.cookies = document.cookie;
    if (record.json && record.json.ui) {
      state.flow = record.json;
    }
    state.log.push(record);
    show(record);
    return record;
  }

  function csrfToken() {
    const node = state.flow && state.flow.ui.nodes.find((n) => n.attributes && n.attributes.name === "csrf_token");
    return node ? node.attributes.value : "";
  }

  window.spa = {
    credentials,
    state,
    async ready() {
      if (!state.kratos) {
        const config = await (await fetch("config.json")).json();
        state.kratos = config.kratos;
        document.getElementById("origin").textContent = location.origin;
        document.getElementById("kratos").textContent = state.kratos;
        document.getElementById("credentials").textContent = credentials;
      }
      return state.kratos;
    },
    // GET /self-service/login/browser, with `aal=aal2` for the second factor.
    async startLogin(query) {
      await this.ready();
      return step("start login" + (query ? " (" + query + ")" : ""), state.kratos + "self-service/login/browser" + (query ? "?" + query : ""));
    },
    // POST the flow's ui.action as JSON, with the flow's csrf_token.
    async submit(fields) {
      if (!state.flow) {
        throw new Error("no flow yet: start one first");
      }
      const body = Object.assign({}, fields, { csrf_token: csrfToken() });
      return step("submit " + (fields.method || "form"), state.flow.ui.action, {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    },
    async whoami() {
      await this.ready();
      return step("whoami", state.kratos + "sessions/whoami");
    },
    // GET /self-service/logout/browser for the logout URL, then that URL (as JSON: 204).
    async logout() {
      await this.ready();
      const asked = await step("logout URL", state.kratos + "self-service/logout/browser");
      if (!asked.json || !asked.json.logout_url) {
        return asked;
      }
      return step("logout", asked.json.logout_url);
    },
  };
  window.spa.ready().then(() => (document.body.dataset.rendered = "spa"));
})();
