//! JSON helpers shared by the SDK and the host.

use std::io;

use serde::Serialize;
use zeroize::Zeroizing;

/// Counts bytes without storing them.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serializes `value` into one buffer of exactly the right size, zeroized on drop.
///
/// The value is serialized twice: once to count the bytes, once into a buffer allocated at
/// that size. A growing `Vec` would reallocate and leave unzeroed copies of secrets behind.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value)?;
    let mut out = Zeroizing::new(Vec::with_capacity(counter.0));
    serde_json::to_writer(&mut *out, value)?;
    debug_assert_eq!(out.len(), counter.0, "serialization is deterministic");
    Ok(out)
}

/// Describes a JSON parse error without quoting the input: serde_json's own messages can
/// contain the offending value, and the input may hold secrets.
pub fn describe_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "could not be read".to_owned(),
        Category::Eof => "ends too early".to_owned(),
        Category::Syntax => "is not valid JSON".to_owned(),
        Category::Data => {
            let msg = e.to_string();
            // "missing field `x`" and "unknown variant `x`" name only field names and tags.
            if let Some(field) = msg.strip_prefix("missing field ") {
                let field = field.split(" at line").next().unwrap_or(field);
                format!("lacks the required field {field}")
            } else {
                "has a value of the wrong type or shape".to_owned()
            }
        }
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_vec_is_exact_and_equal_to_serde_json() {
        let v = serde_json::json!({"a": [1, 2, 3], "b": "x\"y", "c": null});
        let out = to_vec(&v).unwrap();
        assert_eq!(out.len(), out.capacity());
        assert_eq!(&out[..], serde_json::to_vec(&v).unwrap().as_slice());
    }

    #[test]
    fn errors_never_quote_the_input() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u32,
        }
        let e = serde_json::from_str::<T>(r#"{"n":"hunter2"}"#).unwrap_err();
        let d = describe_error(&e);
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(
            d,
            "has a value of the wrong type or shape (line 1, column 14)"
        );
        let e = serde_json::from_str::<T>(r#"{}"#).unwrap_err();
        assert_eq!(
            describe_error(&e),
            "lacks the required field `n` (line 1, column 2)"
        );
        let e = serde_json::from_str::<T>(r#"{"n": hunter2"#).unwrap_err();
        assert_eq!(describe_error(&e), "is not valid JSON (line 1, column 7)");
        let e = serde_json::from_str::<T>(r#"{"n": 1"#).unwrap_err();
        assert_eq!(describe_error(&e), "ends too early (line 1, column 7)");
    }
}
