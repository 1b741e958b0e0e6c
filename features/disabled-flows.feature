@disabled-flows
Feature: Self-service flows a deployment turned off
  A workforce deployment often has no public sign-up (accounts come from HR
  through the admin API) and no self-service recovery (lost passwords and
  phones go through a help desk). Turned off in the configuration
  (`selfservice.flows.registration.enabled`, `selfservice.flows.recovery.enabled`),
  the flow is refused at every entry point, before any flow is made or looked
  up: a browser is sent to the error UI, an SPA or native app gets the error as
  JSON. A browser or SPA is still given its CSRF cookie: Kratos' CSRF
  protection sets it on every browser request that comes without one. Registration's error has an id (`self_service_flow_disabled`), recovery's
  has none; both say why in their reason.

  On a deployment that has the flow on, these scenarios are not applicable:
  what the flow does when it is on is told by enrollment.feature and
  recovery.feature.

  @disabled:registration
  Rule: Where registration is off, no client can start or fetch a registration flow

    Scenario Outline: A <client> client cannot start a registration flow
      Given a <client> client
      When it starts a registration flow
      Then Kratos answers <answer>
      And <cookies>

      Examples:
        | client  | answer                                                                                                             | cookies                                                 |
        | browser | 303 to the error UI for self_service_flow_disabled, because "Registration is not allowed because it was disabled." | it sets the CSRF cookie as the deployment configures it |
        | SPA     | 400 with the error self_service_flow_disabled, because "Registration is not allowed because it was disabled."      | it sets the CSRF cookie as the deployment configures it |
        | native  | 400 with the error self_service_flow_disabled, because "Registration is not allowed because it was disabled."      | Kratos sets no cookie                                   |

    Scenario Outline: The registration UI of a <client> client cannot fetch a flow
      Given a <client> client
      When the registration UI fetches a flow by an id nobody issued
      Then Kratos answers 400 with the error self_service_flow_disabled, because "Registration is not allowed because it was disabled."

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |

  @disabled:recovery
  Rule: Where recovery is off, no client can start or fetch a recovery flow

    Scenario Outline: A <client> client cannot start a recovery flow
      Given a <client> client
      When it starts a recovery flow
      Then Kratos answers <answer>
      And <cookies>

      Examples:
        | client  | answer                                                                                                          | cookies                                                 |
        | browser | 303 to the error UI for an error without id, whose reason is "Recovery is not allowed because it was disabled." | it sets the CSRF cookie as the deployment configures it |
        | SPA     | 400 with an error without id, whose reason is "Recovery is not allowed because it was disabled."                | it sets the CSRF cookie as the deployment configures it |
        | native  | 400 with an error without id, whose reason is "Recovery is not allowed because it was disabled."                | Kratos sets no cookie                                   |

    Scenario Outline: The recovery UI of a <client> client cannot fetch a flow
      Given a <client> client
      When the recovery UI fetches a flow by an id nobody issued
      Then Kratos answers 400 with an error without id, whose reason is "Recovery is not allowed because it was disabled."

      Examples:
        | client  |
        | browser |
        | SPA     |
        | native  |
