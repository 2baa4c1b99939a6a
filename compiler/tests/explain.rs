//! `edge_compiler::explain` on the examples: which listener a request arrives on, what each
//! policy of its route does with it, where it ends, and the JSON `edgec explain --json` prints.

use std::path::Path;

use edge_compiler::explain::{self, End, ExplainError, Probe, Verdict};
use edge_compiler::model::Model;
use edge_compiler::{analyze, SourceFile};
use edge_dsl::value::Method;

fn model(example: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example);
    let text = std::fs::read_to_string(&path).unwrap();
    let analysis = analyze(&SourceFile::new(path.display().to_string(), text));
    analysis.model.expect("the example checks")
}

/// A GET of `url` from the loopback client, with no headers.
fn get(url: &edge_dsl::value::RequestUrl) -> Probe<'_> {
    Probe {
        method: Method::Get,
        url,
        headers: &[],
        client: explain::LOOPBACK,
        earlier: 0,
    }
}

#[test]
fn the_listener_is_named_or_found_by_port_or_the_only_one() {
    let gateway = model("api_gateway.edge");
    let named = |on, port| explain::listener(&gateway, on, port).map(|l| l.name.as_str());
    assert_eq!(named(None, Some(8380)), Ok("api"));
    assert_eq!(named(None, Some(9101)), Ok("users_demo"));
    assert_eq!(named(Some("orders_demo"), Some(8380)), Ok("orders_demo"));
    assert_eq!(named(None, None), Err(ExplainError::WhichListener(4)));
    assert_eq!(named(None, Some(1)), Err(ExplainError::NoListenerOnPort(1)));
    assert_eq!(
        named(Some("nope"), None),
        Err(ExplainError::UnknownListener("nope".into()))
    );
    let l4 = model("l4_balancer.edge");
    let tcp = l4.listeners[0].name.clone();
    assert_eq!(
        explain::listener(&l4, Some(&tcp), None).map(|l| l.name.as_str()),
        Err(ExplainError::TcpListener(tcp))
    );
}

#[test]
fn a_request_passes_the_chain_in_order_to_its_pool() {
    let gateway = model("api_gateway.edge");
    let listener = explain::listener(&gateway, Some("api"), None).unwrap();
    let url = edge_dsl::request_url("https://api.example.com/payments?x=1").unwrap();
    let headers = [
        ("authorization".to_owned(), "Bearer t".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let probe = Probe {
        method: Method::Post,
        url: &url,
        headers: &headers,
        client: "192.0.2.7".parse().unwrap(),
        earlier: 0,
    };
    let explanation = explain::explain(&gateway, listener, &probe);
    assert_eq!(
        explanation.route.map(|(i, r)| (i, r.name.as_str())),
        Some((3, "payments"))
    );
    let chain: Vec<&str> = explanation
        .steps
        .iter()
        .map(|s| s.policy.name.as_str())
        .collect();
    assert_eq!(chain, ["browser", "auth", "limit", "payment_body"]);
    assert!(matches!(explanation.steps[1].verdict, Verdict::Checked(_)));
    assert!(
        matches!(&explanation.steps[3].verdict, Verdict::Checked(what) if what.contains("JSON Schema")),
        "{:?}",
        explanation.steps[3].verdict
    );
    assert!(matches!(explanation.end, End::Forward(pool) if pool.name == "payments_service"));
    assert_eq!(explanation.end.status(), None);

    let json = explain::to_json(&explanation, &probe);
    assert_eq!(json["route"], "payments");
    assert_eq!(json["request"]["query"], "x=1");
    assert_eq!(json["request"]["client"], "192.0.2.7");
    assert_eq!(json["policies"][2]["kind"], "rate_limit");
    assert_eq!(json["policies"][2]["verdict"], "passes");
    assert_eq!(json["end"]["kind"], "forward");
    assert_eq!(json["end"]["servers"][0], "127.0.0.1:9103");
    assert!(json["status"].is_null());

    let text = explain::to_text(&explanation, &probe);
    assert!(
        text.contains("route     payments (route 4 of 4 tried"),
        "{text}"
    );
    assert!(
        text.contains("forward   pool payments_service (round_robin, 1 server)"),
        "{text}"
    );
}

#[test]
fn the_first_policy_that_answers_ends_the_request() {
    let gateway = model("api_gateway.edge");
    let listener = explain::listener(&gateway, Some("api"), None).unwrap();
    let url = edge_dsl::request_url("/orders").unwrap();
    let probe = get(&url);
    let explanation = explain::explain(&gateway, listener, &probe);
    assert_eq!(explanation.steps.len(), 2, "browser, then auth answers");
    assert!(matches!(
        explanation.steps[1].verdict,
        Verdict::Answers { status: 401, .. }
    ));
    assert_eq!(explanation.end.status(), Some(401));
    let nowhere = edge_dsl::request_url("/nowhere").unwrap();
    let lost = explain::explain(
        &gateway,
        listener,
        &Probe {
            url: &nowhere,
            ..probe
        },
    );
    assert!(lost.route.is_none());
    assert_eq!(lost.end.status(), Some(404));
}

#[test]
fn a_split_route_shows_each_pool_s_share() {
    let text = "listener web {\n    bind 127.0.0.1:8080\n}\n\npool app {\n    server 127.0.0.1:9001\n}\n\npool app_v2 {\n    server 127.0.0.1:9002\n}\n\nroute canary {\n    on web\n    forward app 95, app_v2 5 by cookie(\"session\")\n}\n\ntest \"the canary route takes everything\" {\n    GET /x -> canary\n}\n";
    let analysis = analyze(&SourceFile::new("split.edge", text));
    let model = analysis.model.expect("a valid split");
    let listener = &model.listeners[0];
    let url = edge_dsl::request_url("/x").unwrap();
    let probe = get(&url);
    let explanation = explain::explain(&model, listener, &probe);
    assert_eq!(explanation.end.status(), None, "the servers answer");
    let shown = explain::to_text(&explanation, &probe);
    assert!(
        shown.contains(
            "split     pool app 95 %, pool app_v2 5 % (by cookie(\"session\"): one pool per key)"
        ),
        "{shown}"
    );
    let json = explain::to_json(&explanation, &probe);
    assert_eq!(json["end"]["kind"], "split");
    assert_eq!(json["end"]["pools"][1]["weight"], 5);
}

#[test]
fn a_mirrored_route_shows_its_copy_beside_its_pool() {
    let gateway = model("gateway.edge");
    let listener = explain::listener(&gateway, None, None).unwrap();
    let url = edge_dsl::request_url("http://127.0.0.1/orders/7").unwrap();
    let probe = get(&url);
    let explanation = explain::explain(&gateway, listener, &probe);
    let text = explain::to_text(&explanation, &probe);
    assert!(
        text.contains("mirror    10 % of requests copied to pool orders_next (never waited for)"),
        "{text}"
    );
    assert!(text.contains("forward   pool orders_service"), "{text}");
    let json = explain::to_json(&explanation, &probe);
    assert_eq!(json["mirror"]["pool"], "orders_next");
    assert_eq!(json["mirror"]["share"], "10 %");

    let url = edge_dsl::request_url("http://127.0.0.1/users/7").unwrap();
    let probe = get(&url);
    let explanation = explain::explain(&gateway, listener, &probe);
    assert!(explanation.mirror.is_none());
}
