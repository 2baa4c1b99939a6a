//! The compiler's cost on a large config: parse + check, and code generation, for 1,000
//! routes spread over hosts, prefixes, exact paths and methods.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edge_compiler::{analyze, SourceFile};

/// A config with `routes` routes on one listener, forwarding to ten pools.
fn large_config(routes: usize) -> String {
    let mut text = String::from("listener api {\n    bind 127.0.0.1:8080\n}\n\n");
    for pool in 0..10 {
        writeln!(text, "pool service_{pool} {{\n    server 10.0.{pool}.1:8080\n    server 10.0.{pool}.2:8080\n}}\n").unwrap();
    }
    for route in 0..routes {
        let pool = route % 10;
        writeln!(text, "route r{route} {{\n    on api").unwrap();
        match route % 4 {
            0 => writeln!(text, "    host \"svc{route}.example.com\"").unwrap(),
            1 => writeln!(text, "    path /api/v{}/resource{route}", route % 3).unwrap(),
            2 => writeln!(text, "    path = /exact/{route}\n    methods GET HEAD").unwrap(),
            _ => writeln!(text, "    path /items{route}\n    methods POST").unwrap(),
        }
        writeln!(text, "    forward service_{pool}\n}}\n").unwrap();
    }
    text
}

fn compiler(c: &mut Criterion) {
    let source = SourceFile::new("large.edge", large_config(1_000));
    let analysis = analyze(&source);
    assert!(
        analysis.model.is_some(),
        "{}",
        source.render(&analysis.diagnostics)
    );

    let mut group = c.benchmark_group("compiler_1000_routes");
    group.sample_size(10);
    group.bench_function("parse_and_check", |b| {
        b.iter(|| analyze(black_box(&source)))
    });
    group.bench_function("generate", |b| b.iter(|| black_box(&analysis).generate()));
    group.finish();
}

criterion_group!(benches, compiler);
criterion_main!(benches);
