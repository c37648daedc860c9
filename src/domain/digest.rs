//! Canonical JSON and SHA-256, the two things every hash in the safety gate is built from.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Serialises `v` with object keys sorted (by UTF-8 bytes) at every depth and no whitespace,
/// independent of how `serde_json::Map` happens to be ordered in this build.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compares two hex digests in constant time.
pub fn same_digest(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "é"}], "c": true}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":true,"z":[3,{"x":"é","y":null}]},"b":1}"#
        );
    }

    #[test]
    fn digests_compare_exactly() {
        let h = sha256_hex(b"abc");
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(same_digest(&h, &sha256_hex(b"abc")));
        assert!(!same_digest(&h, &sha256_hex(b"abd")));
        assert!(!same_digest(&h, &h[..10]));
    }
}
