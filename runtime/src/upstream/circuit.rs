//! A pool's guard: its circuit breakers (`max_requests`, `max_pending`) and outlier detection,
//! or nothing. The guard is `Pool`'s second type parameter, as the strategy is its first:
//! a pool without these settings is a `Pool<S>`, whose guard [`Unguarded`] answers every
//! question with a constant the optimiser folds away, so its code is what it was before
//! guards existed. A guarded pool is a `Pool<S, Circuit>`.
//!
//! The guard decides; the pool acts: it reserves a place in `max_requests` before each pick,
//! queues a request that finds every usable server at `max_conns` (`pool::queue`), and tells
//! the guard how each attempt went, for the outlier detector (`outlier`) that runs beside it.

use std::sync::Arc;

use crate::{
    clock::{self, Nanos},
    upstream::backend::Backend,
    upstream::counts::{Gauge, Refusal},
    upstream::spec::{CircuitSpec, Outlier},
};

/// What guards a pool. Its methods are the runtime's business: generated code only names
/// [`Unguarded`] (by leaving the parameter out) or [`Circuit`].
pub trait Guard: Send + Sync + 'static {
    /// The pool's circuit, or `None` for a pool without one.
    #[doc(hidden)]
    fn circuit(&self) -> Option<&Circuit>;
}

/// No circuit breakers and no outlier detection: the default guard, which costs nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unguarded;

impl Guard for Unguarded {
    #[inline(always)]
    fn circuit(&self) -> Option<&Circuit> {
        None
    }
}

/// A pool's circuit breakers and outlier detection, from its [`CircuitSpec`].
#[derive(Debug)]
pub struct Circuit {
    spec: &'static CircuitSpec,
    /// Present when the pool has `max_requests` or `max_pending`.
    gauge: Option<Arc<Gauge>>,
}

impl Guard for Circuit {
    #[inline(always)]
    fn circuit(&self) -> Option<&Circuit> {
        Some(self)
    }
}

impl Circuit {
    /// The guard for a pool with `spec`; the pool starts its outlier detector when built.
    pub fn new(spec: &'static CircuitSpec) -> Circuit {
        let limited = spec.max_pending > 0 || spec.max_requests > 0;
        Circuit {
            spec,
            gauge: limited.then(Arc::default),
        }
    }

    pub(crate) fn spec(&self) -> &'static CircuitSpec {
        self.spec
    }

    /// The counts every server of the pool reports the end of its requests to.
    pub(crate) fn gauge(&self) -> Option<&Arc<Gauge>> {
        self.gauge.as_ref()
    }

    pub(crate) fn outlier(&self) -> Option<&'static Outlier> {
        self.spec.outlier.as_ref()
    }

    /// Takes a place in `max_requests` for an attempt about to pick a server; `false` when
    /// the pool is full. A place taken is given back when the attempt's server reports its
    /// end, or with [`Circuit::unreserve`] when no server was found.
    pub(crate) fn reserve(&self) -> bool {
        match &self.gauge {
            Some(gauge) => gauge.reserve(self.spec.max_requests),
            None => true,
        }
    }

    pub(crate) fn unreserve(&self) {
        if let Some(gauge) = &self.gauge {
            gauge.unreserve();
        }
    }

    /// Counts a request refused for `why`.
    pub(crate) fn refused(&self, why: Refusal) {
        if let Some(gauge) = &self.gauge {
            gauge.refused(why);
        }
    }

    /// Records an attempt on `backend` that started at `started`, for outlier detection.
    pub(crate) fn observe(&self, backend: &Backend, failed: bool, started: Nanos) {
        if self.spec.outlier.is_some() {
            backend
                .outlier
                .record(failed, clock::now().saturating_sub(started));
        }
    }
}
