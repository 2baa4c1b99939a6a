//! The `basic_auth` policy: admits a request whose `Authorization: Basic` credentials match a
//! user of an htpasswd file (bcrypt entries, as `htpasswd -B` writes them), records the user
//! as the consumer, and removes the credentials before the request goes upstream.
//!
//! bcrypt costs milliseconds of CPU by design, so it runs on the blocking pool, off the event
//! loop; credentials that passed are remembered (by their SHA-256) in a small map, so a client
//! that sends the same valid credentials on every request costs one hash each time.

use std::sync::{Arc, Mutex, PoisonError};

use http::{
    header::{AUTHORIZATION, RETRY_AFTER},
    HeaderMap, HeaderName, HeaderValue,
};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

use super::{read_file, unauthorized, Caller, LoadError, Policy};
use crate::{Cx, Request, Response};

/// How a `basic_auth` policy checks credentials.
#[derive(Debug)]
pub struct BasicAuthSpec {
    /// The policy's name in the `.edge` file.
    pub name: &'static str,
    /// The htpasswd file, by absolute path: `user:$2y$...` lines.
    pub htpasswd: &'static str,
    /// The realm named in the `WWW-Authenticate` challenge.
    pub realm: &'static str,
    /// The request header set to the user's name towards the upstream (a client-sent copy is
    /// replaced).
    pub consumer_header: Option<HeaderName>,
}

/// A `basic_auth` policy, built from its [`BasicAuthSpec`].
#[derive(Debug)]
pub struct BasicAuth {
    spec: &'static BasicAuthSpec,
    users: ahash::HashMap<Box<str>, Arc<User>>,
    /// Whose hash an unknown user's password is checked against, so that an unknown user
    /// takes as long to refuse as a wrong password.
    decoy: Arc<User>,
    /// Credentials that passed, by SHA-256 of `user:password`.
    verified: Mutex<ahash::HashMap<[u8; 32], Arc<User>>>,
    challenge: HeaderValue,
    /// Password checks (one bcrypt each) running at once; past [`BasicAuth::checks`], a check
    /// is refused with 503 at once rather than queued, so a flood of wrong passwords holds at
    /// most half the cores and never the blocking pool that file reads share.
    checking: tokio::sync::Semaphore,
}

/// Why a request's credentials were not accepted.
enum Refused {
    /// No check could start: as many as allowed are running.
    Busy,
    Bad(&'static str),
}

impl From<&'static str> for Refused {
    fn from(why: &'static str) -> Refused {
        Refused::Bad(why)
    }
}

#[derive(Debug)]
struct User {
    name: Box<str>,
    hash: Box<str>,
    /// The name as the consumer header's value.
    header: HeaderValue,
}

/// How many verified credentials are remembered; the map is emptied when full.
const VERIFIED_CAPACITY: usize = 1024;

impl BasicAuth {
    /// Reads the htpasswd file; fails when it cannot be read, is not an htpasswd file of
    /// bcrypt entries (see [`edge_formats::htpasswd`]), or the realm cannot be sent in a header.
    pub fn load(spec: &'static BasicAuthSpec) -> Result<BasicAuth, LoadError> {
        let error = |reason| LoadError::Policy {
            name: spec.name,
            reason,
        };
        let text = read_file(spec.name, "htpasswd", spec.htpasswd)?;
        let users = users(text.as_bytes())
            .map_err(|reason| error(format!("htpasswd file {}: {reason}", spec.htpasswd)))?;
        let decoy = users
            .values()
            .next()
            .cloned()
            .ok_or_else(|| error(format!("htpasswd file {} holds no users", spec.htpasswd)))?;
        let challenge = challenge(spec.realm)
            .ok_or_else(|| error(format!("realm {:?} cannot be sent in a header", spec.realm)))?;
        Ok(BasicAuth {
            spec,
            users,
            decoy,
            verified: Mutex::new(ahash::HashMap::default()),
            challenge,
            checking: tokio::sync::Semaphore::new(BasicAuth::checks()),
        })
    }

    /// Password checks allowed at once: half the cores, at least one.
    fn checks() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / 2).max(1)
    }

    /// The user whose credentials `headers` carry, or why there is none.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<User>, Refused> {
        let credentials = credentials(headers)?;
        let key: [u8; 32] = Sha256::digest(&credentials).into();
        if let Some(user) = self.lock().get(&key) {
            return Ok(Arc::clone(user));
        }
        let colon = credentials
            .iter()
            .position(|&b| b == b':')
            .ok_or("credentials without a colon")?;
        let (name, password) = (&credentials[..colon], &credentials[colon + 1..]);
        let user = std::str::from_utf8(name)
            .ok()
            .and_then(|name| self.users.get(name))
            .cloned();
        let against = Arc::clone(user.as_ref().unwrap_or(&self.decoy));
        let password = password.to_vec();
        let Ok(_permit) = self.checking.try_acquire() else {
            return Err(Refused::Busy);
        };
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &against.hash))
            .await
            .map_err(|_| "password check did not finish")?;
        match (user, verified) {
            (Some(user), Ok(true)) => {
                let mut remembered = self.lock();
                if remembered.len() >= VERIFIED_CAPACITY {
                    remembered.clear();
                }
                remembered.insert(key, Arc::clone(&user));
                Ok(user)
            }
            (None, _) => Err(Refused::Bad("unknown user")),
            (Some(_), _) => Err(Refused::Bad("wrong password")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ahash::HashMap<[u8; 32], Arc<User>>> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Policy for BasicAuth {
    type Ticket = ();

    async fn request(&self, req: &mut Request, _cx: &Cx) -> Result<(), Response> {
        let user = self
            .authenticate(req.headers())
            .await
            .map_err(|refused| match refused {
                Refused::Busy => {
                    tracing::debug!(policy = self.spec.name, "password checks busy: refused");
                    let mut response = crate::respond(503, "503 Service Unavailable\n");
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                    response
                }
                Refused::Bad(why) => {
                    tracing::debug!(policy = self.spec.name, why, "request refused");
                    unauthorized("401 Unauthorized\n", self.challenge.clone())
                }
            })?;
        req.headers_mut().remove(AUTHORIZATION);
        if let Some(name) = &self.spec.consumer_header {
            req.headers_mut().insert(name.clone(), user.header.clone());
        }
        req.extensions_mut().insert(Caller {
            consumer: Some(user.name.clone()),
            claims: None,
        });
        Ok(())
    }
}

/// `Basic realm="REALM", charset="UTF-8"`, the realm quoted; `None` when it holds control
/// characters.
fn challenge(realm: &str) -> Option<HeaderValue> {
    let mut value = String::with_capacity(realm.len() + 32);
    value.push_str("Basic realm=\"");
    for c in realm.chars() {
        if c == '"' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push_str("\", charset=\"UTF-8\"");
    HeaderValue::try_from(value).ok()
}

/// The decoded `user:password` of the one `Authorization: Basic` header.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<SmallVec<[u8; 128]>, &'static str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or("no Authorization header")?;
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value.as_bytes();
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or("Authorization header without credentials")?;
    if !value[..space].eq_ignore_ascii_case(b"basic") {
        return Err("Authorization scheme is not Basic");
    }
    base64_decode(value[space + 1..].trim_ascii()).ok_or("credentials are not base64")
}

/// Standard base64, padded or not.
fn base64_decode(text: &[u8]) -> Option<SmallVec<[u8; 128]>> {
    let unpadded = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] if text.len() % 4 == 0 => rest,
        _ => text,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = SmallVec::with_capacity(unpadded.len() / 4 * 3 + 2);
    let (mut bits, mut count) = (0u32, 0u32);
    for &c in unpadded {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(sextet);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The users of an htpasswd file, by name.
fn users(bytes: &[u8]) -> Result<ahash::HashMap<Box<str>, Arc<User>>, String> {
    let file = edge_formats::htpasswd::parse(bytes).map_err(|error| error.to_string())?;
    file.users()
        .iter()
        .map(|user| {
            let header = HeaderValue::from_str(user.name())
                .map_err(|_| format!("user `{}` cannot be sent as a header value", user.name()))?;
            let user = User {
                name: user.name().into(),
                hash: user.hash().into(),
                header,
            };
            Ok((user.name.clone(), Arc::new(user)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;
    use http::{header::WWW_AUTHENTICATE, StatusCode};

    use super::*;
    use crate::{body::RequestBody, host_name::HostName};

    const CHALLENGE: &str = r#"Basic realm="staff", charset="UTF-8""#;

    /// Padded standard base64.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= chunk.len() {
                    char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63])
                } else {
                    '='
                });
            }
        }
        out
    }

    fn basic(credentials: &str) -> String {
        format!("Basic {}", base64(credentials.as_bytes()))
    }

    fn htpasswd() -> String {
        let alice = bcrypt::hash_with_result("secret", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let bob = bcrypt::hash("pa:ss wörd", 4).unwrap();
        format!("# staff\nalice:{alice}\n\nbob:{bob}\n")
    }

    fn file(content: &str) -> (tempfile::NamedTempFile, &'static str) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content.as_bytes()).unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        (file, Box::leak(path.into_boxed_str()))
    }

    fn load(content: &str) -> Result<BasicAuth, LoadError> {
        let (_file, path) = file(content);
        BasicAuth::load(Box::leak(Box::new(BasicAuthSpec {
            name: "staff",
            htpasswd: path,
            realm: "staff",
            consumer_header: Some(HeaderName::from_static("x-user")),
        })))
    }

    fn request(authorization: &[&str]) -> Request {
        let mut builder = http::Request::builder()
            .uri("/admin")
            .header("x-user", "root");
        for value in authorization {
            builder = builder.header(AUTHORIZATION, *value);
        }
        builder.body(RequestBody::full(Bytes::new())).unwrap()
    }

    async fn check(policy: &BasicAuth, req: &mut Request) -> Result<(), Response> {
        let cx = Cx::new(
            "web",
            "127.0.0.1:5555".parse().unwrap(),
            HeaderValue::from_static("127.0.0.1"),
            HostName::EMPTY,
            false,
        );
        policy.request(req, &cx).await
    }

    async fn passes(policy: &BasicAuth, credentials: &str) -> Request {
        let mut req = request(&[&basic(credentials)]);
        if check(policy, &mut req).await.is_err() {
            panic!("{credentials} refused");
        }
        req
    }

    async fn refused(policy: &BasicAuth, authorization: &[&str]) {
        let mut req = request(authorization);
        let response = check(policy, &mut req)
            .await
            .expect_err("the request should be refused");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], CHALLENGE);
        assert!(Caller::of(&req).is_none());
    }

    #[tokio::test]
    async fn good_passwords_pass_and_the_credentials_are_removed() {
        let policy = load(&htpasswd()).unwrap();
        for (credentials, user) in [("alice:secret", "alice"), ("bob:pa:ss wörd", "bob")] {
            let req = passes(&policy, credentials).await;
            assert!(req.headers().get(AUTHORIZATION).is_none());
            let users: Vec<_> = req.headers().get_all("x-user").iter().collect();
            assert_eq!(users, [user]);
            assert_eq!(Caller::of(&req).unwrap().consumer.as_deref(), Some(user));
        }
        let mut req = request(&[&format!("bAsIc   {}  ", base64(b"alice:secret"))]);
        check(&policy, &mut req).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_passwords_unknown_users_and_bad_headers_are_refused() {
        let policy = load(&htpasswd()).unwrap();
        for authorization in [
            &[basic("alice:Secret").as_str()][..],
            &[&basic("alice:")],
            &[&basic("mallory:secret")],
            &[&basic("alice")],
            &[],
            &["Basic"],
            &["Basic !!!!"],
            &["Bearer YWxpY2U6c2VjcmV0"],
            &[&basic("alice:secret"), &basic("bob:pa:ss wörd")],
        ] {
            refused(&policy, authorization).await;
        }
        assert!(policy.lock().is_empty());
    }

    #[tokio::test]
    async fn verified_credentials_are_remembered() {
        let mut policy = load(&htpasswd()).unwrap();
        passes(&policy, "alice:secret").await;
        assert_eq!(policy.lock().len(), 1);
        // Without its users, the policy can only admit what it remembers.
        policy.users.clear();
        let req = passes(&policy, "alice:secret").await;
        assert_eq!(Caller::of(&req).unwrap().consumer.as_deref(), Some("alice"));
        refused(&policy, &[&basic("alice:wrong")]).await;
        assert_eq!(policy.lock().len(), 1);
    }

    #[tokio::test]
    async fn the_memory_of_verified_credentials_is_bounded() {
        let policy = load(&htpasswd()).unwrap();
        for n in 0..VERIFIED_CAPACITY {
            let key = Sha256::digest(n.to_string()).into();
            policy.lock().insert(key, Arc::clone(&policy.decoy));
        }
        passes(&policy, "alice:secret").await;
        assert_eq!(policy.lock().len(), 1);
    }

    /// The file is read by `edge_formats::htpasswd` (whose tests cover the format); a refusal
    /// names the file and the line.
    #[test]
    fn only_bcrypt_entries_load() {
        let good = htpasswd();
        for (content, expected) in [
            (
                format!("{good}carol:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n"),
                "line 5 is not a bcrypt entry (make it with `htpasswd -B`)",
            ),
            (
                format!("{good}carol:$2y$05$tooshort\n"),
                "line 5 has a malformed bcrypt hash",
            ),
            (format!("{good}carol\n"), "line 5 is not `user:hash`"),
            (
                format!("{good}{good}"),
                "line 6 repeats user `alice` of line 2",
            ),
            ("# nobody\n".into(), "holds no user"),
        ] {
            let (policy, reason) = load(&content).unwrap_err().policy_reason();
            assert_eq!(policy, "staff");
            assert!(reason.starts_with("htpasswd file /"), "{reason}");
            assert!(reason.contains(expected), "{reason} / {expected}");
        }
    }

    #[test]
    fn base64_padded_or_not() {
        assert_eq!(
            base64_decode(b"YWxpY2U6c2VjcmV0").unwrap().as_slice(),
            b"alice:secret"
        );
        assert_eq!(base64_decode(b"YTpi").unwrap().as_slice(), b"a:b");
        assert_eq!(base64_decode(b"YTpiYw==").unwrap().as_slice(), b"a:bc");
        assert_eq!(base64_decode(b"YTpiYw").unwrap().as_slice(), b"a:bc");
        assert_eq!(base64_decode(b"YTpiYWM=").unwrap().as_slice(), b"a:bac");
        assert_eq!(base64_decode(b"").unwrap().as_slice(), b"");
        for bad in [&b"YTpiY"[..], b"YTp-", b"YT=i", b"YTpiYw="] {
            assert!(base64_decode(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_realm_is_quoted() {
        assert_eq!(
            challenge(r#"the "back" \ office"#).unwrap(),
            r#"Basic realm="the \"back\" \\ office", charset="UTF-8""#
        );
        assert!(challenge("two\nlines").is_none());
    }
}
