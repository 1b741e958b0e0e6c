@recovery-codes @needs:admin-api @needs:lookup_secret
Feature: Recovery codes (lookup secrets): twelve single-use codes as a second factor
  Recovery codes are generated in the settings flow, shown once, and count
  only once they are confirmed; they can be revealed again (used ones marked),
  replaced, or disabled. At login, each one completes the second factor once.

  Browsers get 303 redirects, SPAs JSON and cookies, native apps JSON and a
  session token. "The page after settings" is the settings UI showing the flow,
  or the return URL the deployment configures after settings.

  Rule: Recovery codes are generated, confirmed, replaced and disabled in the settings flow

    Scenario Outline: A <client> client generates and confirms recovery codes
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      Then the flow's nodes are:
        | node                          | group         | type   | label   |
        | lookup_secret_regenerate=true | lookup_secret | submit | 1050008 |
      When it submits "lookup_secret_regenerate=true"
      Then Kratos answers <shown>
      And the flow's nodes are:
        | node                       | group         | type   | label   |
        | lookup_secret_codes        | lookup_secret | text   | 1050010 |
        | lookup_secret_confirm=true | lookup_secret | submit | 1050011 |
      And the lookup_secret_codes node shows 12 codes of 8 lowercase letters and digits
      When it submits "lookup_secret_confirm=true"
      Then Kratos answers <saved>
      And the flow is in state "success" with the message 1050001
      And the flow's nodes are:
        | node                       | group         | type   | label   |
        | lookup_secret_reveal=true  | lookup_secret | submit | 1050007 |
        | lookup_secret_disable=true | lookup_secret | submit | 1050016 |
      And the client has a session at "aal2" with the methods "password, lookup_secret"
      And the admin API shows the recovery codes the flow showed

      Examples:
        | client  | shown                  | saved                                                                    |
        | browser | 303 to the settings UI | 303 to the page after settings                                           |
        | SPA     | 200 with the flow      | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow      | 200 with the flow, continuing with nothing                               |

    Scenario Outline: A <client> client cannot confirm recovery codes it never generated
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And it submits "lookup_secret_confirm=true"
      Then Kratos answers <answer>
      And the flow has the message 4000001 saying "You must (re-)generate recovery backup codes before you can save them."
      And the admin API shows no recovery codes

      Examples:
        | client  | answer                 |
        | browser | 303 to the settings UI |
        | SPA     | 400 with the flow      |
        | native  | 400 with the flow      |

    Scenario Outline: A <client> client that generates new recovery codes without confirming them keeps the old ones
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a settings flow
      And it submits "lookup_secret_regenerate=true"
      Then Kratos answers <shown>
      And the lookup_secret_codes node shows 12 codes of 8 lowercase letters and digits, none of them an old one
      And the admin API still shows the old recovery codes
      When another native client completes the password step
      And it starts a login flow with "aal=aal2"
      And it submits one of the old recovery codes
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

      Examples:
        | client  | shown                  |
        | browser | 303 to the settings UI |
        | SPA     | 200 with the flow      |
        | native  | 200 with the flow      |

    Scenario Outline: A <client> client that replaces its recovery codes can no longer use the old ones
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a settings flow
      And it submits "lookup_secret_regenerate=true"
      Then Kratos answers <shown>
      And the lookup_secret_codes node shows 12 codes of 8 lowercase letters and digits, none of them an old one
      When it submits "lookup_secret_confirm=true"
      Then Kratos answers <saved>
      And the flow is in state "success" with the message 1050001
      And the admin API shows the recovery codes the flow showed
      And the client has a session at "aal2" with the methods "password, lookup_secret, lookup_secret"
      When another native client completes the password step
      And it starts a login flow with "aal=aal2"
      And it submits one of the old recovery codes
      Then Kratos answers 400 with the flow
      And the flow has the message 4000016 saying "The backup recovery code is not valid."
      When it submits one of the recovery codes
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

      Examples:
        | client  | shown                  | saved                                                                    |
        | browser | 303 to the settings UI | 303 to the page after settings                                           |
        | SPA     | 200 with the flow      | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow      | 200 with the flow, continuing with nothing                               |

    Scenario Outline: A <client> client disables its recovery codes, and login stops asking for one
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a settings flow
      And it submits "lookup_secret_disable=true"
      Then Kratos answers <saved>
      And the flow is in state "success" with the message 1050001
      And the flow's lookup_secret nodes are "lookup_secret_regenerate=true"
      And the admin API shows no recovery codes
      And the client still has a session at "aal2" with the methods "password, lookup_secret"
      When a new native client signs in with the password
      Then Kratos answers 200 with a session and a session token
      And that session is at "aal1" with the methods "password", and shows the identity
      When it starts a login flow with "aal=aal2"
      Then Kratos answers 200 with the flow
      And the flow's ui.nodes are null

      Examples:
        | client  | saved                                                                    |
        | browser | 303 to the page after settings                                           |
        | SPA     | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow, continuing with nothing                               |

    Scenario Outline: A <client> client without a valid CSRF token is shown no recovery codes: <why>
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a settings flow
      And it submits "lookup_secret_reveal=true" with <csrf>
      Then Kratos answers <answer>
      And the answer shows none of the recovery codes

      Examples:
        | client  | why            | csrf               | answer                                          |
        | browser | token left out | no csrf_token      | 303 to the error UI for security_csrf_violation |
        | browser | token is wrong | a wrong csrf_token | 303 to the error UI for security_csrf_violation |
        | SPA     | token left out | no csrf_token      | 403 with the error security_csrf_violation      |
        | SPA     | token is wrong | a wrong csrf_token | 403 with the error security_csrf_violation      |

    # NIST SP 800-63B 5.1.2.2: "Verifiers SHALL store look-up secrets in a form
    # that is resistant to offline attacks." Kratos keeps them as shown.
    @deviation
    Scenario: Recovery codes are stored as they were shown, and the admin API reads them back
      Given an identity with a password and recovery codes
      Then the admin API shows the recovery codes the identity was given, as they were shown

  Rule: A recovery code completes the second factor, once

    Scenario Outline: A <client> client completes the second factor with a recovery code
      Given an identity with a password and recovery codes
      And a <client> client that has completed the password step
      Then the client's session still owes its second factor
      When it starts a login flow with "aal=aal2"
      Then the flow has the message 1010004
      And the flow's nodes are:
        | node                 | group         | type   | label   |
        | csrf_token           | default       | hidden |         |
        | lookup_secret        | lookup_secret | text   | 1010007 |
        | method=lookup_secret | lookup_secret | submit | 1010010 |
      When it submits one of the recovery codes
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, lookup_secret"
      And the session was authenticated when the recovery code step completed

      Examples:
        | client  | answer                                                                                    |
        | browser | 303 to the return URL after login                                                         |
        | SPA     | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 200 with a session and the same session token, continuing with nothing                    |

    Scenario Outline: A <client> client submits <what>
      Given an identity with a password and recovery codes
      And one of its recovery codes was used on another device
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits <what>
      Then Kratos answers <answer>
      And <where> has the message <message>
      And the node "lookup_secret" carries no value
      And the client's session still owes its second factor

      Examples:
        | client  | what                                         | answer              | where                     | message |
        | browser | an empty recovery code                       | 303 to the login UI | the node "lookup_secret"  | 4000002 |
        | SPA     | an empty recovery code                       | 400 with the flow   | the node "lookup_secret"  | 4000002 |
        | native  | an empty recovery code                       | 400 with the flow   | the node "lookup_secret"  | 4000002 |
        | browser | a recovery code nobody was given             | 303 to the login UI | the flow                  | 4000016 |
        | SPA     | a recovery code nobody was given             | 400 with the flow   | the flow                  | 4000016 |
        | native  | a recovery code nobody was given             | 400 with the flow   | the flow                  | 4000016 |
        | browser | the used recovery code                       | 303 to the login UI | the flow                  | 4000012 |
        | SPA     | the used recovery code                       | 400 with the flow   | the flow                  | 4000012 |
        | native  | the used recovery code                       | 400 with the flow   | the flow                  | 4000012 |
        | native  | one of its recovery codes in capitals        | 400 with the flow   | the flow                  | 4000016 |
        | native  | one of its recovery codes padded with spaces | 400 with the flow   | the flow                  | 4000016 |
        | native  | a recovery code of another identity          | 400 with the flow   | the flow                  | 4000016 |

    Scenario: A recovery code is accepted once, then refused, and settings shows it as used
      Given an identity with a password and recovery codes
      And a native client signed in with the password and a recovery code
      When another native client completes the password step
      And it starts a login flow with "aal=aal2"
      And it submits the used recovery code
      Then Kratos answers 400 with the flow
      And the flow has the message 4000012 saying "This backup recovery code has already been used."
      When the first client reveals its recovery codes in a settings flow
      Then the used code is shown as used, with the message 1050014
      And the flow's lookup_secret nodes are "lookup_secret_codes, lookup_secret_disable=true, lookup_secret_regenerate=true"

    Scenario Outline: A <client> client whose identity has no recovery codes is told so
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a login flow with "aal=aal2"
      And it submits a recovery code nobody was given
      Then Kratos answers <answer>
      And the flow has the message 4000014 saying "You have no backup recovery codes set up."

      Examples:
        | client  | answer              |
        | browser | 303 to the login UI |
        | SPA     | 400 with the flow   |
        | native  | 400 with the flow   |

    @login-style:unified
    Scenario: A recovery code cannot be the first factor
      Given an identity with a password and recovery codes
      And a native client
      When it starts a login flow
      And it submits one of the recovery codes
      Then Kratos answers 400 with the flow
      And the flow has the message 4010002 saying "Could not find a strategy to log you in with. Did you fill out the form correctly?"

    Scenario Outline: A <client> client's recovery code without a valid CSRF token is refused: <why>
      Given an identity with a password and recovery codes
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits one of the recovery codes with <csrf>
      Then Kratos answers <answer>
      And the client's session still owes its second factor

      Examples:
        | client  | why            | csrf               | answer                                          |
        | browser | token left out | no csrf_token      | 303 to the error UI for security_csrf_violation |
        | browser | token is wrong | a wrong csrf_token | 303 to the error UI for security_csrf_violation |
        | SPA     | token left out | no csrf_token      | 403 with the error security_csrf_violation      |
        | SPA     | token is wrong | a wrong csrf_token | 403 with the error security_csrf_violation      |

    Scenario Outline: A <client> client at AAL2 confirms itself again with a recovery code
      Given an identity with a password and recovery codes
      And a <client> client signed in with the password and a recovery code
      When it starts a login flow with "aal=aal2&refresh=true"
      Then the flow has the message 1010003
      And the flow's lookup_secret nodes are "lookup_secret, method=lookup_secret"
      When it submits a recovery code nobody was given
      Then Kratos answers <refused>
      And the flow has the message 4000016
      And the node "lookup_secret" carries no value
      When it submits the used recovery code
      Then Kratos answers <refused>
      And the flow has the message 4000012
      When it submits one of the recovery codes
      Then Kratos answers <answer>
      And the client has a session at "aal2" with the methods "password, lookup_secret, lookup_secret"
      And the session was authenticated when the recovery code step completed

      Examples:
        | client  | refused             | answer                                                                                    |
        | browser | 303 to the login UI | 303 to the return URL after login                                                         |
        | SPA     | 400 with the flow   | 200 with a session and no token, continuing with a redirect to the return URL after login |
        | native  | 400 with the flow   | 200 with a session and the same session token, continuing with nothing                    |

  @needs:totp
  Rule: An authenticator app and recovery codes side by side

    Scenario Outline: A <client> client pairs an app and keeps recovery codes in one settings flow, then may use either
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a settings flow
      And it submits the TOTP code of the current step
      Then Kratos answers <saved>
      When it submits "lookup_secret_regenerate=true"
      Then Kratos answers <shown>
      And the lookup_secret_codes node shows 12 codes of 8 lowercase letters and digits
      When it submits "lookup_secret_confirm=true"
      Then Kratos answers <saved>
      And the flow's nodes are:
        | node                       | group         | type   | label   |
        | lookup_secret_reveal=true  | lookup_secret | submit | 1050007 |
        | lookup_secret_disable=true | lookup_secret | submit | 1050016 |
        | totp_unlink=true           | totp          | submit | 1050004 |
      And the client has a session at "aal2" with the methods "password, totp, lookup_secret"
      When it starts a login flow with "aal=aal2&refresh=true"
      Then the flow's nodes are "csrf_token, totp_code, method=totp, lookup_secret, method=lookup_secret"
      When it submits one of the recovery codes
      Then the client has a session at "aal2" with the methods "password, totp, lookup_secret, lookup_secret"
      When it starts a login flow with "aal=aal2&refresh=true"
      And it submits the TOTP code of the current step
      Then the client has a session at "aal2" with the methods "password, totp, lookup_secret, lookup_secret, totp"

      Examples:
        | client  | shown                  | saved                                                                    |
        | browser | 303 to the settings UI | 303 to the page after settings                                           |
        | SPA     | 200 with the flow      | 200 with the flow, continuing with a redirect to the page after settings |
        | native  | 200 with the flow      | 200 with the flow, continuing with nothing                               |

    # The codes were a backup for the app; once the app is gone they are the
    # only second factor, and a user who unlinked the app to stop being asked
    # for one (or lost the codes long ago) is asked for a code.
    @whoami:highest_available @deviation
    Scenario: An identity that unlinked its app but kept recovery codes is still asked for a second factor, and offered only a code
      Given an identity with a password, a paired authenticator app and recovery codes
      And a native client signed in with the password and the TOTP code
      When it starts a settings flow
      And it submits "totp_unlink=true"
      Then Kratos answers 200 with the flow, continuing with nothing
      And the admin API shows no TOTP credential
      When another native client completes the password step
      Then whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login
      When it starts a login flow with "aal=aal2"
      Then the flow's nodes are "csrf_token, lookup_secret, method=lookup_secret"
