//! Columns: each configured column's reader (SKU, product fields, money, barcode,
//! stock) turning one cell into an [`Intent`] or the reason it is not one.

use super::*;

pub(super) fn read_sku(cell: &Json) -> Result<Option<Sku>, Why> {
    match cell {
        Json::String(s) if is_formula_error(s) => Err("is a formula error".to_owned()),
        Json::String(s) => Ok(Sku::new(s)),
        // A SKU typed as a long number was stored as a double and may have lost digits.
        Json::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() > MAX_EXACT_F64 as f64) => Err(
            "is too long a number to have kept its digits: format the SKU column as plain text and re-enter it"
                .to_owned(),
        ),
        Json::Number(n) => Ok(Sku::new(&number_text(n))),
        Json::Bool(_) => Err("is a checkbox (TRUE/FALSE), not a SKU".to_owned()),
        _ => Err("is not a SKU".to_owned()),
    }
}

/// The statuses `productUpdate` accepts (`ProductStatus`, Admin 2026-07).
pub(super) const PRODUCT_STATUSES: [&str; 4] = ["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"];

/// A product-field cell: text as the store compares it. Status is matched without regard
/// to case; tags are a comma-separated list, normalized by [`tags_text`] (order and
/// repeats do not count as a change), and `CLEAR` removes every tag.
pub(super) fn read_product(field: Field, cell: &Json) -> Result<Intent, Why> {
    let text = cell_text(cell);
    if is_clear(&text) {
        return if field.clearable() {
            Ok(Intent::Clear)
        } else {
            Err("cannot be cleared: a product keeps its title, status and vendor".to_owned())
        };
    }
    match field {
        Field::Status => {
            let status = text.to_ascii_uppercase();
            let lower = text.trim().to_ascii_lowercase();
            if PRODUCT_STATUSES.contains(&status.as_str()) {
                Ok(Intent::Set(Value::Text(status)))
            } else if crate::model::WOO_ONLY_STATUSES.contains(&lower.as_str()) {
                Ok(Intent::Set(Value::Text(lower)))
            } else {
                Err(format!(
                    "is not one of {} (Shopify) or publish, draft, pending, private (WooCommerce)",
                    PRODUCT_STATUSES.join(", ")
                ))
            }
        }
        Field::Tags => {
            Ok(tags_text(text.split(',')).map_or(Intent::Clear, |t| Intent::Set(Value::Text(t))))
        }
        _ => Ok(Intent::Set(Value::Text(text))),
    }
}

pub(super) fn read_field(field: Field, cell: &Json, currency: &Currency) -> Result<Intent, Why> {
    if let Json::String(s) = cell
        && is_clear(s)
    {
        return if field.clearable() {
            Ok(Intent::Clear)
        } else {
            Err(format!(
                "cannot be cleared: only {} accept CLEAR",
                Field::ALL
                    .iter()
                    .filter(|f| f.clearable())
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
    }
    if field == Field::Barcode {
        read_barcode(cell)
    } else {
        read_money(cell, currency).map(|m| Intent::Set(Value::Money(m)))
    }
}

/// Largest integer a double holds exactly: Sheets stores every number as one.
pub(super) const MAX_EXACT_F64: u64 = 1 << 53;

pub(super) fn read_barcode(cell: &Json) -> Result<Intent, Why> {
    const PLAIN_TEXT: &str = "format the barcode column as plain text and re-enter it";
    match cell {
        Json::String(s) if is_formula_error(s) => Err("is a formula error".to_owned()),
        Json::String(s) if looks_scientific(s.trim()) => Err(format!(
            "is a number in scientific notation and has lost digits: {PLAIN_TEXT}"
        )),
        Json::String(s) => Ok(Intent::Set(Value::Text(s.trim().to_owned()))),
        Json::Number(n) => {
            let digits = if let Some(u) = n.as_u64() {
                (u <= MAX_EXACT_F64).then(|| u.to_string())
            } else {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= MAX_EXACT_F64 as f64)
                    .map(|f| format!("{f}"))
            };
            digits.map(Intent::NumericBarcode).ok_or_else(|| {
                format!("is a number that cannot be a barcode exactly: {PLAIN_TEXT}")
            })
        }
        Json::Bool(_) => Err("is a checkbox (TRUE/FALSE), not a barcode".to_owned()),
        _ => Err("is not a barcode".to_owned()),
    }
}

/// `3.65275E+11`: what a barcode looks like after a trip through Excel.
pub(super) fn looks_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let mut digits = mantissa.splitn(2, '.');
    let whole = digits.next().unwrap_or_default();
    let fraction = digits.next().unwrap_or("0");
    [whole, fraction, exponent]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn read_money(cell: &Json, currency: &Currency) -> Result<Decimal, Why> {
    let (number, from_float) = match cell {
        Json::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.abs() >= 1e18
            {
                return Err(too_large_money());
            }
            (
                plain_number(&number_text(n)).ok_or_else(|| "is not a number".to_owned())?,
                n.as_f64(),
            )
        }
        Json::String(s) => {
            let text = s.trim();
            if let Some(why) = text_problem(text) {
                return Err(why);
            }
            (read_number_text(text, Mode::Money(currency))?, None)
        }
        Json::Bool(_) => return Err(bool_problem()),
        _ => return Err("is not a number".to_owned()),
    };
    number.into_money(currency, from_float)
}

pub(super) fn too_large_money() -> Why {
    "is too large: the store holds amounts below 10^18".to_owned()
}

pub(super) fn read_stock(cell: &Json) -> Result<Intent, Why> {
    match cell {
        Json::String(s) if is_clear(s) => {
            Err("cannot be cleared: a blank cell leaves stock alone, 0 sets it to zero".to_owned())
        }
        Json::String(s) => {
            let text = s.trim();
            if let Some(why) = text_problem(text) {
                return Err(why);
            }
            read_number_text(text, Mode::Quantity)?.into_quantity()
        }
        Json::Number(n) => plain_number(&number_text(n))
            .ok_or_else(|| "is not a number".to_owned())?
            .into_quantity(),
        Json::Bool(_) => Err(bool_problem()),
        _ => Err("is not a number".to_owned()),
    }
    .map(|q| Intent::Set(Value::Qty(q)))
}
