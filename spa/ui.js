// A minimal login UI for Kratos' browser flows: it renders a flow's form from
// `ui.nodes` and lets the browser submit it natively (an HTML form post to
// `ui.action`), so Kratos' 303s are followed by the browser itself. The page is
// one of the suite's (served on its own origin); the derived Kratos instance
// names it as its login, settings and error UI.
//
// When the page is done, <body> carries data-rendered (the page), data-flow,
// data-state and, on the welcome page, data-aal and data-methods.
"use strict";

(async function () {
  const page = location.pathname.split("/").pop();
  const params = new URLSearchParams(location.search);
  const body = document.body;
  const content = document.getElementById("content");
  const title = document.getElementById("title");

  function element(tag, attributes, text) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== undefined && value !== null && value !== false) {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
    if (text !== undefined) {
      el.textContent = text;
    }
    return el;
  }

  function message(m, where) {
    const p = element("p", { class: "message " + m.type, "data-id": m.id }, m.text);
    where.appendChild(p);
  }

  function done(state) {
    Object.assign(body.dataset, state);
    body.dataset.rendered = page;
  }

  async function kratosUrl() {
    const config = await (await fetch("config.json")).json();
    return config.kratos;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "include", headers: { Accept: "application/json" } });
    let json = null;
    try {
      json = await response.json();
    } catch (e) {}
    return { status: response.status, json };
  }

  // One node as HTML. Images (the TOTP QR code) and the secret key are marked
  // data-secret: a screenshot of the page must not show them.
  function node(n) {
    const a = n.attributes || {};
    const label = n.meta && n.meta.label ? n.meta.label.text : a.name;
    switch (n.type) {
      case "input": {
        if (a.type === "hidden") {
          return element("input", { type: "hidden", name: a.name, value: a.value });
        }
        if (a.type === "submit" || a.type === "button") {
          return element("button", { type: "submit", name: a.name, value: a.value, "data-node": a.name + "=" + a.value }, label);
        }
        const wrap = element("label", {}, label);
        const input = element("input", {
          name: a.name,
          type: a.type === "email" || a.type === "password" || a.type === "number" ? a.type : "text",
          value: a.value,
          required: a.required,
          disabled: a.disabled,
          autocomplete: a.autocomplete,
          "data-node": a.name,
        });
        wrap.appendChild(input);
        for (const m of n.messages || []) {
          message(m, wrap);
        }
        return wrap;
      }
      case "img":
        return element("img", { id: a.id, src: a.src, width: a.width, height: a.height, alt: label || a.id, "data-secret": true, "data-node": a.id });
      case "text": {
        const secret = a.id === "totp_secret_key" || a.id === "lookup_secret_codes";
        const p = element("p", { id: a.id, "data-node": a.id, class: secret ? "secret" : "", "data-secret": secret }, a.text ? a.text.text : "");
        return p;
      }
      default:
        return element("span", { "data-node": a.id || a.name || n.type });
    }
  }

  // A form per group of nodes (the default group, the CSRF token, goes into
  // each), as Kratos' reference UI renders them: the browser validates and
  // submits only the group whose button was pressed.
  function render(flow) {
    for (const m of flow.ui.messages || []) {
      message(m, document.getElementById("messages"));
    }
    const groups = [];
    for (const n of flow.ui.nodes) {
      if (n.group !== "default" && !groups.includes(n.group)) {
        groups.push(n.group);
      }
    }
    for (const group of groups.length ? groups : ["default"]) {
      const form = element("form", { action: flow.ui.action, method: flow.ui.method, "data-group": group });
      for (const n of flow.ui.nodes.filter((n) => n.group === "default" || n.group === group)) {
        form.appendChild(node(n));
      }
      content.appendChild(form);
    }
  }

  try {
    const kratos = await kratosUrl();
    if (page === "login" || page === "settings") {
      title.textContent = page === "login" ? "Sign in" : "Account settings";
      const id = params.get("flow");
      if (!id) {
        location.href = kratos + "self-service/" + page + "/browser";
        return;
      }
      const { status, json } = await getJson(kratos + "self-service/" + page + "/flows?id=" + encodeURIComponent(id));
      if (status !== 200) {
        const error = json && json.error ? json.error : { id: String(status), message: "" };
        content.appendChild(element("p", { class: "message error", "data-error": error.id }, error.id + ": " + (error.reason || error.message || "")));
        return done({ flow: id, state: "error", error: error.id });
      }
      render(json);
      return done({ flow: json.id, state: json.state || "", aal: json.requested_aal || "" });
    }
    if (page === "welcome") {
      title.textContent = "Welcome back";
      const { status, json } = await getJson(kratos + "sessions/whoami");
      if (status !== 200) {
        content.appendChild(element("p", { class: "message error" }, "whoami answered " + status));
        return done({ whoami: String(status) });
      }
      const methods = json.authentication_methods.map((m) => m.method).join(", ");
      content.appendChild(element("p", {}, "Signed in at " + json.authenticator_assurance_level + " with " + methods));
      return done({ whoami: "200", aal: json.authenticator_assurance_level, methods });
    }
    if (page === "error") {
      title.textContent = "Error";
      const { json } = await getJson(kratos + "self-service/errors?id=" + encodeURIComponent(params.get("id") || ""));
      const error = (json && json.error) || {};
      content.appendChild(element("p", { class: "message error", "data-error": error.id || "" }, (error.id || "") + ": " + (error.reason || error.message || "")));
      return done({ error: error.id || "" });
    }
  } catch (e) {
    content.appendChild(element("p", { class: "message error", "data-error": "fetch" }, "the page could not reach Kratos: " + e));
    done({ error: "fetch: " + e });
  }
})();
