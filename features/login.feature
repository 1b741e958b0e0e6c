@login
Feature: Login with a password, then TOTP, to reach AAL2
  Kratos' login is two flows when an identity has a second factor: a first flow
  for the password ends with an AAL1 session, and a second flow, started with
  `aal=aal2` while holding that session, upgrades it with a TOTP code (or a
  recovery code) to AAL2.

  What the password step answers depends on `session.whoami.required_aal`: with
  `highest_available` (Kratos' default) Kratos asks for the second factor right
  away; with `aal1` the password alone is a complete login and the client asks
  for AAL2 when it wants it. Scenarios that describe one of the two are tagged
  with it and run where the deployment has it.

  Where the schema has several password identifiers, the scenarios tagged
  `@each:password-identifier` run once with each.

  Browsers get 303 redirects and cookies, SPAs get JSON and cookies, native apps
  get JSON and a session token. Nobody follows the redirects for the client: the
  scenarios assert each one. Which TOTP codes the AAL2 step accepts, and how it
  refuses the others, is in totp-codes.feature.

  Rule: A login flow starts with the password form

    @login-style:unified
    Scenario Outline: A <client> client starts a login flow
      Given a <client> client
      When it starts a login flow
      Then Kratos answers <answer>
      And the flow is a "<type>" flow for "aal1", posting to its own id
      And the flow expires the deployment's login lifespan after it was issued
      # (identifier): the identifier field is labelled with the title of the
      # schema's one identifier trait (1070002), or "ID" (1070004) when there
      # are several.
      And the flow's nodes are:
        | node            | group    | type     | label   |
        | csrf_token      | default  | hidden   |         |
        | identifier      | default  | text     | (identifier) |
        | password        | password | password | 1070001 |
        | method=password | password | submit   | 1010022 |

      Examples:
        | client  | answer                 | type    |
        | browser | 303 to the login UI    | browser |
        | SPA     | 200 with the flow      | browser |
        | native  | 200 with the flow      | api     |

    Scenario: A browser login flow cannot be fetched without its CSRF cookie
      Given a browser client
      When it starts a login flow
      And the browser loses its cookies
      And the login UI fetches the flow by its id
      Then Kratos answers 403 with the error security_csrf_violation

  @login-style:identifier_first @needs:admin-api @each:password-identifier
  Rule: Where the login asks for the identifier first, the password comes in a second step

    Scenario Outline: A <client> client gives its identifier first, then its password
      Given an identity with a password
      And a <client> client
      When it starts a login flow
      Then the flow's nodes are "csrf_token, identifier, method=identifier_first"
      When it submits the identifier alone
      Then Kratos answers <identified>
      And the flow asks for the password, with the identifier hidden
      When it submits the identifier and the password
      Then Kratos answers <answer>
      And the client has a session at "aal1" with the methods "password"

      Examples:
        | client  | identified          | answer                                                                                   |
        | browser | 303 to the login UI | 303 to the return URL after login                                                        |
        | SPA     | 400 with the flow   | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 400 with the flow   | 200 with a session and a session token, continuing with nothing                          |

    Scenario Outline: A <client> client that gives an identifier nobody has is told so at once
      Given a <client> client
      When it starts a login flow
      And it submits an unknown identifier alone
      Then Kratos answers <answer>
      And the node "identifier" has the message 4000037

      Examples:
        | client  | answer              |
        | browser | 303 to the login UI |
        | native  | 400 with the flow   |

  @whoami:highest_available @needs:admin-api @needs:totp @each:password-identifier
  Rule: Where whoami requires the highest available AAL, the password step of an identity with TOTP asks for the second factor

    Scenario: A browser's password step ends at the AAL2 login, with an AAL1 session and a new CSRF cookie
      Given an identity with a password and a paired authenticator app
      And a browser client
      When it starts a login flow
      And it submits the identifier and the password
      Then Kratos answers 303 to "self-service/login/browser?aal=aal2" on the public API
      And it sets the session cookie as the deployment configures it
      And it sets the CSRF cookie as the deployment configures it
      And whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login

    Scenario: An SPA's password step is answered 422, sending the browser to the AAL2 login
      Given an identity with a password and a paired authenticator app
      And an SPA client
      When it starts a login flow
      And it submits the identifier and the password
      Then Kratos answers 422 with the error browser_location_change_required, redirecting to the AAL2 login
      And it sets the session cookie as the deployment configures it
      And whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login

    Scenario: A native app's password step gets a session token for an AAL1 session without the identity
      Given an identity with a password and a paired authenticator app
      And a native client
      When it starts a login flow
      And it submits the identifier and the password
      Then Kratos answers 200 with a session and a session token
      And that session is at "aal1" with the methods "password", without the identity
      And Kratos sets no cookie
      And whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login

    # Whoami refuses the session, but the login treats it as complete: a
    # browser is sent on as though signed in (and its app, asking whoami,
    # sends it back to login: the loop of ory/kratos#3356); an SPA or app is
    # told it is logged in already, not that it owes a second factor.
    @deviation
    Scenario Outline: A <client> client that still owes its second factor and starts a plain login (<start>) is treated as signed in (ory/kratos#3356)
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "<query>"
      Then Kratos answers <answer>
      And the client's session still owes its second factor

      Examples:
        | client  | start         | query         | answer                                                                                                                                                    |
        | browser | aal=aal1      | aal=aal1      | 303 to the default return URL                                                                                                                             |
        | browser | refresh=false | refresh=false | 303 to the default return URL                                                                                                                             |
        | SPA     | refresh=false | refresh=false | 400 with the error session_already_available, because "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" |
        | native  | aal=aal1      | aal=aal1      | 400 with the error session_already_available, because "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" |
        | native  | no parameters |               | 400 with the error session_already_available, because "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" |

    Scenario: A browser that still owes its second factor and starts a plain login returning to an allowed URL is sent there
      Given an identity with a password and a paired authenticator app
      And a browser client that has completed the password step
      When it starts a login flow returning to an allowed return URL
      Then Kratos answers 303 to the allowed return URL
      And the client's session still owes its second factor

  @needs:admin-api @needs:totp
  Rule: The AAL2 flow takes the TOTP code and upgrades the session

    @each:password-identifier
    Scenario Outline: A <client> client completes the second factor with TOTP
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      Then Kratos answers <aal2 answer>
      And the flow is a "<type>" flow for "aal2", posting to its own id
      And the flow has the message 1010004
      And the flow's nodes are:
        | node        | group   | type   | label   |
        | csrf_token  | default | hidden |         |
        | totp_code   | totp    | text   | 1010006 |
        | method=totp | totp    | submit | 1010009 |
      When it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, totp"
      And the session was authenticated when the TOTP step completed

      Examples:
        | client  | aal2 answer         | type    | answer                                                              |
        | browser | 303 to the login UI | browser | 303 to the return URL after login                                   |
        | SPA     | 200 with the flow   | browser | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with the flow   | api     | 200 with a session and the same session token, continuing with nothing |

    # OWASP: renew the session id after any privilege level change. Kratos
    # upgrades the session in place: what was copied while it was AAL1 (a
    # cookie, a token) is AAL2 once the user completes the second factor.
    @deviation
    Scenario Outline: A <client> client's credentials kept before the second factor grant AAL2 once it is completed (the session is not renewed)
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it keeps the credentials it holds
      And it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then whoami accepts the credentials it kept, at "aal2" with the methods "password, totp"

      Examples:
        | client  |
        | browser |
        | native  |

    Scenario Outline: A <client> client cannot start an AAL2 flow without a session
      Given a <client> client
      When it starts a login flow with "aal=aal2"
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                   |
        | browser | 303 to the error UI for session_aal1_required                                                             |
        | SPA     | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |
        | native  | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |

    Scenario Outline: A <client> client that already is at AAL2 cannot start another AAL2 flow
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it starts a login flow with "aal=aal2"
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                                              |
        | browser | 303 to the default return URL                                                                                                       |
        | SPA     | 400 with the error session_already_available, because "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" |
        | native  | 400 with the error session_already_available, because "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?" |

    Scenario Outline: A <client> client whose identity has no second factor gets an AAL2 flow with nothing to submit
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a login flow with "aal=aal2"
      Then Kratos answers <answer>
      And the flow has the message 1010004
      And <nodes>

      Examples:
        | client  | answer              | nodes                                 |
        | browser | 303 to the login UI | the flow's nodes are "csrf_token"     |
        | SPA     | 200 with the flow   | the flow's nodes are "csrf_token"     |
        | native  | 200 with the flow   | the flow's ui.nodes are null          |

    Scenario Outline: A <client> client's AAL2 flow submitted without its session cookie is refused
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And the browser loses its session cookie
      And it submits the TOTP code of the current step
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                                         |
        | browser | 303 to the error UI for session_aal1_required                                                                                  |
        | SPA     | 401 with the error session_aal1_required, because "You can not requested a higher AAL (AAL2/AAL3) without an active session." |

    Scenario Outline: A <client> client that signed in meanwhile cannot submit the login flow it had started
      Given an identity with a password
      And a <client> client
      When it starts a login flow
      And it signs in with the password in another login flow
      And it submits the identifier and the password
      Then Kratos answers <answer>

      Examples:
        | client  | answer                        |
        | browser | 303 to the default return URL |
        | SPA     | 400 with the flow             |
        | native  | 400 with the flow             |

  @whoami:aal1 @needs:admin-api @needs:totp @each:password-identifier
  Rule: Where whoami accepts AAL1, the password alone is a complete login

    Scenario Outline: A <client> client with TOTP logs in with the password alone, then upgrades
      Given an identity with a password and a paired authenticator app
      And a <client> client
      When it starts a login flow
      And it submits the identifier and the password
      Then Kratos answers <answer>
      And the client has a session at "aal1" with the methods "password"
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then the client has a session at "aal2" with the methods "password, totp"

      Examples:
        | client  | answer                                                                                |
        | browser | 303 to the return URL after login                                                     |
        | SPA     | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with a session and a session token, continuing with nothing                       |

  @needs:admin-api
  Rule: The password step refuses wrong credentials without telling which part was wrong

    @each:password-identifier
    Scenario Outline: A <client> client submits <what>
      Given an identity with a password
      And a <client> client
      When it starts a login flow
      And it submits <what>
      Then Kratos answers <answer>
      And the flow has the message 4000006 saying "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number."

      Examples:
        | client  | what                                  | answer              |
        | browser | the identifier and a wrong password   | 303 to the login UI |
        | SPA     | the identifier and a wrong password   | 400 with the flow   |
        | native  | the identifier and a wrong password   | 400 with the flow   |
        | native  | an unknown identifier and a password  | 400 with the flow   |

  Rule: Flows expire, cannot be made up, and are checked against their parameters

    @needs:admin-api @needs:short-flow-lifespans
    Scenario Outline: A <client> client submits the password to an expired login flow
      Given an identity with a password
      And a <client> client
      When it starts a login flow
      And the flow has expired
      And it submits the identifier and the password
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                      |
        | browser | 303 to the login UI with a new flow and the message 4010001 |
        | SPA     | 410 with the error self_service_flow_expired and a new flow id |
        | native  | 410 with the error self_service_flow_expired and a new flow id |

    @needs:admin-api @needs:totp @needs:short-flow-lifespans
    Scenario: A native client submits TOTP to an expired AAL2 flow while holding its AAL1 session
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And the flow has expired
      And it submits the TOTP code of the current step
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001 saying "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?"

    Scenario Outline: A <client> client submits to a login flow id nobody issued
      Given a <client> client
      When it submits the identifier "someone@example.org" and a password to a login flow id nobody issued
      Then Kratos answers <answer>

      Examples:
        | client  | answer                       |
        | browser | 303 to the error UI          |
        | SPA     | 404 with an error without id |
        | native  | 404 with an error without id |

    Scenario Outline: A <client> client asks for an assurance level that does not exist
      Given a <client> client
      When it starts a login flow with "aal=aal0"
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                                                                                                 |
        | browser | 303 to the error UI                                                                                                                                    |
        | SPA     | 400 with an error without id, whose reason is "Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got aal0" |
        | native  | 400 with an error without id, whose reason is "Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got aal0" |

    @needs:short-flow-lifespans
    Scenario Outline: A <client> client fetches its expired login flow, and is told where to start again
      Given a <client> client
      When it starts a login flow <returning>
      And the flow has expired
      And the login UI fetches the flow by its id
      Then Kratos answers 410 with the error self_service_flow_expired
      And the error's reason is "<reason>"
      And the error's details <details>

      Examples:
        | client  | returning                            | reason                                                                                                 | details                                                                 |
        | browser | returning to an allowed return URL   | The login flow has expired. Redirect the user to the login flow init endpoint to initialize a new login flow. | send the browser to start a new login flow, returning to the allowed return URL |
        | native  | with ""                              | The login flow has expired. Call the login flow init API endpoint to initialize a new login flow.             | send the app to start a new login flow                                  |

    @needs:admin-api @needs:short-flow-lifespans
    Scenario: A browser that submits its expired login flow gets a new one that keeps its return URL
      Given an identity with a password
      And a browser client
      When it starts a login flow returning to an allowed return URL
      And the flow has expired
      And it submits the identifier and the password
      Then Kratos answers 303 to the login UI with a new flow and the message 4010001
      And the flow's return_to is the allowed return URL

    Scenario Outline: A native client that asks for a session token exchange code with "<value>" gets what it asked for
      Given a native client
      When it starts a login flow asking for a session token exchange code with "<value>", returning to an allowed return URL
      Then Kratos answers 200 with the flow
      And the flow <carries> session token exchange code
      And the flow's return_to is the allowed return URL

      Examples:
        | value | carries    |
        | true  | carries a  |
        | True  | carries a  |
        | 1     | carries a  |
        | false | carries no |

    Scenario: A browser that asks for a session token exchange code gets none
      Given a browser client
      When it starts a login flow asking for a session token exchange code with "true", returning to an allowed return URL
      Then Kratos answers 303 to the login UI
      And the flow carries no session token exchange code

    Scenario Outline: A <client> client asks to return to a URL that is not allowed
      Given a <client> client
      When it starts a login flow returning to a return URL that is not allowed
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                                                             |
        | browser | 303 to the error UI for self_service_flow_return_to_forbidden                      |
        | SPA     | 400 with the error self_service_flow_return_to_forbidden, naming the return URL    |
        | native  | 400 with the error self_service_flow_return_to_forbidden, naming the return URL    |

    # Each entry of selfservice.allowed_return_urls, with a path under it: other
    # origins, ports, path prefixes, wildcard subdomains, custom schemes.
    @needs:admin-api
    Scenario Outline: A <client> client returns to every allowed return URL after login
      Given an identity with a password
      And a <client> client
      When a client of its kind signs in with the password once for each allowed return URL
      Then each login ended at the return URL it was started with

      Examples:
        | client  |
        | browser |
        | SPA     |

    @whoami:highest_available @needs:admin-api @needs:totp
    Scenario: A browser's allowed return_to is kept through the AAL2 step (ory/kratos#2172)
      Given an identity with a password and a paired authenticator app
      And a browser client
      When it starts a login flow returning to an allowed return URL
      And it submits the identifier and the password
      Then Kratos answers 303 to the AAL2 login on the public API, keeping the return URL
      When it follows the redirect
      Then Kratos answers 303 to the login UI
      And the flow's return_to is the allowed return URL
      When it submits the TOTP code of the current step
      Then Kratos answers 303 to the allowed return URL

    @whoami:highest_available @needs:admin-api @needs:totp
    Scenario: An SPA's allowed return_to is kept through the AAL2 step (ory/kratos#2172)
      Given an identity with a password and a paired authenticator app
      And an SPA client
      When it starts a login flow returning to an allowed return URL
      And it submits the identifier and the password
      Then Kratos answers 422 with the error browser_location_change_required
      When it follows the redirect_browser_to URL
      Then Kratos answers 200 with the flow
      And the flow's return_to is the allowed return URL
      When it submits the TOTP code of the current step
      Then Kratos answers 200 with a session and no token, continuing with a redirect to the allowed return URL

    @needs:admin-api @needs:totp
    Scenario: A completed AAL2 flow submitted again is refused, since the session already is AAL2
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step
      Then Kratos answers 200 with a session and the same session token, continuing with nothing
      When it submits the TOTP code of the current step
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001 saying "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?"

  # The other side of recovery-codes.feature: a deployment whose second factor
  # is the authenticator app alone (lost phones go through a help desk).
  @needs:admin-api @needs:totp @disabled:lookup_secret
  Rule: Where recovery codes are off (selfservice.methods.lookup_secret), no flow offers or takes one

    Scenario Outline: A <client> client's settings flow offers no recovery codes
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it starts a settings flow
      Then the flow has no lookup_secret nodes

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

    Scenario Outline: A <client> client's AAL2 login offers no recovery code, and refuses one
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      Then the flow has no lookup_secret nodes
      # The method's endpoint is off: an error without id, not a flow message.
      When it submits a recovery code nobody was given
      Then Kratos answers <answer>
      And the client's session still owes its second factor

      Examples:
        | client  | answer                                                                                                                                                                                                  |
        | browser | 303 to the error UI for an error without id, whose reason is "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it." |
        | SPA     | 404 with an error without id, whose reason is "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it."                 |
        | native  | 404 with an error without id, whose reason is "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it."                 |
