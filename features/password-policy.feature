@password-policy @needs:password
Feature: A new password is held to the deployment's minimum length, which Kratos counts in bytes
  selfservice.methods.password.config.min_password_length (8 where it is not
  set) is the shortest password Kratos takes. The suite's own identities get
  passwords of at least that length; here a settings flow is sent one that is
  a byte short, one that is exactly long enough, and one whose characters are
  fewer than the minimum but whose bytes are not. Kratos measures with Go's
  len(), in bytes, and says so in the message's context: a password of
  letters with diacritics passes with half as many characters.

  Scenario Outline: A <client> client's new password one byte shorter than the minimum is refused, and the old one still signs in
    Given an identity with a password
    And a <client> client signed in with the password
    When it starts a settings flow
    And it sets a new password one byte shorter than the deployment's minimum length
    Then Kratos answers <answer>
    And the password node has the message 4000032, naming the deployment's minimum length and the length sent
    And a new native client still signs in with the password it had

    Examples:
      | client  | answer                 |
      | browser | 303 to the settings UI |
      | SPA     | 400 with the flow      |
      | native  | 400 with the flow      |

  Scenario Outline: A <client> client's new password exactly as long as the minimum is taken
    Given an identity with a password
    And a <client> client signed in with the password
    When it starts a settings flow
    And it sets a new password exactly as long as the deployment's minimum length
    Then Kratos answers <answer>
    And the flow is in state "success" with the message 1050001
    And a new native client signs in with the new password

    Examples:
      | client  | answer                                                                   |
      | browser | 303 to the page after settings                                           |
      | SPA     | 200 with the flow, continuing with a redirect to the page after settings |
      | native  | 200 with the flow, continuing with nothing                               |

  Scenario: A native client's new password of fewer characters than the minimum, but as many bytes, is taken
    Given an identity with a password
    And a native client signed in with the password
    When it starts a settings flow
    And it sets a new password of fewer characters than the deployment's minimum length, but as many bytes
    Then Kratos answers 200 with the flow, continuing with nothing
    And the flow is in state "success" with the message 1050001
    And a new native client signs in with the new password
