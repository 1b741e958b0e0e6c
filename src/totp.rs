//! TOTP as an authenticator app does it: secrets, otpauth URLs, QR codes and codes
//! for any time step.
//!
//! Kratos v1.3.1 validates with a fixed SHA1 / 6 digits / 30 s and a skew of one
//! step: codes of the current, previous and next step are accepted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::redact;

/// A value made at the last moment: `Err(wait)` asks to be asked again after
/// `wait` (a code for a relative time step near a step's end), and the request
/// gives up its turn meanwhile. The HTTP helper fills such fields in when a
/// request's turn at Kratos comes.
pub type Late = Arc<dyn Fn() -> Result<String, Duration> + Send + Sync>;

/// Where a late code leaves the code it made, for the scenario to read back.
#[derive(Debug, Clone, Default)]
pub struct SentCode(Arc<Mutex<Option<String>>>);

impl SentCode {
    pub fn get(&self) -> Option<String> {
        self.0.lock().expect("not poisoned").clone()
    }
}

pub const STEP_SECONDS: u64 = 30;
/// A code meant for a step relative to the server's current one must reach Kratos
/// within that step. With fewer than this many seconds left, wait for the next step.
pub const STEP_GUARD: Duration = Duration::from_secs(5);

/// An authenticator app holding one secret.
#[derive(Debug, Clone)]
pub struct Authenticator {
    totp: Totp,
    secret: String,
}

impl Authenticator {
    /// From the base32 secret Kratos shows in the `totp_secret_key` node.
    pub fn from_secret(base32: &str) -> Result<Authenticator> {
        redact::register(base32);
        let secret = Secret::try_from_base32(base32).map_err(|e| anyhow!("the TOTP secret is not base32: {e:?}"))?;
        // What Kratos validates with, whatever an otpauth URL says.
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret)
            .build()
            .map_err(|e| anyhow!("the TOTP secret is not usable: {e:?}"))?;
        Ok(Authenticator { totp, secret: base32.to_string() })
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The code for the current step. It stays valid through the next step
    /// (skew 1), so it needs no guard.
    pub fn current_code(&self) -> String {
        self.code_at(unix_now())
    }

    /// A code made when the request carrying it gets its turn at Kratos
    /// ([`Late`]), for the step `offset` steps from then; near a step's end an
    /// offset other than 0 asks to wait for the next step. The code sent is kept
    /// in `sent` (a scenario that replays it reads it there).
    pub fn late_code(&self, offset: i64, sent: Option<SentCode>) -> Late {
        let app = self.clone();
        Arc::new(move || {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
            if offset != 0 {
                let into_step = Duration::from_millis((now.as_millis() % (STEP_SECONDS as u128 * 1000)) as u64);
                let left = Duration::from_secs(STEP_SECONDS) - into_step;
                if left < STEP_GUARD {
                    return Err(left + Duration::from_millis(50));
                }
            }
            let step = (now.as_secs() / STEP_SECONDS) as i64 + offset;
            let code = app.code_at((step.max(0) as u64) * STEP_SECONDS);
            if let Some(sent) = &sent {
                *sent.0.lock().expect("not poisoned") = Some(code.clone());
            }
            Ok(code)
        })
    }

    /// The codes Kratos accepts now, or a moment later should a step end in
    /// between: the previous step's to the one after next (what a wrong code
    /// must not be).
    pub fn window_codes(&self) -> Vec<String> {
        let now = unix_now();
        [now.saturating_sub(STEP_SECONDS), now, now + STEP_SECONDS, now + 2 * STEP_SECONDS].iter().map(|t| self.code_at(*t)).collect()
    }

    fn code_at(&self, unix_seconds: u64) -> String {
        // Not registered for redaction anywhere in text: six digits turn up inside
        // ids and hashes too. The `totp_code` field is redacted wherever it is sent.
        self.totp.generate(unix_seconds).to_string()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

/// An `otpauth://totp/...` URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpAuthUrl {
    pub issuer_in_label: Option<String>,
    pub account: String,
    pub secret: String,
    pub issuer: Option<String>,
    pub algorithm: Option<String>,
    pub digits: Option<String>,
    pub period: Option<String>,
    /// The query parameter names, in order.
    pub parameters: Vec<String>,
}

impl OtpAuthUrl {
    pub fn parse(text: &str) -> Result<OtpAuthUrl> {
        let url = url::Url::parse(text).context("not a URL")?;
        if url.scheme() != "otpauth" || url.host_str() != Some("totp") {
            bail!("not an otpauth://totp/ URL: {}", redact::text(text));
        }
        let label = percent_decode(url.path().trim_start_matches('/'));
        let (issuer_in_label, account) = match label.split_once(':') {
            Some((issuer, account)) => (Some(issuer.to_string()), account.to_string()),
            None => (None, label),
        };
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let secret = query("secret").context("the otpauth URL has no secret")?;
        redact::register(secret.clone());
        Ok(OtpAuthUrl {
            issuer_in_label,
            account,
            issuer: query("issuer"),
            algorithm: query("algorithm"),
            digits: query("digits"),
            period: query("period"),
            parameters: url.query_pairs().map(|(k, _)| k.into_owned()).collect(),
            secret,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Decodes the QR code in a `data:image/png;base64,...` URI (Kratos' `totp_qr`
/// node) to the text it encodes.
pub fn decode_qr_data_uri(src: &str) -> Result<String> {
    let encoded = src.strip_prefix("data:image/png;base64,").context("the QR code is not a data:image/png;base64 URI")?;
    let png = base64::engine::general_purpose::STANDARD.decode(encoded).context("the QR code's base64 does not decode")?;
    decode_qr_png(&png)
}

/// Decodes the first QR code in a PNG (a data URI's, or a screenshot of one as
/// a browser rendered it) to the text it encodes.
pub fn decode_qr_png(png: &[u8]) -> Result<String> {
    match first_qr(png)? {
        Some(decoded) => decoded.map_err(|e| anyhow!("the QR code does not decode: {e}")),
        None => bail!("no QR code found in the image"),
    }
}

/// Whether a PNG shows anything that looks like a QR code (or is no PNG at all).
pub fn png_shows_qr(png: &[u8]) -> bool {
    first_qr(png).map(|found| found.is_some()).unwrap_or(true)
}

/// The first QR code found in a PNG, decoded (or why it does not decode).
fn first_qr(png: &[u8]) -> Result<Option<Result<String, String>>> {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png).context("the image is not a PNG")?.to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| image.get_pixel(x as u32, y as u32).0[0]);
    let grids = prepared.detect_grids();
    Ok(grids.first().map(|grid| grid.decode().map(|(_, content)| content).map_err(|e| e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vector() {
        // RFC 6238 appendix B, SHA1, secret "12345678901234567890", truncated to 6 digits.
        let auth = Authenticator::from_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(auth.code_at(59), "287082");
        assert_eq!(auth.code_at(1111111109), "081804");
    }

    #[test]
    fn otpauth_urls_are_taken_apart() {
        let url = OtpAuthUrl::parse(
            "otpauth://totp/kratos-conformance:ann%40example.org?algorithm=SHA1&digits=6&issuer=kratos-conformance&period=30&secret=JBSWY3DPEHPK3PXP",
        )
        .unwrap();
        assert_eq!(url.issuer_in_label.as_deref(), Some("kratos-conformance"));
        assert_eq!(url.account, "ann@example.org");
        assert_eq!(url.secret, "JBSWY3DPEHPK3PXP");
        assert_eq!(url.parameters, ["algorithm", "digits", "issuer", "period", "secret"]);
    }
}
