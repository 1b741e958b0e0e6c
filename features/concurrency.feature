@concurrency @needs:concurrency @needs:admin-api @undocumented
Feature: The second factor under requests at the same moment
  Production Kratos runs on PostgreSQL (or MySQL, CockroachDB) and serves many
  requests at once. That is where the second factor has properties no test of
  one request after another can see: a recovery code must work once also when
  two requests carry it at the same moment; a pairing and an unlinking that race
  must leave the identity in one state that login agrees with.

  These scenarios need an instance that takes requests at the same moment:
  `KRATOS_DATABASE=postgres`, or an external deployment allowed more than one
  (`KRATOS_MAX_CONCURRENT_REQUESTS`). On SQLite they are not applicable. Their
  exchanges are too many, and their order too random, for the recorded flow
  documentation (`@undocumented`).

  A recovery code is checked and marked used in two steps that concurrent
  requests pass together: the same code logs in several of them.

  @needs:lookup_secret @deviation
  Scenario Outline: The same recovery code, sent by <n> clients at the same moment, logs in more than one of them
    Given an identity with a password and recovery codes
    When <n> native clients that have completed the password step all send the same recovery code at the same moment, until more than one reaches AAL2 or 10 attempts with a fresh code each have passed
    Then in one attempt more than one of them reached AAL2 with the same code, and every other was told the code was already used

    Examples:
      | n  |
      | 2  |
      | 10 |

  @needs:totp @deviation
  Scenario: The same TOTP code, sent by two clients at the same moment, logs both in
    Given an identity with a password and a paired authenticator app
    When 2 native clients that have completed the password step all send the same TOTP code at the same moment
    Then every one of them reached AAL2

  @needs:totp
  Scenario: Pairing and unlinking an authenticator app at the same moment leave one state that login agrees with
    Given an identity with a password
    And a native client signed in with the password
    And another native client signed in with the password starts a settings flow
    When the first client pairs an authenticator app
    And at the same moment the first client unlinks it and the other client pairs its own
    Then the identity has no TOTP credential or the other client's, and a login asks for the second factor exactly when it has one

  @needs:totp
  Scenario: 50 identities log in with password and TOTP at the same time
    Given 50 identities with a password and a paired authenticator app
    When each logs in at the same time with a native client, password then TOTP
    Then all 50 reached AAL2, no request was answered with a 5xx, and the latency of each step is reported
