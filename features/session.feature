@session @needs:admin-api
Feature: Sessions: whoami, the session API, lifespans and logout
  A session is what a login ends with. This feature is about what Kratos does
  with it afterwards: what whoami shows, and to whom; how a signed-in user lists
  and ends their other sessions; when a session ends; and that logging out ends
  it on the server, not only in the browser's cookie jar.

  Kratos reads a session from the `X-Session-Token` header, then from the
  session cookie, then from `Authorization: Bearer`. Where a scenario replays
  "the cookies it kept", it sends a cookie it saved before Kratos expired it,
  as an attacker who copied it would: a browser's jar alone would have dropped it.

  Rule: whoami shows the holder of a session its session, and nobody else

    Scenario: whoami answers every method alike, naming the identity in a header
      Given an identity with a password
      And an SPA client signed in with the password
      Then whoami answers GET, POST, PUT, PATCH and DELETE alike, with the identity's id in X-Kratos-Authenticated-Identity-Id

    Scenario: whoami shows an SPA its identity without its credentials or the admin's metadata
      Given an identity with a password and metadata for itself and for the admin
      And an SPA client signed in with the password
      When it asks whoami
      Then Kratos answers 200 with the client's session
      And the session shows the identity's traits and public metadata, without credentials or admin metadata
      And Kratos sets no cookie
      And whoami's cache header is as the deployment configures it

    # A cache in front of Kratos (feature_flags.cacheable_sessions) may keep a
    # 401 for a minute where Kratos found no credentials it could read, and not
    # at all where it looked a session token up and found none.
    Scenario Outline: whoami with <credentials> answers <answer>
      Given an identity with a password
      And a native client signed in with the password
      When it asks whoami with <credentials>
      Then Kratos answers <answer>
      And Kratos sets no cookie
      And where the deployment lets caches keep whoami's answers, <cache>

      Examples:
        | credentials                                                                  | answer                                                                                             | cache                                                                  |
        | nothing                                                                      | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may keep it for a minute                                          |
        | a session token Kratos never issued                                          | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may not keep it                                                   |
        | a bearer token Kratos never issued                                           | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may not keep it                                                   |
        | a session cookie of its own making                                           | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may keep it for a minute                                          |
        | its session token as the session cookie                                      | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may keep it for a minute                                          |
        | its session token as a bearer token                                          | 200 with the client's session                                                                      | they may keep it while the session lasts, up to the configured maximum |
        | its session token, and a bearer token Kratos never issued                    | 200 with the client's session                                                                      | they may keep it while the session lasts, up to the configured maximum |
        | a session token Kratos never issued, and its session token as a bearer token | 401 with an error without id, whose reason is "No valid session credentials found in the request." | they may not keep it                                                   |

    # Kratos re-issues the cookie when the session outlives it; a token is
    # never answered with a cookie.
    @session-extend:at-once
    Scenario: whoami re-issues a browser's session cookie once the session was extended
      Given an identity with a password
      And a browser client signed in with the password
      When it asks whoami
      Then Kratos answers 200 with the client's session
      And Kratos sets no cookie
      When the admin API extends the client's session
      Then Kratos answers as the deployment configures the extension, expiring the session lifespan from now
      When it asks whoami
      Then Kratos answers 200 with the client's session
      And it sets the session cookie as the deployment configures it, expiring with the session

    # With session.earliest_possible_extend shorter than session.lifespan,
    # Kratos extends a session only once less than that is left of it: a young
    # one stays as it is, and its cookie is not re-issued.
    @session-extend:later
    Scenario: The admin API leaves alone a session too young for session.earliest_possible_extend
      Given an identity with a password
      And a browser client signed in with the password
      When the admin API extends the client's session
      Then Kratos answers as the deployment configures the extension, leaving the session's expiry as it was
      When it asks whoami
      Then Kratos answers 200 with the client's session
      And Kratos sets no cookie

    Scenario: whoami never sets a cookie for a native app's session token, even once the session was extended
      Given an identity with a password
      And a native client signed in with the password
      When the admin API extends the client's session
      And it asks whoami
      Then Kratos answers 200 with the client's session
      And Kratos sets no cookie

    Scenario Outline: The admin API extends only a session that exists: <id>
      When the admin API extends the session "<id>"
      Then Kratos answers <answer>

      Examples:
        | id                                   | answer                                                                                          |
        | not-a-uuid                           | 400 with an error without id, whose message is 'uuid: incorrect UUID length 10 in string "not-a-uuid"' |
        | 8a3d05e2-5f53-4a0b-9c31-7f2b8c1e4d60 | 404 with an error without id, whose message is "Unable to locate the resource"                     |

    Scenario: The public API does not extend a session
      Given an identity with a password
      And a native client signed in with the password
      When it asks the public API to extend its session at the admin API's path
      Then Kratos answers 403 with the error security_csrf_violation
      When it asks the public API to extend its session at the session's path
      Then Kratos answers 404
      And its session still expires the deployment's session lifespan after it was authenticated

  Rule: A session lasts the deployment's session lifespan after it was authenticated

    Scenario Outline: A <client> client's new session expires the session lifespan after it was authenticated
      Given an identity with a password
      And a <client> client
      When it starts a login flow
      And it submits the identifier and the password
      Then <cookie>
      And the client's session expires the deployment's session lifespan after it was authenticated

      Examples:
        | client  | cookie                                                                           |
        | browser | it sets the session cookie as the deployment configures it, expiring with the session |
        | SPA     | it sets the session cookie as the deployment configures it, expiring with the session |
        | native  | Kratos answers 200 with a session and a session token                            |

    @needs:totp
    Scenario Outline: A <client> client's second factor starts the session's lifespan again
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then <cookie>
      And the session was authenticated when the TOTP step completed
      And the client's session expires the deployment's session lifespan after it was authenticated

      Examples:
        | client  | cookie                                                                           |
        | browser | it sets the session cookie as the deployment configures it, expiring with the session |
        | SPA     | it sets the session cookie as the deployment configures it, expiring with the session |
        | native  | Kratos sets no cookie                                                            |

    @needs:short-session-lifespan @needs:totp
    Scenario Outline: A <client> client's session that has ended is refused, and cannot be upgraded to AAL2
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it keeps the credentials it holds
      And the session has ended
      And it submits the TOTP code of the current step with the credentials it kept
      Then Kratos answers <refused>
      And whoami refuses the credentials it kept with 401
      When it starts a login flow with "aal=aal2" with the credentials it kept
      Then Kratos answers <refused>

      Examples:
        | client  | refused                                                                                                                  |
        | browser | 303 to the error UI for session_aal1_required                                                                            |
        | SPA     | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |
        | native  | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |

  # Kratos signs a session cookie with the first of secrets.cookie and reads it
  # with any of them. A rotation puts a new secret first and keeps the old one
  # until the cookies signed with it are gone; the suite runs each stage as an
  # instance of its own, side by side on one database, as the old and the new
  # instances of a rolling deployment are.
  @needs:cookie-secret-rotation
  Rule: Rotating the cookie secret keeps the sessions; retiring the old secret ends their cookies

    Scenario Outline: A <client> client's session cookie outlives a rotation of the cookie secret, not the retirement of the old one
      Given an identity with a password
      And a <client> client signed in with the password
      When the cookie secret is rotated, a new secret first and the old one after it
      And it asks whoami
      Then Kratos answers 200 with the client's session
      And Kratos sets no cookie
      When the old cookie secret is retired, the new one alone left
      And it asks whoami
      Then Kratos answers 401 with an error without id, whose reason is "No valid session credentials found in the request."

      Examples:
        | client  |
        | browser |
        | SPA     |

    Scenario: During a rotation, an instance not rotated yet cannot read a session cookie signed with the new secret
      Given an identity with a password
      And the cookie secret is rotated, a new secret first and the old one after it
      And a browser client signed in with the password
      When its next request goes to an instance not rotated yet, with the old cookie secret alone
      And it asks whoami
      Then Kratos answers 401 with an error without id, whose reason is "No valid session credentials found in the request."

    Scenario: A native app's session token does not depend on the cookie secret
      Given an identity with a password
      And a native client signed in with the password
      When the old cookie secret is retired, the new one alone left
      And it asks whoami
      Then Kratos answers 200 with the client's session

  Rule: A signed-in user lists and ends their other sessions, and only their own

    Scenario Outline: A <client> client lists the identity's other sessions, not its own
      Given an identity with a password
      And the identity is signed in on another device
      And a <client> client signed in with the password
      When it lists its other sessions
      Then Kratos answers 200 with the other device's session alone, and a count of 1
      And no listed session shows the identity's credentials

      Examples:
        | client |
        | SPA    |
        | native |

    Scenario Outline: A <client> client ends all its other sessions, and keeps its own
      Given an identity with a password
      And the identity is signed in on another device
      And a <client> client signed in with the password
      When it ends its other sessions
      Then Kratos answers 200 with the JSON '{"count":1}'
      And whoami refuses the other device's session with 401
      And the client still has a session at "aal1" with the methods "password"

      Examples:
        | client |
        | SPA    |
        | native |

    Scenario Outline: A <client> client ends another of its sessions by id, but not its own
      Given an identity with a password
      And the identity is signed in on another device
      And a <client> client signed in with the password
      When it ends its own session by its id
      Then Kratos answers 400 with an error without id, whose message is "cannot revoke current session"
      When it ends the other device's session by its id
      Then Kratos answers 204
      And whoami refuses the other device's session with 401
      And the client still has a session at "aal1" with the methods "password"

      Examples:
        | client |
        | SPA    |
        | native |

    Scenario: Ending a session of another identity by its id does nothing
      Given an identity with a password
      And another identity is signed in on another device
      And a native client signed in with the password
      When it ends the other device's session by its id
      Then Kratos answers 204
      And whoami still accepts the other device's session

    Scenario Outline: Ending a session by <what> is <answer>
      Given an identity with a password
      And a native client signed in with the password
      When it ends the session "<id>"
      Then Kratos answers <answer>
      And the client still has a session at "aal1" with the methods "password"

      Examples:
        | what                 | id                                   | answer                                                                                          |
        | an id nobody issued  | 8a3d05e2-5f53-4a0b-9c31-7f2b8c1e4d60 | 204                                                                                             |
        | an id that is no UUID | not-a-uuid                          | 400 with an error without id, whose message is 'uuid: incorrect UUID length 10 in string "not-a-uuid"' |

    Scenario: Without a session, the session API lists and ends nothing
      Given a native client
      When it lists its other sessions
      Then Kratos answers 401 with an error without id, whose reason is "No valid session cookie found."
      When it ends its other sessions
      Then Kratos answers 401 with an error without id, whose reason is "No valid session cookie found."

  @whoami:highest_available @needs:totp
  Rule: A session that still owes its second factor reaches into the user's other sessions

    @kratos:<v25.4.0 @deviation
    Scenario: A session that still owes its second factor lists the user's other sessions (ory/kratos#3671)
      Given an identity with a password and a paired authenticator app
      And the device that paired the app is still signed in, at AAL2
      And a native client that has completed the password step
      When it lists its other sessions
      Then Kratos answers 200 with the other device's session alone, and a count of 1

    # Fixed by ory/kratos#4305: GET /sessions applies whoami's AAL rule.
    @kratos:>=v25.4.0
    Scenario: A session that still owes its second factor cannot list the user's other sessions
      Given an identity with a password and a paired authenticator app
      And the device that paired the app is still signed in, at AAL2
      And a native client that has completed the password step
      When it lists its other sessions
      Then Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login

    @deviation
    Scenario Outline: A session that still owes its second factor ends the user's AAL2 sessions (<request>)
      Given an identity with a password and a paired authenticator app
      And the device that paired the app is still signed in, at AAL2
      And a native client that has completed the password step
      When it <request>
      Then Kratos answers <answer>
      And whoami refuses the other device's session with 401

      Examples:
        | request                                 | answer                          |
        | ends its other sessions                 | 200 with the JSON '{"count":1}' |
        | ends the other device's session by its id | 204                          |

  @needs:totp
  Rule: Logging out ends the session on the server, not only in the browser

    Scenario: A browser logs out through the logout URL Kratos gives it
      Given an identity with a password and a paired authenticator app
      And a browser client signed in with the password and the TOTP code
      When it keeps the credentials it holds
      And it asks for a logout URL
      Then Kratos answers 200 with a logout token and a logout URL
      When it follows the logout URL
      Then Kratos answers 303 to the logout return URL
      And it expires the session cookie as the deployment configures it
      And it sets the CSRF cookie as the deployment configures it
      And whoami refuses the client's session with 401
      And whoami refuses the credentials it kept with 401

    Scenario: An SPA logs out through the logout URL Kratos gives it
      Given an identity with a password and a paired authenticator app
      And an SPA client signed in with the password and the TOTP code
      When it keeps the credentials it holds
      And it asks for a logout URL
      Then Kratos answers 200 with a logout token and a logout URL
      When it follows the logout URL
      Then Kratos answers 204
      And it expires the session cookie as the deployment configures it
      And whoami refuses the client's session with 401
      And whoami refuses the credentials it kept with 401

    Scenario: A native app logs out with its session token
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When it logs out with its session token
      Then Kratos answers 204
      And whoami refuses the client's session with 401

    Scenario: A native app cannot log out with a token Kratos never issued
      Given a native client
      When it logs out with the session token "ory_st_notatokenkratoseverissued000"
      Then Kratos answers 403 with an error without id, whose reason is "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."

    Scenario: A logout URL ends only the session it was made for
      Given an identity with a password and a paired authenticator app
      And a browser client signed in with the password and the TOTP code
      When it asks for a logout URL
      And another browser of the identity, signed in with the password and the TOTP code, follows that logout URL
      Then Kratos answers 303 to the error UI
      And the client still has a session at "aal2" with the methods "password, totp"
      And whoami still accepts the other device's session

    Scenario Outline: A <client> client signed in at AAL2 logs out returning to <where>
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it asks for a logout URL returning to <where>
      Then Kratos answers <answer>

      Examples:
        | client  | where                            | answer                                                                          |
        | browser | an allowed return URL            | 200 with a logout token and a logout URL returning to it                        |
        | browser | a return URL that is not allowed | 400 with the error self_service_flow_return_to_forbidden, naming the return URL |
        | SPA     | a return URL that is not allowed | 400 with the error self_service_flow_return_to_forbidden, naming the return URL |

    @whoami:highest_available
    Scenario Outline: A <client> client that still owes its second factor logs out, returning to an allowed URL
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it keeps the credentials it holds
      And it asks for a logout URL returning to an allowed return URL
      Then Kratos answers 200 with a logout token and a logout URL returning to it
      When it follows the logout URL
      Then Kratos answers <answer>
      And it expires the session cookie as the deployment configures it
      And whoami refuses the credentials it kept with 401

      Examples:
        | client  | answer                          |
        | browser | 303 to the allowed return URL   |
        | SPA     | 204                             |

    @whoami:highest_available
    Scenario: A native app that still owes its second factor logs out with its session token
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it logs out with its session token
      Then Kratos answers 204
      And whoami refuses the client's session with 401
