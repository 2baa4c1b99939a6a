//! A route's overall time limit: the answer's head must be ready in time, or the client gets
//! 504. Once the head is ready, the body streams without a limit.

use std::{future::Future, time::Duration};

use crate::{respond, Response};

/// Runs `fut`, or answers 504 when its response is not ready within `limit`; `fut` is then
/// dropped (e.g. its upstream request is abandoned).
pub async fn deadline<F: Future<Output = Response>>(limit: Duration, fut: F) -> Response {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| respond(504, "504 Gateway Timeout\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_response_in_time_passes() {
        let response = deadline(Duration::from_secs(5), async { respond(201, "made\n") }).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_late_response_is_504() {
        let started = std::time::Instant::now();
        let response = deadline(Duration::from_millis(20), async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            respond(200, "late\n")
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "504 Gateway Timeout\n");
    }
}
