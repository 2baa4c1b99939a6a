//! Code generation for stores: each one's `StoreSpec`, written only when a generated rate
//! limit refers to it.

use proc_macro2::TokenStream;
use quote::quote;

use super::duration;
use crate::model::{Store, StorePassword, StoreServers};

pub(super) fn store_spec(store: &Store) -> TokenStream {
    let (name, prefix) = (&store.name, &store.prefix);
    let servers = match &store.servers {
        StoreServers::Single(url) => quote! { ::edge_runtime::StoreServers::Single(#url) },
        StoreServers::Cluster(nodes) => {
            quote! { ::edge_runtime::StoreServers::Cluster(&[#(#nodes),*]) }
        }
        StoreServers::Sentinel {
            sentinels,
            master,
            database,
        } => quote! {
            ::edge_runtime::StoreServers::Sentinel {
                sentinels: &[#(#sentinels),*],
                master: #master,
                database: #database,
            }
        },
    };
    let password = match &store.password {
        StorePassword::None => quote! { ::edge_runtime::StorePassword::None },
        StorePassword::Env(variable) => quote! { ::edge_runtime::StorePassword::Env(#variable) },
        StorePassword::File(file) => quote! { ::edge_runtime::StorePassword::File(#file) },
    };
    let timeout = match store.timeout {
        Some(timeout) => duration(timeout),
        None => quote! { ::edge_runtime::StoreSpec::TIMEOUT },
    };
    quote! {
        ::edge_runtime::StoreSpec {
            name: #name,
            servers: #servers,
            password: #password,
            timeout: #timeout,
            prefix: #prefix,
        }
    }
}
