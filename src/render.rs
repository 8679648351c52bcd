//! Splunk's two reply shapes for collections and errors: the JSON envelope
//! (`output_mode=json`) and the Atom feed with `s:dict` content (the default, which `| rest`
//! and Splunk's Python tooling read). Shared by the driver and splunkd-dev.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::fmt::Write;

/// Characters escaped in a path segment: everything but RFC 3986 unreserved characters.
pub const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const SPLUNK_NS: &str = "http://dev.splunk.com/ns/rest";
const OPENSEARCH_NS: &str = "http://a9.com/-/spec/opensearch/1.1/";

/// Content-Type of Atom and XML error replies.
pub const XML_CONTENT_TYPE: &str = "text/xml; charset=UTF-8";
/// Content-Type of JSON replies.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// A collection reply: one entry per object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feed {
    /// Collection name, e.g. `mltk` or `conf-docker_images`.
    pub title: String,
    /// Absolute URL of the collection, e.g. `https://127.0.0.1:8089/servicesNS/nobody/app/mltk`.
    pub origin: String,
    /// The entries of this page.
    pub entries: Vec<Entry>,
    /// Number of entries before paging.
    pub total: usize,
    /// Index of the first entry of this page.
    pub offset: usize,
    /// Page size asked for (0 = all).
    pub per_page: usize,
    /// Informational messages (`type`, `text`).
    pub messages: Vec<(String, String)>,
}

/// One object of a collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// Entry name (`title` in Atom, `name` in JSON).
    pub name: String,
    /// Owner shown as author.
    pub author: String,
    /// `eai:acl`-style access information, if any.
    pub acl: Option<Value>,
    /// The object's fields.
    pub content: Map<String, Value>,
}

impl Feed {
    /// A feed holding all `entries` (no paging).
    pub fn new(title: impl Into<String>, origin: impl Into<String>, entries: Vec<Entry>) -> Self {
        let total = entries.len();
        Feed {
            title: title.into(),
            origin: origin.into(),
            entries,
            total,
            offset: 0,
            per_page: 30,
            messages: Vec::new(),
        }
    }

    fn entry_url(&self, e: &Entry) -> String {
        format!(
            "{}/{}",
            self.origin.trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(&e.name, SEGMENT)
        )
    }

    /// The path of an entry, for `links.alternate`.
    fn entry_path(&self, e: &Entry) -> String {
        let url = self.entry_url(e);
        match url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(p) => url[p..].to_string(),
            None => url,
        }
    }

    /// Splunk's JSON envelope as a value (for callers that want to look inside it; replies
    /// serialise the feed directly, see the `Serialize` impl).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The Atom feed as Splunk renders it.
    pub fn to_atom(&self) -> String {
        let updated = now_iso();
        let mut x = String::with_capacity(512 + self.entries.len() * 512);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(
            x,
            "<feed xmlns=\"{ATOM_NS}\" xmlns:s=\"{SPLUNK_NS}\" xmlns:opensearch=\"{OPENSEARCH_NS}\">\n  <title>{}</title>\n  <id>{}</id>\n  <updated>{updated}</updated>\n  <generator build=\"{v}\" version=\"{v}\"/>\n  <author>\n    <name>Splunk</name>\n  </author>\n  <opensearch:totalResults>{}</opensearch:totalResults>\n  <opensearch:itemsPerPage>{}</opensearch:itemsPerPage>\n  <opensearch:startIndex>{}</opensearch:startIndex>\n",
            escape(&self.title),
            escape(&self.origin),
            self.total,
            self.per_page,
            self.offset,
            v = env!("CARGO_PKG_VERSION"),
        );
        if self.messages.is_empty() {
            x.push_str("  <s:messages/>\n");
        } else {
            x.push_str("  <s:messages>\n");
            for (t, text) in &self.messages {
                let _ = writeln!(
                    x,
                    "    <s:msg type=\"{}\">{}</s:msg>",
                    escape(t),
                    escape(text)
                );
            }
            x.push_str("  </s:messages>\n");
        }
        for e in &self.entries {
            let _ = write!(
                x,
                "  <entry>\n    <title>{}</title>\n    <id>{}</id>\n    <updated>{updated}</updated>\n    <link href=\"{}\" rel=\"alternate\"/>\n    <author>\n      <name>{}</name>\n    </author>\n    <content type=\"text/xml\">\n      ",
                escape(&e.name),
                escape(&self.entry_url(e)),
                escape(&self.entry_path(e)),
                escape(&e.author),
            );
            let mut content = e.content.clone();
            if let Some(acl) = &e.acl {
                content.insert("eai:acl".into(), acl.clone());
            }
            write_value(&mut x, &Value::Object(content));
            x.push_str("\n    </content>\n  </entry>\n");
        }
        x.push_str("</feed>\n");
        x
    }
}

/// Splunk's JSON envelope, written straight from the feed's borrowed parts: no intermediate
/// `Value` tree, which kept a collection reply well inside the per-request budget.
impl Serialize for Feed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            links: Map<String, Value>,
            origin: &'a str,
            updated: &'a str,
            generator: Generator,
            entry: Vec<EntryJson<'a>>,
            paging: Paging,
            messages: Vec<Message<'a>>,
        }
        #[derive(Serialize)]
        struct Generator {
            build: &'static str,
            version: &'static str,
        }
        #[derive(Serialize)]
        struct EntryJson<'a> {
            name: &'a str,
            id: String,
            updated: &'a str,
            links: Links,
            author: &'a str,
            content: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            acl: Option<&'a Value>,
        }
        #[derive(Serialize)]
        struct Links {
            alternate: String,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Paging {
            total: usize,
            per_page: usize,
            offset: usize,
        }
        #[derive(Serialize)]
        struct Message<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            text: &'a str,
        }
        let updated = now_iso();
        Envelope {
            links: Map::new(),
            origin: &self.origin,
            updated: &updated,
            generator: Generator {
                build: env!("CARGO_PKG_VERSION"),
                version: env!("CARGO_PKG_VERSION"),
            },
            entry: self
                .entries
                .iter()
                .map(|e| EntryJson {
                    name: &e.name,
                    id: self.entry_url(e),
                    updated: &updated,
                    links: Links {
                        alternate: self.entry_path(e),
                    },
                    author: &e.author,
                    content: &e.content,
                    acl: e.acl.as_ref(),
                })
                .collect(),
            paging: Paging {
                total: self.total,
                per_page: self.per_page,
                offset: self.offset,
            },
            messages: self
                .messages
                .iter()
                .map(|(kind, text)| Message { kind, text })
                .collect(),
        }
        .serialize(s)
    }
}

/// Splunk's JSON error body: `{"messages":[{"type":"ERROR","text":...}]}`.
pub fn error_json(text: &str) -> Value {
    json!({"messages": [{"type": "ERROR", "text": text}]})
}

/// Splunk's XML error body.
pub fn error_xml(text: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <messages>\n    <msg type=\"ERROR\">{}</msg>\n  </messages>\n</response>\n",
        escape(text)
    )
}

/// Renders a JSON value as Splunk's `s:dict` / `s:list` / text content.
fn write_value(x: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => x.push_str(&escape(s)),
        Value::Bool(b) => x.push_str(if *b { "1" } else { "0" }),
        Value::Number(n) => x.push_str(&n.to_string()),
        Value::Array(items) => {
            x.push_str("<s:list>");
            for item in items {
                x.push_str("<s:item>");
                write_value(x, item);
                x.push_str("</s:item>");
            }
            x.push_str("</s:list>");
        }
        Value::Object(map) => {
            x.push_str("<s:dict>");
            for (k, v) in map {
                let _ = write!(x, "<s:key name=\"{}\">", escape(k));
                write_value(x, v);
                x.push_str("</s:key>");
            }
            x.push_str("</s:dict>");
        }
    }
}

/// Escapes text for XML content and attribute values; drops characters XML 1.0 forbids.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The current time as Splunk writes it (`2024-01-01T00:00:00+00:00`).
/// Formatted at most once per second per thread: every reply and log line carries it.
pub fn now_iso() -> String {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = jiff::Timestamp::now();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now.as_second() {
            *last = (
                now.as_second(),
                now.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
            );
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Feed {
        let mut content = Map::new();
        content.insert("color".into(), json!("b<l>ue & \"x\""));
        content.insert("tags".into(), json!(["a", "b"]));
        content.insert("n".into(), json!(3));
        content.insert("on".into(), json!(true));
        Feed::new(
            "things",
            "https://127.0.0.1:8089/servicesNS/nobody/app/things",
            vec![Entry {
                name: "thing 1".into(),
                author: "admin".into(),
                acl: None,
                content,
            }],
        )
    }

    #[test]
    fn json_envelope_has_splunks_keys() {
        let v = sample().to_json();
        assert_eq!(v["paging"]["total"], 1);
        assert_eq!(v["entry"][0]["name"], "thing 1");
        assert_eq!(
            v["entry"][0]["id"],
            "https://127.0.0.1:8089/servicesNS/nobody/app/things/thing%201"
        );
        assert_eq!(
            v["entry"][0]["links"]["alternate"],
            "/servicesNS/nobody/app/things/thing%201"
        );
        assert_eq!(v["entry"][0]["content"]["tags"][1], "b");
        assert!(v["messages"].as_array().unwrap().is_empty());
    }

    #[test]
    fn atom_feed_escapes_and_nests() {
        let x = sample().to_atom();
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\""));
        assert!(x.contains("<title>thing 1</title>"));
        assert!(x.contains("<s:key name=\"color\">b&lt;l&gt;ue &amp; &quot;x&quot;</s:key>"));
        assert!(x.contains(
            "<s:key name=\"tags\"><s:list><s:item>a</s:item><s:item>b</s:item></s:list></s:key>"
        ));
        assert!(x.contains("<s:key name=\"on\">1</s:key>"));
        assert!(x.contains("<opensearch:totalResults>1</opensearch:totalResults>"));
        assert!(x.trim_end().ends_with("</feed>"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_json("no")["messages"][0]["type"], "ERROR");
        let x = error_xml("a<b\u{1}");
        assert!(x.contains("<msg type=\"ERROR\">a&lt;b\u{FFFD}</msg>"));
    }
}
