//! Turns `.edge` names into Rust identifiers: CamelCase for types and variants, snake_case for
//! fields and functions, made unique and kept clear of keywords.

use proc_macro2::Ident;
use quote::format_ident;

/// `user_api` → `UserApi`.
pub fn camel(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().expect("parts are not empty");
            first.to_ascii_uppercase().to_string() + chars.as_str()
        })
        .collect()
}

/// `UserAPI` → `user_api`.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Builds identifiers `prefix + convert(name)` for every name, unique among themselves: a
/// later name that maps to an identifier already taken gets its position appended.
pub fn unique<'a>(
    names: impl IntoIterator<Item = &'a str>,
    convert: fn(&str) -> String,
    prefix: &str,
) -> Vec<Ident> {
    let mut taken: Vec<String> = Vec::new();
    for (index, name) in names.into_iter().enumerate() {
        let mut ident = format!("{prefix}{}", convert(name));
        if ident.is_empty()
            || ident.starts_with(|c: char| c.is_ascii_digit())
            || syn::parse_str::<Ident>(&ident).is_err()
        {
            ident = format!("R{ident}");
        }
        if taken.contains(&ident) {
            ident = format!("{ident}{index}");
        }
        taken.push(ident);
    }
    taken.iter().map(|ident| format_ident!("{ident}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_cases() {
        assert_eq!(camel("users_service"), "UsersService");
        assert_eq!(camel("_a__b"), "AB");
        assert_eq!(snake("UsersService"), "users_service");
        assert_eq!(snake("app"), "app");
    }

    #[test]
    fn keeps_identifiers_unique_and_valid() {
        let idents = unique(["a_b", "aB", "self", "AB"], camel, "");
        let idents: Vec<String> = idents.iter().map(ToString::to_string).collect();
        assert_eq!(idents, ["AB", "AB1", "RSelf", "AB3"]);
        let fields = unique(["type", "app"], snake, "pool_");
        assert_eq!(fields[0].to_string(), "pool_type");
    }
}
