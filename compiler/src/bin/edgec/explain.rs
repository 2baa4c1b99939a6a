//! `edgec explain`: what one request meets in a config, from the same matching and policy
//! rules the built proxy follows ([`edge_compiler::explain`]), for people or as JSON.

use std::net::IpAddr;
use std::path::PathBuf;

use edge_compiler::explain::{self, Probe};
use edge_compiler::SourceFile;
use edge_dsl::value::Method;

use crate::FileChecks;

#[derive(clap::Args)]
pub struct Args {
    config: PathBuf,
    /// The request's method: GET, POST, ...
    method: String,
    /// `http://HOST[:PORT]/PATH[?QUERY]`, or `/PATH[?QUERY]`; a port picks the listener bound
    /// to it.
    url: String,
    /// A request header, `NAME: VALUE`; may be repeated.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The client's address, as the proxy sees it.
    #[arg(long, value_name = "IP", default_value_t = explain::LOOPBACK)]
    from: IpAddr,
    /// The listener the request arrives on (needed when the config has several HTTP
    /// listeners and the URL names no port).
    #[arg(long, value_name = "LISTENER")]
    on: Option<String>,
    /// How many requests like this one came just before, at once (rate limits count them).
    #[arg(long, value_name = "N", default_value_t = 0)]
    after: u32,
    /// One JSON object instead of lines of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    files: FileChecks,
}

pub fn run(args: &Args) -> Result<(), String> {
    let (_, analysis) = crate::check(&args.config, args.files)?;
    let model = analysis.model.ok_or_else(String::new)?;
    let upper = args.method.to_ascii_uppercase();
    let method = Method::ALL
        .into_iter()
        .find(|method| method.as_str() == upper)
        .ok_or_else(|| format!("`{}` is not an HTTP method Edge routes", args.method))?;
    let url = edge_dsl::request_url(&args.url).map_err(|diagnostic| {
        SourceFile::new("URL", args.url.as_str()).emit_to_stderr(&[diagnostic]);
        String::new()
    })?;
    let headers = args
        .headers
        .iter()
        .map(|header| match header.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            }
            _ => Err(format!("a header is `NAME: VALUE`, not `{header}`")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let listener =
        explain::listener(&model, args.on.as_deref(), url.port).map_err(|e| e.to_string())?;
    let probe = Probe {
        method,
        url: &url,
        headers: &headers,
        client: args.from,
        earlier: args.after,
    };
    let explanation = explain::explain(&model, listener, &probe);
    if args.json {
        println!("{}", explain::to_json(&explanation, &probe));
    } else {
        print!("{}", explain::to_text(&explanation, &probe));
    }
    Ok(())
}
