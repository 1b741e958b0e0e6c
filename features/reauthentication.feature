@reauthentication @needs:admin-api
Feature: Re-authentication: refresh logins, and second factors that need a recent sign-in
  A login flow started with `refresh=true` asks someone who is signed in to
  prove again that it is them; with `aal=aal2` as well, with the second factor.
  The settings flow asks for that before it changes a second factor, when the
  sign-in is older than the deployment's privileged session age
  (`selfservice.flows.settings.privileged_session_max_age`). Scenarios that
  wait that age out run where it lasts seconds (an instance the suite derives
  where it runs Kratos itself).

  Rule: A refresh login confirms who is signed in

    Scenario Outline: A <client> client without a session that asks to confirm itself gets an ordinary login
      Given a <client> client
      When it starts a login flow with "refresh=true"
      Then Kratos answers <answer>
      And the flow is no refresh, and has no message

      Examples:
        | client  | answer              |
        | browser | 303 to the login UI |
        | native  | 200 with the flow   |

    Scenario Outline: A <client> client confirms itself with its password: the same session, confirmed again
      Given an identity with a password
      And a <client> client signed in with the password
      When it keeps the credentials it holds
      And it starts a login flow with "refresh=true"
      Then the flow is a refresh, with the message 1010003
      When it submits the identifier and the password
      Then Kratos answers <answer>
      And the client has the session it kept, at "aal1" with the methods "password, password"
      And <credentials>

      Examples:
        | client  | answer                                                                 | credentials                                          |
        | browser | 303 to the return URL after login                                      | the session cookie it holds is not the one it kept   |
        | native  | 200 with a session and the same session token, continuing with nothing | it holds the session token it kept                   |

    Scenario Outline: A <client> client that confirms itself with another identity's password is signed in as that identity
      Given an identity with a password
      And a <client> client signed in with the password
      When it keeps the credentials it holds
      And it starts a login flow with "refresh=true"
      And it submits another identity's identifier and password
      Then Kratos answers <answer>
      And the client has a new session, of the other identity
      And whoami still accepts the credentials it kept, as the first identity

      Examples:
        | client  | answer                                                          |
        | browser | 303 to the return URL after login                               |
        | native  | 200 with a session and a session token, continuing with nothing |

    Scenario Outline: A <client> client without a session cannot ask to confirm a second factor
      Given a <client> client
      When it starts a login flow with "refresh=true&aal=aal2"
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                                         |
        | browser | 303 to the error UI for session_aal1_required                                                                                  |
        | native  | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |

    @needs:totp
    Scenario Outline: A <client> client that still owes its second factor, asked to confirm it, is told both
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "refresh=true&aal=aal2"
      Then Kratos answers <answer>
      And the flow has the messages 1010003 and 1010004

      Examples:
        | client  | answer              |
        | browser | 303 to the login UI |
        | native  | 200 with the flow   |

    @needs:totp
    Scenario Outline: A <client> client at AAL2 confirms its second factor again, after a wrong code
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it starts a login flow with "aal=aal2&refresh=true"
      Then Kratos answers <started>
      And the flow has the message 1010003 saying "Please confirm this action by verifying that it is you."
      And the flow's nodes are "csrf_token, totp_code, method=totp"
      When it submits the TOTP code "111111"
      Then Kratos answers <refused>
      And the flow has the message 4000008
      And the node "totp_code" carries no value
      When it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, totp, totp"

      Examples:
        | client  | started             | refused             | answer                                                                                    |
        | browser | 303 to the login UI | 303 to the login UI | 303 to the return URL after login                                                         |
        | SPA     | 200 with the flow   | 400 with the flow   | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with the flow   | 400 with the flow   | 200 with a session and the same session token, continuing with nothing                    |

  @needs:short-privileged-session
  Rule: Changing a second factor needs a recent sign-in

    @needs:totp
    Scenario Outline: A <client> client whose sign-in is too old must sign in again before it <changes> its authenticator app
      Given <identity>
      And a <client> client <signed in>
      When it starts a settings flow
      And the session is older than the privileged session age
      And it <submits>
      Then Kratos answers <answer>
      And the admin API shows <totp>

      Examples:
        | client  | changes | identity                                                 | signed in                                     | submits                                   | answer                                                                        | totp                                                     |
        | browser | pairs   | an identity with a password                              | signed in with the password                   | submits the TOTP code of the current step | 303 to the login page for re-authentication, returning to the settings flow   | no TOTP credential                                       |
        | SPA     | pairs   | an identity with a password                              | signed in with the password                   | submits the TOTP code of the current step | 403 with the error session_refresh_required, redirecting to re-authentication | no TOTP credential                                       |
        | native  | pairs   | an identity with a password                              | signed in with the password                   | submits the TOTP code of the current step | 403 with the error session_refresh_required, redirecting to re-authentication | no TOTP credential                                       |
        | browser | unlinks | an identity with a password and a paired authenticator app | signed in with the password and the TOTP code | submits "totp_unlink=true"                | 303 to the login page for re-authentication, returning to the settings flow   | a TOTP credential whose totp_url holds the paired secret |
        | SPA     | unlinks | an identity with a password and a paired authenticator app | signed in with the password and the TOTP code | submits "totp_unlink=true"                | 403 with the error session_refresh_required, redirecting to re-authentication | a TOTP credential whose totp_url holds the paired secret |
        | native  | unlinks | an identity with a password and a paired authenticator app | signed in with the password and the TOTP code | submits "totp_unlink=true"                | 403 with the error session_refresh_required, redirecting to re-authentication | a TOTP credential whose totp_url holds the paired secret |

    @needs:lookup_secret
    Scenario Outline: A <client> client whose sign-in is too old must sign in again before it <action> its recovery codes
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a settings flow
      And the session is older than the privileged session age
      And it submits "lookup_secret_<action>=true"
      Then Kratos answers <answer>
      And the answer shows none of the recovery codes
      And the admin API still shows the recovery codes it was given

      Examples:
        | client  | action     | answer                                                                        |
        | browser | reveal     | 303 to the login page for re-authentication, returning to the settings flow    |
        | SPA     | reveal     | 403 with the error session_refresh_required, redirecting to re-authentication |
        | native  | reveal     | 403 with the error session_refresh_required, redirecting to re-authentication |
        | browser | regenerate | 303 to the login page for re-authentication, returning to the settings flow    |
        | SPA     | regenerate | 403 with the error session_refresh_required, redirecting to re-authentication |
        | native  | regenerate | 403 with the error session_refresh_required, redirecting to re-authentication |
        | browser | disable    | 303 to the login page for re-authentication, returning to the settings flow    |
        | SPA     | disable    | 403 with the error session_refresh_required, redirecting to re-authentication |
        | native  | disable    | 403 with the error session_refresh_required, redirecting to re-authentication |

    # Kratos keeps the submitted pairing in a continuity cookie, and completes
    # it when the browser comes back from the refresh login.
    @needs:totp
    Scenario: A browser asked to sign in again before pairing has its pairing completed once it has
      Given an identity with a password
      And a browser client signed in with the password
      When it starts a settings flow
      And the session is older than the privileged session age
      And it submits the TOTP code of the current step
      Then Kratos answers 303 to the login page for re-authentication, returning to the settings flow
      When it follows the redirect
      Then Kratos answers 303 to the login UI
      And the flow is a refresh, with the message 1010003
      When it submits the identifier and the password
      Then Kratos answers 303 to the settings flow's action
      When it follows the redirect
      Then Kratos answers 303 to the page after settings, for the flow it started
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

    @needs:totp
    Scenario: An SPA asked to sign in again before pairing has its pairing completed once it has
      Given an identity with a password
      And an SPA client signed in with the password
      When it starts a settings flow
      And the session is older than the privileged session age
      And it submits the TOTP code of the current step
      Then Kratos answers 403 with the error session_refresh_required, redirecting to re-authentication
      When it follows the redirect_browser_to URL
      Then Kratos answers 200 with the flow
      And the flow is a refresh, with the message 1010003
      When it submits the identifier and the password
      Then Kratos answers 200 with a session and no token, continuing with a redirect to the settings flow's action
      # The address is for the browser to go to, not for the SPA to fetch:
      # fetched as JSON, it is a GET of the submit endpoint.
      When it fetches that address as JSON
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001 saying 'Unable to decode body because HTTP Request Method was "GET" but only [POST PUT PATCH] are supported.'
      When it sends the browser to that address
      Then Kratos answers 303 to the page after settings, for the flow it started
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

    @needs:totp
    Scenario: A native app asked to sign in again before pairing pairs once it has
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And the session is older than the privileged session age
      And it submits the TOTP code of the current step
      Then Kratos answers 403 with the error session_refresh_required, redirecting to re-authentication
      When it starts a login flow with "refresh=true"
      And it submits the identifier and the password
      Then Kratos answers 200 with a session and the same session token, continuing with nothing
      When it submits the TOTP code of the current step to the settings flow it started
      Then Kratos answers 200 with the flow, continuing with nothing
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

    # The refresh login offers the password alone, and the session keeps the
    # AAL2 its earlier TOTP step gave it: the second factor is never asked again.
    @needs:totp @deviation
    Scenario: Re-authenticating with the password alone keeps the session at AAL2, and unlinks the app without the second factor (ory/kratos#3856)
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When it starts a settings flow
      And the session is older than the privileged session age
      And it submits "totp_unlink=true"
      Then Kratos answers 403 with the error session_refresh_required, redirecting to re-authentication
      When it starts a login flow with "refresh=true"
      Then the flow is a refresh, with the message 1010003
      And the flow's password nodes are "password, method=password"
      When it submits the identifier and the password
      Then Kratos answers 200 with a session and the same session token, continuing with nothing
      And the client has a session at "aal2" with the methods "password, totp, password"
      When it submits "totp_unlink=true" to the settings flow it started
      Then Kratos answers 200 with the flow, continuing with nothing
      And the admin API shows no TOTP credential
