//! Self-service flows as Kratos sends them: the flow, its UI nodes and messages.
//! The raw JSON is kept beside the typed view, so a check can assert a field the
//! types do not name (and a field that must be absent).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub kind: String,
    pub ui: Ui,
    pub raw: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ui {
    pub action: String,
    pub method: String,
    /// `null` in some flows (e.g. an API AAL2 flow of an identity without a second factor).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nodes: Vec<Node>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    #[serde(rename = "type")]
    pub kind: String,
    pub group: String,
    pub attributes: Value,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    pub label: Option<Message>,
}

/// A UI text: `{id, text, type, context?}`. The id is the stable part to assert.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: u64,
    pub text: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub context: Option<Value>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Flow {
    pub fn from_json(raw: Value) -> anyhow::Result<Flow> {
        let id = raw.get("id").and_then(Value::as_str).ok_or_else(|| anyhow::anyhow!("the flow has no id"))?.to_string();
        let kind = raw.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let ui = Ui::deserialize(raw.get("ui").ok_or_else(|| anyhow::anyhow!("the flow has no ui"))?)?;
        Ok(Flow { id, kind, ui, raw })
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.raw.get(name)
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.raw.get(name).and_then(Value::as_str)
    }

    /// The input node called `name` (for `method`, the one with that value use
    /// [`Flow::submit_node`]).
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.ui.nodes.iter().find(|n| n.name() == Some(name))
    }

    /// A node by its `attributes.id` (img and text nodes have ids, not names).
    pub fn node_by_id(&self, id: &str) -> Option<&Node> {
        self.ui.nodes.iter().find(|n| n.attributes.get("id").and_then(Value::as_str) == Some(id))
    }

    /// The submit node `name=value`, e.g. `method=totp`.
    pub fn submit_node(&self, name: &str, value: &str) -> Option<&Node> {
        self.ui.nodes.iter().find(|n| n.name() == Some(name) && n.value_str() == Some(value))
    }

    /// Names (or ids) of all nodes, in order: `csrf_token`, `identifier`, `method=password`, ...
    pub fn node_names(&self) -> Vec<String> {
        self.ui.nodes.iter().map(Node::label_for_listing).collect()
    }

    /// The names of the nodes a person sees (all but hidden inputs), in order.
    pub fn visible_node_names(&self) -> Vec<String> {
        self.ui.nodes.iter().filter(|n| !n.is_hidden()).map(Node::label_for_listing).collect()
    }

    /// The same, of the nodes in these groups only.
    pub fn visible_node_names_of(&self, groups: &[&str]) -> Vec<String> {
        self.ui
            .nodes
            .iter()
            .filter(|n| !n.is_hidden() && groups.contains(&n.group.as_str()))
            .map(Node::label_for_listing)
            .collect()
    }

    /// The names of the hidden inputs, sorted: their order means nothing to
    /// anyone, and Kratos versions differ in it.
    pub fn hidden_node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ui.nodes.iter().filter(|n| n.is_hidden()).map(Node::label_for_listing).collect();
        names.sort();
        names
    }

    /// The hidden inputs of these groups, sorted.
    pub fn hidden_node_names_of(&self, groups: &[&str]) -> Vec<String> {
        let mut names: Vec<String> =
            self.ui.nodes.iter().filter(|n| n.is_hidden() && groups.contains(&n.group.as_str())).map(Node::label_for_listing).collect();
        names.sort();
        names
    }

    /// The value of the `csrf_token` node (empty for API flows).
    pub fn csrf_token(&self) -> Option<&str> {
        self.node("csrf_token").and_then(Node::value_str)
    }
}

impl Node {
    pub fn name(&self) -> Option<&str> {
        self.attributes.get("name").and_then(Value::as_str)
    }

    pub fn value(&self) -> Option<&Value> {
        self.attributes.get("value")
    }

    pub fn value_str(&self) -> Option<&str> {
        self.value().and_then(Value::as_str)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    pub fn is_hidden(&self) -> bool {
        self.attr_str("type") == Some("hidden")
    }

    pub fn label_id(&self) -> Option<u64> {
        self.meta.label.as_ref().map(|l| l.id)
    }

    fn label_for_listing(&self) -> String {
        match (self.name(), self.attributes.get("id").and_then(Value::as_str)) {
            (Some(name), _) if self.attr_str("type") == Some("submit") => {
                format!("{name}={}", self.value().map(value_text).unwrap_or_default())
            }
            (Some(name), _) => name.to_string(),
            (None, Some(id)) => id.to_string(),
            _ => format!("<{}>", self.kind),
        }
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
