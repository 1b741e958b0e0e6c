@real-browser @needs:admin-api @needs:totp
Feature: Login in a real browser: an SPA on its own origin, CORS, cookies and the browser flow
  What breaks SPAs in practice is what only a browser enforces: CORS
  (`serve.public.cors`: the allowed origins, `Access-Control-Allow-Credentials`,
  the preflight of a JSON post), which cookies a cross-origin
  `fetch(..., {credentials: "include"})` sends and keeps (`SameSite`, host-only
  cookies), and the redirects a browser follows on its own after an HTML form
  post. These scenarios run headless Chromium (installed by scripts/setup.sh).

  The SPA (`spa/spa.html`) and a minimal login UI (`spa/ui.html`) are pages of
  this repository, served by the suite on an origin of its own: another port
  than Kratos' public API (cross-origin, same site). Where the suite starts
  Kratos, it derives an instance whose CORS also allows that origin and whose
  login, settings and error UI are those pages (`+browser-origin` in the
  summary); everything else, the rest of CORS and the cookies included, is the
  deployment's.

  Each scenario has a browser context of its own: a fresh, private profile.
  Like a private window, it blocks third-party cookies, so a cookie from
  another site's request is refused for that before its `SameSite` is looked at.

  Rule: An SPA on an origin the deployment's CORS allows logs in with fetch and the browser's cookies

    @whoami:highest_available
    Scenario: The SPA logs in with the password and a TOTP code to AAL2, asks whoami and logs out
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser, on an origin the deployment's CORS allows
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the SPA's script sees none of Kratos' cookies
      And the browser keeps the CSRF cookie for Kratos as the deployment configures it
      When the SPA submits the identifier and the password
      Then the SPA reads 422 with the error browser_location_change_required, redirecting to the AAL2 login
      And the browser keeps the session cookie for Kratos as the deployment configures it
      When the SPA starts a login flow for AAL2
      And the SPA submits the TOTP code of the current step
      Then the SPA reads 200 with a session at "aal2" with the methods "password, totp"
      When the SPA asks whoami
      Then the SPA reads 200 with a session at "aal2" with the methods "password, totp"
      When the SPA logs out
      Then the SPA reads 204
      And the browser keeps no session cookie for Kratos
      When the SPA asks whoami
      Then the SPA reads 401

    @needs:lookup_secret
    Scenario: The SPA completes the second factor with a recovery code
      Given an identity with a password and recovery codes
      And the SPA in a browser, on an origin the deployment's CORS allows
      When the SPA completes the password step
      And the SPA starts a login flow for AAL2
      And the SPA submits one of the recovery codes
      Then the SPA reads 200 with a session at "aal2" with the methods "password, lookup_secret"
      When the SPA asks whoami
      Then the SPA reads 200 with a session at "aal2" with the methods "password, lookup_secret"

  Rule: What the browser refuses an SPA, it says why

    Scenario: An SPA on an origin the deployment's CORS does not allow cannot read Kratos' answer
      Given the SPA in a browser, on an origin the deployment's CORS does not allow
      When the SPA starts a login flow
      Then the browser does not let the SPA read the answer: "TypeError: Failed to fetch", with the CORS error MissingAllowOriginHeader

    Scenario: An SPA whose fetch leaves out credentials: "include" keeps no cookie, and its password step fails
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser, on an origin the deployment's CORS allows and fetching without credentials
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the browser keeps no cookie for Kratos
      When the SPA submits the identifier and the password
      Then the SPA reads 403 with the error security_csrf_violation
      And the browser keeps no cookie for Kratos

    Scenario: An SPA on another site than Kratos (localhost against 127.0.0.1) does not get Kratos' cookies
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser, on another site than Kratos, on an origin the deployment's CORS allows
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the browser did not store the CSRF cookie from another site's request, and says why
      When the SPA submits the identifier and the password
      Then the SPA reads 403 with the error security_csrf_violation

  # An SPA on another site than Kratos gets Kratos' cookies only where they are
  # SameSite=None (which takes Secure, so HTTPS and no --dev) and the browser
  # allows third-party cookies, as Chrome does outside a private window.
  Rule: An SPA on another site needs Kratos' cookies SameSite=None, and a browser that allows third-party cookies

    @needs:cross-site-cookies @whoami:highest_available
    Scenario: With SameSite=None, an SPA on another site logs in with the password and a TOTP code
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser that allows third-party cookies, on another site than Kratos, on an origin the deployment's CORS allows
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the browser keeps the CSRF cookie for Kratos as the deployment configures it
      When the SPA submits the identifier and the password
      Then the SPA reads 422 with the error browser_location_change_required, redirecting to the AAL2 login
      And the browser keeps the session cookie for Kratos as the deployment configures it
      When the SPA starts a login flow for AAL2
      And the SPA submits the TOTP code of the current step
      Then the SPA reads 200 with a session at "aal2" with the methods "password, totp"
      When the SPA asks whoami
      Then the SPA reads 200 with a session at "aal2" with the methods "password, totp"

    @needs:cross-site-cookies
    Scenario: With SameSite=None, an SPA on another site in a browser that blocks third-party cookies (a private window) gets none
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser, on another site than Kratos, on an origin the deployment's CORS allows
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the browser did not store the CSRF cookie from another site's request, and says why
      When the SPA submits the identifier and the password
      Then the SPA reads 403 with the error security_csrf_violation

    @needs:same-site-lax-or-strict
    Scenario: With a CSRF cookie SameSite=Lax or Strict, an SPA on another site cannot log in, even where third-party cookies are allowed
      Given an identity with a password and a paired authenticator app
      And the SPA in a browser that allows third-party cookies, on another site than Kratos, on an origin the deployment's CORS allows
      When the SPA starts a login flow
      Then the SPA reads 200 with the flow
      And the browser did not store the CSRF cookie from another site's request, because of its SameSite
      When the SPA submits the identifier and the password
      Then the SPA reads 403 with the error security_csrf_violation

  @login-style:unified
  Rule: The browser flow in a browser: the login UI renders ui.nodes, the browser posts the form and follows Kratos' redirects

    @whoami:highest_available
    Scenario: A user signs in through the login UI with the password and a TOTP code, and lands on the return URL
      Given an identity with a password and a paired authenticator app
      And a real browser
      When the browser opens a login flow returning to the suite's welcome page
      Then the page shows the login UI, with the fields "identifier, password, method=password"
      When the user submits the identifier and the password on the page
      Then the page shows the login UI for aal2, with the fields "totp_code, method=totp"
      When the user submits the TOTP code of the current step on the page
      Then the browser is on the suite's welcome page, signed in at "aal2" with the methods "password, totp"

    @whoami:highest_available
    Scenario: A wrong TOTP code is shown on the login UI as Kratos' message
      Given an identity with a password and a paired authenticator app
      And a real browser
      When the browser opens a login flow returning to the suite's welcome page
      And the user submits the identifier and the password on the page
      And the user submits a wrong TOTP code on the page
      Then the page shows the login UI for aal2, with the fields "totp_code, method=totp"
      And the page shows the message 4000008

    # The second login is asked for the TOTP code right after the password:
    # only where whoami requires the highest available AAL.
    @whoami:highest_available
    Scenario: A user pairs an authenticator app from the QR code on the settings page, then signs in with it
      Given an identity with a password
      And a real browser
      When the browser opens a login flow returning to the suite's welcome page
      And the user submits the identifier and the password on the page
      Then the browser is on the suite's welcome page, signed in at "aal1" with the methods "password"
      When the browser opens a settings flow
      Then the page shows the settings UI, with the fields "totp_qr, totp_secret_key, totp_code, method=totp"
      When the user scans the QR code on the page with an authenticator app
      And the user submits the app's TOTP code on the settings page
      Then the page shows the message 1050001
      When the user comes back in a fresh browser
      And the browser opens a login flow returning to the suite's welcome page
      And the user submits the identifier and the password on the page
      And the user submits the TOTP code of the current step on the page
      Then the browser is on the suite's welcome page, signed in at "aal2" with the methods "password, totp"
