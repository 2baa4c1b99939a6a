//! A route's overall time limit: the answer's head must be ready in time, or the client gets
//! 504. It covers the route's policy chain and its action: a policy that waits (reading a
//! body to validate it, a password check) spends the same budget as the upstream. Once the
//! head is ready, the body streams without a limit.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use crate::{respond, Response};

/// When a route's answer is due, set when the route is taken.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline(Instant::now() + limit)
    }

    /// Runs `fut`, or answers 504 when its response is not ready by the deadline; `fut` is
    /// then dropped (e.g. its upstream request is abandoned). Generated code bounds both the
    /// whole chain and, inside it, the action with one deadline: the action's 504 then still
    /// goes through the policies' response steps (CORS headers on it, say), and the outer
    /// bound only answers when a policy itself ran out the time.
    pub async fn bound<F: Future<Output = Response>>(self, fut: F) -> Response {
        tokio::time::timeout_at(self.0, fut)
            .await
            .unwrap_or_else(|_| respond(504, "504 Gateway Timeout\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_response_in_time_passes() {
        let deadline = Deadline::after(Duration::from_secs(5));
        let response = deadline.bound(async { respond(201, "made\n") }).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_late_response_is_504() {
        let started = std::time::Instant::now();
        let response = Deadline::after(Duration::from_millis(20))
            .bound(async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                respond(200, "late\n")
            })
            .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "504 Gateway Timeout\n");
    }

    /// The same deadline around a chain and its action: the action's own bound answers, so
    /// what the chain does after the action still runs.
    #[tokio::test]
    async fn the_inner_bound_answers_first() {
        let deadline = Deadline::after(Duration::from_millis(20));
        let response = deadline
            .bound(async {
                let mut response = deadline
                    .bound(async {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        respond(200, "late\n")
                    })
                    .await;
                response
                    .headers_mut()
                    .insert("x-after", http::HeaderValue::from_static("1"));
                response
            })
            .await;
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.headers()["x-after"], "1");
    }
}
