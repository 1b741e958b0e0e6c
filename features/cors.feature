@cors @needs:cors
Feature: CORS on Kratos' public API: each origin the deployment allows, and one it does not
  An SPA on another origin than Kratos' can post its password step only if
  the browser's preflight is answered for its origin. serve.public.cors lists
  the origins (one `*` in an entry stands for any characters); the suite sends
  the preflight from each entry, with `app` for its wildcard, and from an
  origin no list names. Where the suite starts Kratos and CORS is off, or
  allows every origin, these run on the configuration with CORS on for the
  configured origins (or the suite's own).

  Scenario: The preflight from each allowed origin is answered for that origin
    When an SPA on each origin serve.public.cors allows sends the preflight of its password step
    Then Kratos allows each of them, with credentials as configured

  Scenario: The preflight from an origin the list does not name is answered without allowing it
    When an SPA on an origin serve.public.cors does not list sends the preflight of its password step
    Then Kratos allows none of them
