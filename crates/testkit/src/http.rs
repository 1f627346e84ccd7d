//! What the HTTP tests read back: an answer, whole, with the few questions every test asks of it.

use serde_json::Value;

/// An answer, read whole: status, headers, body.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Reads `response` to the end.
    pub async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("a body");
        Page {
            status,
            headers,
            body,
        }
    }

    /// The `Location` header, or "".
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The `csrfmiddlewaretoken` of the page's first form.
    pub fn csrf_token(&self) -> String {
        let marker = "name=\"csrfmiddlewaretoken\" value=\"";
        let start = self.body.find(marker).unwrap_or_else(|| {
            panic!(
                "no CSRF field in the page ({}):\n{}",
                self.status, self.body
            )
        }) + marker.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_string()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The body as JSON; a body that is not JSON fails the test.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }
}
