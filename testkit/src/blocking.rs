//! A blocking HTTP/1.1 client with connection reuse, on a runtime of its own, for tests that
//! are not async themselves.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response with its body collected.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The value of `key: value` lines in an echo backend's answer.
    pub fn seen(&self, key: &str) -> Vec<&str> {
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
            .collect()
    }
}

/// An HTTP/1.1 client with connection reuse, on its own runtime.
pub struct HttpClient {
    runtime: tokio::runtime::Runtime,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        HttpClient { runtime, client }
    }

    pub fn send(&self, req: hyper::Request<Full<Bytes>>) -> Answer {
        self.runtime.block_on(async {
            let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
                .await
                .expect("the proxy answers within 30 s")
                .expect("the proxy answers");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
    }

    /// Sends every request, at most `concurrency` at a time; a request that fails or takes
    /// longer than 30 s gives an `Err` instead of an answer.
    pub fn send_all(
        &self,
        requests: Vec<hyper::Request<Full<Bytes>>>,
        concurrency: usize,
    ) -> Vec<Result<Answer, String>> {
        self.runtime.block_on(async {
            let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let mut tasks = Vec::with_capacity(requests.len());
            for req in requests {
                let client = self.client.clone();
                let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    let sent = tokio::time::timeout(Duration::from_secs(30), client.request(req));
                    let response = sent
                        .await
                        .map_err(|_| "no answer within 30 s".to_owned())?
                        .map_err(|e| e.to_string())?;
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                    Ok(Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    })
                }));
            }
            let mut answers = Vec::with_capacity(tasks.len());
            for task in tasks {
                answers.push(task.await.map_err(|e| e.to_string()).and_then(|a| a));
            }
            answers
        })
    }

    /// Sends `req` and returns the answer with its body as raw bytes (the text `body` of the
    /// answer is lossy).
    pub fn send_bytes(&self, req: hyper::Request<Full<Bytes>>) -> (Answer, Vec<u8>) {
        self.runtime.block_on(async {
            let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
                .await
                .expect("the proxy answers within 30 s")
                .expect("the proxy answers");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes().to_vec();
            let answer = Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            (answer, body)
        })
    }

    pub fn get(&self, url: &str) -> Answer {
        self.send(
            hyper::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    }
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}
