//! htpasswd files (`basic_auth`): one `user:hash` per line, bcrypt hashes only, as
//! `htpasswd -B` writes them. Blank lines and `#` comments are skipped; a third field
//! (`user:hash:comment`) is a comment, as nginx and Apache read it. Each user appears once.

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;

use crate::lines;

/// The users of an htpasswd file, in file order, each name once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Htpasswd {
    users: Vec<User>,
}

/// One user: a name that can be sent in a header and a well-formed bcrypt hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    name: String,
    hash: String,
}

/// Why an htpasswd file is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A line (numbered from 1) that is not a usable entry.
    Line { line: usize, problem: Problem },
    /// No line is an entry.
    NoUser,
}

/// What is wrong with a line of an htpasswd file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NotUtf8,
    /// No colon between a user and a hash.
    NotAnEntry,
    NoName,
    /// The name holds control characters, which no header value can carry.
    NameNotSendable,
    /// The hash is of another scheme (MD5 `$apr1$`, SHA-1 `{SHA}`, crypt, plain text).
    NotBcrypt,
    /// A bcrypt prefix, but not the cost, `$` and 53 characters that follow it.
    MalformedBcrypt,
    /// A bcrypt cost outside 4 to 31.
    Cost(u32),
    /// The user already has an entry, on line `first`.
    Duplicate {
        name: String,
        first: usize,
    },
}

impl Htpasswd {
    pub fn users(&self) -> &[User] {
        &self.users
    }
}

impl User {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a cost of 4 to 31, `$`, salt and hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Reads an htpasswd file.
pub fn parse(bytes: &[u8]) -> Result<Htpasswd, Error> {
    let mut users = Vec::new();
    let mut lines_of = HashMap::new();
    for entry in lines::entries(bytes) {
        let (line, text) = entry.map_err(|line| Error::Line {
            line,
            problem: Problem::NotUtf8,
        })?;
        let fail = |problem| Error::Line { line, problem };
        let (name, rest) = text
            .split_once(':')
            .ok_or_else(|| fail(Problem::NotAnEntry))?;
        let hash = rest.split_once(':').map_or(rest, |(hash, _comment)| hash);
        if name.is_empty() {
            return Err(fail(Problem::NoName));
        }
        if !lines::sendable(name) {
            return Err(fail(Problem::NameNotSendable));
        }
        bcrypt(hash).map_err(fail)?;
        match lines_of.entry(name) {
            Entry::Occupied(first) => {
                return Err(fail(Problem::Duplicate {
                    name: name.to_owned(),
                    first: *first.get(),
                }))
            }
            Entry::Vacant(slot) => {
                slot.insert(line);
            }
        }
        users.push(User {
            name: name.to_owned(),
            hash: hash.to_owned(),
        });
    }
    if users.is_empty() {
        return Err(Error::NoUser);
    }
    Ok(Htpasswd { users })
}

/// Accepts a well-formed bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost of 4 to 31,
/// `$`, then 53 characters of bcrypt's base64 (22 of salt, 31 of hash).
fn bcrypt(hash: &str) -> Result<(), Problem> {
    let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| hash.strip_prefix(prefix))
    else {
        return Err(Problem::NotBcrypt);
    };
    let bytes = rest.as_bytes();
    let well_formed = bytes.len() == 56
        && bytes[..2].iter().all(u8::is_ascii_digit)
        && bytes[2] == b'$'
        && bytes[3..]
            .iter()
            .all(|&b| b == b'.' || b == b'/' || b.is_ascii_alphanumeric());
    if !well_formed {
        return Err(Problem::MalformedBcrypt);
    }
    let cost = u32::from(bytes[0] - b'0') * 10 + u32::from(bytes[1] - b'0');
    if !(4..=31).contains(&cost) {
        return Err(Problem::Cost(cost));
    }
    Ok(())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Line { line, problem } => write!(f, "line {line} {problem}"),
            Error::NoUser => f.write_str("holds no user"),
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("is not UTF-8 text"),
            Problem::NotAnEntry => f.write_str("is not `user:hash`"),
            Problem::NoName => f.write_str("has no user name"),
            Problem::NameNotSendable => {
                f.write_str("has a user name with control characters, which no header can carry")
            }
            Problem::NotBcrypt => f.write_str("is not a bcrypt entry (make it with `htpasswd -B`)"),
            Problem::MalformedBcrypt => f.write_str(
                "has a malformed bcrypt hash (expected `$2y$`, a two-digit cost, `$` and 53 \
                 characters of `./A-Za-z0-9`)",
            ),
            Problem::Cost(cost) => write!(f, "has bcrypt cost {cost}, outside 4 to 31"),
            Problem::Duplicate { name, first } => {
                write!(f, "repeats user `{name}` of line {first}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "$2y$04$XRvd.8ZZ6EfeTnAEnXFA2u/yRwWNaOcg3L6CyiqzlpCaw1pMeUFWu";
    const BOB: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    fn line(line: usize, problem: Problem) -> Result<Htpasswd, Error> {
        Err(Error::Line { line, problem })
    }

    #[test]
    fn bcrypt_entries_load_in_file_order() {
        let text = format!(
            "# staff\r\nalice:{ALICE}\r\n\n  bob:{BOB}:on call  \ncarol:{}\n",
            ALICE.replace("$2y$", "$2a$")
        );
        let file = parse(text.as_bytes()).unwrap();
        let users: Vec<_> = file.users().iter().map(|u| (u.name(), u.hash())).collect();
        assert_eq!(
            users,
            [
                ("alice", ALICE),
                ("bob", BOB),
                ("carol", &*ALICE.replace("$2y$", "$2a$"))
            ]
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        for hash in [
            "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "abJnggxhB/yWI",
            "plain",
            &ALICE.replace("$2y$", "$2x$"),
            "",
        ] {
            let text = format!("alice:{ALICE}\nbob:{hash}\n");
            assert_eq!(
                parse(text.as_bytes()),
                line(2, Problem::NotBcrypt),
                "{hash}"
            );
        }
    }

    #[test]
    fn malformed_bcrypt_hashes_and_costs_out_of_range_are_refused() {
        for hash in [
            "$2y$05$tooshort",
            &format!("{ALICE}x"),
            &ALICE.replace("$04$", "$4$"),
            &ALICE.replace("$04$", "$04x"),
            &ALICE.replace(".8ZZ", "!8ZZ"),
        ] {
            let text = format!("bob:{hash}");
            assert_eq!(
                parse(text.as_bytes()),
                line(1, Problem::MalformedBcrypt),
                "{hash}"
            );
        }
        for cost in [0, 3, 32, 99] {
            let text = format!("bob:{}", ALICE.replace("$04$", &format!("${cost:02}$")));
            assert_eq!(parse(text.as_bytes()), line(1, Problem::Cost(cost)));
        }
    }

    #[test]
    fn a_user_appears_once() {
        let text = format!("alice:{ALICE}\n# again\nalice:{BOB}\n");
        assert_eq!(
            parse(text.as_bytes()),
            line(
                3,
                Problem::Duplicate {
                    name: "alice".into(),
                    first: 1
                }
            )
        );
        assert_eq!(
            parse(text.as_bytes()).unwrap_err().to_string(),
            "line 3 repeats user `alice` of line 1"
        );
    }

    #[test]
    fn lines_that_are_not_entries_are_refused_with_their_number() {
        assert_eq!(
            parse(format!("alice:{ALICE}\ncarol\n").as_bytes()),
            line(2, Problem::NotAnEntry)
        );
        assert_eq!(
            parse(format!(":{ALICE}").as_bytes()),
            line(1, Problem::NoName)
        );
        assert_eq!(
            parse(format!("al\u{1}ice:{ALICE}").as_bytes()),
            line(1, Problem::NameNotSendable)
        );
        assert_eq!(parse(b"# fine\n\xffalice:x\n"), line(2, Problem::NotUtf8));
        assert_eq!(parse(b"# nobody\n\n"), Err(Error::NoUser));
        assert_eq!(parse(b""), Err(Error::NoUser));
    }

    #[test]
    fn errors_read_as_diagnostics() {
        assert_eq!(
            parse(b"alice:$apr1$abc$defghijklmnopqrstuvwx\n")
                .unwrap_err()
                .to_string(),
            "line 1 is not a bcrypt entry (make it with `htpasswd -B`)"
        );
        assert_eq!(parse(b"").unwrap_err().to_string(), "holds no user");
    }
}
