//! API key files (`api_key`): one `CONSUMER sha256:HEX` per line, the 64 hex digits being the
//! SHA-256 of a key, so the file never holds the keys themselves. Blank lines and `#`
//! comments are skipped; a consumer may have several keys, but each key belongs to one.

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;

use crate::lines;

/// The keys of an API key file, in file order, each digest once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeys {
    keys: Vec<Key>,
}

/// One key: its consumer (a name that can be sent in a header) and the key's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    consumer: String,
    digest: [u8; 32],
}

/// Why an API key file is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A line (numbered from 1) that is not a usable entry.
    Line { line: usize, problem: Problem },
    /// No line is an entry.
    NoKey,
}

/// What is wrong with a line of an API key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NotUtf8,
    /// Not two fields, the second `sha256:` and 64 hex digits.
    NotAnEntry,
    /// The consumer holds control characters, which no header value can carry.
    NameNotSendable,
    /// The key is already on line `first`.
    Duplicate {
        first: usize,
    },
}

impl ApiKeys {
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl Key {
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The SHA-256 of the key.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

/// Reads an API key file.
pub fn parse(bytes: &[u8]) -> Result<ApiKeys, Error> {
    let mut keys = Vec::new();
    let mut lines_of = HashMap::new();
    for entry in lines::entries(bytes) {
        let (line, text) = entry.map_err(|line| Error::Line {
            line,
            problem: Problem::NotUtf8,
        })?;
        let fail = |problem| Error::Line { line, problem };
        let mut fields = text.split_whitespace();
        let (Some(consumer), Some(hash), None) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(fail(Problem::NotAnEntry));
        };
        let digest = hash
            .strip_prefix("sha256:")
            .and_then(hex_digest)
            .ok_or_else(|| fail(Problem::NotAnEntry))?;
        if !lines::sendable(consumer) {
            return Err(fail(Problem::NameNotSendable));
        }
        match lines_of.entry(digest) {
            Entry::Occupied(first) => {
                return Err(fail(Problem::Duplicate {
                    first: *first.get(),
                }))
            }
            Entry::Vacant(slot) => {
                slot.insert(line);
            }
        }
        keys.push(Key {
            consumer: consumer.to_owned(),
            digest,
        });
    }
    if keys.is_empty() {
        return Err(Error::NoKey);
    }
    Ok(ApiKeys { keys })
}

/// 64 hex digits, either case, as 32 bytes.
fn hex_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |b: u8| char::from(b).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(digest)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Line { line, problem } => write!(f, "line {line} {problem}"),
            Error::NoKey => f.write_str("holds no key"),
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("is not UTF-8 text"),
            Problem::NotAnEntry => {
                f.write_str("is not `CONSUMER sha256:HEX` (64 hex digits of the key's SHA-256)")
            }
            Problem::NameNotSendable => f.write_str(
                "has a consumer name with control characters, which no header can carry",
            ),
            Problem::Duplicate { first } => write!(f, "repeats the key of line {first}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const OTHER: &str = "486EA46224D1BB4FB680F34F7C9AD96A8F24EC88BE73EA8E5A6C65260E9CB8A7";

    fn line(line: usize, problem: Problem) -> Result<ApiKeys, Error> {
        Err(Error::Line { line, problem })
    }

    #[test]
    fn keys_load_in_file_order_with_their_digests() {
        let text = format!(
            "# consumers\n\nmobile sha256:{HEX}\n  partner \t sha256:{OTHER}  \r\nmobile sha256:{}\n",
            OTHER[..62].to_owned() + "00"
        );
        let file = parse(text.as_bytes()).unwrap();
        let consumers: Vec<_> = file.keys().iter().map(Key::consumer).collect();
        assert_eq!(consumers, ["mobile", "partner", "mobile"]);
        assert_eq!(file.keys()[0].digest()[..2], [0x2c, 0xf2]);
        assert_eq!(file.keys()[1].digest()[31], 0xa7);
    }

    #[test]
    fn lines_that_are_not_entries_are_refused_with_their_number() {
        let good = format!("mobile sha256:{HEX}\n");
        for bad in [
            format!("partner {OTHER}"),
            format!("partner sha256:{}", &OTHER[1..]),
            format!("partner sha256:{}g", &OTHER[1..]),
            format!("partner SHA256:{OTHER}"),
            format!("partner sha256:{OTHER} extra"),
            "partner".to_owned(),
        ] {
            assert_eq!(
                parse(format!("{good}{bad}\n").as_bytes()),
                line(2, Problem::NotAnEntry),
                "{bad}"
            );
        }
        assert_eq!(
            parse(format!("{good}par\u{7f}tner sha256:{OTHER}").as_bytes()),
            line(2, Problem::NameNotSendable)
        );
        assert_eq!(parse(b"\xfe"), line(1, Problem::NotUtf8));
        assert_eq!(parse(b"# nothing yet\n"), Err(Error::NoKey));
    }

    #[test]
    fn a_key_belongs_to_one_consumer_whatever_the_case_of_its_digits() {
        let text = format!(
            "mobile sha256:{HEX}\n# again\npartner sha256:{}\n",
            HEX.to_uppercase()
        );
        assert_eq!(
            parse(text.as_bytes()),
            line(3, Problem::Duplicate { first: 1 })
        );
    }

    #[test]
    fn errors_read_as_diagnostics() {
        assert_eq!(
            parse(b"mobile sha256:1234\n").unwrap_err().to_string(),
            "line 1 is not `CONSUMER sha256:HEX` (64 hex digits of the key's SHA-256)"
        );
        assert_eq!(
            parse(format!("a sha256:{HEX}\nb sha256:{HEX}").as_bytes())
                .unwrap_err()
                .to_string(),
            "line 2 repeats the key of line 1"
        );
        assert_eq!(parse(b"").unwrap_err().to_string(), "holds no key");
    }
}
