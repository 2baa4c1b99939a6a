//! Typed literals: durations, sizes, addresses, statuses, methods, paths, host patterns, header
//! names and values, rates and networks.
//! Each reader takes one argument and returns its value or a diagnostic pointing into it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::ast::{Address, Cidr, HostPattern, Method, PathMatch, Rate, RequestUrl, StatusRange};
use crate::diagnostic::{Diagnostic, Label};
use crate::span::Spanned;
use crate::syntax::{Arg, ArgKind};

type Read<T> = Result<Spanned<T>, Diagnostic>;

fn bad(arg: &Arg, what: &str, help: &str) -> Diagnostic {
    Diagnostic::error("invalid-literal", format!("invalid {what} `{}`", arg.text))
        .with_label(Label::primary(arg.span, format!("not a valid {what}")))
        .with_help(help)
}

/// Splits `250ms` into `(250, "ms")`.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

/// The units of durations, with the milliseconds in each.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// `250ms`, `5s`, `2m`, `1h`, `365d`: longer than zero.
pub fn duration(arg: &Arg) -> Read<Duration> {
    let duration = duration_or_zero(arg)?;
    if duration.value.is_zero() {
        return Err(bad(
            arg,
            "duration",
            "a duration must be longer than zero: `0` does not mean \"never\" or \"off\"; \
             leave the line out for the default",
        ));
    }
    Ok(duration)
}

/// A duration that may be zero (`0s`), for a setting whose default is zero.
pub fn duration_or_zero(arg: &Arg) -> Read<Duration> {
    const HELP: &str =
        "a duration is a whole number and a unit: `250ms`, `5s`, `2m`, `1h` or `365d`";
    let (number, unit) = number_and_unit(&arg.text).ok_or_else(|| {
        bad(
            arg,
            "duration",
            &duration_hint(&arg.text).unwrap_or(HELP.into()),
        )
    })?;
    let Some(millis_per_unit) = DURATION_UNITS
        .iter()
        .find_map(|(name, millis)| (*name == unit).then_some(*millis))
    else {
        return Err(bad(
            arg,
            "duration",
            &duration_hint(&arg.text).unwrap_or(HELP.into()),
        ));
    };
    let millis = number
        .checked_mul(millis_per_unit)
        .filter(|millis| *millis <= 2 * 365 * 86_400_000)
        .ok_or_else(|| bad(arg, "duration", "durations are at most two years"))?;
    Ok(Spanned::new(Duration::from_millis(millis), arg.span))
}

/// What a duration written another way (`1.5s`, `5sec`, `2 min`'s `min`) is written as.
fn duration_hint(text: &str) -> Option<String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = duration_unit(unit)?;
    let millis_per_unit = DURATION_UNITS
        .iter()
        .find_map(|(name, millis)| (*name == unit).then_some(*millis))?;
    if number.contains('.') {
        let millis = number.parse::<f64>().ok()? * millis_per_unit as f64;
        let whole = (millis.fract() == 0.0 && millis >= 1.0).then_some(millis as u64)?;
        let (name, per) = DURATION_UNITS
            .iter()
            .rev()
            .find(|(_, per)| whole % per == 0)
            .expect("every whole number of milliseconds is a number of `ms`");
        return Some(format!(
            "durations are whole numbers: write `{}{name}`",
            whole / per
        ));
    }
    number.parse::<u64>().ok()?;
    Some(format!(
        "the units are `ms`, `s`, `m`, `h` and `d`: write `{number}{unit}`"
    ))
}

/// `512B`, `64KiB`, `10MiB`, `1GiB` (and the decimal `KB`, `MB`, `GB`), in bytes.
pub fn size(arg: &Arg) -> Read<u64> {
    const HELP: &str = "a size is a whole number and a unit: `512B`, `64KiB`, `10MiB` or `1GiB`";
    let hint = || size_hint(&arg.text).unwrap_or(HELP.into());
    let (number, unit) = number_and_unit(&arg.text).ok_or_else(|| bad(arg, "size", &hint()))?;
    let bytes_per_unit: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad(arg, "size", &hint())),
    };
    let bytes = number
        .checked_mul(bytes_per_unit)
        .filter(|bytes| *bytes <= 1 << 40)
        .ok_or_else(|| bad(arg, "size", "sizes are at most 1TiB"))?;
    Ok(Spanned::new(bytes, arg.span))
}

/// The unit of durations a unit written another way (`sec`, `min`, `S`) stands for.
fn duration_unit(unit: &str) -> Option<&'static str> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => "d",
        _ => return None,
    })
}

/// The unit of sizes a unit written another way (`mb`, `M`, `bytes`) stands for.
fn size_unit(unit: &str) -> Option<&'static str> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "b" | "byte" | "bytes" => "B",
        "k" | "kib" => "KiB",
        "m" | "mib" => "MiB",
        "g" | "gib" => "GiB",
        "kb" => "KB",
        "mb" => "MB",
        "gb" => "GB",
        _ => return None,
    })
}

/// A number and a unit written apart (`10 MB`, `2 min`), as one literal: `10MB`, `2m`. A
/// size's unit is kept when it is one, since `m` alone is a duration's minute.
pub fn one_word(number: &str, unit: &str) -> String {
    let unit = ["B", "KiB", "MiB", "GiB", "KB", "MB", "GB"]
        .into_iter()
        .find(|size| *size == unit)
        .or_else(|| duration_unit(unit))
        .or_else(|| size_unit(unit))
        .unwrap_or(unit);
    format!("{number}{unit}")
}

/// What a size written another way (`10mb`, `10M`, `1.5MiB`) is written as.
fn size_hint(text: &str) -> Option<String> {
    const UNITS: [(&str, u64); 7] = [
        ("B", 1),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
    ];
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = size_unit(unit)?;
    let per = UNITS.iter().find(|(name, _)| *name == unit)?.1;
    if number.contains('.') {
        let bytes = number.parse::<f64>().ok()? * per as f64;
        let whole = (bytes.fract() == 0.0 && bytes >= 1.0).then_some(bytes as u64)?;
        let family = if unit.contains('i') || unit == "B" {
            0..4
        } else {
            4..7
        };
        let (name, per) = UNITS[family]
            .iter()
            .rev()
            .chain(&UNITS[..1])
            .find(|(_, per)| whole % per == 0)
            .expect("every whole number of bytes is a number of `B`");
        return Some(format!(
            "sizes are whole numbers: write `{}{name}`",
            whole / per
        ));
    }
    number.parse::<u64>().ok()?;
    Some(format!(
        "units are written `B`, `KiB`, `MiB`, `GiB` (binary) or `KB`, `MB`, `GB` (decimal): \
         write `{number}{unit}`"
    ))
}

/// A placeholder address, replaced before a listener leaves lowering.
pub const ANY_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// An address written in quotes, which the language reads bare.
fn quoted_address(arg: &Arg, what: &str) -> Result<(), Diagnostic> {
    if !arg.is_quoted() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "invalid-literal",
        format!("{what} `{}` is written without quotes", arg.text),
    )
    .with_label(Label::primary(arg.span, "a quoted string"))
    .with_help(format!("addresses are written bare, as `{}`", arg.text)))
}

/// An IP address and port to listen on: `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:0`.
pub fn bind_address(arg: &Arg) -> Read<SocketAddr> {
    quoted_address(arg, "the listen address")?;
    arg.text.parse().map(|addr| Spanned::new(addr, arg.span)).map_err(|_| {
        bad(
            arg,
            "listen address",
            "listeners bind an IP address and a port: `127.0.0.1:8080`, `0.0.0.0:443` or `[::1]:8080`",
        )
    })
}

/// The name of an environment variable that holds a secret (never the secret itself):
/// letters, digits and `_`, not starting with a digit, as `EDGE_ADMIN_TOKEN`.
pub fn env_name(arg: &Arg) -> Read<String> {
    let text = &arg.text;
    let valid = !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(bad(
            arg,
            "environment variable name",
            "name the variable that holds the secret, as `EDGE_ADMIN_TOKEN`; the secret itself \
             never goes in the config",
        ));
    }
    Ok(Spanned::new(text.clone(), arg.span))
}

/// A Redis URL, read: as written, and what the nodes of a cluster must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl {
    /// As written.
    pub url: String,
    /// Written with `rediss://`.
    pub tls: bool,
    /// The user name, as written.
    pub user: Option<String>,
    /// The server as `HOST:PORT`, the host lower-cased (an IPv6 address in brackets, in its
    /// shortest form) and the port 6379 when not given: two URLs of one server have the same.
    pub server: String,
    /// 0 when not given.
    pub database: u32,
    /// The URL names a port; else `server` has [`REDIS_PORT`].
    pub port_given: bool,
    /// The URL names a database (`/DB`).
    pub database_given: bool,
}

/// The port of a Redis URL that names none.
pub const REDIS_PORT: u16 = 6379;

/// A Redis server's URL: `redis://HOST[:PORT][/DB]`, or `rediss://` for TLS, with an optional
/// user name (`redis://edge@HOST`), kept as written. A password is refused: it would sit in
/// the config and the binary. `usage` is the directive written right, for an unquoted URL.
pub fn redis_url(arg: &Arg, usage: &str) -> Read<RedisUrl> {
    const WHAT: &str = "Redis URL";
    const FORM: &str = "a Redis URL is `redis://HOST[:PORT][/DB]`, or `rediss://...` for TLS, \
                        such as `\"redis://10.0.0.5:6379/0\"`";
    let url = text(arg, "a Redis URL", usage)?;
    let (tls, rest) = [(false, "redis://"), (true, "rediss://")]
        .iter()
        .find_map(|(tls, scheme)| Some((*tls, url.value.strip_prefix(scheme)?)))
        .ok_or_else(|| {
            bad(
                arg,
                WHAT,
                "the scheme is `redis://`, or `rediss://` for TLS",
            )
        })?;
    // Before anything else, since a password may hold any character.
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err(
                Diagnostic::error("password-in-url", "the Redis URL holds a password")
                    .with_label(Label::primary(arg.span, "a password in the config"))
                    .with_help(
                        "give it with `password_env NAME` (an environment variable) or \
                     `password_file \"FILE\"`, so that the secret never sits in the config or \
                     the binary",
                    ),
            );
        }
        Some((user, rest)) => (Some(user), rest),
        None => (None, rest),
    };
    if rest.contains(['?', '#']) {
        return Err(bad(
            arg,
            WHAT,
            "a Redis URL has no query or fragment: the store's directives say the rest",
        ));
    }
    let user_name = |user: &str| {
        !user.is_empty()
            && user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
    };
    if user.is_some_and(|user| !user_name(user)) {
        return Err(bad(
            arg,
            WHAT,
            "a user name is letters, digits, `-`, `.`, `_` and `~` (others %-escaped), as \
             `redis://edge@10.0.0.5`",
        ));
    }
    let (address, database) = match rest.split_once('/') {
        Some((address, database)) => (address, Some(database)),
        None => (rest, None),
    };
    let Ok(database) = database.map_or(Ok(0), str::parse::<u32>) else {
        return Err(bad(
            arg,
            WHAT,
            "the database is a number after the address, such as `/0`",
        ));
    };
    let ipv6 = |ip: &str| {
        ip.parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| format!("[{ip}]"))
    };
    let (host, port) = match address.strip_prefix('[').map(|rest| rest.split_once(']')) {
        Some(Some((ip, ""))) => (ipv6(ip), None),
        Some(Some((ip, port))) => match port.strip_prefix(':') {
            Some(port) => (ipv6(ip), Some(port)),
            None => (None, None),
        },
        Some(None) => (None, None),
        None => {
            let (host, port) = match address.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            };
            (is_dns_name(host).then(|| host.to_ascii_lowercase()), port)
        }
    };
    let Some(host) = host else {
        return Err(bad(arg, WHAT, FORM));
    };
    let port_given = port.is_some();
    let database_given = database != 0 || rest.contains('/');
    let port = match port.map(str::parse::<u16>) {
        None => REDIS_PORT,
        Some(Ok(port)) if port != 0 => port,
        Some(_) => return Err(bad(arg, WHAT, "the port is a number from 1 to 65535")),
    };
    Ok(Spanned::new(
        RedisUrl {
            tls,
            user: user.map(str::to_owned),
            server: format!("{host}:{port}"),
            database,
            port_given,
            database_given,
            url: url.value,
        },
        url.span,
    ))
}

/// An `https://` URL a file is fetched from: `https://HOST[:PORT][/PATH][?QUERY]`, the host
/// a DNS name or an IP address (IPv6 in brackets), kept as written. Anything else (`http://`,
/// a user name or password, a fragment, no host, port 0) is refused. `usage` is the
/// directive written right, for an unquoted URL.
pub fn https_url(arg: &Arg, usage: &str) -> Read<String> {
    const WHAT: &str = "HTTPS URL";
    const FORM: &str = "an HTTPS URL is `https://HOST[:PORT]/PATH`, such as \
                        `\"https://auth.example.com/.well-known/jwks.json\"`";
    let url = text(arg, "a URL", usage)?;
    let Some(rest) = url.value.strip_prefix("https://") else {
        let help = if url.value.starts_with("http://") {
            "keys are fetched over HTTPS only: a cleartext answer could be replaced on the way"
        } else {
            FORM
        };
        return Err(bad(arg, WHAT, help));
    };
    url_after_scheme(arg, rest, 443, (WHAT, FORM))?;
    Ok(url)
}

/// The OTLP/HTTP receiver spans are sent to: `http://HOST[:PORT][/PATH]`, checked as
/// [`https_url`] checks its URLs; a URL without a path gets the standard `/v1/traces`.
/// `https://` is refused with what to do instead.
pub fn otlp_url(arg: &Arg, usage: &str) -> Read<String> {
    const WHAT: &str = "OTLP URL";
    const FORM: &str = "an OTLP receiver is `http://HOST[:PORT][/PATH]`, such as \
                        `\"http://127.0.0.1:4318\"` (the path is `/v1/traces` unless given)";
    let url = text(arg, "a URL", usage)?;
    let Some(rest) = url.value.strip_prefix("http://") else {
        let help = if url.value.starts_with("https://") {
            "spans are exported over plain HTTP: send them to an OpenTelemetry Collector \
             beside the proxy (`http://127.0.0.1:4318`), which forwards them over TLS"
        } else {
            FORM
        };
        return Err(bad(arg, WHAT, help));
    };
    url_after_scheme(arg, rest, 80, (WHAT, FORM))?;
    let has_path = rest.find(['/', '?']).is_some_and(|at| &rest[at..] != "/");
    if has_path {
        return Ok(url);
    }
    let base = url.value.trim_end_matches('/');
    Ok(Spanned::new(format!("{base}/v1/traces"), url.span))
}

/// What follows `SCHEME://` in a URL that is fetched: printable, without a fragment or a
/// user name, its authority a server with a port above 0 (`default_port` when none is
/// written). `what` and `form` name the URL and its form in the diagnostic.
fn url_after_scheme(
    arg: &Arg,
    rest: &str,
    default_port: u16,
    (what, form): (&str, &str),
) -> Result<(), Diagnostic> {
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            arg,
            what,
            "a URL is printable ASCII without spaces: percent-encode anything else",
        ));
    }
    if rest.contains('#') {
        return Err(bad(arg, what, "a URL that is fetched has no `#` fragment"));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            arg,
            what,
            "a URL in the config holds no user name or password",
        ));
    }
    match server(authority, Some(default_port)) {
        None => Err(bad(arg, what, form)),
        Some(Address::Socket(socket)) if socket.port() == 0 => {
            Err(bad(arg, what, "the port is a number from 1 to 65535"))
        }
        Some(Address::Name { port: 0, .. }) => {
            Err(bad(arg, what, "the port is a number from 1 to 65535"))
        }
        Some(_) => Ok(()),
    }
}

/// A server: `10.0.0.11:8080`, `[::1]:8080` or `users.internal:8080`, and whether it was
/// written with `https://` (`https://users.internal:8443`, or without a port for 443), which
/// makes it a TLS server.
pub fn server_address(arg: &Arg) -> Read<(Address, bool)> {
    const HELP: &str = "a server is an address and a port: `10.0.0.11:8080`, `[::1]:8080` or \
                        `users.internal:8080`; `https://` in front makes it a TLS server \
                        (port 443 unless given)";
    quoted_address(arg, "the server address")?;
    let (text, https) =
        match arg.text.split_once("://") {
            None => (arg.text.as_str(), false),
            Some(("https", rest)) => (rest, true),
            Some(("http", _)) => return Err(bad(
                arg,
                "server address",
                "servers speak cleartext HTTP unless written with `https://`: leave `http://` out",
            )),
            Some(_) => return Err(bad(arg, "server address", HELP)),
        };
    let address =
        server(text, https.then_some(443)).ok_or_else(|| bad(arg, "server address", HELP))?;
    let port = match &address {
        Address::Socket(socket) => socket.port(),
        Address::Name { port, .. } => *port,
        Address::Srv(_) => unreachable!("SRV names are read by `srv_name`"),
    };
    if port == 0 {
        return Err(bad(arg, "server address", "a server's port cannot be 0"));
    }
    Ok(Spanned::new((address, https), arg.span))
}

/// `text` as an address or a DNS name with a port; without a port, `default_port` if any.
fn server(text: &str, default_port: Option<u16>) -> Option<Address> {
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(Address::Socket(socket));
    }
    let with_port = text
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let (host, port) = match (with_port, default_port) {
        (Some(split), _) => split,
        (None, Some(port)) => (text, port),
        (None, None) => return None,
    };
    let bracketed = host.strip_prefix('[').and_then(|ip| ip.strip_suffix(']'));
    if let Ok(ip) = bracketed.unwrap_or(host).parse::<IpAddr>() {
        // An address with its port parsed above: only one without a port gets here.
        return with_port
            .is_none()
            .then_some(Address::Socket(SocketAddr::new(ip, port)));
    }
    is_dns_name(host).then(|| Address::Name {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// An SRV name: `"_http._tcp.users.internal"`.
pub fn srv_name(arg: &Arg) -> Read<Address> {
    let name = arg.text.trim_end_matches('.').to_ascii_lowercase();
    if !arg.is_quoted() || !is_dns_name(&name) {
        return Err(bad(
            arg,
            "SRV name",
            "an SRV name is a quoted DNS name such as `\"_http._tcp.users.internal\"`",
        ));
    }
    Ok(Spanned::new(Address::Srv(name), arg.span))
}

/// The name a TLS client sends and verifies: a quoted DNS name or IP address, lower-cased.
pub fn server_name(arg: &Arg) -> Read<String> {
    let name = arg.text.to_ascii_lowercase();
    if !arg.is_quoted() || !(is_dns_name(&name) || name.parse::<IpAddr>().is_ok()) {
        return Err(bad(
            arg,
            "server name",
            "a server name is a quoted DNS name or IP address, such as `\"api.internal\"`",
        ));
    }
    Ok(Spanned::new(name, arg.span))
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An HTTP status code, 100 to 599.
pub fn status(arg: &Arg) -> Read<u16> {
    arg.text
        .parse::<u16>()
        .ok()
        .filter(|status| (100..=599).contains(status))
        .map(|status| Spanned::new(status, arg.span))
        .ok_or_else(|| {
            bad(
                arg,
                "status",
                "a status is a number from 100 to 599, such as `200` or `404`",
            )
        })
}

/// `10%`, `0.5%`, `100%`: a share above 0 and at most 100 percent, with at most two decimals,
/// in hundredths of a percent (1 to 10,000).
pub fn percent(arg: &Arg) -> Read<u32> {
    const HELP: &str =
        "a share is a percentage above 0 and at most 100, with two decimals at most: `10%`, `0.5%`";
    let number = arg
        .text
        .strip_suffix('%')
        .ok_or_else(|| bad(arg, "share", HELP))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(fraction)) || fraction.len() > 2 {
        return Err(bad(arg, "share", HELP));
    }
    let hundredths = whole
        .parse::<u32>()
        .ok()
        .and_then(|whole| whole.checked_mul(100))
        .and_then(|whole| {
            let fraction = format!("{fraction:0<2}").parse::<u32>().ok()?;
            whole.checked_add(fraction)
        })
        .filter(|share| (1..=10_000).contains(share))
        .ok_or_else(|| bad(arg, "share", HELP))?;
    Ok(Spanned::new(hundredths, arg.span))
}

/// A whole number from `min` to `max`.
pub fn count(arg: &Arg, min: u32, max: u32) -> Read<u32> {
    arg.text
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .map(|n| Spanned::new(n, arg.span))
        .ok_or_else(|| {
            bad(
                arg,
                "number",
                &format!("expected a whole number from {min} to {max}"),
            )
        })
}

/// `200..299` or `200`.
pub fn status_range(arg: &Arg) -> Read<StatusRange> {
    const HELP: &str = "a status range is `200..299`, or one status such as `200`";
    let status = |text: &str| {
        text.parse::<u16>()
            .ok()
            .filter(|status| (100..=599).contains(status))
    };
    let (min, max) = match arg.text.split_once("..") {
        Some((min, max)) => (status(min), status(max)),
        None => (status(&arg.text), status(&arg.text)),
    };
    match (min, max) {
        (Some(min), Some(max)) if min <= max => {
            Ok(Spanned::new(StatusRange { min, max }, arg.span))
        }
        _ => Err(bad(arg, "status range", HELP)),
    }
}

/// An HTTP method, written in upper case: `GET`, `POST`...
pub fn method(arg: &Arg) -> Read<Method> {
    Method::ALL
        .into_iter()
        .find(|method| method.as_str() == arg.text)
        .map(|method| Spanned::new(method, arg.span))
        .ok_or_else(|| {
            Diagnostic::error("unknown-choice", format!("unknown HTTP method `{}`", arg.text))
                .with_label(Label::primary(arg.span, "not a method"))
                .with_suggestion(
                    &arg.text.to_ascii_uppercase(),
                    "a method",
                    Method::ALL.iter().map(|m| m.as_str()),
                )
                .with_help("methods are written in upper case: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE")
        })
}

/// A host pattern: `"api.example.com"` or `"*.example.com"`.
pub fn host_pattern(arg: &Arg) -> Read<HostPattern> {
    const HELP: &str = "a host is a DNS name without a port, optionally starting with `*.`: `api.example.com`, `*.example.com`";
    let text = arg.text.to_ascii_lowercase();
    let pattern = match text.strip_prefix("*.") {
        Some(rest) if is_dns_name(rest) => HostPattern::Suffix(format!(".{rest}")),
        None if is_dns_name(&text) || text.parse::<IpAddr>().is_ok() => HostPattern::Exact(text),
        _ => return Err(bad(arg, "host", HELP)),
    };
    Ok(Spanned::new(pattern, arg.span))
}

/// A request path as routes match it: `/users`. It must already be in the normal form the
/// runtime brings request paths to, or the route could never match.
pub fn path(arg: &Arg, exact: bool) -> Read<PathMatch> {
    let text = &arg.text;
    if !text.starts_with('/') {
        return Err(bad(arg, "path", "a path starts with `/`, as in `/users`"));
    }
    if text.contains(['?', '#']) {
        return Err(bad(
            arg,
            "path",
            "a path matcher holds no query or fragment; write only the path",
        ));
    }
    if let Some(bad_byte) = text.bytes().find(|b| !is_path_byte(*b)) {
        return Err(bad(
            arg,
            "path",
            &format!(
                "`{}` must be percent-encoded in a path",
                char::from(bad_byte).escape_default()
            ),
        ));
    }
    check_normal(arg)?;
    let path = text.clone();
    let matcher = if exact {
        PathMatch::Exact(path)
    } else {
        PathMatch::Prefix(path)
    };
    Ok(Spanned::new(matcher, arg.span))
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// Rejects paths a request path can never equal after normalisation.
fn check_normal(arg: &Arg) -> Result<(), Diagnostic> {
    let text = &arg.text;
    if text.contains("//") {
        return Err(bad(
            arg,
            "path",
            "request paths have repeated slashes merged before matching; use one `/`",
        ));
    }
    let segments: Vec<&str> = text[1..].split('/').collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(bad(
            arg,
            "path",
            "request paths have `.` and `..` resolved before matching; write the resolved path",
        ));
    }
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text.get(at + 1..at + 3).filter(|hex| {
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            });
            let Some(hex) = hex else {
                return Err(bad(
                    arg,
                    "path",
                    "`%` starts an escape of two upper-case hex digits, as in `%2F`",
                ));
            };
            let byte = u8::from_str_radix(hex, 16).expect("checked hex digits");
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                return Err(bad(
                    arg,
                    "path",
                    &format!(
                        "request paths have `%{hex}` decoded to `{}` before matching; write it plainly",
                        char::from(byte)
                    ),
                ));
            }
            at += 3;
        } else {
            at += 1;
        }
    }
    Ok(())
}

/// A test request's URL: `https://api.example.com/users/42?x=1` or just `/users/42`. Returns
/// the host (lower-case, port dropped; empty for a bare path) and the path without its query,
/// which must be in normal form like path matchers.
pub fn test_url(arg: &Arg) -> Result<RequestUrl, Diagnostic> {
    const HELP: &str = "a request URL is `http://HOST/PATH`, `https://HOST/PATH` or `/PATH`";
    let (host, port, target) = match arg.text.split_once("://") {
        Some((scheme, rest)) if scheme == "http" || scheme == "https" => {
            let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            // `[::1]:8080` → `::1`; `api.example.com:8080` → `api.example.com`.
            let (host, port) = match authority.strip_prefix('[') {
                Some(bracketed) => bracketed
                    .split_once(']')
                    .map(|(host, rest)| (host, rest.strip_prefix(':')))
                    .unwrap_or((bracketed, None)),
                None => match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                },
            };
            let port = match port.map(str::parse::<u16>) {
                None => None,
                Some(Ok(port)) => Some(port),
                Some(Err(_)) => return Err(bad(arg, "request URL", HELP)),
            };
            let host = host.to_ascii_lowercase();
            if !is_dns_name(&host) && host.parse::<IpAddr>().is_err() {
                return Err(bad(arg, "request URL", HELP));
            }
            let target = if target.is_empty() || target.starts_with('?') {
                format!("/{target}")
            } else {
                target.to_owned()
            };
            (host, port, target)
        }
        Some(_) => return Err(bad(arg, "request URL", HELP)),
        None => (String::new(), None, arg.text.clone()),
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target.as_str(), None),
    };
    let path_arg = Arg {
        text: path.to_owned(),
        ..arg.clone()
    };
    match self::path(&path_arg, true)?.value {
        PathMatch::Exact(path) => Ok(RequestUrl {
            host,
            port,
            path,
            query,
        }),
        PathMatch::Prefix(_) => unreachable!("an exact path was asked for"),
    }
}

/// A client's IP address.
pub fn ip(arg: &Arg) -> Read<IpAddr> {
    arg.text
        .parse()
        .map(|ip| Spanned::new(ip, arg.span))
        .map_err(|_| {
            bad(
                arg,
                "IP address",
                "write an address such as `203.0.113.7` or `2001:db8::7`",
            )
        })
}

/// A quoted string, taken as is.
pub fn text(arg: &Arg, what: &str, example: &str) -> Read<String> {
    if !arg.is_quoted() {
        return Err(
            Diagnostic::error("expected-string", format!("{what} is a quoted string"))
                .with_label(Label::primary(arg.span, "not quoted"))
                .with_help(format!("write it as `{example}`")),
        );
    }
    Ok(Spanned::new(arg.text.clone(), arg.span))
}

/// A header name (quoted or bare), lower-cased: an RFC 9110 token.
pub fn header_name(arg: &Arg) -> Read<String> {
    if arg.text.starts_with(':') && is_token(&arg.text[1..]) {
        return Err(bad(
            arg,
            "header name",
            "pseudo-headers such as `:authority` and `:path` are not header fields: the proxy \
             writes them from the request itself; set `host` to change the host",
        ));
    }
    if !is_token(&arg.text) || matches!(arg.kind, ArgKind::Call(_)) {
        return Err(bad(
            arg,
            "header name",
            "a header name is letters, digits and `-`, such as `\"x-user-id\"`",
        ));
    }
    Ok(Spanned::new(arg.text.to_ascii_lowercase(), arg.span))
}

/// The headers the proxy removes from every message it passes on, whatever the config says:
/// they describe one connection, not the message (RFC 9110 §7.6.1). The runtime's
/// `upstream::forward` strips the same names; `Trailer` is end to end and passes.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// A header name the config gives a value to send (a `headers` policy's `set` and `add`, a
/// forwarded claim or consumer): not a hop-by-hop header, which the proxy would not send.
pub fn sent_header_name(arg: &Arg) -> Read<String> {
    let name = header_name(arg)?;
    if name.value == "content-length" {
        return Err(Diagnostic::error(
            "ineffective-directive",
            "`content-length` is the proxy's to set",
        )
        .with_label(Label::primary(
            arg.span,
            "the message's length, not a setting",
        ))
        .with_help(
            "the proxy frames every message it sends from the body it sends; a length given \
             here would be wrong as soon as a body changes: use another header name",
        ));
    }
    if HOP_BY_HOP.contains(&name.value.as_str()) {
        return Err(Diagnostic::error(
            "ineffective-directive",
            format!("`{}` is a hop-by-hop header", name.value),
        )
        .with_label(Label::primary(arg.span, "the proxy never sends it on"))
        .with_help(
            "it describes one connection, not the message: the proxy removes it from what it \
             passes on and manages its own for each connection; use another header name",
        ));
    }
    Ok(name)
}

/// A cookie's name (quoted or bare): an HTTP token.
pub fn cookie_name(arg: &Arg) -> Read<String> {
    if !is_token(&arg.text) || matches!(arg.kind, ArgKind::Call(_)) {
        return Err(bad(
            arg,
            "cookie name",
            "a cookie name is letters, digits and `-` or `_`, such as `\"srv\"`",
        ));
    }
    Ok(Spanned::new(arg.text.clone(), arg.span))
}

/// A cookie's `Path`: `/`, then visible ASCII without `;` (RFC 6265 §4.1.1).
pub fn cookie_path(arg: &Arg) -> Read<String> {
    let valid =
        arg.text.starts_with('/') && arg.text.bytes().all(|b| b.is_ascii_graphic() && b != b';');
    if !valid {
        return Err(bad(
            arg,
            "cookie path",
            "a cookie path starts with `/` and holds no spaces or `;`, as in `\"/app\"`",
        ));
    }
    Ok(Spanned::new(arg.text.clone(), arg.span))
}

/// Whether `text` is an HTTP token (RFC 9110 §5.6.2), as header and cookie names are.
pub fn is_token(text: &str) -> bool {
    const TOKEN_EXTRA: &[u8] = b"!#$%&'*+-.^_`|~";
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || TOKEN_EXTRA.contains(&b))
}

/// A header value: a quoted string of visible ASCII characters and spaces.
pub fn header_value(arg: &Arg) -> Read<String> {
    let value = text(arg, "a header value", "\"value\"")?;
    if !value
        .value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(bad(
            arg,
            "header value",
            "header values here are visible ASCII characters and spaces",
        ));
    }
    Ok(value)
}

/// `10/s`, `600/m`, `1000/h`: a number of requests per second, minute or hour.
pub fn rate(arg: &Arg) -> Read<Rate> {
    const HELP: &str = "a rate is a number of requests per unit: `10/s`, `600/m` or `1000/h`";
    let (count, unit) = arg
        .text
        .split_once('/')
        .ok_or_else(|| bad(arg, "rate", HELP))?;
    let per = match unit {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => {
            let unit = match unit.to_ascii_lowercase().as_str() {
                "sec" | "secs" | "second" | "seconds" => "s",
                "min" | "mins" | "minute" | "minutes" => "m",
                "hr" | "hrs" | "hour" | "hours" => "h",
                _ => return Err(bad(arg, "rate", HELP)),
            };
            return Err(bad(
                arg,
                "rate",
                &format!("the units of a rate are `s`, `m` and `h`: write `{count}/{unit}`"),
            ));
        }
    };
    let count = count
        .parse::<u32>()
        .ok()
        .filter(|count| (1..=1_000_000).contains(count))
        .ok_or_else(|| bad(arg, "rate", "the count is a whole number from 1 to 1000000"))?;
    Ok(Spanned::new(Rate { count, per }, arg.span))
}

/// `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7`, a /32 or /128).
pub fn cidr(arg: &Arg) -> Read<Cidr> {
    const HELP: &str = "a network is an address with a prefix length, such as `10.0.0.0/8` or `2001:db8::/32`, or one address";
    let (addr, prefix) = match arg.text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (arg.text.as_str(), None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad(arg, "network", HELP))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(prefix) => prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad(arg, "network", &format!("the prefix length is 0 to {max}")))?,
        None => max,
    };
    let host_bits_set = match addr {
        IpAddr::V4(v4) => u32::from(v4).checked_shl(u32::from(prefix)).unwrap_or(0) != 0,
        IpAddr::V6(v6) => u128::from(v6).checked_shl(u32::from(prefix)).unwrap_or(0) != 0,
    };
    if host_bits_set {
        return Err(bad(
            arg,
            "network",
            "the address has bits set past the prefix length; write the network's first address",
        ));
    }
    Ok(Spanned::new(Cidr { addr, prefix }, arg.span))
}
