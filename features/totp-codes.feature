@login @totp-codes @needs:admin-api @needs:totp
Feature: TOTP codes at login: which are accepted, and how the wrong ones are refused
  The AAL2 flow takes a TOTP code (see login.feature for the flow itself).
  Kratos accepts the code of the current 30-second step and of the step either
  side of it, trims surrounding spaces, reads a JSON number as its digits, and
  answers a wrong or malformed code with the flow and a message, for as long as
  the flow lives. Browser flows need their CSRF token; native flows must not
  look like a browser's.

  Rule: TOTP codes are checked with a window of one step either side

    Scenario Outline: A code of <which> is <verdict>
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of <which>
      Then Kratos answers <answer>

      Examples:
        | which           | verdict  | answer                                                                 |
        | the previous step | accepted | 200 with a session and the same session token, continuing with nothing |
        | the next step     | accepted | 200 with a session and the same session token, continuing with nothing |
        | two steps ago     | refused  | 400 with the flow                                                      |
        | two steps ahead   | refused  | 400 with the flow                                                      |

    Scenario: A code padded with spaces is accepted
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step, padded with spaces
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

    # Kratos turns JSON values into form values, so a number is read as its
    # digits: the code is checked, not refused for its type. (A valid code with a
    # leading zero cannot travel as a JSON number at all.)
    Scenario: A code sent as a JSON number is checked as its digits
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code 111111 as a JSON number
      Then Kratos answers 400 with the flow
      And the flow has the message 4000008

    @deviation
    Scenario: The same TOTP code logs in twice (no replay protection)
      Given an identity with a password and a paired authenticator app
      And a native client signed in with the password and the TOTP code
      When another native client completes the password step
      And it starts a login flow with "aal=aal2"
      And it submits the same TOTP code again
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

  Rule: Wrong or malformed second factors are refused with the flow and a message

    Scenario Outline: A <client> client submits a wrong TOTP code: <why>
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code <code>
      Then Kratos answers <answer>
      And <where> has the message <message>
      And the node "totp_code" carries no value
      And the client's session still owes its second factor

      Examples:
        | client  | why          | code          | answer              | where                 | message |
        | browser | wrong code   | "111111"      | 303 to the login UI | the flow              | 4000008 |
        | SPA     | wrong code   | "111111"      | 400 with the flow   | the flow              | 4000008 |
        | native  | wrong code   | "111111"      | 400 with the flow   | the flow              | 4000008 |
        | browser | empty code   | ""            | 303 to the login UI | the node "totp_code"  | 4000002 |
        | SPA     | empty code   | ""            | 400 with the flow   | the node "totp_code"  | 4000002 |
        | native  | empty code   | ""            | 400 with the flow   | the node "totp_code"  | 4000002 |
        | native  | too short    | "12345"       | 400 with the flow   | the node "totp_code"  | 4000003 |
        | browser | too long     | "1111111111"  | 303 to the login UI | the flow              | 4000008 |
        | SPA     | too long     | "1111111111"  | 400 with the flow   | the flow              | 4000008 |
        | native  | too long     | "1111111111"  | 400 with the flow   | the flow              | 4000008 |
        | native  | not digits   | "abcdef"      | 400 with the flow   | the flow              | 4000008 |

    Scenario: A wrong code, then the right one, in the same flow
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code "111111"
      Then Kratos answers 400 with the flow
      When it submits the TOTP code of the current step
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

    # NIST SP 800-63B 5.2.2: a verifier limits consecutive failed attempts
    # (to 100 at most); 20 here, so a fix that limits fewer shows up too.
    @deviation
    Scenario: Twenty wrong TOTP codes in a row, then the right one, log in: no limit on attempts
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits 20 wrong TOTP codes, each refused with the message 4000008
      And it submits the TOTP code of the current step
      Then Kratos answers 200 with a session and the same session token, continuing with nothing

    @login-style:unified
    Scenario: TOTP cannot be the first factor
      Given an identity with a password and a paired authenticator app
      And a native client
      When it starts a login flow
      And it submits the TOTP code of the current step
      Then Kratos answers 400 with the flow
      And the flow has the message 4010002 saying "Could not find a strategy to log you in with. Did you fill out the form correctly?"

    Scenario Outline: A <client> client whose identity has no TOTP is told it has no TOTP device
      Given an identity with a password
      And a <client> client signed in with the password
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code "123456"
      Then Kratos answers <answer>
      And the flow has the message 4000011 saying "You have no TOTP device set up."

      Examples:
        | client  | answer              |
        | browser | 303 to the login UI |
        | SPA     | 400 with the flow   |
        | native  | 400 with the flow   |

    Scenario: A native AAL2 flow does not take the password as a second factor
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the identifier and the password
      Then Kratos answers 400 with the flow
      And the flow has the message 4010002 saying "Could not find a strategy to log you in with. Did you fill out the form correctly?"
      And the client's session still owes its second factor

    Scenario: A native AAL2 flow submitted without the session token is refused
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it forgets its session token
      And it submits the TOTP code of the current step
      Then Kratos answers 401 with the error session_aal1_required

    Scenario: A native flow refuses a body that is not a JSON object
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the JSON body "42"
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001 saying "Expected JSON sent in request body to be an object but got: Number"

    Scenario Outline: A <client> client's form body that does not decode is refused with the flow
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the form body "method=totp&totp_code=%zz"
      Then Kratos answers <answer>
      And the flow has the message 4000001 saying '<text>'
      And the client's session still owes its second factor

      Examples:
        | client  | answer              | text                                                         |
        | browser | 303 to the login UI | Unable to decode HTTP POST form body: invalid URL escape "%zz" |
        | SPA     | 400 with the flow   | Unable to decode HTTP POST form body: invalid URL escape "%zz" |

  Rule: CSRF protection: browser flows need the token, native flows must not look like browsers

    Scenario Outline: A <client> client's second factor without a valid CSRF token is refused: <why>
      Given an identity with a password and a paired authenticator app
      And a <client> client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step with <csrf>
      Then Kratos answers <answer>
      And the client's session still owes its second factor

      Examples:
        | client  | why            | csrf               | answer                                          |
        | browser | token left out | no csrf_token      | 303 to the error UI for security_csrf_violation |
        | browser | token is wrong | a wrong csrf_token | 303 to the error UI for security_csrf_violation |
        | SPA     | token left out | no csrf_token      | 403 with the error security_csrf_violation      |
        | SPA     | token is wrong | a wrong csrf_token | 403 with the error security_csrf_violation      |

    Scenario Outline: A native login flow refuses a request that carries a browser's <header> header
      Given an identity with a password and a paired authenticator app
      And a native client that has completed the password step
      When it starts a login flow with "aal=aal2"
      And it submits the TOTP code of the current step with the header "<header>: <value>"
      Then Kratos answers 400 with the flow
      And the flow has the message 4000001

      Examples:
        | header | value                   |
        | Cookie | theme=dark              |
        | Origin | https://app.example.org |
