//! What the WooCommerce fake answers, before it becomes HTTP: a status, a JSON body (or
//! WordPress's HTML for a path outside the REST API) and headers; WordPress's error
//! envelope `{code, message, data: {status}}`; query parameters as PHP reads them
//! (`a=1,2` and `a[]=1&a[]=2`); and `_fields` trimming (nested `a.b` paths, `id` kept,
//! `_links` only when asked for).

use serde_json::{Map, Value, json};

/// One answer, ready to be sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Body,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Html(String),
}

impl Answer {
    pub fn json(status: u16, value: Value) -> Answer {
        Answer {
            status,
            body: Body::Json(value),
            headers: Vec::new(),
        }
    }

    pub fn ok(value: Value) -> Answer {
        Answer::json(200, value)
    }

    /// The site's home page (a request for the root without `rest_route`).
    pub fn html_home() -> Answer {
        Answer {
            status: 200,
            body: Body::Html(
                "<!DOCTYPE html>\n<html lang=\"en-US\"><head><meta charset=\"UTF-8\"><title>sheetsync demo</title><link rel=\"https://api.w.org/\" href=\"/wp-json/\" /></head>\n<body class=\"home\"><main><h1>sheetsync demo</h1></main></body></html>\n"
                    .into(),
            ),
            headers: Vec::new(),
        }
    }

    /// WordPress's theme 404 for a URL that is not a REST route (e.g. `/wp-json/…` on a
    /// site without pretty permalinks).
    pub fn html_not_found() -> Answer {
        Answer {
            status: 404,
            body: Body::Html(
                "<!DOCTYPE html>\n<html lang=\"en-US\"><head><meta charset=\"UTF-8\"><title>Page not found &#8211; sheetsync demo</title></head>\n<body class=\"error404\"><main><h1 class=\"page-title\">Oops! That page can&rsquo;t be found.</h1></main></body></html>\n"
                    .into(),
            ),
            headers: Vec::new(),
        }
    }
}

/// A `WP_Error` as the REST server sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct WooError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra members of `data` besides `status` (`resource_id`, `unique_sku`, `params`).
    pub data: Map<String, Value>,
}

impl WooError {
    pub fn new(status: u16, code: &str, message: &str) -> WooError {
        WooError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            data: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> WooError {
        self.data.insert(key.to_owned(), value);
        self
    }

    pub fn body(&self) -> Value {
        let mut data = Map::new();
        data.insert("status".into(), json!(self.status));
        data.extend(self.data.clone());
        json!({"code": self.code, "message": self.message, "data": data})
    }

    pub fn answer(&self) -> Answer {
        Answer::json(self.status, self.body())
    }

    /// `rest_no_route` (fixtures/woocommerce/errors.json): also what a known path
    /// answers to a method it does not take.
    pub fn no_route() -> WooError {
        WooError::new(
            404,
            "rest_no_route",
            "No route was found matching the URL and request method",
        )
    }

    /// WP's argument validation failure for one parameter.
    pub fn invalid_param(param: &str, detail_code: &str, message: &str) -> WooError {
        WooError::new(
            400,
            "rest_invalid_param",
            &format!("Invalid parameter(s): {param}"),
        )
        .with("params", json!({ param: message }))
        .with(
            "details",
            json!({ param: {"code": detail_code, "message": message, "data": null} }),
        )
    }
}

/// The query string as PHP sees it.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of `name` (PHP keeps the last of repeated plain keys).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list parameter: `name=a,b` or `name[]=a&name[]=b` (`wp_parse_list`).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let bracket = format!("{name}[]");
        let mut out = Vec::new();
        let mut seen = false;
        for (k, v) in &self.0 {
            if *k == bracket {
                seen = true;
                out.push(v.trim().to_owned());
            }
        }
        if !seen && let Some(v) = self.get(name) {
            seen = true;
            out.extend(
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
        }
        seen.then_some(out)
    }

    /// Without the credentials, for the request log.
    pub fn redacted(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "consumer_secret" | "oauth_signature" => "[redacted]".to_owned(),
                    "consumer_key" | "oauth_consumer_key" => {
                        format!("{}…", v.chars().take(7).collect::<String>())
                    }
                    _ => v.clone(),
                };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A positive integer parameter with WP's schema bounds, or its validation error.
    pub fn int_in(
        &self,
        name: &str,
        default: i64,
        min: i64,
        max: Option<i64>,
    ) -> Result<i64, WooError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let n: i64 = raw.trim().parse().map_err(|_| {
            WooError::invalid_param(
                name,
                "rest_invalid_type",
                &format!("{name} is not of type integer."),
            )
        })?;
        match max {
            Some(max) if n < min || n > max => Err(WooError::invalid_param(
                name,
                "rest_out_of_bounds",
                &format!("{name} must be between {min} (inclusive) and {max} (inclusive)"),
            )),
            None if n < min => Err(WooError::invalid_param(
                name,
                "rest_out_of_bounds",
                &format!("{name} must be greater than or equal to {min}"),
            )),
            _ => Ok(n),
        }
    }

    /// An enum parameter.
    pub fn one_of<'a>(
        &'a self,
        name: &str,
        default: &'a str,
        allowed: &[&str],
    ) -> Result<&'a str, WooError> {
        let v = self.get(name).unwrap_or(default);
        if allowed.contains(&v) {
            Ok(v)
        } else {
            Err(WooError::invalid_param(
                name,
                "rest_not_in_enum",
                &format!("{name} is not one of {}.", allowed.join(", ")),
            ))
        }
    }
}

/// `_fields` trimming as WordPress does it (`rest_filter_response_fields`), with `id`
/// always kept (brief §1.5) and `_links` dropped unless named.
pub fn trim_fields(value: Value, fields: Option<&[String]>) -> Value {
    let Some(fields) = fields else {
        return value;
    };
    let Value::Object(obj) = value else {
        return value;
    };
    let mut paths: Vec<Vec<&str>> = fields
        .iter()
        .map(|f| f.split('.').filter(|p| !p.is_empty()).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .collect();
    paths.push(vec!["id"]);
    Value::Object(pick(&obj, &paths))
}

fn pick(obj: &Map<String, Value>, paths: &[Vec<&str>]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in obj {
        let wanted: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p| p[0] == key)
            .map(|p| p[1..].to_vec())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if wanted.iter().any(Vec::is_empty) {
            out.insert(key.clone(), value.clone());
        } else if let Value::Object(inner) = value {
            out.insert(key.clone(), Value::Object(pick(inner, &wanted)));
        }
    }
    out
}
