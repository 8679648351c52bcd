//! Kubernetes resource quantities (`250m`, `3Gi`, `1.5`, `2e3`), checked before they reach a
//! manifest: a bad one is a 400 naming the setting instead of a 422 from the API server
//! after half a start. The grammar is the API's (`resource.Quantity`): an optionally signed
//! decimal number and one suffix, binary (`Ki`..`Ei`), decimal (`n`, `u`, `m`, `k`, `M`..`E`)
//! or an exponent (`e3`, `E-2`). Pure.

use crate::error::ApiError;

const BINARY: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
const DECIMAL: [&str; 9] = ["n", "u", "m", "", "k", "M", "G", "T", "P"];

/// `value` of setting `field` as a quantity (trimmed), or a 400 that names the field and
/// shows the forms accepted. Resource requests are never negative, so a sign is refused.
pub fn quantity(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if is_quantity(v) {
        Ok(v.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} = {:?} is not a Kubernetes quantity: a number with an optional unit, \
             e.g. 250m or 0.5 (CPU), 512Mi or 3Gi (memory).",
            crate::names::excerpt(v, 40)
        )))
    }
}

/// Whether `v` is a non-negative quantity.
pub fn is_quantity(v: &str) -> bool {
    let number_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, suffix) = v.split_at(number_end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    BINARY.contains(&suffix) || DECIMAL.contains(&suffix) || exponent(suffix) || suffix == "E"
}

/// `e3`, `E-2`, `e+1`: an exponent suffix.
fn exponent(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(['e', 'E']) else {
        return false;
    };
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apis_forms_pass_and_the_rest_is_named() {
        for ok in [
            "250m", "0.5", "1", "3Gi", "512Mi", "1.5G", "2e3", "1E-2", "100k", "7Ei", ".5", "5.",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in [
            "", "m", "250 m", "3GB", "-1", "+1", "1..2", "1e", "1Kii", "one", "1mi", "0x10",
        ] {
            assert!(!is_quantity(bad), "{bad}");
        }
        let e = quantity("max_memory", "3GB").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.message.starts_with("max_memory = \"3GB\""),
            "{}",
            e.message
        );
        assert_eq!(quantity("min_cpu", " 250m ").unwrap(), "250m");
    }
}
