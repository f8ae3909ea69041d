//! Names for the ids the server answers with, so tables show what people call things (issue 9 item 19).
//!
//! Tickets name their mapping, credentials their owner and supplier, audit entries their target
//! (`project/{id}/mapping/{id}`, `event/{id}/pass/{id}` …) and actor by id. The client looks the names up
//! with the same list requests `ferry project|event|mapping|member|ticket list` make — a handful per table,
//! never one per row — and leaves an id it cannot name as it is, so nothing is hidden. `--json` still
//! prints the server's answer unchanged.

use crate::Ctx;
use crate::client::Client;
use ferry_core::Result;
use serde_json::Value;
use std::collections::HashMap;

/// What each known id is called: `kind name`, e.g. `mapping alex@contoso.example`.
#[derive(Debug, Default)]
pub struct Names {
    names: HashMap<String, String>,
}

impl Names {
    /// The names of one tenant's projects, members, and every project's events, mappings and tickets.
    /// `tenant` is the tenant's API path (`/api/v1/tenants/{id}`).
    pub async fn of_tenant(c: &Client, tenant: &str) -> Result<Names> {
        let mut n = Names::default();
        n.add_me(c).await;
        let t = c.get(tenant).await?;
        n.add_list(&Value::Array(vec![t]), "id", "name", "tenant ");
        let members = c.get(&format!("{tenant}/members")).await?;
        n.add_list(&members["members"], "user", "name", "");
        let projects = c.get(&format!("{tenant}/projects")).await?;
        n.add_list(&projects["projects"], "id", "name", "project ");
        for p in projects["projects"].as_array().into_iter().flatten() {
            if let Some(id) = p["id"].as_str() {
                n.add_project(c, &format!("{tenant}/projects/{id}")).await?;
            }
        }
        Ok(n)
    }

    /// The names of one project's events, mappings and tickets, and of the tenant's members.
    /// `project` is the project's API path (`/api/v1/tenants/{t}/projects/{p}`).
    pub async fn of_project(c: &Client, project: &str) -> Result<Names> {
        let mut n = Names::default();
        n.add_me(c).await;
        if let Some((tenant, _)) = project.split_once("/projects/") {
            // A viewer may read members; a refusal only means ids stay ids.
            if let Ok(members) = c.get(&format!("{tenant}/members")).await {
                n.add_list(&members["members"], "user", "name", "");
            }
        }
        n.add_project(c, project).await?;
        Ok(n)
    }

    async fn add_project(&mut self, c: &Client, project: &str) -> Result<()> {
        let mappings = c.get(&format!("{project}/mappings")).await?;
        self.add_list(&mappings["mappings"], "id", "label", "mapping ");
        let events = c.get(&format!("{project}/events")).await?;
        self.add_list(&events["events"], "id", "name", "event ");
        let tickets = c.get(&format!("{project}/tickets")).await?;
        self.add_list(&tickets["tickets"], "id", "title", "ticket ");
        Ok(())
    }

    /// The caller itself: the operator is no tenant's member, yet supplies credentials and appears in audits.
    async fn add_me(&mut self, c: &Client) {
        if let Ok(me) = c.get("/api/v1/me").await
            && let (Some(id), Some(name)) = (me["user"].as_str(), me["name"].as_str())
        {
            self.names.insert(id.to_string(), name.to_string());
        }
    }

    fn add_list(&mut self, list: &Value, id: &str, name: &str, kind: &str) {
        for x in list.as_array().into_iter().flatten() {
            if let (Some(i), Some(v)) = (x[id].as_str(), x[name].as_str()) {
                self.names.insert(i.to_string(), format!("{kind}{v}"));
            }
        }
    }

    /// The name of `id` without its kind (`alex@contoso.example`), or the id itself.
    pub fn bare(&self, id: &str) -> String {
        match self.names.get(id) {
            Some(n) => n.split_once(' ').map_or(n.as_str(), |(_, v)| v).to_string(),
            None => id.to_string(),
        }
    }

    /// A person's name, or the id itself.
    pub fn person(&self, id: &str) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// An audit target or credential owner with every known id replaced by its name:
    /// `project/{p}/mapping/{m}` → `project Mail / mapping alex@contoso.example`,
    /// `mapping:{m}:target` → `mapping alex@contoso.example (target)`, `endpoint:source` → `source endpoint`.
    pub fn describe(&self, target: &str) -> String {
        if let Some(rest) = target.strip_prefix("mapping:") {
            let (id, slot) = rest.split_once(':').unwrap_or((rest, ""));
            let name = self
                .names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("mapping {id}"));
            return if slot.is_empty() {
                name
            } else {
                format!("{name} ({slot})")
            };
        }
        if let Some(side) = target.strip_prefix("endpoint:") {
            return format!("{side} endpoint");
        }
        let parts: Vec<&str> = target.split('/').collect();
        if parts.len() < 2 {
            return target.to_string();
        }
        let mut out = Vec::new();
        for pair in parts.chunks(2) {
            match pair {
                [kind, id] => match self.names.get(*id) {
                    Some(name) if name.starts_with(kind) => out.push(name.clone()),
                    Some(name) => out.push(format!("{kind} {name}")),
                    None => out.push(format!("{kind} {id}")),
                },
                [last] => out.push((*last).to_string()),
                _ => {}
            }
        }
        out.join(" / ")
    }
}

/// The names for a human table; none for `--json`, which prints the server's answer unchanged.
pub async fn human_names(
    ctx: &Ctx,
    names: impl std::future::Future<Output = Result<Names>>,
) -> Result<Names> {
    if ctx.json {
        Ok(Names::default())
    } else {
        names.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.names.insert("p1".into(), "project Mail".into());
        n.names
            .insert("m1".into(), "mapping alex@contoso.example".into());
        n.names.insert("u1".into(), "Dana".into());
        n
    }

    #[test]
    fn audit_targets_show_names_and_keep_unknown_ids() {
        let n = names();
        assert_eq!(
            n.describe("project/p1/mapping/m1"),
            "project Mail / mapping alex@contoso.example"
        );
        assert_eq!(n.describe("event/e9/pass/x"), "event e9 / pass x");
        assert_eq!(n.describe("user/u1"), "user Dana");
        assert_eq!(
            n.describe("project/p1/gate/core"),
            "project Mail / gate core"
        );
        assert_eq!(n.describe("alex@contoso.example"), "alex@contoso.example");
    }

    #[test]
    fn credential_owners_show_the_mapping_and_its_slot() {
        let n = names();
        assert_eq!(
            n.describe("mapping:m1:target"),
            "mapping alex@contoso.example (target)"
        );
        assert_eq!(n.describe("endpoint:source"), "source endpoint");
        assert_eq!(n.describe("mapping:zz:source"), "mapping zz (source)");
        assert_eq!(n.bare("m1"), "alex@contoso.example");
        assert_eq!(n.person("u1"), "Dana");
        assert_eq!(n.person("u2"), "u2");
    }
}
