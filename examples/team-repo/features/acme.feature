@acme @needs:admin-api @needs:totp
Feature: Acme's customers reach AAL2 and have accepted the terms
  Acme's own scenarios, beside the suite's: its steps and one of Acme's
  (tests/kratos.rs) on the same World.

  Scenario Outline: A <client> customer with an authenticator app signs in and has accepted the terms
    Given an identity with a password and a paired authenticator app
    And a <client> client that has completed the password step
    When it starts a login flow with "aal=aal2"
    And it submits the TOTP code of the current step
    Then the client has a session at "aal2" with the methods "password, totp"
    And the signed-in customer has accepted Acme's terms of service

    Examples:
      | client  |
      | browser |
      | SPA     |
      | native  |
