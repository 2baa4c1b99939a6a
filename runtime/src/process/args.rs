//! The proxy's command line: what it was asked to do (serve, check, tell its version or its
//! config) and its run-time root. Few enough flags to read by hand, with errors as a type.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// What the proxy was started to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Load, bind and serve.
    Serve,
    /// Load every file, bind nothing, exit 0 when the proxy could start, 1 else.
    Check,
    /// Print the version line.
    Version,
    /// Print the `.edge` text the proxy was built from.
    PrintConfig,
    /// Print the usage.
    Help,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    pub(crate) action: Action,
    /// `--root DIR`: where relative paths start.
    pub(crate) root: Option<PathBuf>,
}

/// A command line the proxy does not understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgsError {
    Unknown(String),
    MissingValue(&'static str),
    TwoActions(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(arg) => write!(f, "unknown argument `{arg}`"),
            ArgsError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ArgsError::TwoActions(arg) => {
                write!(f, "`{arg}` cannot be combined with another action")
            }
        }
    }
}

impl std::error::Error for ArgsError {}

pub(crate) const USAGE: &str = "\
usage: PROXY [--root DIR] [--check | --version | --print-config | --help]

  (no action)      load every file, bind the listeners and serve
  --check          load every file the config names, bind nothing; exit 0 if the proxy
                   could start, 1 with the reason if not (like `nginx -t`)
  --version, -V    the Edge version, the config's name, digest and build time
  --print-config   the .edge text this proxy was built from
  --root DIR       where relative file paths start (default: $EDGE_ROOT, else the
                   config's folder where the proxy was built)
  --help, -h       this text

environment: EDGE_ROOT, EDGE_WORKERS, EDGE_HANDOFF, EDGE_BIND_<LISTENER>, RUST_LOG
";

impl Args {
    /// Parses the arguments after the program's name.
    pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, ArgsError> {
        let mut parsed = Args {
            action: Action::Serve,
            root: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let text = arg.to_string_lossy().into_owned();
            let action = match text.as_str() {
                "--check" | "-t" => Action::Check,
                "--version" | "-V" => Action::Version,
                "--print-config" => Action::PrintConfig,
                "--help" | "-h" => Action::Help,
                "--root" => {
                    let root = args.next().ok_or(ArgsError::MissingValue("--root"))?;
                    parsed.root = Some(PathBuf::from(root));
                    continue;
                }
                _ => match text.strip_prefix("--root=") {
                    Some(root) if !root.is_empty() => {
                        parsed.root = Some(PathBuf::from(root));
                        continue;
                    }
                    Some(_) => return Err(ArgsError::MissingValue("--root")),
                    None => return Err(ArgsError::Unknown(text)),
                },
            };
            if parsed.action != Action::Serve {
                return Err(ArgsError::TwoActions(text));
            }
            parsed.action = action;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn reads_actions_and_the_root() {
        assert_eq!(parse(&[]).unwrap().action, Action::Serve);
        assert_eq!(parse(&["--check"]).unwrap().action, Action::Check);
        assert_eq!(parse(&["-V"]).unwrap().action, Action::Version);
        assert_eq!(
            parse(&["--print-config"]).unwrap().action,
            Action::PrintConfig
        );
        let args = parse(&["--root", "/etc/edge", "--check"]).unwrap();
        assert_eq!(args.root, Some(PathBuf::from("/etc/edge")));
        assert_eq!(args.action, Action::Check);
        assert_eq!(
            parse(&["--root=srv"]).unwrap().root,
            Some(PathBuf::from("srv"))
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        assert_eq!(parse(&["--root"]), Err(ArgsError::MissingValue("--root")));
        assert_eq!(parse(&["--root="]), Err(ArgsError::MissingValue("--root")));
        assert_eq!(parse(&["--chek"]), Err(ArgsError::Unknown("--chek".into())));
        assert_eq!(
            parse(&["--check", "--version"]),
            Err(ArgsError::TwoActions("--version".into()))
        );
    }
}
