@enrollment @needs:admin-api
Feature: Enrollment: identities, pairing an authenticator app, unlinking and replacing it
  Before anyone can log in with TOTP, an identity must exist and must have paired
  an authenticator app. Identities are created through the admin API (the fast
  path) or through self-service registration, as a user would. TOTP can only be
  paired through the settings flow: Kratos v1.3.1 cannot import a TOTP credential.
  Recovery codes have a feature of their own (recovery-codes.feature).

  Every scenario has an identity of its own, with traits generated from the
  deployment's identity schema, deleted at its end. Where the deployment
  verifies addresses, every settings answer "continuing with" something also
  carries the verification Kratos sends for an address not yet verified (up to
  v1.3.1; since v25.4.0 only where the deployment configures it). "The page
  after settings" is the settings UI showing the flow, or the return URL the
  deployment configures after settings.

  Rule: Identities are created through the admin API or self-service registration

    Scenario: The admin API creates an identity with a cleartext password
      When an identity is created through the admin API with a password
      Then Kratos answers 201 with the identity
      And the Location header is the admin base URL followed by "identities/{id}", without "/admin"
      And the identity's password credential has its password identifiers, lower-cased, and no config

    Scenario: The admin API refuses a TOTP credential at creation
      When an identity is created through the admin API with a TOTP credential
      Then Kratos answers 400 with an error without id, whose message is 'json: unknown field "totp"'

    @needs:registration @registration-steps:one
    Scenario Outline: A <client> client registers in one step (the legacy registration form)
      Given a <client> client
      When it starts a registration flow
      Then the flow asks for the schema's traits and the password at once
      When it submits the registration form with a fake person's traits and password
      Then the registration completes as the deployment configures it
      And the client has a session at "aal1" with the methods "password", where registration issues one

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

    @needs:registration @registration-steps:two
    Scenario Outline: A <client> client registers through the self-service registration flow
      Given a <client> client
      When it starts a registration flow
      Then the flow asks for the schema's traits, then the profile method
      When it submits the registration profile step with a fake person's traits
      Then Kratos answers <profile answer>
      # The hidden traits come in no fixed order (Kratos walks a Go map).
      And the flow asks for the password, with the traits hidden and <csrf> a csrf_token
      When it submits the registration password step with the person's password
      Then the registration completes as the deployment configures it
      And the client has a session at "aal1" with the methods "password", where registration issues one

      Examples:
        | client  | profile answer             | csrf |
        | browser | 303 to the registration UI | with |
        | SPA     | 400 with the flow          | with |

      # Before v25.4.0 the native flow's second step has no csrf_token node at
      # all (its first step has one, with an empty value); since, it keeps it.
      @kratos:<v25.4.0
      Examples:
        | client  | profile answer    | csrf    |
        | native  | 400 with the flow | without |

      @kratos:>=v25.4.0
      Examples:
        | client  | profile answer    | csrf |
        | native  | 400 with the flow | with |

  @needs:totp
  Rule: An authenticator app is paired through the settings flow

    Scenario Outline: A <client> client pairs an authenticator app
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      Then the flow's nodes are:
        | node            | group | type   | label   |
        | totp_qr         | totp  | img    | 1050005 |
        | totp_secret_key | totp  | text   | 1050017 |
        | totp_code       | totp  | text   | 1070006 |
        | method=totp     | totp  | submit | 1070003 |
      And the totp_qr node is a QR code of the otpauth URL for the identity's account name
      And the totp_secret_key node shows the same secret, as message 1050006
      When it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the flow is in state "success" with the message 1050001
      And the flow's nodes are:
        | node             | group | type   | label   |
        | totp_unlink=true | totp  | submit | 1050004 |
      And the client has a session at "aal2" with the methods "password, totp"
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

      Examples:
        | client  | answer                                                      |
        | browser | 303 to the page after settings                              |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow, continuing with nothing                  |

    # ory/kratos#2680 and #2401: a profile change and a pairing in one flow.
    Scenario Outline: A <client> client saves its profile, then pairs an authenticator app in the same settings flow
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And it submits its profile unchanged
      Then Kratos answers <saved>
      And the flow is in state "success" with the message 1050001
      When it submits the TOTP code of the current step
      Then Kratos answers <saved again>
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

      Examples:
        | client  | saved                                                                    | saved again                                                              |
        | browser | 303 to the page after settings                                           | 303 to the page after settings                                           |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow, continuing with nothing                               | 200 with the flow, continuing with nothing                               |

    @needs:schema-without-totp-account-name
    Scenario: Without totp.account_name in the identity schema, the otpauth label is the identity id
      Given an identity with a password, of a schema without a TOTP account name
      And a native client signed in with the password
      When it starts a settings flow
      Then the totp_qr node is a QR code of the otpauth URL with the identity id as its account name

    Scenario Outline: A <client> client submits a wrong TOTP code: <why>
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And it submits the TOTP code <code>
      Then Kratos answers <answer>
      And the node "totp_code" has the message <message>
      And the admin API shows no TOTP credential

      Examples:
        | client  | why                 | code      | answer                 | message |
        | browser | wrong code          | "111111"  | 303 to the settings UI | 4000008 |
        | SPA     | wrong code          | "111111"  | 400 with the flow      | 4000008 |
        | native  | wrong code          | "111111"  | 400 with the flow      | 4000008 |
        | browser | empty code          | ""        | 303 to the settings UI | 4000002 |
        | SPA     | empty code          | ""        | 400 with the flow      | 4000002 |
        | native  | empty code          | ""        | 400 with the flow      | 4000002 |
        | native  | five digits         | "12345"   | 400 with the flow      | 4000008 |
        | native  | eight digits        | "12345678"| 400 with the flow      | 4000008 |
        | native  | letters             | "abcdef"  | 400 with the flow      | 4000008 |

    Scenario: A native client that leaves out the totp_code field is told it is missing
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And it submits the settings form with only "method=totp"
      Then Kratos answers 400 with the flow
      And the node "totp_code" has the message 4000002

    Scenario Outline: A <client> client without the CSRF token cannot pair: <why>
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And it submits the TOTP code of the current step with <csrf>
      Then Kratos answers <answer>
      And the admin API shows no TOTP credential

      Examples:
        | client  | why              | csrf                  | answer                                        |
        | browser | token left out   | no csrf_token         | 303 to the error UI for security_csrf_violation |
        | browser | token is wrong   | a wrong csrf_token    | 303 to the error UI for security_csrf_violation |
        | SPA     | token left out   | no csrf_token         | 403 with the error security_csrf_violation    |
        | SPA     | token is wrong   | a wrong csrf_token    | 403 with the error security_csrf_violation    |

    Scenario: A native client needs no CSRF token
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And it submits the TOTP code of the current step with no csrf_token
      Then Kratos answers 200 with the flow, continuing with nothing
      And the flow is in state "success" with the message 1050001

    Scenario Outline: A native flow refuses a request that carries a browser's <header> header
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And it submits the TOTP code of the current step with the header "<header>: <value>"
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001 saying 'The HTTP Request Header included the "<header>" key, <reason>'
      And the admin API shows no TOTP credential

      Examples:
        | header | value                   | reason |
        | Cookie | theme=dark              | indicating that this request was made by a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation. |
        | Origin | https://app.example.org | indicating that this request was made as part of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation. |

    Scenario: A settings flow of another identity is refused
      Given an identity with a password
      And a native client signed in with the password
      When it starts a settings flow
      And another identity's native client submits the TOTP code of the current step to that flow
      Then Kratos answers 403 with the error security_identity_mismatch
      And the error's reason is "The request was initiated by someone else and has been blocked for security reasons. Please go back and try again."

    Scenario Outline: A <client> client cannot pair through a settings flow that does not exist
      Given an identity with a password
      And a <client> client signed in with the password
      When it submits the TOTP code "123456" to a settings flow id nobody issued
      Then Kratos answers <answer>

      Examples:
        | client  | answer                                   |
        | browser | 303 to the error UI                      |
        | SPA     | 404 with an error without id             |
        | native  | 404 with an error without id             |

    @needs:short-flow-lifespans
    Scenario Outline: A <client> client pairs through an expired settings flow
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And the flow has expired
      And it submits the TOTP code of the current step
      Then Kratos answers <answer>
      And the admin API shows no TOTP credential

      Examples:
        | client  | answer                                                     |
        | browser | 303 to the settings UI with a new flow and the message 4050001 |
        | SPA     | 410 with the error self_service_flow_expired and a new flow id |
        | native  | 410 with the error self_service_flow_expired and a new flow id |

  @needs:totp
  Rule: Unlinking removes the authenticator app

    Scenario Outline: A <client> client unlinks its authenticator app, and login stops asking for it
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it starts a settings flow
      Then the flow's nodes are:
        | node             | group | type   | label   |
        | totp_unlink=true | totp  | submit | 1050004 |
      When it submits "totp_unlink=true"
      Then Kratos answers <answer>
      And the flow is in state "success" with the message 1050001
      And the flow's TOTP nodes are "totp_qr, totp_secret_key, totp_code, method=totp"
      And the admin API shows no TOTP credential
      And the client still has a session at "aal2" with the methods "password, totp"
      When it starts a login flow with "aal=aal2&refresh=true"
      Then the flow offers no second factor
      When a new native client signs in with the password
      Then Kratos answers 200 with a session and a session token
      And that session is at "aal1" with the methods "password", and shows the identity

      Examples:
        | client  | answer                                                      |
        | browser | 303 to the page after settings                              |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow, continuing with nothing                  |

    Scenario Outline: A <client> client that replaces its authenticator app signs in with the new one, not the old
      Given an identity with a password and a paired authenticator app
      And a <client> client signed in with the password and the TOTP code
      When it starts a settings flow
      And it submits "totp_unlink=true"
      Then Kratos answers <saved>
      When it starts a settings flow
      And it submits the TOTP code of the current step
      Then Kratos answers <saved>
      And the admin API shows a TOTP credential whose totp_url holds the new secret
      When it starts a login flow with "aal=aal2&refresh=true"
      And it submits the old secret's TOTP code of the current step
      Then Kratos answers <refused>
      And the flow has the message 4000008
      When it submits the new secret's TOTP code of the current step
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, totp, totp, totp"

      Examples:
        | client  | saved                                                                    | refused             | answer                                                                                    |
        | browser | 303 to the page after settings                                           | 303 to the login UI | 303 to the return URL after login                                                         |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings | 400 with the flow   | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with the flow, continuing with nothing                               | 400 with the flow   | 200 with a session and the same session token, continuing with nothing                    |

    Scenario: A TOTP code submitted while TOTP is paired does not unlink it (ory/kratos#3459)
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When it starts a settings flow
      And it submits the TOTP code of the current step
      Then Kratos answers 200 with the flow, continuing with nothing
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the paired secret

    @deviation
    Scenario: Unlinking needs no TOTP code (ory/kratos#2450)
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When it starts a settings flow
      And it submits "totp_unlink=true, totp_code=000000"
      Then Kratos answers 200 with the flow, continuing with nothing
      And the admin API shows no TOTP credential

    Scenario: Unlinking and pairing a new authenticator app in one flow works (ory/kratos#2680)
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When it starts a settings flow
      And it submits "totp_unlink=true"
      Then Kratos answers 200 with the flow, continuing with nothing
      And the flow's TOTP nodes are "totp_qr, totp_secret_key, totp_code, method=totp"
      And its ui.action names a new settings flow
      When it submits the old secret's TOTP code of the current step to that action
      Then Kratos answers 400 with the flow
      And the node "totp_code" has the message 4000008
      When it submits the new secret's TOTP code of the current step to that action
      Then Kratos answers 200 with the flow, continuing with nothing
      And the flow is in state "success" with the message 1050001
      And the admin API shows a TOTP credential whose totp_url holds the new secret

    Scenario: The admin API deletes a TOTP credential, once
      Given an identity with a password and a paired authenticator app
      When the admin API deletes the identity's "totp" credential
      Then Kratos answers 204
      And the admin API shows no TOTP credential
      When the admin API deletes the identity's "totp" credential
      Then Kratos answers 404 with an error without id, whose reason is "You tried to remove a totp but this user have no totp set up."
