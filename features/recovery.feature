@recovery @needs:admin-api @needs:recovery @needs:totp @whoami:highest_available @settings-aal:highest_available @settings-ui-return:allowed
Feature: Account recovery of an identity with a second factor
  Recovering an account signs the user in with the first factor's assurance
  only: the second factor is still owed. The settings flow the recovery ends in
  (to set a new password) sends the user to the second factor first, comes back
  to the same flow afterwards (ory/kratos#2832), and from there on to the
  return URL the recovery was started with.

  The recovery code here is one the admin API makes, as a help desk would (the
  same kind of code a recovery e-mail carries); its recovery flow keeps the
  `return_to` the admin request names.

  Scenario: A browser recovers an account with an authenticator app: the second factor, a new password, then its return URL
    Given an identity with a password and a paired authenticator app
    And a browser client
    When the admin API makes a browser recovery code for the identity, returning to an allowed return URL
    Then Kratos answers 201 with a recovery code and a link to the recovery UI
    When it opens the recovery link
    Then the flow's nodes are "code, method=code"
    When it submits the recovery code
    Then Kratos answers 303 to the settings UI, with a flow it cannot show yet
    And it sets the session cookie as the deployment configures it
    And whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login
    When the settings UI fetches the flow it was sent to
    Then Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to the settings UI showing the flow
    When it follows the redirect_browser_to URL
    Then Kratos answers 303 to the login UI
    And the flow has the message 1010004
    When it submits the TOTP code of the current step
    Then Kratos answers 303 to the settings UI showing the flow it started
    And the client has a session at "aal2" with the methods "code_recovery, totp"
    When the settings UI fetches the flow it was sent to
    Then Kratos answers 200 with the flow
    And the flow has the message 1060001
    And the flow's return_to is the allowed return URL
    When it sets a new password
    Then Kratos answers 303 to the allowed return URL
    And a new native client signs in with the new password
    And the device that paired the app is signed out or not, as the deployment's hooks after a recovery and a new password say

  Scenario: An SPA recovers an account with an authenticator app: the second factor, a new password, then its return URL
    Given an identity with a password and a paired authenticator app
    And an SPA client
    When the admin API makes a browser recovery code for the identity, returning to an allowed return URL
    Then Kratos answers 201 with a recovery code and a link to the recovery UI
    When it opens the recovery link
    And it submits the recovery code
    Then Kratos answers 422 with the error browser_location_change_required, sending the browser to the settings UI with a flow it cannot show yet
    And it sets the session cookie as the deployment configures it
    When the settings UI fetches the flow it was sent to
    Then Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to the settings UI showing the flow
    When it follows the redirect_browser_to URL
    Then Kratos answers 200 with the flow
    And the flow has the message 1010004
    When it submits the TOTP code of the current step
    Then Kratos answers 200 with a session and no token, continuing with a redirect to the settings UI showing the flow it started
    And the client has a session at "aal2" with the methods "code_recovery, totp"
    When the settings UI fetches the flow it was sent to
    Then Kratos answers 200 with the flow
    And the flow has the message 1060001
    When it sets a new password
    Then Kratos answers 200 with the flow, continuing with a redirect to the allowed return URL
    And a new native client signs in with the new password

  Scenario: A recovery code works once
    Given an identity with a password and a paired authenticator app
    And a browser client
    When the admin API makes a browser recovery code for the identity, returning to an allowed return URL
    And it opens the recovery link
    And it submits the recovery code
    Then Kratos answers 303 to the settings UI, with a flow it cannot show yet
    When another browser submits the same code to that recovery flow
    Then Kratos answers 303 to the recovery UI with a new flow and the message 4000001
    And the flow's message says "The code was already used. Please request another code."
    And whoami refuses the client's session with 401

  # Kratos counts the submissions of a recovery flow (unlike the AAL2 flow's
  # TOTP codes): past the limit it refuses the right code too, in a new flow.
  Scenario: A recovery flow takes as many wrong codes as the deployment allows, then refuses even the right one
    Given an identity with a password and a paired authenticator app
    And an SPA client
    When the admin API makes a browser recovery code for the identity, returning to an allowed return URL
    And it opens the recovery link
    And it submits as many wrong recovery codes as the deployment allows, each refused with the message 4060006
    And it submits the recovery code
    Then Kratos answers 303 to a new recovery flow on the public API, with the message 4000001 saying "The request was submitted too often. Please request another code."
    And whoami refuses the client's session with 401
