//! A policy whose request step is a span of the request's trace: what generated code wraps
//! each policy of a route's chain in when the config exports spans (`tracing`), and only
//! then, so that a proxy without tracing runs its policies as they are.

use crate::{Cx, Policy, Request, Response};

/// `policy`, its request step timed as the span `policy NAME` of a recorded request.
pub struct Traced<P> {
    policy: P,
    name: &'static str,
    kind: &'static str,
}

impl<P: Policy> Traced<P> {
    /// `policy`, named `name` in the config, of the kind `kind` (`jwt`, `rate_limit`...).
    pub const fn new(policy: P, name: &'static str, kind: &'static str) -> Traced<P> {
        Traced { policy, name, kind }
    }
}

impl<P: Policy> Policy for Traced<P> {
    type Ticket = P::Ticket;

    async fn request(&self, req: &mut Request, cx: &Cx) -> Result<Self::Ticket, Response> {
        if let Some(recording) = cx.trace() {
            recording.policy_started();
        }
        let passed = self.policy.request(req, cx).await;
        if let Some(recording) = cx.trace() {
            let refused = passed.as_ref().err().map(|answer| answer.status().as_u16());
            recording.policy_ended(self.name, self.kind, refused);
        }
        passed
    }

    fn response(&self, ticket: Self::Ticket, resp: &mut Response) {
        self.policy.response(ticket, resp);
    }
}
