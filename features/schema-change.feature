@schema-change @needs:previous-configuration @needs:password @undocumented
Feature: Existing identities after a change of the identity schema or the configuration
  A change of the identity schema or of Kratos' configuration applies to the
  identities already in the database, which were created under the previous
  one. Their users may no longer log in with an identifier that moved, may be
  unable to save their profile because their stored traits no longer validate,
  or may see another account name when they pair an authenticator app again.

  With KRATOS_PREVIOUS_CONFIG_DIR naming the configuration before the change
  (for the process and container backends), the suite starts Kratos with it on
  a database that outlives a restart, creates identities of each kind below
  from its default schema, and asks each what it can do. It then starts Kratos
  with the current configuration on the same database, and each scenario asks
  again. Where something that worked before no longer does, or shows something
  else, the scenario fails and names the kind of identity, what was asked, and
  the traits involved. A change that breaks nobody passes. The migration report
  (schema-change.md in the report folder) shows every answer before and after.

  The kinds: a password only (created through the admin API with only the
  traits the schema requires), a password and an authenticator app, a password,
  an authenticator app and recovery codes (both with every trait the suite can
  fill in), and a self-service registration. Each kind has a twin that saves
  its profile, since saving can change what logs in.

  Rule: existing users log in with every identifier they had

    Scenario Outline: identities with <kind> log in with each identifier they had
      Given the identities with <kind> created before the change
      When it logs in with each identifier it had
      Then every identifier that logged in before the change still logs in

      Examples:
        | kind            |
        | a password only |

      @needs:totp
      Examples:
        | kind                                                  |
        | a password and an authenticator app                   |

      @needs:totp @needs:lookup_secret
      Examples:
        | kind                                                  |
        | a password, an authenticator app and recovery codes   |

      @needs:registration
      Examples:
        | kind                        |
        | a self-service registration |

  Rule: existing users log in with every identifier they had, also once their profile is saved
    Kratos keeps the identifiers it stored for an identity until the identity
    is updated; a save of the profile derives them from the current schema
    again. An identifier the schema dropped keeps working until then, and
    stops working after it.

    Scenario Outline: identities with <kind> that save their profile log in with each identifier they had
      Given the identities with <kind> created before the change
      When it saves its profile unchanged and logs in with each identifier it had
      Then every identifier still logs in as it did before the change

      Examples:
        | kind            |
        | a password only |

      @needs:totp
      Examples:
        | kind                                |
        | a password and an authenticator app |

  Rule: existing second factors still reach AAL2

    @needs:totp
    Scenario Outline: identities with <kind> reach AAL2 with their authenticator app
      Given the identities with <kind> created before the change
      When it logs in with its password and its authenticator app
      Then it reaches AAL2 as it did before the change

      Examples:
        | kind                                                |
        | a password and an authenticator app                 |

      @needs:lookup_secret
      Examples:
        | kind                                                |
        | a password, an authenticator app and recovery codes |

    @needs:totp @needs:lookup_secret
    Scenario: identities with recovery codes reach AAL2 with one they have not used
      Given the identities with a password, an authenticator app and recovery codes created before the change
      When it logs in with its password and a recovery code
      Then it reaches AAL2 as it did before the change

  Rule: whoami shows existing identities as it did

    Scenario Outline: whoami shows identities with <kind> the AAL and methods it showed before
      Given the identities with <kind> created before the change
      When it asks whoami after its strongest login
      Then whoami shows the AAL and methods it showed before the change

      Examples:
        | kind            |
        | a password only |

      @needs:totp
      Examples:
        | kind                                |
        | a password and an authenticator app |

      @needs:totp @needs:lookup_secret
      Examples:
        | kind                                                |
        | a password, an authenticator app and recovery codes |

      @needs:registration
      Examples:
        | kind                        |
        | a self-service registration |

  Rule: existing identities can save their profile as it is
    Kratos validates the stored traits against the current schema when a
    profile is saved: a trait that became required, or one the schema no
    longer allows, makes the save fail with Kratos' validation message.

    Scenario Outline: identities with <kind> save their profile unchanged
      Given the identities with <kind> created before the change
      When it saves its profile unchanged
      Then Kratos accepts it as it did before the change

      Examples:
        | kind            |
        | a password only |

      @needs:totp
      Examples:
        | kind                                |
        | a password and an authenticator app |

      @needs:totp @needs:lookup_secret
      Examples:
        | kind                                                |
        | a password, an authenticator app and recovery codes |

      @needs:registration
      Examples:
        | kind                        |
        | a self-service registration |

  Rule: a new pairing shows the account name users know
    The account name in the otpauth URL is the value of the trait the schema
    marks `totp.account_name`. Apps paired before the change keep the name
    they were given; a user who pairs again (a new phone) gets the new one.

    @needs:totp
    Scenario Outline: pairing an authenticator app shows identities with <kind> the account name it showed before
      Given the identities with <kind> created before the change
      When it starts pairing an authenticator app
      Then the app would show the account name it showed before the change

      Examples:
        | kind            |
        | a password only |

      @needs:registration
      Examples:
        | kind                        |
        | a self-service registration |
