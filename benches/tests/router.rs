//! The generated routers agree with the tables' definitions (first match in order): the bench
//! tables on their request inputs, and a table of overlapping routes on every combination of
//! inputs around its edges. Both the comparison chain (small tables) and the decision tree
//! (large ones) are covered.

use edge_runtime::http::Method;

#[path = "../benches/common/router_table.rs"]
mod router_table;

macro_rules! generated {
    ($module:ident, $file:literal) => {
        mod $module {
            include!(concat!(env!("OUT_DIR"), "/", $file));

            /// The index of the matching route: its variant is `R{index}`.
            pub fn route(m: &::edge_runtime::http::Method, h: &str, p: &str) -> Option<usize> {
                route_api(m, h, p).map(|r| format!("{r:?}")[1..].parse().unwrap())
            }

            /// Keeps the generated entry point used; these tests only call the router.
            #[allow(dead_code)]
            pub fn entry() -> fn() -> ::std::process::ExitCode {
                main
            }
        }
    };
}

generated!(r10, "router_10.rs");
generated!(r100, "router_100.rs");
generated!(r1000, "router_1000.rs");
generated!(overlap, "router_overlap.rs");

type Router = fn(&Method, &str, &str) -> Option<usize>;

fn agree(
    name: &str,
    router: Router,
    table: &[router_table::RouteDef],
    inputs: &[router_table::Input],
) {
    let mut hits = 0;
    for (method, host, path) in inputs {
        let expected = router_table::reference(table, method, host, path);
        let got = router(&method.parse().unwrap(), host, path);
        assert_eq!(got, expected, "{name}: {method} {host} {path}");
        hits += usize::from(expected.is_some());
    }
    assert!(
        hits > 0 && hits < inputs.len(),
        "{name}: the inputs should both hit and miss"
    );
}

#[test]
fn bench_tables_route_as_defined() {
    for (size, router) in [
        (10, r10::route as Router),
        (100, r100::route),
        (1_000, r1000::route),
    ] {
        let table = router_table::table(size);
        let inputs = router_table::requests(&table, 2_000);
        agree(&format!("{size} routes"), router, &table, &inputs);
    }
}

#[test]
fn overlapping_routes_take_the_first_match() {
    let table = router_table::overlapping();
    assert!(
        table.len() > 16,
        "the table must be large enough for the decision tree"
    );
    agree(
        "overlap",
        overlap::route,
        &table,
        &router_table::overlapping_inputs(),
    );
}
