//! `examples/gateway.edge`, compiled by `build.rs`. Its tests check the generated router.

include!(concat!(env!("OUT_DIR"), "/gateway.rs"));

#[cfg(test)]
mod tests {
    use super::*;
    use edge_runtime::http::Method;

    fn route(method: Method, host: &str, path: &str) -> Option<Route> {
        route_api(&method, host, path)
    }

    #[test]
    fn routes_by_path_prefix_on_segment_boundaries() {
        assert_eq!(route(Method::GET, "", "/users"), Some(Route::Users));
        assert_eq!(route(Method::DELETE, "", "/users/42"), Some(Route::Users));
        assert_eq!(route(Method::GET, "", "/usersx"), Some(Route::Fallback));
        assert_eq!(
            route(Method::GET, "", "/orders/1/items"),
            Some(Route::Orders)
        );
    }

    #[test]
    fn exact_paths_and_methods_must_both_match() {
        assert_eq!(route(Method::HEAD, "", "/healthz"), Some(Route::Health));
        assert_eq!(route(Method::POST, "", "/healthz"), Some(Route::Fallback));
        assert_eq!(route(Method::GET, "", "/healthz/x"), Some(Route::Fallback));
        assert_eq!(route(Method::POST, "", "/payments"), Some(Route::Payments));
        assert_eq!(route(Method::PUT, "", "/payments"), Some(Route::Fallback));
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard_in_route_order() {
        assert_eq!(
            route(Method::GET, "admin.example.com", "/"),
            Some(Route::AdminHost)
        );
        assert_eq!(
            route(Method::GET, "admin.example.com", "/users"),
            Some(Route::Users)
        );
        assert_eq!(
            route(Method::GET, "a.internal.example.com", "/x"),
            Some(Route::AdminHost)
        );
        assert_eq!(
            route(Method::GET, "internal.example.com", "/x"),
            Some(Route::Fallback)
        );
        assert_eq!(
            route(Method::GET, "www.example.com", "/x"),
            Some(Route::Fallback)
        );
    }
}
