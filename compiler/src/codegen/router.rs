//! Generates a listener's router: a function that maps (method, host, path) to the first of the
//! listener's routes, in the order written, whose conditions all hold, as [`crate::matching`]
//! defines them (the `test` blocks route by that module too). Routes with header, query or
//! cookie conditions make it take the request too; those are checked last.
//!
//! Small tables become one chain of direct comparisons, which is fastest when short. Larger
//! tables become a decision tree whose size grows with the table, not with its square:
//! - the host is classified once: a `match` over the exact hosts routes name, else the longest
//!   wildcard suffix it ends with (found by trying each of its dot positions against a `match`
//!   of the suffixes); every route knows at build time which host classes it accepts;
//! - the path is walked segment by segment through a trie of the routes' path matchers (a
//!   `match` on the segment per node), ending in a state whose few candidate routes are then
//!   checked for host class and method;
//! - routes without a path condition are candidates everywhere, so they are looked up by host
//!   class instead, and the earlier of the two hits wins.

use std::cell::Cell;

use edge_dsl::value::{HostPattern, Method, PathMatch, RequestPart};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::matching::{host_matches, path_matcher};
use crate::model::Route;

/// Up to this many routes, a chain of comparisons beats the tree (the router bench).
const CHAIN_MAX_ROUTES: usize = 16;

/// A `match` on a string with more arms than this first switches on its length.
const SWITCH_BY_LENGTH_OVER: usize = 8;

/// The router function `fn_name` returning `Option<enum_name>`; `variants[i]` names `routes[i]`.
pub fn router(
    fn_name: &Ident,
    enum_name: &Ident,
    routes: &[Route],
    variants: &[Ident],
) -> TokenStream {
    let chain = routes.len() <= CHAIN_MAX_ROUTES;
    let hosts = HostClasses::new(routes, chain);
    let body = if chain {
        chain_body(routes, variants, enum_name, &hosts)
    } else {
        tree_body(routes, variants, enum_name, &hosts)
    };
    let classify = hosts.classify();
    let method = parameter("method", routes.iter().any(|r| !r.methods.is_empty()));
    let host = parameter("host", routes.iter().any(|r| !r.hosts.is_empty()));
    let path = parameter("path", routes.iter().any(|r| path_matcher(r).is_some()));
    let request = routes
        .iter()
        .any(|r| !r.matchers.is_empty())
        .then(|| quote! { , req: &::edge_runtime::Request });
    quote! {
        fn #fn_name(#method: &::edge_runtime::http::Method, #host: &str, #path: &str #request) -> Option<#enum_name> {
            #classify
            #body
        }
    }
}

/// A parameter name, marked unused when no route looks at it.
fn parameter(name: &str, used: bool) -> Ident {
    if used {
        format_ident!("{name}")
    } else {
        format_ident!("_{name}")
    }
}

/// Host classes: 0 is a host no route names, then each exact host named by some route, then
/// each wildcard suffix. A host's class is its exact entry if it has one, else the longest
/// suffix it ends with: every shorter suffix it ends with is then a suffix of that one, so the
/// class alone decides every host condition.
///
/// With `lazy_suffixes`, wildcards get no class: a route checks `host.ends_with(suffix)` itself
/// for hosts of class 0, which is cheaper when only a few routes are tried.
struct HostClasses {
    exact: Vec<String>,
    suffixes: Vec<String>,
    lazy_suffixes: bool,
}

impl HostClasses {
    fn new(routes: &[Route], lazy_suffixes: bool) -> Self {
        let mut classes = HostClasses {
            exact: Vec::new(),
            suffixes: Vec::new(),
            lazy_suffixes,
        };
        for pattern in routes.iter().flat_map(|r| &r.hosts) {
            let (list, name) = match pattern {
                HostPattern::Exact(host) => (&mut classes.exact, host),
                HostPattern::Suffix(_) if lazy_suffixes => continue,
                HostPattern::Suffix(suffix) => (&mut classes.suffixes, suffix),
            };
            if !list.contains(name) {
                list.push(name.clone());
            }
        }
        classes
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty()
    }

    /// Every class: its id and the host or suffix it stands for.
    fn all(&self) -> impl Iterator<Item = (u32, &str)> {
        self.exact
            .iter()
            .chain(&self.suffixes)
            .zip(1u32..)
            .map(|(name, id)| (id, name.as_str()))
    }

    /// The classes whose hosts satisfy `patterns` (an empty list accepts every class).
    fn accepted(&self, patterns: &[HostPattern]) -> Option<Vec<u32>> {
        if patterns.is_empty() {
            return None;
        }
        let accepts = |class: &str| patterns.iter().any(|pattern| host_matches(pattern, class));
        // A suffix class's name starts with `.`, so no exact pattern accepts it.
        Some(
            self.all()
                .filter(|(_, name)| accepts(name))
                .map(|(id, _)| id)
                .collect(),
        )
    }

    /// `let host_class: u32 = ...;`, or nothing when no route names a host.
    fn classify(&self) -> Option<TokenStream> {
        if self.is_empty() {
            return None;
        }
        let exact = self.exact.len() as u32;
        let by_suffix = (!self.suffixes.is_empty()).then(|| {
            let arms: Vec<(String, TokenStream)> = self
                .suffixes
                .iter()
                .zip(exact + 1..)
                .map(|(suffix, id)| {
                    let id = Literal::u32_unsuffixed(id);
                    (suffix.clone(), quote! { break 'class #id })
                })
                .collect();
            let lookup = if arms.len() <= SWITCH_BY_LENGTH_OVER {
                let checks = arms.iter().map(|(suffix, exit)| {
                    quote! {
                        if suffix == #suffix {
                            #exit;
                        }
                    }
                });
                quote! {
                    let suffix = &rest[dot..];
                    #(#checks)*
                }
            } else {
                let arms = arms
                    .into_iter()
                    .zip(exact + 1..)
                    .map(|((suffix, _), id)| {
                        let id = Literal::u32_unsuffixed(id);
                        (suffix, quote! { #id })
                    })
                    .collect();
                let class = string_switch(quote! { &rest[dot..] }, arms, quote! { 0 });
                quote! {
                    let class: u32 = #class;
                    if class != 0 {
                        break 'class class;
                    }
                }
            };
            quote! {
                let mut rest = host;
                while let Some(dot) = rest.find('.') {
                    #lookup
                    rest = &rest[dot + 1..];
                }
            }
        });
        let arms = self
            .exact
            .iter()
            .zip(1u32..)
            .map(|(host, id)| {
                let id = Literal::u32_unsuffixed(id);
                (host.clone(), quote! { #id })
            })
            .collect();
        let default = quote! {{
            #by_suffix
            0
        }};
        let lookup = string_switch(quote! { host }, arms, default);
        Some(if self.suffixes.is_empty() {
            quote! { let host_class: u32 = #lookup; }
        } else {
            quote! { let host_class: u32 = 'class: { #lookup }; }
        })
    }
}

/// `match` on a string; with many arms, on its length first (a jump), then on the string.
fn string_switch(
    scrutinee: TokenStream,
    arms: Vec<(String, TokenStream)>,
    default: TokenStream,
) -> TokenStream {
    if arms.len() <= SWITCH_BY_LENGTH_OVER {
        let arms = arms.iter().map(|(key, value)| quote! { #key => #value, });
        return quote! {
            match #scrutinee {
                #(#arms)*
                _ => #default,
            }
        };
    }
    let mut lengths: Vec<usize> = arms.iter().map(|(key, _)| key.len()).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let groups = lengths.iter().map(|length| {
        let inner = arms
            .iter()
            .filter(|(key, _)| key.len() == *length)
            .map(|(key, value)| quote! { #key => #value, });
        let length = Literal::usize_unsuffixed(*length);
        quote! {
            #length => match key {
                #(#inner)*
                _ => #default,
            },
        }
    });
    quote! {{
        let key: &str = #scrutinee;
        match key.len() {
            #(#groups)*
            _ => #default,
        }
    }}
}

/// One route's host, method and request conditions (the path is decided elsewhere), each a
/// list of alternatives; an empty list means no condition.
fn host_and_method(route: &Route, hosts: &HostClasses) -> Vec<Vec<TokenStream>> {
    let mut conditions = Vec::new();
    if let Some(classes) = hosts.accepted(&route.hosts) {
        let mut alternatives = match classes.as_slice() {
            [] => vec![],
            [class] => {
                let class = Literal::u32_unsuffixed(*class);
                vec![quote! { host_class == #class }]
            }
            classes => {
                let patterns = ranges(classes);
                vec![quote! { matches!(host_class, #(#patterns)|*) }]
            }
        };
        if hosts.lazy_suffixes {
            let unclassed = (!hosts.exact.is_empty()).then(|| quote! { host_class == 0 && });
            for pattern in &route.hosts {
                if let HostPattern::Suffix(suffix) = pattern {
                    alternatives.push(quote! { #unclassed host.ends_with(#suffix) });
                }
            }
        }
        if alternatives.is_empty() {
            alternatives.push(quote! { false });
        }
        conditions.push(alternatives);
    }
    if !route.methods.is_empty() {
        conditions.push(method_condition(&route.methods));
    }
    for condition in &route.matchers {
        let name = &condition.name;
        let value = match &condition.value {
            Some(value) => quote! { Some(#value) },
            None => quote! { None },
        };
        conditions.push(vec![match condition.part {
            RequestPart::Header => {
                quote! { ::edge_runtime::header_is(req.headers(), #name, #value) }
            }
            RequestPart::Query => {
                quote! { ::edge_runtime::query_is(req.uri().query(), #name, #value) }
            }
            RequestPart::Cookie => {
                quote! { ::edge_runtime::cookie_is(req.headers(), #name, #value) }
            }
        }]);
    }
    conditions
}

/// Sorted class ids as patterns, runs written as ranges: `1 | 3..=6`.
fn ranges(classes: &[u32]) -> Vec<TokenStream> {
    let mut patterns = Vec::new();
    let mut start = 0;
    while start < classes.len() {
        let mut end = start;
        while end + 1 < classes.len() && classes[end + 1] == classes[end] + 1 {
            end += 1;
        }
        let (low, high) = (
            Literal::u32_unsuffixed(classes[start]),
            Literal::u32_unsuffixed(classes[end]),
        );
        patterns.push(if end == start {
            quote! { #low }
        } else {
            quote! { #low..=#high }
        });
        start = end + 1;
    }
    patterns
}

fn method_condition(methods: &[Method]) -> Vec<TokenStream> {
    methods
        .iter()
        .map(|method| {
            let constant = format_ident!("{}", method.as_str());
            quote! { *method == ::edge_runtime::http::Method::#constant }
        })
        .collect()
}

/// Joins conditions, each a list of alternatives, with `&&` and `||`, adding parentheses
/// only where they are needed.
fn all(conditions: Vec<Vec<TokenStream>>) -> TokenStream {
    let single = conditions.len() == 1;
    let terms = conditions.into_iter().map(|alternatives| {
        if single || alternatives.len() == 1 {
            quote! { #(#alternatives)||* }
        } else {
            quote! { (#(#alternatives)||*) }
        }
    });
    quote! { #(#terms)&&* }
}

/// How a chain of candidates yields its answer.
struct Yield<'a> {
    /// The value for a hit on route `index`.
    hit: &'a dyn Fn(usize) -> TokenStream,
    /// Leaves the enclosing block or function with a value (`return`, `break 'label`).
    exit: &'a dyn Fn(TokenStream) -> TokenStream,
    /// The value when no candidate matches.
    miss: TokenStream,
}

/// Tries `candidates` (route indices, in order): the first whose conditions hold yields its
/// hit; `extra` adds conditions per route (such as its path test). A route without any
/// condition ends the chain as its value.
fn first_of(
    candidates: &[usize],
    routes: &[Route],
    hosts: &HostClasses,
    extra: impl Fn(&Route) -> Vec<Vec<TokenStream>>,
    yields: &Yield<'_>,
) -> TokenStream {
    let mut steps = Vec::new();
    for &index in candidates {
        let route = &routes[index];
        let mut conditions = host_and_method(route, hosts);
        conditions.extend(extra(route));
        let hit = (yields.hit)(index);
        if conditions.is_empty() {
            return quote! { #(#steps)* #hit };
        }
        let condition = all(conditions);
        let exit = (yields.exit)(hit);
        steps.push(quote! {
            if #condition {
                #exit;
            }
        });
    }
    let miss = &yields.miss;
    quote! { #(#steps)* #miss }
}

/// The chain: every route in order, path test included.
fn chain_body(
    routes: &[Route],
    variants: &[Ident],
    enum_name: &Ident,
    hosts: &HostClasses,
) -> TokenStream {
    let all_routes: Vec<usize> = (0..routes.len()).collect();
    let yields = Yield {
        hit: &|index| {
            let variant = &variants[index];
            quote! { Some(#enum_name::#variant) }
        },
        exit: &|value| quote! { return #value },
        miss: quote! { None },
    };
    first_of(
        &all_routes,
        routes,
        hosts,
        |route| {
            path_matcher(route)
                .map(path_condition)
                .into_iter()
                .collect()
        },
        &yields,
    )
}

fn path_condition(path: &PathMatch) -> Vec<TokenStream> {
    let check = match path {
        PathMatch::Exact(exact) => quote! { path == #exact },
        PathMatch::Prefix(prefix) if prefix.ends_with('/') => quote! { path.starts_with(#prefix) },
        PathMatch::Prefix(prefix) => {
            quote! { path.strip_prefix(#prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) }
        }
    };
    vec![check]
}

/// A trie node: one path segment deeper than its parent.
#[derive(Default)]
struct Node {
    children: Vec<(String, usize)>,
    /// Routes whose exact path ends here.
    exact: Vec<usize>,
    /// `path /a`: here and everything below.
    here_and_below: Vec<usize>,
    /// `path /a/`: only strictly below.
    below: Vec<usize>,
    parent: Option<usize>,
}

struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new(routes: &[Route]) -> Self {
        let mut trie = Trie {
            nodes: vec![Node::default()],
        };
        for (index, route) in routes.iter().enumerate() {
            match path_matcher(route) {
                None => {}
                Some(PathMatch::Exact(path)) => {
                    let node = trie.insert(path);
                    trie.nodes[node].exact.push(index);
                }
                Some(PathMatch::Prefix(prefix)) => match prefix.strip_suffix('/') {
                    Some(parent) => {
                        let node = trie.insert(parent);
                        trie.nodes[node].below.push(index);
                    }
                    None => {
                        let node = trie.insert(prefix);
                        trie.nodes[node].here_and_below.push(index);
                    }
                },
            }
        }
        trie
    }

    /// The node of a path (`/a/b` → root, `a`, `b`), created as needed. `""` is the root.
    fn insert(&mut self, path: &str) -> usize {
        let mut node = 0;
        if path.is_empty() {
            return node;
        }
        for segment in path[1..].split('/') {
            let existing = self.nodes[node]
                .children
                .iter()
                .find(|(name, _)| name == segment)
                .map(|(_, child)| *child);
            node = match existing {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node {
                        parent: Some(node),
                        ..Node::default()
                    });
                    self.nodes[node].children.push((segment.to_owned(), child));
                    child
                }
            };
        }
        node
    }

    /// `node` and its ancestors.
    fn lineage(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(node), |n| self.nodes[*n].parent)
    }

    /// The routes that can match a path ending exactly at `node`, in route order.
    fn ending_at(&self, node: usize) -> Vec<usize> {
        let mut candidates = self.nodes[node].exact.clone();
        for ancestor in self.lineage(node) {
            candidates.extend(&self.nodes[ancestor].here_and_below);
            if ancestor != node {
                candidates.extend(&self.nodes[ancestor].below);
            }
        }
        candidates.sort_unstable();
        candidates
    }

    /// The routes that can match a path that goes on below `node` where the trie stops.
    fn beyond(&self, node: usize) -> Vec<usize> {
        let mut candidates = Vec::new();
        for ancestor in self.lineage(node) {
            candidates.extend(&self.nodes[ancestor].here_and_below);
            candidates.extend(&self.nodes[ancestor].below);
        }
        candidates.sort_unstable();
        candidates
    }
}

/// The tree: a path walk through the trie to a state, its candidates tried in order, and
/// routes without a path looked up by host class; the earlier hit wins.
fn tree_body(
    routes: &[Route],
    variants: &[Ident],
    enum_name: &Ident,
    hosts: &HostClasses,
) -> TokenStream {
    let trie = Trie::new(routes);
    let nodes = trie.nodes.len();
    // States: node `n` is state `n` (the path ended there), `nodes + n` is "below `n`".
    let state = |n: usize| Literal::u32_unsuffixed(n as u32);
    let beyond_state = |n: usize| Literal::u32_unsuffixed((nodes + n) as u32);
    let index_hit = |index: usize| {
        let index = Literal::u16_unsuffixed(index as u16);
        quote! { Some(#index) }
    };
    // A lookup's block is labelled only when a chain leaves it early: an unused label is a
    // warning in the proxy built.
    let (path_exits, host_exits) = (Cell::new(false), Cell::new(false));
    let by_path_yield = Yield {
        hit: &index_hit,
        exit: &|value| {
            path_exits.set(true);
            quote! { break 'path #value }
        },
        miss: quote! { None },
    };
    let by_host_yield = Yield {
        hit: &index_hit,
        exit: &|value| {
            host_exits.set(true);
            quote! { break 'host #value }
        },
        miss: quote! { None },
    };
    // `LABEL: { body }` when a chain breaks to the label, else the body alone.
    let labelled = |exits: &Cell<bool>, label: TokenStream, body: TokenStream| {
        if exits.get() {
            quote! { #label { #body } }
        } else {
            body
        }
    };

    let walk = (0..nodes).map(|n| {
        let here = state(n);
        let beyond = beyond_state(n);
        let arms = trie.nodes[n]
            .children
            .iter()
            .map(|(segment, child)| {
                let child = state(*child);
                (segment.clone(), quote! { #child })
            })
            .collect::<Vec<_>>();
        if arms.is_empty() {
            quote! { #here => #beyond, }
        } else {
            let switch = string_switch(quote! { segment }, arms, quote! { #beyond });
            quote! { #here => #switch, }
        }
    });
    let finals = (0..nodes).flat_map(|n| {
        [
            (state(n), trie.ending_at(n)),
            (beyond_state(n), trie.beyond(n)),
        ]
    });
    let final_arms: Vec<TokenStream> = finals
        .filter(|(_, candidates)| !candidates.is_empty())
        .map(|(state, candidates)| {
            let chain = first_of(&candidates, routes, hosts, |_| Vec::new(), &by_path_yield);
            quote! { #state => { #chain } }
        })
        .collect();

    let anywhere: Vec<usize> = (0..routes.len())
        .filter(|i| path_matcher(&routes[*i]).is_none())
        .collect();
    let by_host = (!anywhere.is_empty()).then(|| {
        let arms: Vec<TokenStream> = hosts
            .all()
            .map(|(class, _)| {
                let fitting: Vec<usize> = anywhere
                    .iter()
                    .copied()
                    .filter(|i| {
                        hosts
                            .accepted(&routes[*i].hosts)
                            .is_none_or(|c| c.contains(&class))
                    })
                    .collect();
                let chain = first_of(&fitting, routes, hosts, |_| Vec::new(), &by_host_yield);
                let class = Literal::u32_unsuffixed(class);
                quote! { #class => { #chain } }
            })
            .collect();
        let hostless: Vec<usize> = anywhere
            .iter()
            .copied()
            .filter(|i| routes[*i].hosts.is_empty())
            .collect();
        let fallback = first_of(&hostless, routes, hosts, |_| Vec::new(), &by_host_yield);
        let lookup = if hosts.is_empty() {
            quote! { #fallback }
        } else {
            quote! {
                match host_class {
                    #(#arms)*
                    _ => { #fallback }
                }
            }
        };
        let lookup = labelled(&host_exits, quote! { 'host: }, lookup);
        quote! {
            let by_host: Option<u16> = #lookup;
        }
    });

    let by_path = trie
        .nodes
        .iter()
        .any(|n| !n.exact.is_empty() || !n.here_and_below.is_empty() || !n.below.is_empty())
        .then(|| {
            let lookup = labelled(
                &path_exits,
                quote! { 'path: },
                quote! {
                    match state {
                        #(#final_arms)*
                        _ => None,
                    }
                },
            );
            quote! {
                let mut state: u32 = 0;
                for segment in path.get(1..).unwrap_or("").split('/') {
                    state = match state {
                        #(#walk)*
                        _ => break,
                    };
                }
                let by_path: Option<u16> = #lookup;
            }
        });
    let winner = match (by_path.is_some(), by_host.is_some()) {
        (true, true) => quote! {
            match (by_path, by_host) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        },
        (true, false) => quote! { by_path },
        (false, _) => quote! { by_host },
    };
    let count = Literal::usize_unsuffixed(routes.len());
    quote! {
        const ROUTES: [#enum_name; #count] = [#(#enum_name::#variants),*];
        #by_path
        #by_host
        #winner.map(|index| ROUTES[usize::from(index)])
    }
}
