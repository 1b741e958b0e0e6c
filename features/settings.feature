@settings @needs:admin-api
Feature: Settings: who may open a settings flow, and what a session that owes its second factor may do there
  A settings flow belongs to one identity and needs its session. Where the
  deployment's settings require the highest available AAL (Kratos' default), a
  session that has only the password behind it, of an identity that has a
  second factor, may not start, fetch or submit one: Kratos sends it to the
  AAL2 login, returning to where it was. So someone who knows the password, but
  not the second factor, cannot pair an authenticator app of their own.

  Rule: A settings flow needs a session, and is the identity's own

    Scenario Outline: Without a session, a <client> client gets no settings flow
      Given a <client> client
      When it starts a settings flow
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                 |
        | browser | 303 to "self-service/login/browser" on the public API                                                   |
        | SPA     | 401 with the error session_inactive, because "No active session was found in this request."              |
        | native  | 401 with the error session_inactive, because "This endpoint can only be accessed with a valid session. Please log in and try again." |

    Scenario: Without a session, a browser asking for its settings is sent to the login, keeping its return URL
      Given a browser client
      When it starts a settings flow returning to an allowed return URL
      Then Kratos answers 303 to the login on the public API, keeping the return URL

    Scenario Outline: A <client> client's settings flow expires the deployment's settings lifespan after it was issued
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      Then Kratos answers <answer>
      And the flow is a "<type>" settings flow, posting to its own id
      And the flow expires the deployment's settings lifespan after it was issued

      Examples:
        | client  | answer                 | type    |
        | browser | 303 to the settings UI | browser |
        | SPA     | 200 with the flow      | browser |
        | native  | 200 with the flow      | api     |

    Scenario Outline: A <client> client cannot fetch the settings flow of another identity
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And another identity's <client> client fetches that flow
      Then Kratos answers 403 with the error security_identity_mismatch
      And the error's reason is "The request was made for another identity and has been blocked for security reasons."

      Examples:
        | client  |
        | browser |
        | native  |

    Scenario Outline: A <client> client fetches a settings flow id nobody issued
      Given an identity with a password
      And a <client> client signed in with the password
      When the settings UI fetches the flow "8a3d05e2-5f53-4a0b-9c31-7f2b8c1e4d60"
      Then Kratos answers 404 with an error without id, whose message is "Unable to locate the resource"

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

    # Unlike an expired login flow's, this error has no id (up to v26.2.0).
    @needs:short-flow-lifespans
    Scenario Outline: A <client> client fetches its expired settings flow
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And the flow has expired
      And the settings UI fetches the flow by its id
      Then Kratos answers 410 with an error without id, whose reason is "<reason>"
      And the error's details <details>

      Examples:
        | client  | reason                                                                                                       | details                                                    |
        | browser | The settings flow has expired. Redirect the user to the settings flow init endpoint to initialize a new settings flow. | send the browser to start a new settings flow, returning nowhere |
        | SPA     | The settings flow has expired. Redirect the user to the settings flow init endpoint to initialize a new settings flow. | send the browser to start a new settings flow, returning nowhere |
        | native  | The settings flow has expired. Call the settings flow init API endpoint to initialize a new settings flow.            | send the app to start a new settings flow                  |

  @needs:totp @settings-aal:highest_available
  Rule: A session that still owes its second factor is sent to the AAL2 login, returning to its settings

    Scenario Outline: A <client> client that has only completed the password step cannot open its settings
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a settings flow
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                     |
        | browser | 303 to "self-service/login/browser?aal=aal2" on the public API              |
        | SPA     | 403 with the error session_aal2_required, redirecting to the AAL2 login    |
        | native  | 403 with the error session_aal2_required, redirecting to the AAL2 login    |

    # ory/kratos#2832: the return_to of the settings flow survives the AAL2 step.
    Scenario: A browser sent from its settings to the second factor comes back to its settings, and on to its return URL
      Given an identity with a password and a paired authenticator app
      And a browser client that has completed the password step
      When it starts a settings flow returning to an allowed return URL
      Then Kratos answers 303 to the AAL2 login, returning to where it started the settings flow
      When it follows the redirect
      Then Kratos answers 303 to the login UI
      And the flow has the message 1010004
      And the flow's return_to is where it started the settings flow
      When it submits the TOTP code of the current step
      Then Kratos answers 303 to where it started the settings flow
      When it follows the redirect
      Then Kratos answers 303 to the settings UI
      And the flow's return_to is the allowed return URL

    Scenario: An SPA sent from its settings to the second factor comes back to its settings, and on to its return URL
      Given an identity with a password and a paired authenticator app
      And an SPA client that has completed the password step
      When it starts a settings flow returning to an allowed return URL
      Then Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to where it started the settings flow
      When it follows the redirect_browser_to URL
      Then Kratos answers 200 with the flow
      And the flow's return_to is where it started the settings flow
      When it submits the TOTP code of the current step
      Then Kratos answers 200 with a session and no token, continuing with a redirect to where it started the settings flow
      When it follows that redirect
      Then Kratos answers 200 with the flow
      And the flow's return_to is the allowed return URL

    Scenario Outline: A <client> client whose identity paired an app elsewhere may no longer fetch its settings flow
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And the identity pairs an authenticator app on another device
      And the settings UI fetches the flow by its id
      Then Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to the settings UI showing the flow

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

    Scenario Outline: A <client> client whose identity paired an app elsewhere cannot pair one of its own
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And the identity pairs an authenticator app on another device
      And it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the admin API shows a TOTP credential whose totp_url holds the other device's secret

      Examples:
        | client  | answer                                                                                                  |
        | browser | 303 to the AAL2 login, returning to the settings flow's action                                          |
        | SPA     | 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to the settings flow's action |
        | native  | 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to the settings flow's action |

    # The AAL2 login returns to the settings UI through `return_to`, which
    # selfservice.allowed_return_urls must admit; the next scenario is the
    # deployment whose list does not.
    @settings-ui-return:allowed
    Scenario: A browser whose identity paired an app elsewhere completes the second factor and is back at its settings flow
      Given an identity with a password
      And a browser client signed in with the password
      When it starts a settings flow
      And the identity pairs an authenticator app on another device
      And the settings UI fetches the flow by its id
      And it follows the redirect_browser_to URL
      Then Kratos answers 303 to the login UI
      And the flow has the message 1010004
      When it submits the other device's TOTP code of the current step
      Then Kratos answers 303 to the settings UI showing the flow it started
      And the client has a session at "aal2" with the methods "password, totp"

    @settings-ui-return:forbidden
    Scenario: A browser whose settings UI is not an allowed return URL is sent to the error UI when settings ask for the second factor
      Given an identity with a password
      And a browser client signed in with the password
      When it starts a settings flow
      And the identity pairs an authenticator app on another device
      And the settings UI fetches the flow by its id
      And it follows the redirect_browser_to URL
      Then Kratos answers 303 to the error UI for self_service_flow_return_to_forbidden

  # The other side of the rule above: selfservice.flows.settings.required_aal:
  # aal1. Some teams choose it so that a user can change a password without
  # the phone; what it also means is that the password alone can take the
  # second factor away. The start of the run warns about it where the team's
  # conformance.yml expects otherwise.
  @needs:totp @settings-aal:aal1
  Rule: Where settings take an AAL1 session, the password alone opens them, and can unlink the app

    Scenario Outline: A <client> client with only the password behind it unlinks the authenticator app
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a settings flow
      Then the flow's nodes are:
        | node             | group | type   | label   |
        | totp_unlink=true | totp  | submit | 1050004 |
      When it submits "totp_unlink=true"
      Then Kratos answers <answer>
      And the flow is in state "success" with the message 1050001
      And the admin API shows no TOTP credential
      And the client still has a session at "aal1" with the methods "password"

      Examples:
        | client  | answer                                                                   |
        | browser | 303 to the page after settings                                           |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow, continuing with nothing                               |
