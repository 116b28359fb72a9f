//! The names of settings' values (`embedded`, `per-thread`, ...): one spelling in files,
//! variables and flags, taken from clap's, so the three layers cannot drift apart.

/// The name of a setting's value, the same in files, variables and flags: its flag's
/// (clap's kebab-case of the variant), so the three layers cannot drift apart.
pub(super) fn value_name<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|possible| possible.get_name().to_owned())
        .unwrap_or_default()
}

/// Reads a setting's value by its name (see [`value_name`]); the error lists the names (but
/// those hidden from `--help`, which name what is not built yet).
pub(super) fn named_value<T: clap::ValueEnum>(name: &str) -> Result<T, String> {
    T::from_str(name, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(clap::ValueEnum::to_possible_value)
            .filter(|possible| !possible.is_hide_set())
            .map(|possible| format!("`{}`", possible.get_name()))
            .collect();
        format!("expected {}, got {name:?}", names.join(" or "))
    })
}
