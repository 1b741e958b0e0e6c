@production
Feature: A deployment of several replicas behind a TLS-terminating proxy
  In production Kratos runs without `--dev` as several replicas on one database,
  behind a reverse proxy that terminates TLS and spreads the requests over them
  without stickiness. A flow, a session or a TOTP code made on one replica must
  then mean the same on every other: Kratos keeps all of it in the database, and
  signs cookies with `secrets.cookie`, which every replica must share.

  "The requests go to replica N" sends every request of the scenario's clients
  to that replica alone, with the same cookies and token: through the proxy's
  listener for it where the suite started the deployment (KRATOS_TOPOLOGY=
  production), or at the URL a team named for it (KRATOS_REPLICA_URLS). Where
  the suite knows one address of the deployment only, these scenarios are not
  applicable, and say so.

  The proxy tells Kratos what the client used: `X-Forwarded-Proto` (Kratos
  records the flow's `request_url` with that scheme, and a step-up sends the
  browser back there) and `X-Forwarded-Host`. `ui.action` and the redirects
  come from `serve.public.base_url`, whatever the request.

  @needs:replicas
  Rule: Flows and sessions move between replicas

    @whoami:highest_available
    Scenario Outline: A <client> client's login started on one replica is finished on another
      Given an identity with a password and a paired authenticator app
      And a <client> client
      When the requests go to replica 1
      And it starts a login flow
      And the requests go to replica 2
      And it submits the identifier and the password
      Then Kratos answers <password answer>
      When it starts a login flow with "aal=aal2"
      And the requests go to replica 1
      And it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, totp"
      And the proxy sent its requests to replica 1 and to replica 2

      Examples:
        | client  | password answer                                                                  | answer                                                                                   |
        | browser | 303 to "self-service/login/browser?aal=aal2" on the public API                   | 303 to the return URL after login                                                        |
        | SPA     | 422 with the error browser_location_change_required, redirecting to the AAL2 login | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with a session and a session token                                           | 200 with a session and the same session token, continuing with nothing                   |

    @whoami:aal1
    Scenario Outline: A <client> client's login started on one replica is upgraded to AAL2 on another
      Given an identity with a password and a paired authenticator app
      And a <client> client
      When the requests go to replica 1
      And it starts a login flow
      And the requests go to replica 2
      And it submits the identifier and the password
      Then Kratos answers <password answer>
      And the client has a session at "aal1" with the methods "password"
      When it starts a login flow with "aal=aal2"
      And the requests go to replica 1
      And it submits the TOTP code of the current step
      Then the client has a session at "aal2" with the methods "password, totp"
      And the proxy sent its requests to replica 1 and to replica 2

      Examples:
        | client  | password answer                                                                       |
        | browser | 303 to the return URL after login                                                     |
        | SPA     | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with a session and a session token, continuing with nothing                       |

    Scenario Outline: A <client> client's session made on one replica is accepted by every replica
      Given an identity with a password and a paired authenticator app
      And the requests go to replica 1
      And a <client> client signed in with the password and the TOTP code
      Then every replica accepts the client's session at "aal2" with the methods "password, totp"

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

    Scenario: The same TOTP code logs in on two replicas (no replay protection across replicas either)
      Given an identity with a password and a paired authenticator app
      And the requests go to replica 1
      And a native client signed in with the password and the TOTP code
      When the requests go to replica 2
      And another native client completes the password step
      And it starts a login flow with "aal=aal2"
      And it submits the same TOTP code again
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

  @needs:own-replicas
  Rule: A replica that goes away in the middle of a login loses nothing

    Scenario Outline: A <client> client whose replica is killed between the password and the TOTP step reaches AAL2 on another
      Given an identity with a password and a paired authenticator app
      And the requests go to replica 2
      And a <client> client that has completed the password step
      When replica 2 is killed
      And the requests go to the deployment as a whole
      And it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, totp"
      And the proxy sent its requests to replica 2 and to replica 1

      Examples:
        | client  | answer                                                                                   |
        | browser | 303 to the return URL after login                                                        |
        | SPA     | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with a session and the same session token, continuing with nothing                   |

    Scenario: A browser whose replica is restarted between the password and the TOTP step finishes its login there
      Given an identity with a password and a paired authenticator app
      And the requests go to replica 2
      And a browser client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And replica 2 is started again
      And the requests go to replica 2
      And it submits the TOTP code of the current step
      Then Kratos answers 303 to the return URL after login
      And every replica accepts the client's session at "aal2" with the methods "password, totp"

  # A rolling update changes one replica after the other. Rotating the cookie
  # secret so, the replicas already rotated sign with the new secret, which the
  # others cannot read yet: for the users the proxy sends there, the session is
  # gone until every replica has the new secret after the old one.
  @needs:cookie-secret-rotation @needs:own-replicas
  Rule: While the cookie secret rolls out, a replica not rotated yet cannot read the cookies of one rotated

    Scenario Outline: A <client> client signed in at a replica not rotated yet is accepted by every replica
      Given an identity with a password
      And the cookie secret is rolling out: replica 1 rotated, the other replicas not yet
      And the requests go to replica 2
      And a <client> client signed in with the password
      Then every replica accepts the client's session at "aal1" with the methods "password"

      Examples:
        | client  |
        | browser |
        | SPA     |

    Scenario Outline: A <client> client signed in at a rotated replica has no session at one not rotated yet
      Given an identity with a password
      And the cookie secret is rolling out: replica 1 rotated, the other replicas not yet
      And the requests go to replica 1
      And a <client> client signed in with the password
      When the requests go to replica 2
      And it asks whoami
      Then Kratos answers 401 with an error without id, whose reason is "No valid session credentials found in the request."
      When the requests go to replica 1
      And it asks whoami
      Then Kratos answers 200 with the client's session

      Examples:
        | client  |
        | browser |
        | SPA     |

    Scenario Outline: A <client> client whose password step was at a rotated replica cannot start its TOTP step at one not rotated yet
      Given an identity with a password and a paired authenticator app
      And the cookie secret is rolling out: replica 1 rotated, the other replicas not yet
      And the requests go to replica 1
      And a <client> client that has completed the password step
      When the requests go to replica 2
      And it starts a login flow with "aal=aal2"
      Then Kratos answers <refused>
      When the requests go to replica 1
      And it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then the client has a session at "aal2" with the methods "password, totp"

      Examples:
        | client  | refused                                                                                                                  |
        | browser | 303 to the error UI for session_aal1_required                                                                            |
        | SPA     | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |

    Scenario: A native app's session token made at a rotated replica is accepted by every replica
      Given an identity with a password
      And the cookie secret is rolling out: replica 1 rotated, the other replicas not yet
      And the requests go to replica 1
      And a native client signed in with the password
      Then every replica accepts the client's session at "aal1" with the methods "password"

  Rule: Kratos builds the URLs a client sees from what the proxy forwards

    Scenario: A login flow records the address the client used
      Given an SPA client
      When it starts a login flow
      Then Kratos answers 200 with the flow
      And the flow's request URL is on the deployment's public address, at "self-service/login/browser"
      And the flow is a "browser" flow for "aal1", posting to its own id

    @needs:own-replicas
    Scenario: A request that reaches a replica over plain HTTP, forwarded as HTTPS, gets https:// URLs
      Given an SPA client
      When it starts a login flow at replica 1's own address, with the headers the proxy adds
      Then Kratos answers 200 with the flow
      And the flow's request URL is https:// on the deployment's public address, at "self-service/login/browser"
      And the flow is a "browser" flow for "aal1", posting to its own id

    @needs:own-replicas
    Scenario: Without X-Forwarded-Proto, Kratos records a plain HTTP request URL, and ui.action stays on the base URL
      Given an SPA client
      When it starts a login flow at replica 1's own address, with the headers the proxy adds but X-Forwarded-Proto
      Then Kratos answers 200 with the flow
      And the flow's request URL is http:// on the deployment's public address, at "self-service/login/browser"
      And the flow is a "browser" flow for "aal1", posting to its own id
