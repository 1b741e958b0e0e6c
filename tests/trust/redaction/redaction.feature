@needs:admin-api @needs:totp
Feature: Checks that fail with a secret in hand print no secret
  The suite's redaction test (tests/trust.rs) runs these scenarios against a
  Kratos that logs sensitive values (`LOG_LEAK_SENSITIVE_VALUES=true`). Each
  fails on purpose, in a check that holds a secret: then the console, the
  JUnit report and the Cucumber JSON report must not contain any secret the
  run knew (passwords, TOTP secrets, the QR code, recovery codes, session and
  logout tokens, CSRF tokens, cookie values), also not in Kratos' log lines.

  Scenario: A failed check of a CSRF token does not print it
    Given a browser client
    When it starts a login flow
    Then its csrf_token node is empty

  Scenario: A failed check of a session token does not print it
    Given an identity with a password
    And a native client
    When it starts a login flow
    And it submits the identifier and the password
    Then Kratos answers 200 with a session and the same session token

  Scenario: A failed check of the QR code does not print the otpauth URL or the image
    Given an identity with a password
    And a native client signed in with the password
    When it starts a settings flow
    Then (self-test) the QR code is compared with an otpauth URL of another secret

  Scenario: A failed check of recovery codes does not print them
    Given an identity with a password and recovery codes
    Then (self-test) the recovery codes are compared with others

  Scenario: A failed check of a logout token does not print it
    Given an identity with a password and a paired authenticator app
    And a browser client signed in with the password and the TOTP code
    When it asks for a logout URL
    Then (self-test) the logout token is compared with another

  Scenario: A failure whose message carries the password, the TOTP secret and the session cookie does not print them
    Given an identity with a password and a paired authenticator app
    And a browser client signed in with the password and the TOTP code
    Then (self-test) a step fails with the password, the TOTP secret and the session cookie in its message
