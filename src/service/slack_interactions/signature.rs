//! Slack's request signature, as Slack documents it ("Verifying requests from Slack"): the
//! header `X-Slack-Signature` is `v0=` followed by the lower-case hex HMAC-SHA256, keyed with the
//! app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw request body}`; the timestamp
//! (Unix seconds) must be within five minutes of the receiver's clock. Pure: no I/O.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far (seconds, either direction) a request's timestamp may be from now.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// A header is missing, the signature is not Slack's format, or it does not match.
    Bad(&'static str),
    /// Correctly signed, but the timestamp is further than five minutes from now.
    Stale { skew_secs: i64 },
}

/// `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the signature (constant-time compare), then the timestamp against `now` (Unix
/// seconds). The signature comes first so that `Stale` is only ever said of a request Slack
/// really signed (a replay older than the window); both must hold either way. Returns the
/// request's timestamp.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<i64, SignatureRefusal> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureRefusal::Bad(
            "the X-Slack-Signature or X-Slack-Request-Timestamp header is missing",
        ));
    };
    if !signature.starts_with("v0=") {
        return Err(SignatureRefusal::Bad("X-Slack-Signature is not a v0= signature"));
    }
    let expected = sign(secret, timestamp, body);
    if !bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes())) {
        return Err(SignatureRefusal::Bad("the request signature does not match"));
    }
    let ts: i64 = (timestamp.len() <= 12 && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| timestamp.parse().ok())
        .flatten()
        .ok_or(SignatureRefusal::Bad("X-Slack-Request-Timestamp is not Unix seconds"))?;
    let skew = now - ts;
    if skew.abs() > MAX_SKEW_SECS {
        return Err(SignatureRefusal::Stale { skew_secs: skew });
    }
    Ok(ts)
}

/// The key under which an accepted request is remembered (to refuse its replay): SHA-256 of
/// timestamp and signature (the signature covers the body).
pub fn replay_key(timestamp: i64, signature: &str) -> String {
    hex::encode(Sha256::digest(
        format!("slack:{timestamp}:{}", signature.trim()).as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Slack's documentation ("Verifying requests from Slack").
    #[test]
    fn slacks_documented_example_verifies() {
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, ts, body), sig);
        assert_eq!(
            verify(secret, Some(ts), Some(sig), body, 1531420618 + 10),
            Ok(1531420618)
        );
    }

    #[test]
    fn refusals() {
        let (secret, ts, body) = (b"s3cret".as_slice(), "1700000000", b"payload=%7B%7D".as_slice());
        let sig = sign(secret, ts, body);
        let now = 1_700_000_000;
        assert!(verify(secret, Some(ts), Some(&sig), body, now + MAX_SKEW_SECS).is_ok());
        assert!(verify(secret, Some(ts), Some(&sig), body, now - MAX_SKEW_SECS).is_ok());
        assert_eq!(
            verify(secret, Some(ts), Some(&sig), body, now + 360),
            Err(SignatureRefusal::Stale { skew_secs: 360 })
        );
        assert_eq!(
            verify(secret, Some(ts), Some(&sig), body, now - 301),
            Err(SignatureRefusal::Stale { skew_secs: -301 })
        );
        for (t, s, b) in [
            (None, Some(sig.as_str()), body),
            (Some(ts), None, body),
            (Some(ts), Some(sig.as_str()), b"payload=%7B%7D%20".as_slice()),
            (Some("1700000001"), Some(sig.as_str()), body),
            (Some(ts), Some(&sig[..sig.len() - 1]), body),
            (Some(ts), Some(&sig[3..]), body),
        ] {
            assert!(
                matches!(verify(secret, t, s, b, now), Err(SignatureRefusal::Bad(_))),
                "{t:?} {s:?}"
            );
        }
        assert!(matches!(
            verify(b"other", Some(ts), Some(&sig), body, now),
            Err(SignatureRefusal::Bad(_))
        ));
        assert_ne!(replay_key(1, "v0=a"), replay_key(2, "v0=a"));
    }
}
