//! Read buffers lent to connections while a message is on them, and kept per worker thread in
//! between, so an idle connection holds none and a busy one does not allocate per request.

use std::cell::RefCell;

use bytes::BytesMut;

/// The room a read buffer starts with: a typical head and a small body in one read.
pub(crate) const SIZE: usize = 8 * 1024;

/// Buffers kept per worker thread; more are freed when given back.
const KEPT: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`SIZE`] bytes.
pub(crate) fn take() -> BytesMut {
    let mut buf = FREE
        .with(|free| free.borrow_mut().pop())
        .unwrap_or_default();
    // Reclaims the buffer's own allocation when no `Bytes` split off it is alive any more.
    buf.reserve(SIZE);
    buf
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
    fn an_empty_handle_is_not_kept() {
        give(BytesMut::new());
        let taken = take();
        assert!(taken.capacity() >= SIZE);
    }
}
