@smoke
Feature: A real Kratos is under test, and its configuration keeps its promises
  Everything else in this suite stands on these scenarios: a real Ory Kratos,
  ready on its public API, that starts a login flow for each kind of client it
  serves; that does what its team expects of it; and that really offers what
  its configuration promises: TOTP (and recovery codes, where enabled) in a
  settings flow, and the AAL rule it sets for whoami. Run alone
  (`--tags @smoke`), they are a quick gate on a deployment.

  Scenario: Kratos is ready on its public API
    When Kratos' public API is asked for "/health/ready"
    Then Kratos answers 200 with the JSON '{"status":"ok"}'

  @needs:admin-api
  Scenario: Kratos is ready on its admin API
    When Kratos' admin API is asked for "/admin/health/ready"
    Then Kratos answers 200 with the JSON '{"status":"ok"}'

  @needs:pinned-kratos
  Scenario: Kratos runs the pinned version
    When Kratos' admin API is asked for "/admin/version"
    Then it reports the Kratos version pinned in kratos-build/go.mod

  Scenario: The deployment does what its team expects
    Then the deployment's configuration meets the team's expectations

  Scenario: A browser starts a login flow and is sent to the login UI
    Given a browser client
    When it starts a login flow
    Then Kratos answers 303 to the login UI
    And it sets the CSRF cookie as the deployment configures it
    And the flow is a "browser" flow for "aal1", posting to its own id
    And the flow's nodes are the deployment's first login form
    And its csrf_token node carries a token

  Scenario: An SPA starts a login flow and receives it as JSON
    Given an SPA client
    When it starts a login flow
    Then Kratos answers 200 with the flow
    And it sets the CSRF cookie as the deployment configures it
    And the flow is a "browser" flow for "aal1", posting to its own id
    And the flow's nodes are the deployment's first login form
    And its csrf_token node carries a token

  Scenario: A native app starts a login flow and gets no cookie
    Given a native client
    When it starts a login flow
    Then Kratos answers 200 with the flow
    And Kratos sets no cookie
    And the flow is an "api" flow for "aal1", posting to its own id
    And the flow's nodes are the deployment's first login form
    And its csrf_token node is empty

  @needs:admin-api @needs:totp
  Scenario: A settings flow offers an authenticator app to pair
    Given an identity with a password
    And a native client signed in with the password
    When it starts a settings flow
    Then the flow's TOTP nodes are "totp_qr, totp_secret_key, totp_code, method=totp"

  @needs:admin-api @needs:lookup_secret
  Scenario: A settings flow offers recovery codes
    Given an identity with a password
    And a native client signed in with the password
    When it starts a settings flow
    Then the flow's lookup_secret nodes are "lookup_secret_regenerate=true"

  @needs:admin-api @needs:totp
  Scenario: whoami applies the deployment's AAL rule to a session that still owes its second factor
    Given an identity with a password and a paired authenticator app
    And a native client that has completed the password step
    Then whoami applies the deployment's AAL rule to the client's session
