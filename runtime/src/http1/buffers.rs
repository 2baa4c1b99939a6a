//! Read buffers lent to connections while a message is on them, and kept per worker thread in
//! between, so an idle connection holds none and a busy one does not allocate per request; the
//! same for the header maps of parsed heads, which are large enough (a few KiB) that their
//! allocation is not a cheap one (hyper keeps one per connection for the same reason).

use std::cell::RefCell;

use bytes::BytesMut;
use http::HeaderMap;

/// The room a read buffer starts with: a typical head and a small body in one read.
pub(crate) const SIZE: usize = 8 * 1024;

/// Buffers kept per worker thread; more are freed when given back. A busy connection holds up
/// to three at once (its read buffer, its upstream connection's, an answer being written), and
/// connections take and give them in bursts: with 64 kept, a worker serving 64 connections
/// allocated and freed a buffer for one request in two.
const KEPT: usize = 256;

/// How many of the buffers given back last are looked at for one whose allocation is free.
const LOOKED_AT: usize = 4;

/// Maps kept with no more room than this many fields; larger ones are freed.
const MAP_ROOM: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`SIZE`] bytes: one given back whose bytes nothing
/// refers to any more (an answer's data may still be on its way to the client), else a new one.
pub(crate) fn take() -> BytesMut {
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        let last = free.len();
        (last.saturating_sub(LOOKED_AT)..last)
            .rev()
            .find(|&at| free[at].try_reclaim(SIZE))
            .map(|at| free.swap_remove(at))
    })
    .unwrap_or_else(|| BytesMut::with_capacity(SIZE))
}

/// Gives `buf` back for another connection; what it still holds is dropped.
pub(crate) fn give(mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < KEPT {
            free.push(buf);
        }
    });
}

/// An empty header map with room for `fields`.
pub(crate) fn header_map(fields: usize) -> HeaderMap {
    match MAPS.with(|maps| maps.borrow_mut().pop()) {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => HeaderMap::with_capacity(fields),
    }
}

/// Gives `map` back for another head; its fields are dropped.
pub(crate) fn give_header_map(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAP_ROOM {
        return;
    }
    map.clear();
    MAPS.with(|maps| {
        let mut maps = maps.borrow_mut();
        if maps.len() < KEPT {
            maps.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty() {
        let mut buf = take();
        assert!(buf.capacity() >= SIZE);
        buf.extend_from_slice(b"leftover");
        let pointer = buf.as_ptr();
        give(buf);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), pointer);
    }

    #[test]
    fn a_header_map_given_back_is_taken_again_empty() {
        let mut map = header_map(4);
        map.insert("x-a", http::HeaderValue::from_static("b"));
        let capacity = map.capacity();
        give_header_map(map);
        let again = header_map(2);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
    }

    #[test]
    fn a_buffer_whose_bytes_are_still_held_is_left_for_later() {
        let mut buf = take();
        let start = buf.as_ptr();
        buf.extend_from_slice(b"data on its way");
        let held = buf.split().freeze();
        give(buf);
        // Its bytes are still referred to: a fresh buffer, and this one stays in the pool.
        let fresh = take();
        assert_ne!(fresh.as_ptr(), start);
        drop(held);
        let again = take();
        assert_eq!(again.as_ptr(), start);
        give(fresh);
    }

    #[test]
    fn an_empty_handle_is_not_kept() {
        give(BytesMut::new());
        let taken = take();
        assert!(taken.capacity() >= SIZE);
    }
}
