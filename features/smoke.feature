@smoke @profile:any
Feature: A real Kratos is under test
  Everything else in this suite stands on these scenarios: a real Ory Kratos at
  the version pinned in kratos-build/go.mod, ready on its public and admin APIs,
  that starts a login flow for each kind of client it serves. They hold for every
  profile, so they also run against an external deployment of any profile.

  Scenario: Kratos is ready on its public and admin APIs
    When Kratos' public API is asked for "/health/ready"
    Then Kratos answers 200 with the JSON '{"status":"ok"}'
    When Kratos' admin API is asked for "/admin/health/ready"
    Then Kratos answers 200 with the JSON '{"status":"ok"}'

  Scenario: Kratos runs the pinned version
    When Kratos' admin API is asked for "/admin/version"
    Then it reports the Kratos version pinned in kratos-build/go.mod

  Scenario: A browser starts a login flow and is sent to the login UI
    Given a browser client
    When it starts a login flow
    Then Kratos answers 303 to the login UI
    And it sets the CSRF cookie with the attributes "Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    And the flow is a "browser" flow for "aal1", posting to its own id
    And the flow's nodes are "csrf_token, identifier, password, method=password"
    And its csrf_token node carries a token

  Scenario: An SPA starts a login flow and receives it as JSON
    Given an SPA client
    When it starts a login flow
    Then Kratos answers 200 with the flow
    And it sets the CSRF cookie with the attributes "Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    And the flow is a "browser" flow for "aal1", posting to its own id
    And the flow's nodes are "csrf_token, identifier, password, method=password"
    And its csrf_token node carries a token

  Scenario: A native app starts a login flow and gets no cookie
    Given a native client
    When it starts a login flow
    Then Kratos answers 200 with the flow
    And Kratos sets no cookie
    And the flow is an "api" flow for "aal1", posting to its own id
    And the flow's nodes are "csrf_token, identifier, password, method=password"
    And its csrf_token node is empty
